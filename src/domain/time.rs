//! Timestamps: stored as Unix milliseconds, shown as RFC 3339 in UTC with exactly three
//! fractional digits, so that every timestamp has the same width and they sort as text.

use time::format_description::well_known::Rfc3339;
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use time::OffsetDateTime;

/// `2026-11-24T13:55:30.100Z`: fixed width (never `…:30.1Z`), always UTC.
const FIXED_MS: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");

/// Now, in Unix milliseconds.
pub fn now_ms() -> i64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// Unix milliseconds as an RFC 3339 string in UTC with milliseconds
/// (`2026-11-24T13:55:30.120Z`, 24 characters for years 0000–9999).
pub fn rfc3339(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .ok()
        .and_then(|t| t.format(FIXED_MS).ok())
        .unwrap_or_default()
}

/// Parses an RFC 3339 timestamp (any offset, any number of fractional digits) to Unix
/// milliseconds.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    OffsetDateTime::parse(s, &Rfc3339)
        .ok()
        .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn fixed_width_with_milliseconds() {
        assert_eq!(rfc3339(1_700_000_000_100), "2023-11-14T22:13:20.100Z");
        assert_eq!(rfc3339(1_700_000_000_000), "2023-11-14T22:13:20.000Z");
        assert_eq!(rfc3339(1_700_000_000_104), "2023-11-14T22:13:20.104Z");
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            parse_rfc3339("2023-11-14T23:13:20.1+01:00"),
            Some(1_700_000_000_100)
        );
    }

    proptest! {
        /// Every timestamp up to year 9999 has the same width, round-trips, and text order is
        /// time order.
        #[test]
        fn round_trip_and_sort_as_text(a in 0i64..253_402_300_799_999, b in 0i64..253_402_300_799_999) {
            let (ta, tb) = (rfc3339(a), rfc3339(b));
            prop_assert_eq!(ta.len(), 24);
            prop_assert_eq!(parse_rfc3339(&ta), Some(a));
            prop_assert_eq!(ta.cmp(&tb), a.cmp(&b));
        }
    }
}
