//! Secret generation, masking, encryption at rest and token hashing.
//!
//! Secrets at rest are sealed with XChaCha20-Poly1305 under the master key. The associated
//! data binds each ciphertext to the row and purpose it belongs to, so a ciphertext copied
//! into another row does not decrypt.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretBox, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

const NONCE_LEN: usize = 24;

/// The 32-byte key that encrypts secrets at rest.
pub struct MasterKey(SecretBox<[u8; 32]>);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(••••)")
    }
}

/// Why a master key could not be read.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the master key is not valid base64")]
    NotBase64,
    #[error("the master key must decode to exactly 32 bytes, not {0}")]
    WrongLength(usize),
}

/// Why a sealed secret could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("a stored secret could not be decrypted: wrong master key, or the data was altered")]
pub struct OpenError;

impl MasterKey {
    /// Parses base64 of 32 bytes.
    pub fn from_base64(s: &str) -> Result<Self, KeyError> {
        let bytes = STANDARD.decode(s.trim()).map_err(|_| KeyError::NotBase64)?;
        let arr: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| KeyError::WrongLength(bytes.len()))?;
        Ok(Self(SecretBox::new(Box::new(arr))))
    }

    /// A fresh random key.
    pub fn generate() -> Self {
        let mut arr = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut arr);
        Self(SecretBox::new(Box::new(arr)))
    }

    /// The key as base64, for writing a key file.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0.expose_secret())
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(self.0.expose_secret().into())
    }

    /// Encrypts `plain`, bound to `context`. Output: nonce ‖ ciphertext.
    pub fn seal(&self, context: &SealContext<'_>, plain: &[u8]) -> Vec<u8> {
        let aad = context.aad();
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ct = self
            .cipher()
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plain,
                    aad: aad.as_bytes(),
                },
            )
            .expect("XChaCha20-Poly1305 encryption does not fail for in-memory buffers");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        out
    }

    /// A 32-byte key for another purpose, derived from this one by HMAC-SHA256 over a label
    /// (`hookgate/apply/secret-digest/v1`…): knowing a derived key reveals nothing of the
    /// master key or of the other derived keys.
    pub fn derive(&self, label: &str) -> [u8; 32] {
        use hmac::{Hmac, Mac};
        let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(self.0.expose_secret())
            .expect("HMAC takes a key of any length");
        mac.update(label.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// Decrypts what [`MasterKey::seal`] produced with the same context.
    pub fn open(
        &self,
        context: &SealContext<'_>,
        sealed: &[u8],
    ) -> Result<SecretString, OpenError> {
        let aad = context.aad();
        if sealed.len() < NONCE_LEN {
            return Err(OpenError);
        }
        let (nonce, ct) = sealed.split_at(NONCE_LEN);
        let plain = self
            .cipher()
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| OpenError)?;
        String::from_utf8(plain)
            .map(SecretString::from)
            .map_err(|_| OpenError)
    }
}

/// A new random secret: 32 random bytes, URL-safe base64 (43 characters).
pub fn generate_secret() -> SecretString {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    SecretString::from(URL_SAFE_NO_PAD.encode(bytes))
}

/// A new API token: `hg_` plus 32 random bytes in URL-safe base64.
pub fn generate_token() -> SecretString {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    SecretString::from(format!("hg_{}", URL_SAFE_NO_PAD.encode(bytes)))
}

/// The stored form of an API token: SHA-256, hex. Tokens carry 256 random bits, so a fast
/// hash is enough; there is nothing to brute-force.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The last four characters of a secret, for display as `••••abcd`.
pub fn last4(secret: &str) -> String {
    let chars: Vec<char> = secret.chars().collect();
    chars[chars.len().saturating_sub(4)..].iter().collect()
}

/// The masked display form of a secret whose last four characters are `last4`.
pub fn mask(last4: &str) -> String {
    format!("••••{last4}")
}

/// The keyed digest `apply` compares secrets by: HMAC-SHA256 of the secret under a key derived
/// from the master key. Without the master key a digest tells nothing about the secret, and it is
/// never printed or stored.
pub fn secret_digest(key: &MasterKey, secret: &str) -> [u8; 32] {
    use hmac::{Hmac, Mac};
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(&key.derive(SECRET_DIGEST_LABEL))
        .expect("HMAC takes a key of any length");
    mac.update(secret.as_bytes());
    mac.finalize().into_bytes().into()
}

const SECRET_DIGEST_LABEL: &str = "hookgate/apply/secret-digest/v1";

/// Compares two byte strings in constant time (for equal lengths; the length itself is not secret).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// Default grace period of a secret rotation: one day.
pub const DEFAULT_GRACE_SECS: u64 = 86_400;
/// Longest grace period of a secret rotation: 30 days.
pub const MAX_GRACE_SECS: u64 = 30 * 86_400;

/// A hook's sealed secrets after a rotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotated {
    pub secret_ct: Vec<u8>,
    pub secret_last4: String,
    /// The previous secret, kept while it still verifies (or still signs).
    pub prev_secret_ct: Option<Vec<u8>>,
    pub prev_secret_expires_at: Option<i64>,
}

