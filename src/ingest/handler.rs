//! `POST /hooks/{hk}`: size limit → hook → signature → parse → variables → filters → dedup →
//! durable enqueue → answer. A 2xx is sent only once the run (or the ignored delivery) is
//! committed.

use actix_web::http::StatusCode;
use actix_web::{post, web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use secrecy::ExposeSecret;
use serde_json::{json, Map, Value};

use super::body::parse_body;
use super::committer::Committer;
use super::hooks::{HookCache, LoadedHook};
use super::record::{new_delivery, MinuteBudget};
use super::signature::{verify, Provider, Source};
use crate::api::AppState;
use crate::domain::ids::{new_id, IdKind};
use crate::domain::pipeline::RunLimit;
use crate::domain::time::{now_ms, rfc3339};
use crate::error::ApiError;
use crate::metrics::{Outcome, UNKNOWN};
use crate::store::{DeliveryRow, IngestResult, IngestWrite, RunRow};

/// Unauthenticated failures recorded per hook per minute (per process).
const FAILURES_RECORDED_PER_MINUTE: u32 = 20;

/// Ingest's own state: compiled hooks, the group committer, the per-minute budgets.
pub struct IngestState {
    pub hooks: HookCache,
    pub committer: Committer,
    /// Unauthenticated failures recorded, per hook.
    pub failures: MinuteBudget,
    /// Verified deliveries, per hook with a `rate_limit_per_minute`.
    pub rate: MinuteBudget,
}

impl IngestState {
    pub fn new(committer: Committer) -> Self {
        Self {
            hooks: HookCache::default(),
            committer,
            failures: MinuteBudget::default(),
            rate: MinuteBudget::default(),
        }
    }
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(receive);
}

/// Receive a webhook delivery.
#[utoipa::path(post, path = "/hooks/{hk}", tag = "ingest", request_body(content = Object, description = "the provider's payload (JSON, or a form with a payload field)"),
    responses(
        (status = 202, description = "the run is committed: { run_id, delivery_id, status_url }"),
        (status = 200, description = "{ duplicate: true, run_id } or { ignored: true, reason }"),
        (status = 400, body = crate::error::ErrorBody), (status = 401, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody),
        (status = 413, body = crate::error::ErrorBody), (status = 415, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody), (status = 503, body = crate::error::ErrorBody)))]
#[post("/hooks/{hk}")]
pub async fn receive(
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    app: web::Data<AppState>,
    ingest: web::Data<IngestState>,
) -> Result<HttpResponse, ApiError> {
    let started = std::time::Instant::now();
    let mut hook = None;
    let answer = handle(req, path, payload, &app, &ingest, &mut hook).await;
    let outcome = match &answer {
        Ok(r) => r
            .extensions()
            .get::<Outcome>()
            .copied()
            .unwrap_or(Outcome::Accepted),
        Err(e) => Outcome::from_error(e.status.as_u16(), e.code),
    };
    let (hook, provider) = hook.unzip();
    let m = &app.metrics;
    m.delivery(hook.as_deref(), provider.unwrap_or(UNKNOWN), outcome);
    m.ingest_duration(started.elapsed().as_secs_f64());
    answer
}

/// The route's work; `seen` gets the hook's id and provider once the hook is found.
async fn handle(
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    app: &AppState,
    ingest: &IngestState,
    seen: &mut Option<(String, &'static str)>,
) -> Result<HttpResponse, ApiError> {
    let received_at = now_ms();
    let max = app.settings.max_body_bytes;
    let declared_len = req
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let body = match declared_len {
        Some(n) if n > max as u64 => None,
        _ => read_body(payload, max).await?,
    };
    let hook = ingest
        .hooks
        .get(app.store.as_ref(), &app.key, &path)
        .await?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "hook_not_found", "no such hook"))?;
    *seen = Some((hook.id.clone(), hook.compiled.verify.provider.as_str()));
    let delivery_id = new_id(IdKind::Delivery);
    let Some(body) = body else {
        let err = ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the body is over {max} bytes"),
        );
        return Err(reject_unverified(
            ingest,
            &hook,
            &req,
            &delivery_id,
            received_at,
            &[],
            err,
            None,
        ));
    };
    if !hook.is_active {
        let err = ApiError::new(
            StatusCode::FORBIDDEN,
            "hook_inactive",
            "this hook is not active",
        );
        return Err(reject_unverified(
            ingest,
            &hook,
            &req,
            &delivery_id,
            received_at,
            &body,
            err,
            None,
        ));
    }

    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let verification = if hook.compiled.requires_secret {
        let mut secrets = vec![hook.secret.expose_secret()];
        if let Some((prev, until)) = &hook.previous {
            if *until > received_at {
                secrets.push(prev.expose_secret());
            }
        }
        match verify(
            &hook.compiled.verify,
            &secrets,
            &header,
            &body,
            received_at / 1000,
        ) {
            Ok(0) => json!({ "result": "verified", "secret": "current" }),
            Ok(_) => json!({ "result": "verified", "secret": "previous" }),
            Err(e) => {
                let err = ApiError::new(StatusCode::UNAUTHORIZED, e.code(), e.to_string());
                let outcome = json!({ "result": "failed", "problem": e.to_string() });
                return Err(reject_unverified(
                    ingest,
                    &hook,
                    &req,
                    &delivery_id,
                    received_at,
                    &body,
                    err,
                    Some(outcome),
                ));
            }
        }
    } else {
        json!({ "result": "not_required" })
    };

    let mut delivery = new_delivery(&delivery_id, &hook, &req, received_at, &body, true);
    delivery.verification = verification.to_string();
    if let Some(limit) = hook.config.rate_limit_per_minute {
        // Counted after verification, so forged requests cannot spend a sender's budget.
        if !ingest.rate.allow(&hook.id, limit) {
            let retry = 60 - (received_at / 1000 % 60) as u32;
            let err = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!("this hook takes at most {limit} deliveries a minute"),
            )
            .retry_after(retry.max(1));
            return Err(reject(ingest, delivery, err));
        }
    }
    let query: Vec<(String, String)> =
        serde_urlencoded::from_str(req.query_string()).unwrap_or_default();
    let incoming = Incoming {
        header: &header,
        query: &query,
        content_type: req
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        body: &body,
    };
    accept(app, ingest, &hook, delivery, incoming, true).await
}

