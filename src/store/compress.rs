//! Request-log bodies are stored LZ4-compressed when that makes them smaller.
//!
//! A webhook body is mostly JSON that repeats itself (GitHub's push repeats its repository's
//! URLs dozens of times): the 7 KB push of the benchmark packs into about 2 KB. Every byte of a
//! body is written twice by SQLite (into the WAL, then into the database at the checkpoint) and
//! checksummed, so a smaller body is the largest single saving of the group commit
//! (docs/performance.md). The column `body_encoding` says how `body` is stored; the store packs
//! on the way in and unpacks on the way out, so everything above it sees the raw bytes.

use super::{DeliveryRow, StoreError};

/// `body_encoding` of a body stored as an LZ4 block, its length prepended.
pub const LZ4: &str = "lz4";
/// Bodies shorter than this are stored as they are.
const MIN_LEN: usize = 256;

/// The body as stored, and its encoding (`None`: as received).
pub fn pack(body: &[u8]) -> (Vec<u8>, Option<String>) {
    if body.len() >= MIN_LEN {
        let packed = lz4_flex::compress_prepend_size(body);
        // Only when it saves at least an eighth: random or already-compressed bodies stay raw.
        if packed.len() <= body.len() - body.len() / 8 {
            return (packed, Some(LZ4.to_string()));
        }
    }
    (body.to_vec(), None)
}

/// Restores a row read from the database to its raw body.
pub fn unpack(row: &mut DeliveryRow) -> Result<(), StoreError> {
    match row.body_encoding.as_deref() {
        None => Ok(()),
        Some(LZ4) => {
            row.body = lz4_flex::decompress_size_prepended(&row.body).map_err(|e| {
                StoreError::Other(sqlx::Error::Decode(
                    format!("delivery {}: the stored body does not unpack: {e}", row.id).into(),
                ))
            })?;
            row.body_encoding = None;
            Ok(())
        }
        Some(other) => Err(StoreError::Other(sqlx::Error::Decode(
            format!("delivery {}: unknown body encoding {other:?}", row.id).into(),
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn row(body: Vec<u8>, body_encoding: Option<String>) -> DeliveryRow {
        DeliveryRow {
            id: "dl_test".into(),
            hook_id: "hk_test".into(),
            project_id: "prj_test".into(),
            received_at: 0,
            status_code: 202,
            outcome: "accepted".into(),
            error: None,
            verification: "{}".into(),
            filter_reason: None,
            variables: None,
            problems: None,
            run_id: None,
            provider_delivery_id: None,
            event: None,
            content_type: None,
            query: None,
            headers: "{}".into(),
            body_size: body.len() as i64,
            body,
            body_truncated: false,
            replay_of: None,
            body_encoding,
        }
    }

    #[test]
    fn repetitive_json_is_packed_and_short_or_random_bodies_are_not() {
        let json = br#"{"url":"https://api.github.com/repos/octo/hello"}"#.repeat(20);
        let (packed, encoding) = pack(&json);
        assert_eq!(encoding.as_deref(), Some(LZ4));
        assert!(
            packed.len() < json.len() / 4,
            "{} of {}",
            packed.len(),
            json.len()
        );

        assert_eq!(
            pack(b"{\"ref\":\"main\"}"),
            (b"{\"ref\":\"main\"}".to_vec(), None)
        );
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let noise: Vec<u8> = (0..4096)
            .map(|_| {
                // xorshift64: no repeats for LZ4 to find.
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 56) as u8
            })
            .collect();
        assert_eq!(pack(&noise).1, None);
    }

    #[test]
    fn a_corrupt_or_unknown_encoding_is_an_error_not_a_panic() {
        assert!(unpack(&mut row(vec![200, 1, 0, 0, 7, 7], Some(LZ4.into()))).is_err());
        assert!(unpack(&mut row(b"x".to_vec(), Some("zstd".into()))).is_err());
    }

    proptest! {
        #[test]
        fn unpack_restores_what_pack_stored(body in proptest::collection::vec(any::<u8>(), 0..4096), repeat in 1usize..8) {
            let body = body.repeat(repeat);
            let (stored, encoding) = pack(&body);
            let mut r = row(stored, encoding);
            unpack(&mut r).unwrap();
            prop_assert_eq!(r.body, body);
            prop_assert_eq!(r.body_encoding, None);
        }
    }
}
