//! Cursor pagination shared by the list routes: newest first, cursor `"<unix ms>.<id>"`.

use crate::error::ApiError;

/// The page size asked for, within 1 to 100 (default 50).
pub fn limit(asked: Option<i64>) -> i64 {
    asked.unwrap_or(50).clamp(1, 100)
}

/// Reads a cursor this API gave out.
pub fn parse_cursor(cursor: Option<&str>) -> Result<Option<(i64, String)>, ApiError> {
    let Some(c) = cursor else { return Ok(None) };
    let bad = || ApiError::bad_request("invalid_cursor", "the cursor is not one this API gave");
    let (at, id) = c.split_once('.').ok_or_else(bad)?;
    Ok(Some((at.parse().map_err(|_| bad())?, id.to_string())))
}

/// The cursor of the next page: present when this page is full.
pub fn next_cursor<T>(rows: &[T], limit: i64, key: impl Fn(&T) -> (i64, &str)) -> Option<String> {
    if rows.len() as i64 != limit {
        return None;
    }
    rows.last().map(|r| {
        let (at, id) = key(r);
        format!("{at}.{id}")
    })
}
