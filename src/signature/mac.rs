//! The building blocks every scheme shares: HMAC over pieces, presented signatures decoded
//! onto the stack, key forms, timestamps.
//!
//! Presented values come from an unauthenticated sender, so nothing here allocates on their
//! behalf or trusts their length.

use std::borrow::Cow;

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use hmac::{Hmac, Mac};

use super::{Algorithm, VerifyError};
use crate::crypto::ct_eq;

/// Longest header value looked at; real signature headers are far shorter.
pub(super) const MAX_HEADER_LEN: usize = 8 * 1024;
/// Most signatures accepted in one header (senders send two at most, during their rotation).
pub(super) const MAX_CANDIDATES: usize = 8;
const MAX_MAC_LEN: usize = 64;

/// Standard base64 that accepts the padding or its absence: senders differ.
const B64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A computed MAC, on the stack.
pub(super) struct Tag {
    bytes: [u8; MAX_MAC_LEN],
    len: usize,
}

impl Tag {
    pub(super) fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// HMAC of the concatenation of `parts`, without building the concatenation.
pub(super) fn hmac(alg: Algorithm, key: &[u8], parts: &[&[u8]]) -> Option<Tag> {
    macro_rules! run {
        ($digest:ty) => {{
            let mut mac = <Hmac<$digest> as Mac>::new_from_slice(key).ok()?;
            for part in parts {
                mac.update(part);
            }
            let out = mac.finalize().into_bytes();
            let mut tag = Tag {
                bytes: [0; MAX_MAC_LEN],
                len: out.len(),
            };
            tag.bytes[..out.len()].copy_from_slice(&out);
            Some(tag)
        }};
    }
    match alg {
        Algorithm::Sha1 => run!(sha1::Sha1),
        Algorithm::Sha256 => run!(sha2::Sha256),
        Algorithm::Sha512 => run!(sha2::Sha512),
    }
}

/// The signatures a request presents, decoded to bytes.
pub(super) struct Presented {
    sigs: [[u8; MAX_MAC_LEN]; MAX_CANDIDATES],
    lens: [usize; MAX_CANDIDATES],
    n: usize,
}

impl Presented {
    pub(super) fn new() -> Self {
        Self {
            sigs: [[0; MAX_MAC_LEN]; MAX_CANDIDATES],
            lens: [0; MAX_CANDIDATES],
            n: 0,
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.n == 0
    }

    pub(super) fn is_full(&self) -> bool {
        self.n == MAX_CANDIDATES
    }

    /// Adds a hex signature of exactly `len` bytes (either case); false if it is not one.
    pub(super) fn push_hex(&mut self, s: &str, len: usize) -> bool {
        if self.is_full() || len > MAX_MAC_LEN || s.len() != 2 * len {
            return false;
        }
        let ok = hex::decode_to_slice(s, &mut self.sigs[self.n][..len]).is_ok();
        if ok {
            self.lens[self.n] = len;
            self.n += 1;
        }
        ok
    }

    /// Adds a standard base64 signature of exactly `len` bytes; false if it is not one.
    pub(super) fn push_base64(&mut self, s: &str, len: usize) -> bool {
        // 4 characters per 3 bytes, padded: bounds the input before the decoder sees it.
        if self.is_full() || len > MAX_MAC_LEN || s.is_empty() || s.len() > len.div_ceil(3) * 4 {
            return false;
        }
        match B64.decode_slice(s, &mut self.sigs[self.n]) {
            Ok(n) if n == len => {
                self.lens[self.n] = len;
                self.n += 1;
                true
            }
            _ => false,
        }
    }

    /// Whether any presented signature equals `tag`. Every candidate is compared, in
    /// constant time, so the time taken does not say which one came close.
    pub(super) fn matches(&self, tag: &[u8]) -> bool {
        let mut any = false;
        for i in 0..self.n {
            any |= ct_eq(&self.sigs[i][..self.lens[i]], tag);
        }
        any
    }
}

/// How a stored secret becomes the HMAC key.
#[derive(Clone, Copy)]
pub(super) enum KeyForm {
    /// The secret's bytes as they are (GitHub, Stripe's `whsec_…` included, …).
    Raw,
    /// Standard Webhooks: base64 after an optional `whsec_` prefix.
    Whsec,
}

impl KeyForm {
    pub(super) fn key(self, secret: &str) -> Result<Cow<'_, [u8]>, VerifyError> {
        // An empty key would let anyone sign; it can only be a configuration mistake.
        if secret.is_empty() {
            return Err(VerifyError::BadSecret);
        }
        match self {
            KeyForm::Raw => Ok(Cow::Borrowed(secret.as_bytes())),
            KeyForm::Whsec => {
                let b64 = secret.strip_prefix("whsec_").unwrap_or(secret);
                match B64.decode(b64) {
                    Ok(key) if !key.is_empty() => Ok(Cow::Owned(key)),
                    _ => Err(VerifyError::BadSecret),
                }
            }
        }
    }
}

/// Tries each secret in turn; the index of the first whose MAC over `parts` is presented.
pub(super) fn match_secrets(
    secrets: &[&str],
    form: KeyForm,
    alg: Algorithm,
    parts: &[&[u8]],
    presented: &Presented,
) -> Result<usize, VerifyError> {
    let mut bad_secret = false;
    for (i, secret) in secrets.iter().enumerate() {
        let Ok(key) = form.key(secret) else {
            bad_secret = true;
            continue;
        };
        match hmac(alg, &key, parts) {
            Some(tag) if presented.matches(tag.as_bytes()) => return Ok(i),
            Some(_) => {}
            None => bad_secret = true,
        }
    }
    // A broken stored secret is what the operator must hear about, so it wins over Mismatch.
    Err(if bad_secret {
        VerifyError::BadSecret
    } else {
        VerifyError::Mismatch
    })
}

/// Seconds since the epoch, as senders write them: ASCII digits only, no sign, no spaces
/// (the string is signed as it is, so a lenient parse would sign something else).
pub(super) fn parse_timestamp(s: &str) -> Option<i64> {
    if s.is_empty() || s.len() > 18 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Whether `ts` is within `tolerance` seconds of `now`, in the past or the future.
pub(super) fn fresh(ts: i64, now: i64, tolerance: u64) -> bool {
    ts.abs_diff(now) <= tolerance
}

/// Standard base64 with padding, as senders write it.
pub(super) fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}
