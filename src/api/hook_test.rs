//! `POST /hooks/{hk}/test`: what ingest would do with a payload, with nothing stored: no
//! delivery, no dedup claim, no run. The same code decides as at ingest
//! (`ingest::handler::check_signature`, `ingest::evaluate::evaluate`).

use actix_web::http::StatusCode;
use actix_web::{post, web, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use utoipa::ToSchema;

use super::extract::Json;
use super::{AppState, Auth};
use crate::domain::filter::FilterVerdict;
use crate::domain::ids::{new_id, IdKind};
use crate::domain::role::Role;
use crate::domain::time::{now_ms, parse_rfc3339};
use crate::domain::FieldError;
use crate::error::ApiError;
use crate::ingest::evaluate::{evaluate, Decision, Incoming};
use crate::ingest::handler::{check_signature, IngestState};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(test_hook);
}

/// The body of `POST /hooks/{hk}/test`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HookTestIn {
    /// The request's headers (names in any case; string values).
    #[serde(default)]
    pub headers: Map<String, Value>,
    /// The body as sent: a string is the raw text (what signatures are computed over); an
    /// object or array is sent as its compact JSON.
    #[schema(value_type = Object)]
    pub body: Value,
    /// The query string, without `?`.
    #[serde(default)]
    pub query: Option<String>,
    /// The time the request is taken as received (RFC 3339), for timestamped signatures.
    #[serde(default)]
    pub now: Option<String>,
    /// Test the rules alone, without the signature check.
    #[serde(default)]
    pub skip_signature: bool,
}

/// What ingest would do.
#[derive(Debug, Serialize, ToSchema)]
pub struct HookTestOut {
    /// The status ingest would answer: 202, 200 or a 4xx.
    pub status: u16,
    /// `{ "result": "verified" | "failed" | "not_required" | "skipped", "problem"? }`.
    #[schema(value_type = Object)]
    pub verification: Value,
    /// The variables the run would get (or that the filters read, when it would not run).
    #[schema(value_type = Object)]
    pub variables: Map<String, Value>,
    /// Declared body paths that select nothing in this payload.
    pub unmatched_paths: Vec<String>,
    /// Every filter's verdict.
    pub filters: Vec<FilterVerdict>,
    /// `run`, `ignore` or `refuse`.
    pub would: String,
    /// Why it would ignore or refuse it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The error ingest would answer, when it would refuse.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub error: Option<Value>,
    /// Template uses of the pipeline that this hook leaves unset.
    pub pipeline_warnings: Vec<String>,
}

/// Test a hook without running anything (member).
#[utoipa::path(post, path = "/api/v1/hooks/{hk}/test", tag = "hooks", request_body = HookTestIn,
    responses((status = 200, body = HookTestOut),
        (status = 400, body = crate::error::ErrorBody), (status = 401, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody),
        (status = 413, body = crate::error::ErrorBody), (status = 415, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody), (status = 503, body = crate::error::ErrorBody)))]
#[post("/hooks/{hk}/test")]
pub async fn test_hook(
    state: web::Data<AppState>,
    ingest: web::Data<IngestState>,
    auth: Auth,
    path: web::Path<String>,
    body: Json<HookTestIn>,
) -> Result<HttpResponse, ApiError> {
    let row = super::hooks::load(&state, &auth, &path, Role::Member).await?;
    let input = body.into_inner();
    let now = match &input.now {
        None => now_ms(),
        Some(t) => parse_rfc3339(t).ok_or_else(|| {
            ApiError::validation(vec![FieldError::new("now", "must be an RFC 3339 time")])
        })?,
    };
    let raw: Vec<u8> = match &input.body {
        Value::String(s) => s.clone().into_bytes(),
        other => other.to_string().into_bytes(),
    };
    let mut headers: Vec<(String, String)> = Vec::new();
    for (name, value) in &input.headers {
        match value.as_str() {
            Some(v) => headers.push((name.to_ascii_lowercase(), v.to_string())),
            None => {
                return Err(ApiError::validation(vec![FieldError::new(
                    format!("headers.{name}"),
                    "must be a string",
                )]))
            }
        }
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let hook = ingest
        .hooks
        .get(state.store.as_ref(), &state.key, &row.id)
        .await?
        .ok_or_else(|| ApiError::not_found("hook"))?;
    let declared: Vec<&str> = hook
        .config
        .settings
        .variables
        .iter()
        .map(|v| v.name.as_str())
        .collect();
    let mut out = HookTestOut {
        status: 200,
        verification: json!({ "result": "skipped" }),
        variables: Map::new(),
        unmatched_paths: Vec::new(),
        filters: Vec::new(),
        would: "refuse".into(),
        reason: None,
        error: None,
        pipeline_warnings: hook.pipeline.hook_warnings(&declared),
    };
    let refuse = |out: &mut HookTestOut, err: ApiError| {
        out.status = err.status.as_u16();
        out.reason = Some(err.message.clone());
        out.error =
            Some(json!({ "error": err.code, "message": err.message, "details": err.details }));
    };
    if !hook.is_active {
        refuse(
            &mut out,
            ApiError::new(
                StatusCode::FORBIDDEN,
                "hook_inactive",
                "this hook is not active",
            ),
        );
        return Ok(HttpResponse::Ok().json(out));
    }
    if !input.skip_signature {
        match check_signature(&hook, &header, &raw, now) {
            Ok(v) => out.verification = json!(v),
            Err((err, v)) => {
                out.verification = json!(v);
                refuse(&mut out, err);
                return Ok(HttpResponse::Ok().json(out));
            }
        }
    }
    let query: Vec<(String, String)> =
        serde_urlencoded::from_str(input.query.as_deref().unwrap_or("")).unwrap_or_default();
    let content_type = header("content-type").or_else(|| Some("application/json".into()));
    let incoming = Incoming {
        header: &header,
        query: &query,
        content_type: content_type.as_deref(),
        body: &raw,
    };
    let eval = evaluate(&hook, &incoming, &new_id(IdKind::Delivery), now, true);
    out.unmatched_paths = eval.unmatched_paths;
    if let Some(vars) = &eval.delivery_vars {
        out.filters = hook.compiled.filters.verdicts(vars);
        out.variables = vars.clone();
    }
    match eval.decision {
        Decision::Refused(refusal) => refuse(&mut out, refusal.into()),
        Decision::SlackChallenge(_) => {
            out.would = "ignore".into();
            out.reason = Some("slack url_verification".into());
        }
        Decision::Ignored(reason) => {
            out.would = "ignore".into();
            out.reason = Some(reason);
        }
        Decision::Run(vars) => {
            out.status = 202;
            out.would = "run".into();
            out.variables = vars;
        }
    }
    Ok(HttpResponse::Ok().json(out))
}
