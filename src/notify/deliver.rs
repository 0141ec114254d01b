//! One delivery attempt: sign, send through the SSRF guard, classify, and decide what follows.

use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE, USER_AGENT};

use crate::net_guard::{refusal_in, TargetGuard};
use crate::signature::{sign, Provider, VerifyConfig};
use crate::store::EventNext;

/// How an attempt went. `error` never holds the URL (a Slack URL is itself a secret) nor a
/// secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub status_code: Option<u16>,
    pub latency_ms: i64,
    pub error: Option<String>,
}

/// The Standard Webhooks headers for `body`, signed with `secret` (a `whsec_` secret).
pub fn signature_headers(
    secret: &str,
    event_id: &str,
    body: &[u8],
    now_unix: i64,
) -> Vec<(String, String)> {
    sign(
        &VerifyConfig::new(Provider::StandardWebhooks),
        secret,
        body,
        now_unix,
        Some(event_id),
        None,
    )
}

/// The Standard Webhooks headers signed with the current secret and, during a rotation's grace
/// period, the previous one too: `webhook-signature: v1,<new> v1,<old>` (receivers accept any).
pub fn signature_headers_rotating(
    secret: &str,
    previous: Option<&str>,
    event_id: &str,
    body: &[u8],
    now_unix: i64,
) -> Vec<(String, String)> {
    let mut headers = signature_headers(secret, event_id, body, now_unix);
    let Some(previous) = previous else {
        return headers;
    };
    let old = signature_headers(previous, event_id, body, now_unix);
    let old_sig = old.iter().find(|(k, _)| k == "webhook-signature");
    if let (Some((_, old_sig)), Some((_, sig))) = (
        old_sig,
        headers.iter_mut().find(|(k, _)| k == "webhook-signature"),
    ) {
        sig.push(' ');
        sig.push_str(old_sig);
    }
    headers
}

/// The headers of a request: the hook's own, then ours (which win).
pub fn request_headers(
    custom: &serde_json::Map<String, serde_json::Value>,
    signed: Vec<(String, String)>,
) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in custom {
        let value = v.as_str().map_or_else(|| v.to_string(), str::to_string);
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            h.insert(name, value);
        }
    }
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(
        USER_AGENT,
        HeaderValue::from_static(concat!("hookgate/", env!("CARGO_PKG_VERSION"))),
    );
    for (k, v) in signed {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(&v),
        ) {
            h.insert(name, value);
        }
    }
    h
}

/// Sends one request. Redirects are not followed; the guard judges the URL and every resolved
/// address.
pub async fn send(
    guard: TargetGuard,
    url: &str,
    headers: HeaderMap,
    body: Vec<u8>,
    timeout: Duration,
) -> Outcome {
    let started = Instant::now();
    let elapsed = |s: Instant| s.elapsed().as_millis() as i64;
    let url = match guard.check_url(url) {
        Ok(u) => u,
        Err(e) => {
            return Outcome {
                status_code: None,
                latency_ms: elapsed(started),
                error: Some(format!("refused: {e}")),
            }
        }
    };
    let result = guard
        .client(timeout)
        .post(url)
        .headers(headers)
        .body(body)
        .send()
        .await;
    match result {
        Ok(resp) => {
            let status = resp.status();
            // The status decides; the body is not read (the connection is dropped with it).
            let error = if status.is_success() {
                None
            } else if status.is_redirection() {
                Some(format!(
                    "answered {} (redirects are not followed)",
                    status.as_u16()
                ))
            } else {
                Some(format!("answered {}", status.as_u16()))
            };
            Outcome {
                status_code: Some(status.as_u16()),
                latency_ms: elapsed(started),
                error,
            }
        }
        Err(e) => {
            let error = if let Some(refused) = refusal_in(&e) {
                format!("refused: {refused}")
            } else if e.is_timeout() {
                format!("timeout: no answer within {} s", timeout.as_secs_f64())
            } else if e.is_connect() {
                format!("connection failed: {}", e.without_url())
            } else {
                format!("request failed: {}", e.without_url())
            };
            Outcome {
                status_code: None,
                latency_ms: elapsed(started),
                error: Some(error),
            }
        }
    }
}

