//! Building request-log records, and the budget that bounds how many unauthenticated failures
//! are written.

use std::collections::HashMap;
use std::sync::Mutex;

use actix_web::HttpRequest;
use serde_json::{Map, Value};

use super::hooks::LoadedHook;
use crate::domain::delivery::Verification;
use crate::domain::time::now_ms;
use crate::store::DeliveryRow;

/// How much of an unverified body is kept.
pub const UNVERIFIED_BODY_PREFIX: usize = 1024;
const REDACTED: &str = "[redacted]";

/// The request's headers as a JSON object, names in lower case, those named in `redact`
/// (`VerifyConfig::redacted_headers`, lower case) redacted.
pub fn headers_json(req: &HttpRequest, redact: &[String]) -> String {
    let mut map = Map::new();
    for (name, value) in req.headers() {
        let name = name.as_str();
        let shown = if redact.iter().any(|r| r == name) {
            REDACTED.to_string()
        } else {
            String::from_utf8_lossy(value.as_bytes()).into_owned()
        };
        match map.get_mut(name) {
            Some(Value::String(existing)) => {
                existing.push_str(", ");
                existing.push_str(&shown);
            }
            _ => {
                map.insert(name.to_string(), Value::String(shown));
            }
        }
    }
    Value::Object(map).to_string()
}

/// A delivery record with the request's facts filled in and the outcome still to set.
pub fn new_delivery(
    id: &str,
    hook: &LoadedHook,
    req: &HttpRequest,
    received_at: i64,
    body: &[u8],
    verified: bool,
) -> DeliveryRow {
    let keep = if verified {
        body.len()
    } else {
        body.len().min(UNVERIFIED_BODY_PREFIX)
    };
    let content_type = req
        .headers()
        .get("content-type")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let query = Some(req.query_string().to_string()).filter(|q| !q.is_empty());
    DeliveryRow {
        id: id.to_string(),
        hook_id: hook.id.clone(),
        project_id: hook.project_id.clone(),
        received_at,
        status_code: 0,
        outcome: String::new(),
        error: None,
        verification: Verification::NotChecked.to_json(),
        filter_reason: None,
        variables: None,
        problems: None,
        run_id: None,
        provider_delivery_id: None,
        event: None,
        content_type,
        query,
        headers: headers_json(req, &hook.compiled.redacted_headers),
        body: body[..keep].to_vec(),
        body_size: body.len() as i64,
        body_truncated: keep < body.len(),
        replay_of: None,
        body_encoding: None,
    }
}

/// A count per key per clock minute: bounds the records of unauthenticated failures, and
/// enforces a hook's `rate_limit_per_minute`. Per process.
#[derive(Default)]
pub struct MinuteBudget {
    spent: Mutex<HashMap<String, (i64, u32)>>,
}

impl MinuteBudget {
    /// True when one more event on `key` fits within `per_minute` this minute.
    pub fn allow(&self, key: &str, per_minute: u32) -> bool {
        let minute = now_ms() / 60_000;
        let mut spent = self.spent.lock().expect("failure budget lock");
        if spent.len() > 10_000 {
            spent.retain(|_, (m, _)| *m == minute);
        }
        let entry = spent.entry(key.to_string()).or_insert((minute, 0));
        if entry.0 != minute {
            *entry = (minute, 0);
        }
        entry.1 += 1;
        entry.1 <= per_minute
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_caps_records_per_hook_per_minute() {
        let budget = MinuteBudget::default();
        let allowed = (0..10).filter(|_| budget.allow("hk_a", 3)).count();
        assert_eq!(allowed, 3);
        assert!(budget.allow("hk_b", 3));
    }
}