/// A verified request, as `accept` reads it (from the wire, or from the request log for a replay).
pub struct Incoming<'a> {
    pub header: &'a dyn Fn(&str) -> Option<String>,
    pub query: &'a [(String, String)],
    pub content_type: Option<&'a str>,
    pub body: &'a [u8],
}

/// Everything after verification: parse → variables → filters → dedup (when `dedup`) →
/// durable enqueue → answer. `delivery` has the request's facts filled in.
pub async fn accept(
    app: &AppState,
    ingest: &IngestState,
    hook: &LoadedHook,
    mut delivery: DeliveryRow,
    incoming: Incoming<'_>,
    dedup: bool,
) -> Result<HttpResponse, ApiError> {
    let header = incoming.header;
    let delivery_id = delivery.id.clone();
    let parsed = match parse_body(incoming.content_type, incoming.body, &hook.compiled.keep) {
        Ok(v) => v,
        Err(e) => {
            let status = if e.code() == "invalid_body" {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            };
            return Err(reject(
                ingest,
                delivery,
                ApiError::new(status, e.code(), e.to_string()),
            ));
        }
    };
    let provider = hook.compiled.verify.provider;
    if provider == Provider::Slack
        && parsed.get("type").and_then(Value::as_str) == Some("url_verification")
    {
        // Slack checks a new Events URL by asking for its challenge back; no run.
        commit_ignored(ingest, delivery, "slack url_verification".into()).await?;
        return Ok(tagged(
            HttpResponse::Ok().json(
                json!({ "challenge": parsed.get("challenge").cloned().unwrap_or(Value::Null) }),
            ),
            Outcome::Ignored,
        ));
    }

    let provider_delivery_id = match &hook.config.delivery_id_header {
        Some(h) => header(&h.to_ascii_lowercase()),
        None => read_source(provider.delivery_id_source(), header, &parsed),
    };
    let event = read_source(provider.event_source(), header, &parsed);
    delivery.provider_delivery_id = provider_delivery_id.clone();
    delivery.event = event.clone();

    let query_fn = |name: &str| {
        incoming
            .query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let mut variables = hook.defaults.clone();
    variables.insert("hook_id".into(), hook.id.clone().into());
    variables.insert("delivery_id".into(), delivery_id.clone().into());
    variables.insert("event".into(), event.unwrap_or_default().into());
    variables.insert(
        "action_type".into(),
        hook.compiled.action_type.clone().into(),
    );
    variables.insert("received_at".into(), rfc3339(delivery.received_at).into());
    match hook.compiled.variables.extract(&parsed, header, &query_fn) {
        Ok(declared) => variables.extend(declared),
        Err(problems) => {
            delivery.problems = serde_json::to_string(&problems).ok();
            let names: Vec<&str> = problems.iter().map(|p| p.name.as_str()).collect();
            let err = ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_variables",
                format!("invalid variables: {}", names.join(", ")),
            )
            .with_details(&problems);
            return Err(reject(ingest, delivery, err));
        }
    }
    delivery.variables = Some(serde_json::to_string(&variables).expect("a JSON map serializes"));

    if let Err(reason) = hook.compiled.filters.evaluate(&variables) {
        commit_ignored(ingest, delivery, reason.clone()).await?;
        return Ok(tagged(
            HttpResponse::Ok()
                .json(json!({ "ignored": true, "reason": reason, "delivery_id": delivery_id })),
            Outcome::Ignored,
        ));
    }

    let run = new_run(hook, &delivery, &variables);
    let run_id = run.id.clone();
    delivery.status_code = 202;
    delivery.outcome = "accepted".into();
    delivery.run_id = Some(run_id.clone());
    let dedup_key = provider_delivery_id.filter(|_| dedup);
    match commit(
        ingest,
        IngestWrite {
            delivery,
            run: Some(run),
            dedup_key,
        },
    )
    .await?
    {
        IngestResult::Duplicate { run_id } => Ok(tagged(
            HttpResponse::Ok()
                .json(json!({ "duplicate": true, "run_id": run_id, "delivery_id": delivery_id })),
            Outcome::Duplicate,
        )),
        _ => Ok(HttpResponse::Accepted().json(json!({
            "run_id": run_id,
            "delivery_id": delivery_id,
            "status_url": format!("{}/api/v1/runs/{run_id}", app.settings.public_url),
        }))),
    }
}