/// What a sealed secret belongs to. Its text is the AEAD's associated data, which binds a
/// ciphertext to its row and purpose: a ciphertext copied into another row does not open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealContext<'a> {
    /// An incoming hook's secret (and its previous one during a rotation): `hook:{id}:secret`.
    IncomingHook(&'a str),
    /// A pipeline secret, by pipeline id and name: `pipeline:{id}:secret:{NAME}`.
    PipelineSecret(&'a str, &'a str),
    /// An outgoing hook's signing secret: `outgoing:{id}:secret`.
    OutgoingHook(&'a str),
}

impl SealContext<'_> {
    /// The associated data, as stored ciphertexts were sealed with it.
    pub fn aad(&self) -> String {
        match self {
            SealContext::IncomingHook(id) => format!("hook:{id}:secret"),
            SealContext::PipelineSecret(pipeline_id, name) => {
                format!("pipeline:{pipeline_id}:secret:{name}")
            }
            SealContext::OutgoingHook(id) => format!("outgoing:{id}:secret"),
        }
    }
}

/// A rotation's grace period longer than [`MAX_GRACE_SECS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("must be at most {MAX_GRACE_SECS}")]
pub struct GraceTooLong;

/// Rotates a hook secret: seals `new` under `context`, and keeps `current_ct` as the previous
/// secret for `grace_secs` (default a day, at most 30 days; 0 drops it now). The one rule for
/// incoming and outgoing hooks. `Err`: the grace period is too long.
pub fn rotate(
    key: &MasterKey,
    context: &SealContext<'_>,
    current_ct: Vec<u8>,
    new: &SecretString,
    grace_secs: Option<u64>,
    now_ms: i64,
) -> Result<Rotated, GraceTooLong> {
    let grace = grace_secs.unwrap_or(DEFAULT_GRACE_SECS);
    if grace > MAX_GRACE_SECS {
        return Err(GraceTooLong);
    }
    let (prev_secret_ct, prev_secret_expires_at) = if grace > 0 {
        (Some(current_ct), Some(now_ms + grace as i64 * 1000))
    } else {
        (None, None)
    };
    Ok(Rotated {
        secret_ct: key.seal(context, new.expose_secret().as_bytes()),
        secret_last4: last4(new.expose_secret()),
        prev_secret_ct,
        prev_secret_expires_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip_and_context_binding() {
        let key = MasterKey::generate();
        let sealed = key.seal(&SealContext::IncomingHook("hk_1"), b"s3cr3t");
        assert_eq!(
            key.open(&SealContext::IncomingHook("hk_1"), &sealed)
                .unwrap()
                .expose_secret(),
            "s3cr3t"
        );
        assert!(key
            .open(&SealContext::IncomingHook("hk_2"), &sealed)
            .is_err());
        assert!(MasterKey::generate()
            .open(&SealContext::IncomingHook("hk_1"), &sealed)
            .is_err());
        assert!(key
            .open(&SealContext::IncomingHook("hk_1"), &sealed[..10])
            .is_err());
        assert!(!sealed.windows(6).any(|w| w == b"s3cr3t"));
    }

    #[test]
    fn rotation_keeps_the_old_secret_for_the_grace_period() {
        let key = MasterKey::generate();
        const C: SealContext<'static> = SealContext::OutgoingHook("oh_1");
        let old = key.seal(&C, b"old");
        let new = SecretString::from("new-secret-wxyz".to_string());
        let r = rotate(&key, &C, old.clone(), &new, None, 1_000).unwrap();
        assert_eq!(
            (r.prev_secret_ct, r.prev_secret_expires_at),
            (Some(old.clone()), Some(1_000 + 86_400_000))
        );
        assert_eq!(
            key.open(&C, &r.secret_ct).unwrap().expose_secret(),
            "new-secret-wxyz"
        );
        assert_eq!(r.secret_last4, "wxyz");
        let r = rotate(&key, &C, old.clone(), &new, Some(0), 1_000).unwrap();
        assert_eq!((r.prev_secret_ct, r.prev_secret_expires_at), (None, None));
        assert_eq!(
            rotate(&key, &C, old, &new, Some(MAX_GRACE_SECS + 1), 0).unwrap_err(),
            GraceTooLong
        );
    }

    #[test]
    fn key_parsing() {
        let key = MasterKey::generate();
        assert!(MasterKey::from_base64(&key.to_base64()).is_ok());
        assert!(matches!(
            MasterKey::from_base64("!!"),
            Err(KeyError::NotBase64)
        ));
        assert!(matches!(
            MasterKey::from_base64("AAAA"),
            Err(KeyError::WrongLength(3))
        ));
    }

    #[test]
    fn masks_and_tokens() {
        assert_eq!(mask(&last4("abcdefgh")), "••••efgh");
        assert_eq!(last4("ab"), "ab");
        let t = generate_token();
        assert!(t.expose_secret().starts_with("hg_"));
        assert_eq!(hash_token("x").len(), 64);
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
        assert!(generate_secret().expose_secret().len() >= 43);
    }
}
