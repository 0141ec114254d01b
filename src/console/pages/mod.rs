//! The console's pages: each reads through the store with the API's role check
//! ([`crate::api::Auth::require`]) and renders a template. Writes are not here: the pages' script
//! sends them to `/console/api/v1` (bridge.rs), the API's own handlers.

pub mod catalog;
pub mod requests;
pub mod runs;

use actix_web::HttpRequest;
use serde_json::{json, Map, Value};

use super::render::PageError;
use super::session::{self, Session};
use crate::app::AppState;
use crate::domain::time::rfc3339;

/// The live session, or a redirect to the sign-in page.
pub async fn signed(state: &AppState, req: &HttpRequest) -> Result<Session, PageError> {
    session::current(state, req).await?.ok_or(PageError::SignIn)
}

/// What every page's layout needs, plus the page's own `fields`.
pub fn context(s: &Session, title: &str, crumbs: &[(&str, String)], fields: Value) -> Value {
    let mut ctx = Map::new();
    ctx.insert("title".into(), json!(title));
    ctx.insert("csrf".into(), json!(s.csrf));
    ctx.insert("can_write".into(), json!(s.can_write()));
    ctx.insert("role".into(), json!(s.auth.role.as_str()));
    ctx.insert(
        "crumbs".into(),
        Value::Array(
            crumbs
                .iter()
                .map(|(label, href)| json!({ "label": label, "href": href }))
                .collect(),
        ),
    );
    ctx.insert("asset".into(), json!(super::assets::names()));
    if let Value::Object(own) = fields {
        ctx.extend(own);
    }
    Value::Object(ctx)
}

/// A time for `<time datetime=…>` (the script shows it in the browser's zone).
pub fn time(ms: i64) -> String {
    rfc3339(ms)
}

/// A duration in words: `850 ms`, `12.4 s`, `3 min 5 s`.
pub fn duration(ms: i64) -> String {
    match ms {
        ms if ms < 1000 => format!("{ms} ms"),
        ms if ms < 60_000 => format!("{:.1} s", ms as f64 / 1000.0),
        ms => format!("{} min {} s", ms / 60_000, ms % 60_000 / 1000),
    }
}

/// Text as pretty JSON when it parses as JSON, else as it is.
pub fn pretty(text: &str) -> String {
    serde_json::from_str::<Value>(text)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| text.to_string())
}

/// A stored JSON text column, parsed (null when absent or broken).
pub fn parsed(text: Option<&str>) -> Value {
    text.and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    #[test]
    fn durations_read_naturally() {
        assert_eq!(super::duration(850), "850 ms");
        assert_eq!(super::duration(12_400), "12.4 s");
        assert_eq!(super::duration(185_000), "3 min 5 s");
    }
}
