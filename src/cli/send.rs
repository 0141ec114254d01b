//! `hookgate send`: sign a payload the way a provider would and post it to a hook URL.

use anyhow::{bail, Context};

use crate::signature::{sign, Provider, VerifyConfig};

/// The headers `provider` would send with `body`: signed with `secret`, or, when it is `None`,
/// the same headers without the ones that carry a signature or a secret.
pub(super) fn provider_headers(
    provider: Provider,
    secret: Option<&str>,
    body: &[u8],
    event: Option<&str>,
    delivery_id: &str,
) -> Vec<(String, String)> {
    let cfg = VerifyConfig::new(provider);
    let now = crate::domain::time::now_ms() / 1000;
    let mut headers = sign(
        &cfg,
        secret.unwrap_or("unsigned"),
        body,
        now,
        Some(delivery_id),
        event,
    );
    if secret.is_none() {
        let credentials = cfg.redacted_headers();
        headers.retain(|(name, _)| !credentials.contains(name));
    }
    headers
}

/// Signs `file` as `provider` would and POSTs it; prints the status and the answer. An empty
/// secret is refused: it would sign nothing a hook accepts. `unsigned` sends no signature.
/// Returns the answer's body.
pub(super) async fn send(
    url: &str,
    provider: &str,
    secret: Option<&str>,
    unsigned: bool,
    event: Option<&str>,
    delivery_id: Option<String>,
    file: &std::path::Path,
) -> anyhow::Result<String> {
    let Some(provider) = Provider::parse(provider) else {
        bail!("unknown provider {provider:?}")
    };
    let secret = match (secret.filter(|s| !s.trim().is_empty()), unsigned) {
        (Some(_), true) => bail!("give either --secret or --unsigned, not both"),
        (None, false) => bail!(
            "the secret is empty: give the hook's secret with --secret or HOOKGATE_SEND_SECRET \
             (or --unsigned to send without a signature, for a hook with requires_secret false)"
        ),
        (secret, _) => secret,
    };
    let body = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let delivery_id = delivery_id
        .unwrap_or_else(|| crate::domain::ids::new_id(crate::domain::ids::IdKind::Event));
    let mut request = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json");
    for (name, value) in provider_headers(provider, secret, &body, event, &delivery_id) {
        request = request.header(name, value);
    }
    let response = request
        .body(body)
        .send()
        .await
        .with_context(|| format!("sending to {url}"))?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    println!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    );
    println!("{text}");
    if !status.is_success() {
        bail!("the hook answered {}", status.as_u16());
    }
    Ok(text)
}
