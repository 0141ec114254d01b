//! What ingest does with a verified request, decided without storing anything: parse →
//! variables → filters → the pipeline's defaults and required variables. `handler::accept`
//! commits the outcome; the test route (`POST /api/v1/hooks/{hk}/test`) only shows it.
//!
//! Filters read only what the delivery carries: the built-ins and the hook's variables (with
//! the hook's own defaults). The pipeline's defaults are added after the filters, for the run.

use actix_web::http::StatusCode;
use serde_json::{Map, Value};

use super::body::{check_encoding, parse_body};
use super::hooks::LoadedHook;
use super::signature::{Provider, Source};
use crate::domain::time::rfc3339;
use crate::domain::variable::VariableProblem;
use crate::error::ApiError;

/// A verified request, as `evaluate` reads it (from the wire, from the request log for a
/// replay, or from a test request).
pub struct Incoming<'a> {
    pub header: &'a dyn Fn(&str) -> Option<String>,
    pub query: &'a [(String, String)],
    pub content_type: Option<&'a str>,
    pub body: &'a [u8],
}

/// The decision for one request.
pub enum Outcome {
    /// Refused with this error (400, 415, 422); nothing runs.
    Refused(ApiError, Option<Vec<VariableProblem>>),
    /// Slack's `url_verification`: answer its challenge, no run.
    SlackChallenge(Value),
    /// A filter did not pass: answered 200 ignored with this reason.
    Ignored(String),
    /// Start a run with these variables (the pipeline's defaults included).
    Run(Map<String, Value>),
}

/// The decision and what it was made from.
pub struct Evaluation {
    pub outcome: Outcome,
    /// The sender's delivery id (dedup key), when the provider has one.
    pub provider_delivery_id: Option<String>,
    pub event: Option<String>,
    /// What the filters read (built-ins and the hook's variables), when the delivery was
    /// ignored, or always with `explain`; for a run refused for a missing required pipeline
    /// variable, the run's variables. `None` when parsing or extraction failed.
    pub delivery_vars: Option<Map<String, Value>>,
    /// With `explain`: body paths that selected nothing in this payload.
    pub unmatched_paths: Vec<String>,
}

/// Decides what ingest does with a verified request. `explain` also collects what the test
/// route shows (unmatched paths); ingest leaves it off.
pub fn evaluate(
    hook: &LoadedHook,
    incoming: &Incoming<'_>,
    delivery_id: &str,
    received_at: i64,
    explain: bool,
) -> Evaluation {
    let header = incoming.header;
    let mut eval = Evaluation {
        outcome: Outcome::Ignored(String::new()),
        provider_delivery_id: None,
        event: None,
        delivery_vars: None,
        unmatched_paths: Vec::new(),
    };
    let encoding = header("content-encoding");
    let parsed = match check_encoding(encoding.as_deref())
        .and_then(|()| parse_body(incoming.content_type, incoming.body, &hook.compiled.keep))
    {
        Ok(v) => v,
        Err(e) => {
            let status = if e.code() == "invalid_body" {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            };
            eval.outcome = Outcome::Refused(ApiError::new(status, e.code(), e.to_string()), None);
            return eval;
        }
    };
    let provider = hook.compiled.verify.provider;
    if provider == Provider::Slack
        && parsed.get("type").and_then(Value::as_str) == Some("url_verification")
    {
        // Slack checks a new Events URL by asking for its challenge back; no run.
        eval.outcome =
            Outcome::SlackChallenge(parsed.get("challenge").cloned().unwrap_or(Value::Null));
        return eval;
    }

    eval.provider_delivery_id = match &hook.config.delivery_id_header {
        Some(h) => header(&h.to_ascii_lowercase()),
        None => read_source(provider.delivery_id_source(), header, &parsed),
    };
    eval.event = read_source(provider.event_source(), header, &parsed);
    if explain {
        eval.unmatched_paths = hook.compiled.variables.unmatched_paths(&parsed);
    }

    let query_fn = |name: &str| {
        incoming
            .query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let mut variables = Map::new();
    variables.insert("hook_id".into(), hook.id.clone().into());
    variables.insert("delivery_id".into(), delivery_id.into());
    variables.insert(
        "event".into(),
        eval.event.clone().unwrap_or_default().into(),
    );
    variables.insert(
        "action_type".into(),
        hook.compiled.action_type.clone().into(),
    );
    variables.insert("received_at".into(), rfc3339(received_at).into());
    match hook.compiled.variables.extract(&parsed, header, &query_fn) {
        Ok(declared) => variables.extend(declared),
        Err(problems) => {
            eval.outcome = Outcome::Refused(invalid_variables(&problems), Some(problems));
            return eval;
        }
    }
    if let Err(reason) = hook.compiled.filters.evaluate(&variables) {
        eval.outcome = Outcome::Ignored(reason);
        eval.delivery_vars = Some(variables);
        return eval;
    }
    if explain {
        eval.delivery_vars = Some(variables.clone());
    }
    // Only now the pipeline's defaults: they make a run complete, never a filter pass.
    for (name, value) in &hook.defaults {
        if variables.get(name).is_none_or(Value::is_null) {
            variables.insert(name.clone(), value.clone());
        }
    }
    let missing = hook.pipeline.missing_required(&variables);
    if missing.is_empty() {
        eval.outcome = Outcome::Run(variables);
    } else {
        eval.outcome = Outcome::Refused(invalid_variables(&missing), Some(missing));
        eval.delivery_vars.get_or_insert(variables);
    }
    eval
}

/// 422 `invalid_variables` naming each variable, with the problems as details.
fn invalid_variables(problems: &[VariableProblem]) -> ApiError {
    let names: Vec<&str> = problems.iter().map(|p| p.name.as_str()).collect();
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_variables",
        format!("invalid variables: {}", names.join(", ")),
    )
    .with_details(problems)
}

fn read_source(
    source: Source,
    header: &dyn Fn(&str) -> Option<String>,
    body: &Value,
) -> Option<String> {
    match source {
        Source::None => None,
        Source::Header(names) => names.iter().find_map(|n| header(n)),
        Source::Body(field) => match body.get(field)? {
            Value::String(s) => Some(s.clone()),
            Value::Null => None,
            other => Some(other.to_string()),
        },
    }
    // Stored in text columns (and the dedup key's index): PostgreSQL refuses NUL in text.
    .filter(|s| !s.is_empty() && s.len() <= 256 && !s.contains('\0'))
}
