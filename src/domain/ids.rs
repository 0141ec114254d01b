//! Prefixed, unguessable identifiers (`prj_…`, `hk_…`): a prefix plus 128 random bits in base62.

use rand::RngCore;

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// 62^22 > 2^128, so 22 characters hold 128 random bits without loss.
const ID_CHARS: usize = 22;

/// The kinds of object that carry an id, each with its own prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    Project,
    Token,
    Pipeline,
    IncomingHook,
    OutgoingHook,
    Delivery,
    Run,
    Event,
}

impl IdKind {
    pub fn prefix(self) -> &'static str {
        match self {
            IdKind::Project => "prj_",
            IdKind::Token => "tok_",
            IdKind::Pipeline => "pl_",
            IdKind::IncomingHook => "hk_",
            IdKind::OutgoingHook => "oh_",
            IdKind::Delivery => "dlv_",
            IdKind::Run => "run_",
            IdKind::Event => "evt_",
        }
    }
}

/// Encodes 128 bits as exactly 22 base62 characters.
pub fn base62_u128(mut n: u128) -> String {
    let mut out = [b'0'; ID_CHARS];
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(n % 62) as usize];
        n /= 62;
    }
    String::from_utf8(out.to_vec()).expect("alphabet is ASCII")
}

/// A new random id of the given kind.
pub fn new_id(kind: IdKind) -> String {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!(
        "{}{}",
        kind.prefix(),
        base62_u128(u128::from_le_bytes(bytes))
    )
}

/// True when `s` has the shape of an id of this kind (cheap check before a lookup).
pub fn looks_like(kind: IdKind, s: &str) -> bool {
    s.strip_prefix(kind.prefix()).is_some_and(|rest| {
        rest.len() == ID_CHARS && rest.bytes().all(|b| b.is_ascii_alphanumeric())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_prefix_and_length() {
        let id = new_id(IdKind::IncomingHook);
        assert!(id.starts_with("hk_"));
        assert!(looks_like(IdKind::IncomingHook, &id));
        assert!(!looks_like(IdKind::Project, &id));
        assert_ne!(id, new_id(IdKind::IncomingHook));
    }

    #[test]
    fn base62_is_fixed_width_and_injective_at_edges() {
        assert_eq!(base62_u128(0), "0".repeat(22));
        assert_eq!(base62_u128(u128::MAX).len(), 22);
        assert_ne!(base62_u128(u128::MAX), base62_u128(u128::MAX - 1));
    }
}
