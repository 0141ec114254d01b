//! Verification, one function per scheme. Each reads and decodes what the request presents,
//! then hands the signed pieces to [`match_secrets`]; timestamps are judged after a match.

use super::mac::{
    fresh, match_secrets, parse_timestamp, KeyForm, Presented, MAX_CANDIDATES, MAX_HEADER_LEN,
};
use super::{Algorithm, Provider, VerifyConfig, VerifyError, DEFAULT_TOLERANCE_SECS};
use crate::crypto::ct_eq;
use sha2::{Digest, Sha256};

type Headers<'a> = &'a dyn Fn(&str) -> Option<String>;

/// A header value, refused when longer than any honest sender would write.
fn get(header: Headers, name: &str) -> Result<Option<String>, VerifyError> {
    match header(name) {
        Some(v) if v.len() > MAX_HEADER_LEN => Err(VerifyError::MalformedSignature(name.into())),
        v => Ok(v),
    }
}

fn require(header: Headers, name: &str) -> Result<String, VerifyError> {
    get(header, name)?.ok_or_else(|| VerifyError::MissingSignature(name.into()))
}

fn timestamp(header: Headers, name: &str) -> Result<(String, i64), VerifyError> {
    let raw = get(header, name)?.ok_or_else(|| VerifyError::MissingTimestamp(name.into()))?;
    let ts = parse_timestamp(&raw).ok_or_else(|| VerifyError::MalformedSignature(name.into()))?;
    Ok((raw, ts))
}

/// The tolerance a timestamped scheme applies: the hook's, else the provider's, else the default.
fn tolerance(cfg: &VerifyConfig) -> u64 {
    cfg.tolerance_secs
        .or(cfg.provider.default_tolerance_secs())
        .unwrap_or(DEFAULT_TOLERANCE_SECS)
}

/// Checked only once a secret matched: a forger learns nothing from it, and a genuine sender
/// with a skewed clock gets an answer that says so.
fn check_fresh(cfg: &VerifyConfig, ts: i64, now: i64, index: usize) -> Result<usize, VerifyError> {
    if fresh(ts, now, tolerance(cfg)) {
        Ok(index)
    } else {
        Err(VerifyError::StaleTimestamp)
    }
}

pub(super) fn verify(
    cfg: &VerifyConfig,
    secrets: &[&str],
    header: Headers,
    body: &[u8],
    now: i64,
) -> Result<usize, VerifyError> {
    match cfg.provider {
        Provider::Generic => generic(cfg, secrets, header, body),
        Provider::Github => github(cfg, secrets, header, body),
        Provider::Gitlab => {
            if header("webhook-signature").is_some() {
                standard_webhooks(cfg, secrets, header, body, now)
            } else {
                gitlab_token(secrets, header)
            }
        }
        Provider::Bitbucket => {
            let value = require(header, "x-hub-signature")?;
            prefixed_hex(secrets, "x-hub-signature", &value, Algorithm::Sha256, body)
        }
        Provider::Gitea => gitea(secrets, header, body),
        Provider::Stripe => stripe(cfg, secrets, header, body, now),
        Provider::Shopify => {
            let name = "x-shopify-hmac-sha256";
            let value = require(header, name)?;
            let mut presented = Presented::new();
            if !presented.push_base64(value.trim(), 32) {
                return Err(VerifyError::MalformedSignature(name.into()));
            }
            match_secrets(
                secrets,
                KeyForm::Raw,
                Algorithm::Sha256,
                &[body],
                &presented,
            )
        }
        Provider::Slack => slack(cfg, secrets, header, body, now),
        Provider::Paddle => paddle(cfg, secrets, header, body, now),
        Provider::StandardWebhooks => standard_webhooks(cfg, secrets, header, body, now),
    }
}

/// `algo=<hex>` (prefix required, any case) over the body.
fn prefixed_hex(
    secrets: &[&str],
    name: &str,
    value: &str,
    alg: Algorithm,
    body: &[u8],
) -> Result<usize, VerifyError> {
    let malformed = || VerifyError::MalformedSignature(name.into());
    let (prefix, hex) = value.trim().split_once('=').ok_or_else(malformed)?;
    if !prefix.eq_ignore_ascii_case(alg.as_str()) {
        return Err(malformed());
    }
    bare_hex(secrets, name, hex, alg, body)
}

