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

/// Declares an id type per kind of object, from one definition: the text as stored and shown
/// (`run_…`), typed so that one kind's id cannot be passed where another's is meant. It reads
/// as a `&str` (`Deref`), so SQL binds and logs take it as they took the text.
macro_rules! typed_id {
    ($($(#[$doc:meta])* $name:ident => $kind:expr;)+) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// A new random id of this kind.
            pub fn generate() -> Self {
                Self(new_id($kind))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl From<String> for $name {
            fn from(id: String) -> Self {
                Self(id)
            }
        }

        impl From<&str> for $name {
            fn from(id: &str) -> Self {
                Self(id.to_string())
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;

            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    )+};
}

typed_id! {
    /// A run's id (`run_…`).
    RunId => IdKind::Run;
    /// An incoming hook's id (`hk_…`).
    HookId => IdKind::IncomingHook;
    /// A pipeline's id (`pl_…`).
    PipelineId => IdKind::Pipeline;
}

/// Encodes 128 bits as exactly 22 base62 characters.
pub fn base62_u128(n: u128) -> String {
    // Three 128-bit divisions split `n` into base-62^10 limbs; the 22 digits then come from
    // 64-bit arithmetic (a 128-bit division per digit cost about 2,400 instructions a request).
    const LIMB: u128 = 62u128.pow(10);
    let mut out = [b'0'; ID_CHARS];
    let limbs = [
        (n % LIMB) as u64,
        ((n / LIMB) % LIMB) as u64,
        (n / (LIMB * LIMB)) as u64,
    ];
    let mut slots = out.iter_mut().rev();
    for (i, mut limb) in limbs.into_iter().enumerate() {
        let digits = if i < 2 { 10 } else { ID_CHARS - 20 };
        for slot in slots.by_ref().take(digits) {
            *slot = ALPHABET[(limb % 62) as usize];
            limb /= 62;
        }
    }
    String::from_utf8(out.to_vec()).expect("alphabet is ASCII")
}

/// A new id of the given kind. Runs, deliveries and events get a time-ordered id (see
/// [`sortable`]) followed by 128 random bits; everything else 128 random bits alone.
pub fn new_id(kind: IdKind) -> String {
    // The thread's CSPRNG (ChaCha12, seeded and reseeded from the OS): one system call per
    // id was measurable on the ingest path, and the bits are as unguessable.
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    let random = base62_u128(u128::from_le_bytes(bytes));
    if time_ordered(kind) {
        format!(
            "{}{}{}",
            kind.prefix(),
            sortable(crate::domain::time::now_ms()),
            random
        )
    } else {
        format!("{}{}", kind.prefix(), random)
    }
}

fn time_ordered(kind: IdKind) -> bool {
    matches!(kind, IdKind::Run | IdKind::Delivery | IdKind::Event)
}

/// 8 base62 characters of a millisecond timestamp (good until the year 8900), so that ids made
/// later sort later. Rows keyed by such ids are appended to their indexes instead of landing on
/// a random page; the 128 random bits that follow keep them unguessable.
fn sortable(ms: i64) -> String {
    let mut n = ms.max(0) as u64;
    let mut out = [b'0'; 8];
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(n % 62) as usize];
        n /= 62;
    }
    String::from_utf8(out.to_vec()).expect("alphabet is ASCII")
}

/// True when `s` has the shape of an id of this kind (cheap check before a lookup).
pub fn looks_like(kind: IdKind, s: &str) -> bool {
    let len = if time_ordered(kind) {
        8 + ID_CHARS
    } else {
        ID_CHARS
    };
    s.strip_prefix(kind.prefix())
        .is_some_and(|rest| rest.len() == len && rest.bytes().all(|b| b.is_ascii_alphanumeric()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The encoding as first written: a 128-bit division per digit.
    fn base62_by_digit(mut n: u128) -> String {
        let mut out = [b'0'; ID_CHARS];
        for slot in out.iter_mut().rev() {
            *slot = ALPHABET[(n % 62) as usize];
            n /= 62;
        }
        String::from_utf8(out.to_vec()).unwrap()
    }

    #[test]
    fn base62_by_limbs_is_the_digit_by_digit_encoding() {
        let edges = [
            0,
            1,
            61,
            62,
            62u128.pow(10) - 1,
            62u128.pow(10),
            62u128.pow(20),
            u128::MAX,
        ];
        for n in edges
            .into_iter()
            .chain((0..2000).map(|_| rand::random::<u128>()))
        {
            assert_eq!(base62_u128(n), base62_by_digit(n), "{n}");
        }
        assert_eq!(base62_u128(u128::MAX), "7n42DGM5Tflk9n8mt7Fhc7");
    }

    #[test]
    fn typed_ids_are_their_kind_and_read_as_text() {
        let run = RunId::generate();
        assert!(looks_like(IdKind::Run, &run));
        assert!(looks_like(IdKind::IncomingHook, &HookId::generate()));
        assert!(looks_like(IdKind::Pipeline, &PipelineId::generate()));
        assert_eq!(
            serde_json::to_value(&run).unwrap(),
            serde_json::Value::String(run.to_string())
        );
        assert_eq!(RunId::from(run.as_str()), run);
    }

    #[test]
    fn ids_have_prefix_and_length() {
        let id = new_id(IdKind::IncomingHook);
        assert!(id.starts_with("hk_"));
        assert!(looks_like(IdKind::IncomingHook, &id));
        assert!(!looks_like(IdKind::Project, &id));
        assert_ne!(id, new_id(IdKind::IncomingHook));
    }

    #[test]
    fn run_ids_sort_by_time_and_keep_128_random_bits() {
        let a = new_id(IdKind::Run);
        assert!(looks_like(IdKind::Run, &a) && a.len() == 4 + 8 + 22, "{a}");
        assert!(sortable(1_000) < sortable(2_000));
        assert!(sortable(1_700_000_000_000) < sortable(1_800_000_000_000));
        assert_ne!(new_id(IdKind::Delivery), new_id(IdKind::Delivery));
    }

    #[test]
    fn base62_is_fixed_width_and_injective_at_edges() {
        assert_eq!(base62_u128(0), "0".repeat(22));
        assert_eq!(base62_u128(u128::MAX).len(), 22);
        assert_ne!(base62_u128(u128::MAX), base62_u128(u128::MAX - 1));
    }
}
