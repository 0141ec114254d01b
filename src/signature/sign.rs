//! Signing as each provider does, for tests and `hookgate send`.

use rand::RngCore;

use super::mac::{b64, hmac, KeyForm};
use super::{Algorithm, Provider, Source, VerifyConfig};

type Headers = Vec<(String, String)>;

fn mac_hex(alg: Algorithm, secret: &str, parts: &[&[u8]]) -> Option<String> {
    let key = KeyForm::Raw.key(secret).ok()?;
    hmac(alg, &key, parts).map(|t| hex::encode(t.as_bytes()))
}

fn push(headers: &mut Headers, name: &str, value: String) {
    headers.push((name.to_string(), value));
}

/// A fresh Standard Webhooks message id, for when the caller gave none: the id is signed.
fn message_id() -> String {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("msg_{}", hex::encode(bytes))
}

/// Adds the delivery-id and event headers where the provider sends them as headers. Body
/// sources (Stripe's `id`, Slack's `event_id`, …) are the payload's business, not ours.
fn id_and_event(
    p: Provider,
    headers: &mut Headers,
    delivery_id: Option<&str>,
    event: Option<&str>,
) {
    for (source, value) in [
        (p.delivery_id_source(), delivery_id),
        (p.event_source(), event),
    ] {
        if let (Source::Header(names), Some(value)) = (source, value) {
            if !headers.iter().any(|(n, _)| n == names[0]) {
                push(headers, names[0], value.to_string());
            }
        }
    }
}

/// The three Standard Webhooks headers. Without a usable key the signature header is left
/// out, so that the receiver reports a missing signature rather than a puzzling mismatch.
fn standard_webhooks(headers: &mut Headers, secret: &str, body: &[u8], now: i64, id: Option<&str>) {
    let id = id.map_or_else(message_id, str::to_string);
    let ts = now.to_string();
    if let Ok(key) = KeyForm::Whsec.key(secret) {
        let parts: [&[u8]; 5] = [id.as_bytes(), b".", ts.as_bytes(), b".", body];
        if let Some(tag) = hmac(Algorithm::Sha256, &key, &parts) {
            push(
                headers,
                "webhook-signature",
                format!("v1,{}", b64(tag.as_bytes())),
            );
        }
    }
    push(headers, "webhook-id", id);
    push(headers, "webhook-timestamp", ts);
}

pub(super) fn sign(
    cfg: &VerifyConfig,
    secret: &str,
    body: &[u8],
    now: i64,
    delivery_id: Option<&str>,
    event: Option<&str>,
) -> Headers {
    let mut h = Headers::new();
    let ts = now.to_string();
    let sha256 = |parts: &[&[u8]]| mac_hex(Algorithm::Sha256, secret, parts);
    match cfg.provider {
        Provider::Generic => {
            if let Some(mac) = mac_hex(cfg.algorithm, secret, &[body]) {
                push(
                    &mut h,
                    cfg.header_name(),
                    format!("{}={mac}", cfg.algorithm.as_str()),
                );
            }
        }
        Provider::Github => {
            // GitHub sends both; the SHA-1 one only matters to legacy receivers.
            if let Some(mac) = sha256(&[body]) {
                push(&mut h, "x-hub-signature-256", format!("sha256={mac}"));
            }
            if let Some(mac) = mac_hex(Algorithm::Sha1, secret, &[body]) {
                push(&mut h, "x-hub-signature", format!("sha1={mac}"));
            }
        }
        Provider::Gitlab => {
            // A `whsec_` secret is a GitLab signing token; anything else is a secret token.
            if secret.starts_with("whsec_") {
                standard_webhooks(&mut h, secret, body, now, delivery_id);
            } else {
                push(&mut h, "x-gitlab-token", secret.to_string());
            }
        }
        Provider::Bitbucket => {
            if let Some(mac) = sha256(&[body]) {
                push(&mut h, "x-hub-signature", format!("sha256={mac}"));
            }
        }
        Provider::Gitea => {
            if let Some(mac) = sha256(&[body]) {
                push(&mut h, "x-gitea-signature", mac);
            }
        }
        Provider::Stripe => {
            if let Some(mac) = sha256(&[ts.as_bytes(), b".", body]) {
                push(&mut h, "stripe-signature", format!("t={ts},v1={mac}"));
            }
        }
        Provider::Shopify => {
            let key = KeyForm::Raw.key(secret).ok();
            if let Some(tag) = key.and_then(|k| hmac(Algorithm::Sha256, &k, &[body])) {
                push(&mut h, "x-shopify-hmac-sha256", b64(tag.as_bytes()));
            }
        }
        Provider::Slack => {
            if let Some(mac) = sha256(&[b"v0:", ts.as_bytes(), b":", body]) {
                push(&mut h, "x-slack-signature", format!("v0={mac}"));
            }
            push(&mut h, "x-slack-request-timestamp", ts);
        }
        Provider::Paddle => {
            if let Some(mac) = sha256(&[ts.as_bytes(), b":", body]) {
                push(&mut h, "paddle-signature", format!("ts={ts};h1={mac}"));
            }
        }
        Provider::StandardWebhooks => standard_webhooks(&mut h, secret, body, now, delivery_id),
    }
    id_and_event(cfg.provider, &mut h, delivery_id, event);
    h
}