/// What follows attempt number `attempt` (1-based) that ended at `now` (Unix ms): any 2xx is
/// delivered; 410 fails the event and disables the hook; anything else retries after
/// `schedule[attempt - 1]` stretched by `jitter` (0 to 1: up to 20 % longer, never shorter),
/// until the schedule runs out and the event fails.
pub fn decide(
    outcome: &Outcome,
    attempt: i64,
    schedule: &[Duration],
    now: i64,
    jitter: f64,
) -> EventNext {
    match outcome.status_code {
        Some(code) if (200..300).contains(&code) => return EventNext::Delivered,
        Some(410) => {
            return EventNext::Failed {
                disable_hook: Some(format!(
                    "the receiver answered 410 Gone at {}",
                    crate::domain::time::rfc3339(now)
                )),
            }
        }
        _ => {}
    }
    let index = usize::try_from(attempt - 1).unwrap_or(usize::MAX);
    match schedule.get(index) {
        Some(delay) => {
            let ms = delay.as_secs_f64() * 1000.0 * (1.0 + 0.2 * jitter.clamp(0.0, 1.0));
            EventNext::Retry {
                at: now + ms.ceil() as i64,
            }
        }
        None => EventNext::Failed { disable_hook: None },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signature::verify;

    fn outcome(code: Option<u16>) -> Outcome {
        Outcome {
            status_code: code,
            latency_ms: 3,
            error: None,
        }
    }

    #[test]
    fn signs_the_published_standard_webhooks_vector() {
        let h = signature_headers(
            "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
            "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
            br#"{"email":"test@example.com","username":"test_user"}"#,
            1_649_367_553,
        );
        let get = |n: &str| h.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
        assert_eq!(
            get("webhook-signature").as_deref(),
            Some("v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=")
        );
        assert_eq!(
            get("webhook-id").as_deref(),
            Some("msg_27UH4WbU6Z5A5EzD8u03UvzRbpk")
        );
        assert_eq!(get("webhook-timestamp").as_deref(), Some("1649367553"));
    }

    #[test]
    fn generated_secrets_sign_and_verify() {
        let secret = Provider::StandardWebhooks.generate_secret();
        assert!(secret.starts_with("whsec_"));
        let body = br#"{"a":1}"#;
        let h = signature_headers(&secret, "evt_1", body, 1_700_000_000);
        let get = |n: &str| h.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
        let cfg = VerifyConfig::new(Provider::StandardWebhooks);
        assert_eq!(verify(&cfg, &[&secret], &get, body, 1_700_000_000), Ok(0));
    }

    #[test]
    fn during_a_rotation_both_secrets_verify() {
        let (new, old) = (
            Provider::StandardWebhooks.generate_secret(),
            Provider::StandardWebhooks.generate_secret(),
        );
        let body = br#"{"a":1}"#;
        let h = signature_headers_rotating(&new, Some(&old), "evt_1", body, 1_700_000_000);
        let get = |n: &str| h.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
        assert_eq!(get("webhook-signature").unwrap().matches("v1,").count(), 2);
        let cfg = VerifyConfig::new(Provider::StandardWebhooks);
        for s in [&new, &old] {
            assert!(verify(&cfg, &[s.as_str()], &get, body, 1_700_000_000).is_ok());
        }
        let other = Provider::StandardWebhooks.generate_secret();
        assert!(verify(&cfg, &[other.as_str()], &get, body, 1_700_000_000).is_err());
    }

    #[test]
    fn our_headers_win_over_custom_ones() {
        let custom = serde_json::json!({"X-Env": "prod", "webhook-id": "forged", "content-type": "text/plain"});
        let h = request_headers(
            custom.as_object().unwrap(),
            vec![("webhook-id".into(), "evt_1".into())],
        );
        assert_eq!(h["x-env"], "prod");
        assert_eq!(h["webhook-id"], "evt_1");
        assert_eq!(h["content-type"], "application/json");
    }

    #[test]
    fn decisions() {
        let schedule = [Duration::from_secs(5), Duration::from_millis(100)];
        assert_eq!(
            decide(&outcome(Some(204)), 1, &schedule, 0, 0.5),
            EventNext::Delivered
        );
        assert!(matches!(
            decide(&outcome(Some(410)), 1, &schedule, 0, 0.5),
            EventNext::Failed {
                disable_hook: Some(_)
            }
        ));
        assert_eq!(
            decide(&outcome(Some(500)), 1, &schedule, 1000, 0.0),
            EventNext::Retry { at: 6000 }
        );
        assert_eq!(
            decide(&outcome(None), 1, &schedule, 1000, 1.0),
            EventNext::Retry { at: 7000 }
        );
        assert_eq!(
            decide(&outcome(Some(302)), 2, &schedule, 1000, 0.0),
            EventNext::Retry { at: 1100 }
        );
        assert_eq!(
            decide(&outcome(Some(500)), 3, &schedule, 0, 0.0),
            EventNext::Failed { disable_hook: None }
        );
    }

    #[test]
    fn default_schedule_spans_about_a_day_with_at_least_six_attempts() {
        let s = crate::config::parse_backoff(crate::config::DEFAULT_NOTIFY_BACKOFF_SECS).unwrap();
        assert!(s.len() + 1 >= 6);
        let total: Duration = s.iter().sum();
        assert!(total >= Duration::from_secs(18 * 3600), "{total:?}");
    }

    #[tokio::test]
    async fn refused_targets_are_reported_without_sending() {
        let o = send(
            TargetGuard {
                allow_private: false,
            },
            "https://127.0.0.1:9/x",
            HeaderMap::new(),
            vec![],
            Duration::from_secs(1),
        )
        .await;
        assert_eq!(o.status_code, None);
        assert!(o.error.unwrap().starts_with("refused:"));
    }
}
