//! Sender-controlled values that become database keys (SPEC §7): none may be longer than an
//! index entry can be, on either database.

/// Longest concurrency key stored as rendered (bytes). Database indexes hold keys: PostgreSQL's
/// btree refuses entries past 2,704 bytes, which used to make every delivery with a long
/// branch name fail (issue #11).
pub const MAX_PLAIN_KEY: usize = 256;
/// Marks a hashed concurrency key.
const HASHED_KEY_PREFIX: &str = "sha256:";

/// The concurrency key as stored and shown: the rendered key itself when it is at most
/// [`MAX_PLAIN_KEY`] bytes, else `sha256:` and the hex SHA-256 of it (71 bytes). Runs with the
/// same rendered key share a slot either way, on both databases alike. A rendered key that
/// already looks hashed is hashed too, so that no sender can name another key's slot, and so
/// is one holding a NUL character, which PostgreSQL's text refuses.
pub fn stored_key(rendered: String) -> String {
    use sha2::{Digest, Sha256};
    if rendered.len() <= MAX_PLAIN_KEY
        && !rendered.starts_with(HASHED_KEY_PREFIX)
        && !rendered.contains('\0')
    {
        return rendered;
    }
    format!(
        "{HASHED_KEY_PREFIX}{}",
        hex::encode(Sha256::digest(rendered.as_bytes()))
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn short_keys_stay_as_rendered_and_long_ones_are_hashed() {
        assert_eq!(stored_key("refs/heads/main".into()), "refs/heads/main");
        let long = "r".repeat(3072);
        let hashed = stored_key(long.clone());
        assert!(
            hashed.starts_with("sha256:") && hashed.len() == 71,
            "{hashed}"
        );
        assert_eq!(stored_key(long), hashed, "the same key, the same slot");
        assert_ne!(
            stored_key(hashed.clone()),
            hashed,
            "a key cannot name a hashed slot"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Any rendered key up to 64 KiB is stored in at most `MAX_PLAIN_KEY` bytes, the same
        /// way every time, and two different keys keep two different slots.
        #[test]
        fn any_key_up_to_64_kib_fits_an_index(
            len in 0usize..=65_536,
            fill in any::<char>(),
            other in any::<char>(),
        ) {
            let mut key: String = std::iter::repeat_n(fill, len / fill.len_utf8()).collect();
            let stored = stored_key(key.clone());
            prop_assert!(stored.len() <= MAX_PLAIN_KEY);
            prop_assert_eq!(&stored, &stored_key(key.clone()));
            key.push(if other == fill { '\u{0}' } else { other });
            prop_assert_ne!(stored, stored_key(key));
        }
    }
}
