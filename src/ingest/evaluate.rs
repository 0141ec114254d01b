//! What ingest does with a verified request, decided without storing anything: parse →
//! variables → filters → the pipeline's defaults and required variables. `accept::accept`
//! commits the decision; the test route (`POST /api/v1/hooks/{hk}/test`) only shows it.
//!
//! Filters read only what the delivery carries: the built-ins and the hook's variables (with
//! the hook's own defaults). The pipeline's defaults are added after the filters, for the run.

use serde_json::{Map, Value};

use super::accept::Refusal;
use super::body::{check_encoding, parse_body};
use super::hooks::LoadedHook;
use crate::domain::time::rfc3339;
use crate::signature::{Provider, Source};

/// A verified request, as `evaluate` reads it (from the wire, from the request log for a
/// replay, or from a test request).
pub struct Incoming<'a> {
    pub header: &'a dyn Fn(&str) -> Option<String>,
    pub query: &'a [(String, String)],
    pub content_type: Option<&'a str>,
    pub body: &'a [u8],
}

/// The decision for one request.
pub enum Decision {
    /// Refused for its body or its variables; nothing runs.
    Refused(Refusal),
    /// Slack's `url_verification`: answer its challenge, no run.
    SlackChallenge(Value),
    /// A filter did not pass: answered 200 ignored with this reason.
    Ignored(String),
    /// Start a run with these variables (the pipeline's defaults included).
    Run(Map<String, Value>),
}

/// The decision and what it was made from.
pub struct Evaluation {
    pub decision: Decision,
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
        decision: Decision::Ignored(String::new()),
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
            eval.decision = Decision::Refused(Refusal::Body(e));
            return eval;
        }
    };
    let provider = hook.compiled.verify.provider;
    if provider == Provider::Slack
        && parsed.get("type").and_then(Value::as_str) == Some("url_verification")
    {
        // Slack checks a new Events URL by asking for its challenge back; no run.
        eval.decision =
            Decision::SlackChallenge(parsed.get("challenge").cloned().unwrap_or(Value::Null));
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
            eval.decision = Decision::Refused(Refusal::Variables(problems));
            return eval;
        }
    }
    if let Err(reason) = hook.compiled.filters.evaluate(&variables) {
        eval.decision = Decision::Ignored(reason);
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
        eval.decision = Decision::Run(variables);
    } else {
        eval.decision = Decision::Refused(Refusal::Variables(missing));
        eval.delivery_vars.get_or_insert(variables);
    }
    eval
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
