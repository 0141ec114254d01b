//! The email channel (SPEC §6): a mail per event through `HOOKGATE_SMTP_URL`, with lettre
//! (TLS by rustls, no OpenSSL). `smtps://` is TLS from the start; `smtp://…?starttls=required`
//! (or lettre's own `?tls=required`) upgrades with STARTTLS and refuses a server that cannot.

use std::time::{Duration, Instant};

use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::deliver::Outcome;

/// The URL lettre understands: SPEC's `starttls=required` is lettre's `tls=required`.
fn lettre_url(url: &str) -> String {
    url.replace("starttls=", "tls=")
}

/// Checks `HOOKGATE_SMTP_URL` at start-up; the message never repeats the URL (it may hold a
/// password).
pub fn check_url(url: &str) -> Result<(), String> {
    if !(url.starts_with("smtp://") || url.starts_with("smtps://")) {
        return Err(
            "must start with smtps:// (TLS) or smtp:// (add ?starttls=required for STARTTLS)"
                .into(),
        );
    }
    AsyncSmtpTransport::<Tokio1Executor>::from_url(&lettre_url(url))
        .map(|_| ())
        .map_err(|_| {
            "is not a usable SMTP URL: scheme://user:pass@host:port?starttls=required".into()
        })
}

/// Checks one recipient address.
pub fn check_address(address: &str) -> Result<(), String> {
    address
        .parse::<Mailbox>()
        .map(|_| ())
        .map_err(|e| format!("is not an email address: {e}"))
}

/// One mail to send.
pub struct Mail<'a> {
    pub from: &'a str,
    pub to: &'a [String],
    pub subject: &'a str,
    pub text: String,
}

/// Sends `mail` through the relay `url` within `timeout`, as an attempt's outcome: a relay that
/// accepted it is `250` (success), anything else an error, retried like the other channels.
pub async fn send(url: Option<&str>, mail: Mail<'_>, timeout: Duration) -> Outcome {
    let started = Instant::now();
    let outcome = |status_code: Option<u16>, error: Option<String>| Outcome {
        status_code,
        latency_ms: started.elapsed().as_millis() as i64,
        error,
    };
    let Some(url) = url else {
        return outcome(None, Some("no SMTP relay: set HOOKGATE_SMTP_URL".into()));
    };
    let message = match build(&mail) {
        Ok(m) => m,
        Err(e) => return outcome(None, Some(e)),
    };
    let transport = match AsyncSmtpTransport::<Tokio1Executor>::from_url(&lettre_url(url)) {
        Ok(t) => t.timeout(Some(timeout)).build(),
        Err(_) => return outcome(None, Some("HOOKGATE_SMTP_URL is not usable".into())),
    };
    match transport.send(message).await {
        Ok(response) => outcome(Some(u16::from(response.code())), None),
        // lettre's errors name the server's answer or the I/O failure, never the URL's password.
        Err(e) => outcome(None, Some(format!("SMTP: {e}"))),
    }
}

fn build(mail: &Mail<'_>) -> Result<Message, String> {
    let from: Mailbox = mail
        .from
        .parse()
        .map_err(|e| format!("the sender address: {e}"))?;
    let mut builder = Message::builder().from(from).subject(mail.subject);
    for to in mail.to {
        let to: Mailbox = to.parse().map_err(|e| format!("the recipient {to}: {e}"))?;
        builder = builder.to(to);
    }
    builder
        .header(ContentType::TEXT_PLAIN)
        .body(mail.text.clone())
        .map_err(|e| format!("the mail cannot be built: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_addresses() {
        assert!(check_url("smtps://u:p@mail.example.com:465").is_ok());
        assert!(check_url("smtp://relay:25?starttls=required").is_ok());
        assert!(check_url("http://relay").is_err());
        assert!(check_address("ops@example.com").is_ok());
        assert!(check_address("not an address").is_err());
    }
}