/// A 200 answer marked with its outcome, for the metrics (a 202 is `accepted`).
fn tagged(mut response: HttpResponse, outcome: Outcome) -> HttpResponse {
    response.extensions_mut().insert(outcome);
    response
}

/// Reads the body up to `max` bytes; `None` when it is larger.
async fn read_body(mut payload: web::Payload, max: usize) -> Result<Option<Vec<u8>>, ApiError> {
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::bad_request("invalid_body", format!("the body could not be read: {e}"))
        })?;
        if body.len() + chunk.len() > max {
            return Ok(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body))
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
    .filter(|s| !s.is_empty() && s.len() <= 256)
}

fn new_run(hook: &LoadedHook, delivery: &DeliveryRow, variables: &Map<String, Value>) -> RunRow {
    let limit = RunLimit::resolve(hook.concurrency.as_ref(), variables);
    RunRow {
        id: new_id(IdKind::Run),
        pipeline_id: hook.pipeline_id.clone(),
        project_id: hook.project_id.clone(),
        hook_id: Some(hook.id.clone()),
        delivery_id: Some(delivery.id.clone()),
        status: "queued".into(),
        reason: None,
        // The same text the delivery records, serialized once.
        variables: delivery.variables.clone().unwrap_or_default(),
        triggered_by: match &delivery.replay_of {
            Some(original) => format!("replay:{original}"),
            None => format!("hook:{}", hook.id),
        },
        concurrency_key: limit.key,
        attempt: 0,
        lease_expires_at: None,
        created_at: delivery.received_at,
        started_at: None,
        finished_at: None,
        worker_id: None,
        cancel_requested: false,
        max_attempts: hook.max_attempts,
        concurrency_policy: limit.policy,
        concurrency_max: limit.max,
    }
}

/// Commits and waits; any storage failure is a 503 with Retry-After, never a 2xx.
async fn commit(ingest: &IngestState, write: IngestWrite) -> Result<IngestResult, ApiError> {
    ingest.committer.commit(write).await.map_err(|e| {
        let mut err = ApiError::unavailable();
        err.source = Some(e.into());
        err
    })
}

/// Commits a delivery that starts no run (answered 200), before its answer like any other 2xx.
async fn commit_ignored(
    ingest: &IngestState,
    mut delivery: DeliveryRow,
    reason: String,
) -> Result<(), ApiError> {
    delivery.status_code = 200;
    delivery.outcome = "ignored".into();
    delivery.filter_reason = Some(reason);
    commit(
        ingest,
        IngestWrite {
            delivery,
            run: None,
            dedup_key: None,
        },
    )
    .await
    .map(drop)
}

/// Records an authenticated request that was refused, without waiting, and returns the error.
pub fn reject(ingest: &IngestState, mut delivery: DeliveryRow, err: ApiError) -> ApiError {
    delivery.status_code = err.status.as_u16() as i64;
    delivery.outcome = "rejected".into();
    delivery.error = Some(err.code.to_string());
    ingest.committer.record(IngestWrite {
        delivery,
        run: None,
        dedup_key: None,
    });
    err
}

/// Records a refused, unauthenticated request within the hook's failure budget, keeping only a
/// prefix of its body, and returns the error.
#[allow(clippy::too_many_arguments)]
fn reject_unverified(
    ingest: &IngestState,
    hook: &LoadedHook,
    req: &HttpRequest,
    delivery_id: &str,
    received_at: i64,
    body: &[u8],
    err: ApiError,
    verification: Option<Value>,
) -> ApiError {
    if ingest
        .failures
        .allow(&hook.id, FAILURES_RECORDED_PER_MINUTE)
    {
        let mut delivery = new_delivery(delivery_id, hook, req, received_at, body, false);
        if let Some(v) = verification {
            delivery.verification = v.to_string();
        }
        return reject(ingest, delivery, err);
    }
    err
}