fn bare_hex(
    secrets: &[&str],
    name: &str,
    hex: &str,
    alg: Algorithm,
    body: &[u8],
) -> Result<usize, VerifyError> {
    let mut presented = Presented::new();
    if !presented.push_hex(hex.trim(), alg.output_len()) {
        return Err(VerifyError::MalformedSignature(name.into()));
    }
    match_secrets(secrets, KeyForm::Raw, alg, &[body], &presented)
}

fn github(
    cfg: &VerifyConfig,
    secrets: &[&str],
    header: Headers,
    body: &[u8],
) -> Result<usize, VerifyError> {
    // The SHA-256 header wins whenever it is there, so a sender cannot pick the weaker hash.
    if let Some(value) = get(header, "x-hub-signature-256")? {
        return prefixed_hex(
            secrets,
            "x-hub-signature-256",
            &value,
            Algorithm::Sha256,
            body,
        );
    }
    if cfg.accept_legacy_sha1 {
        if let Some(value) = get(header, "x-hub-signature")? {
            return prefixed_hex(secrets, "x-hub-signature", &value, Algorithm::Sha1, body);
        }
    }
    Err(VerifyError::MissingSignature("x-hub-signature-256".into()))
}

fn generic(
    cfg: &VerifyConfig,
    secrets: &[&str],
    header: Headers,
    body: &[u8],
) -> Result<usize, VerifyError> {
    let name = cfg.header_name();
    let value = require(header, name)?;
    if value.contains('=') {
        prefixed_hex(secrets, name, &value, cfg.algorithm, body)
    } else {
        bare_hex(secrets, name, &value, cfg.algorithm, body)
    }
}

fn gitea(secrets: &[&str], header: Headers, body: &[u8]) -> Result<usize, VerifyError> {
    for name in ["x-gitea-signature", "x-forgejo-signature"] {
        if let Some(value) = get(header, name)? {
            return bare_hex(secrets, name, &value, Algorithm::Sha256, body);
        }
    }
    Err(VerifyError::MissingSignature("x-gitea-signature".into()))
}

/// The token is the secret itself. Both sides are hashed first so that the comparison takes
/// the same time whatever the presented length.
fn gitlab_token(secrets: &[&str], header: Headers) -> Result<usize, VerifyError> {
    let token = require(header, "x-gitlab-token")?;
    let presented = Sha256::digest(token.as_bytes());
    let mut bad_secret = false;
    for (i, secret) in secrets.iter().enumerate() {
        if secret.is_empty() {
            bad_secret = true;
        } else if ct_eq(&Sha256::digest(secret.as_bytes()), &presented) {
            return Ok(i);
        }
    }
    Err(if bad_secret {
        VerifyError::BadSecret
    } else {
        VerifyError::Mismatch
    })
}

/// A header listing a timestamp and one or more hex signatures, each as `key=value`
/// (Stripe: `t=…,v1=…`; Paddle: `ts=…;h1=…`), signed over `timestamp ‖ joiner ‖ body`.
struct KeyedList {
    header: &'static str,
    separator: char,
    timestamp_key: &'static str,
    signature_key: &'static str,
    joiner: &'static [u8],
}

