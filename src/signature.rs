//! Signature verification for every provider preset, and signing the same way.
//!
//! Pure: no I/O, no clock (the caller passes `now_unix`), no parsing of the body. The MAC is
//! computed over the raw bytes and compared in constant time with the decoded presented
//! value. Errors name the step that failed and never carry an expected value or a secret.
//!
//! Provider recipes for users are in `docs/providers.md`.

mod mac;
mod provider;
mod sign;
mod verify;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

pub use provider::{Algorithm, Provider, Source, DEFAULT_TOLERANCE_SECS};

/// The header a `generic` hook reads when it names none.
pub const DEFAULT_GENERIC_HEADER: &str = "x-hub-signature-256";

/// How one hook verifies: its preset plus the few settings a hook may change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyConfig {
    pub provider: Provider,
    /// `generic` only: the signature header (`secret_header_name`); default
    /// [`DEFAULT_GENERIC_HEADER`].
    pub header_name: Option<String>,
    /// `generic` only: the hash (`secret_algorithm`).
    pub algorithm: Algorithm,
    /// Overrides [`Provider::default_tolerance_secs`] for timestamped schemes.
    pub tolerance_secs: Option<u64>,
    /// `github` only: accept `X-Hub-Signature` (SHA-1) when `X-Hub-Signature-256` is absent.
    pub accept_legacy_sha1: bool,
}

impl VerifyConfig {
    /// The preset with every setting at its default.
    pub fn new(provider: Provider) -> Self {
        Self {
            provider,
            header_name: None,
            algorithm: Algorithm::Sha256,
            tolerance_secs: None,
            accept_legacy_sha1: false,
        }
    }

    /// The signature header a `generic` hook reads, in lower case.
    pub fn header_name(&self) -> &str {
        match self.header_name.as_deref() {
            Some(name) if !name.trim().is_empty() => name.trim(),
            _ => DEFAULT_GENERIC_HEADER,
        }
    }

    /// Every header that carries a credential, in lower case: those of any request
    /// ([`ALWAYS_REDACTED`]), the preset's, and a `generic` hook's own. They are redacted in the
    /// request log, and no variable may read them.
    pub fn redacted_headers(&self) -> Vec<String> {
        let mut names: Vec<String> = ALWAYS_REDACTED
            .iter()
            .chain(self.provider.signature_headers())
            .map(|h| h.to_string())
            .collect();
        if self.provider == Provider::Generic {
            let own = self.header_name().to_ascii_lowercase();
            if !names.contains(&own) {
                names.push(own);
            }
        }
        names
    }
}

/// Headers that carry credentials whatever the provider.
pub const ALWAYS_REDACTED: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "x-gitlab-token",
];

/// Why verification failed. Display text names the step, never an expected value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// A header the scheme needs is absent (named, in lower case).
    #[error("the {0} header is missing")]
    MissingSignature(String),
    /// The named header is present but not in the scheme's form.
    #[error("the {0} header is malformed")]
    MalformedSignature(String),
    /// The signed timestamp is absent (the header that should carry it is named).
    #[error("the timestamp is missing from {0}")]
    MissingTimestamp(String),
    /// The signature is valid but its timestamp is too far from now, either way.
    #[error("the signed timestamp is outside the allowed tolerance")]
    StaleTimestamp,
    /// No secret of the hook produced a presented signature.
    #[error("the signature does not match")]
    Mismatch,
    /// A stored secret cannot be used by this scheme (e.g. a `whsec_` secret that is not
    /// base64, or an empty one).
    #[error("the hook's secret is not usable by this provider's scheme")]
    BadSecret,
}

impl VerifyError {
    /// The error code the ingest endpoint answers with.
    pub fn code(&self) -> &'static str {
        match self {
            VerifyError::StaleTimestamp => "stale_timestamp",
            _ => "invalid_signature",
        }
    }
}

/// `secrets` are the hook's current secret then, during a rotation grace period, the previous one.
/// Returns the index of the secret that verified. `header(name)` is a case-insensitive lookup
/// (names are passed in lower case). `now_unix` is seconds.
pub fn verify(
    cfg: &VerifyConfig,
    secrets: &[&str],
    header: &dyn Fn(&str) -> Option<String>,
    body: &[u8],
    now_unix: i64,
) -> Result<usize, VerifyError> {
    verify::verify(cfg, secrets, header, body, now_unix)
}

/// Signs `body` the way the provider would: the headers to send (signature, timestamp, delivery
/// id if `delivery_id` is Some, event if `event` is Some). Names are in lower case. Providers
/// that carry the id or event in the body (Stripe, Slack, Paddle) take them from the body only.
/// A secret the scheme cannot use yields no signature header.
pub fn sign(
    cfg: &VerifyConfig,
    secret: &str,
    body: &[u8],
    now_unix: i64,
    delivery_id: Option<&str>,
    event: Option<&str>,
) -> Vec<(String, String)> {
    sign::sign(cfg, secret, body, now_unix, delivery_id, event)
}