fn keyed_list(
    scheme: &KeyedList,
    cfg: &VerifyConfig,
    secrets: &[&str],
    header: Headers,
    body: &[u8],
    now: i64,
) -> Result<usize, VerifyError> {
    let name = scheme.header;
    let malformed = || VerifyError::MalformedSignature(name.into());
    let value = require(header, name)?;
    let mut t: Option<&str> = None;
    let mut presented = Presented::new();
    let mut signature_seen = false;
    for item in value.split(scheme.separator) {
        let Some((k, v)) = item.trim().split_once('=') else {
            continue;
        };
        if k == scheme.timestamp_key {
            if t.is_some() {
                return Err(malformed());
            }
            t = Some(v);
        } else if k == scheme.signature_key {
            signature_seen = true;
            if presented.is_full() {
                return Err(malformed());
            }
            presented.push_hex(v, 32);
        }
    }
    let t = t.ok_or_else(|| VerifyError::MissingTimestamp(name.into()))?;
    let ts = parse_timestamp(t).ok_or_else(malformed)?;
    if !signature_seen || presented.is_empty() {
        return Err(malformed());
    }
    let parts: [&[u8]; 3] = [t.as_bytes(), scheme.joiner, body];
    let index = match_secrets(secrets, KeyForm::Raw, Algorithm::Sha256, &parts, &presented)?;
    check_fresh(cfg, ts, now, index)
}

/// `t=<ts>,v1=<hex>[,v1=<hex>…]` over `t.body`; `v0` and unknown schemes are ignored.
fn stripe(
    cfg: &VerifyConfig,
    secrets: &[&str],
    header: Headers,
    body: &[u8],
    now: i64,
) -> Result<usize, VerifyError> {
    let scheme = KeyedList {
        header: "stripe-signature",
        separator: ',',
        timestamp_key: "t",
        signature_key: "v1",
        joiner: b".",
    };
    keyed_list(&scheme, cfg, secrets, header, body, now)
}

/// `v0=<hex>` over `v0:{timestamp}:{body}`.
fn slack(
    cfg: &VerifyConfig,
    secrets: &[&str],
    header: Headers,
    body: &[u8],
    now: i64,
) -> Result<usize, VerifyError> {
    let name = "x-slack-signature";
    let value = require(header, name)?;
    let (raw_ts, ts) = timestamp(header, "x-slack-request-timestamp")?;
    let mut presented = Presented::new();
    let hex = value.trim().strip_prefix("v0=");
    if !hex.is_some_and(|h| presented.push_hex(h, 32)) {
        return Err(VerifyError::MalformedSignature(name.into()));
    }
    let parts: [&[u8]; 4] = [b"v0:", raw_ts.as_bytes(), b":", body];
    let index = match_secrets(secrets, KeyForm::Raw, Algorithm::Sha256, &parts, &presented)?;
    check_fresh(cfg, ts, now, index)
}

/// `ts=<ts>;h1=<hex>[;h1=<hex>…]` over `ts:body`.
fn paddle(
    cfg: &VerifyConfig,
    secrets: &[&str],
    header: Headers,
    body: &[u8],
    now: i64,
) -> Result<usize, VerifyError> {
    let scheme = KeyedList {
        header: "paddle-signature",
        separator: ';',
        timestamp_key: "ts",
        signature_key: "h1",
        joiner: b":",
    };
    keyed_list(&scheme, cfg, secrets, header, body, now)
}

/// `v1,<base64>` entries separated by spaces, over `{webhook-id}.{webhook-timestamp}.{body}`.
fn standard_webhooks(
    cfg: &VerifyConfig,
    secrets: &[&str],
    header: Headers,
    body: &[u8],
    now: i64,
) -> Result<usize, VerifyError> {
    let name = "webhook-signature";
    let value = require(header, name)?;
    let id = require(header, "webhook-id")?;
    let (raw_ts, ts) = timestamp(header, "webhook-timestamp")?;
    let mut presented = Presented::new();
    let mut v1_seen = 0usize;
    for item in value.split_ascii_whitespace() {
        if let Some(("v1", sig)) = item.split_once(',') {
            v1_seen += 1;
            presented.push_base64(sig, 32);
        }
    }
    if v1_seen > MAX_CANDIDATES || presented.is_empty() {
        return Err(VerifyError::MalformedSignature(name.into()));
    }
    let parts: [&[u8]; 5] = [id.as_bytes(), b".", raw_ts.as_bytes(), b".", body];
    let index = match_secrets(
        secrets,
        KeyForm::Whsec,
        Algorithm::Sha256,
        &parts,
        &presented,
    )?;
    check_fresh(cfg, ts, now, index)
}
