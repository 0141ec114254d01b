//! `POST /hooks/{hk}`: size limit → hook → signature → parse → variables → filters → dedup →
//! durable enqueue → answer. A 2xx is sent only once the run (or the ignored delivery) is
//! committed.

use actix_web::http::StatusCode;
use actix_web::{post, web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use secrecy::ExposeSecret;
use serde_json::{json, Map, Value};

use super::client_ip::{client_ip, is_trusted};
use super::committer::Committer;
pub use super::evaluate::Incoming;
use super::evaluate::{evaluate, Outcome};
use super::hooks::{HookCache, LoadedHook};
use super::record::{new_delivery, MinuteBudget};
use super::signature::verify;
use crate::app::AppState;
use crate::domain::ids::{new_id, IdKind};
use crate::domain::pipeline::RunLimit;
use crate::domain::time::now_ms;
use crate::error::ApiError;
use crate::metrics::{Outcome as Counted, UNKNOWN};
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
            .get::<Counted>()
            .copied()
            .unwrap_or(Counted::Accepted),
        Err(e) => Counted::from_error(e.status.as_u16(), e.code),
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
    // Refusals before the signature is known to be good: recorded within the failure budget.
    let unverified = |err: ApiError, verification: Option<Value>| {
        reject_unverified(
            ingest,
            &hook,
            &req,
            &delivery_id,
            received_at,
            &body,
            err,
            verification,
        )
    };
    if !hook.is_active {
        let err = ApiError::new(
            StatusCode::FORBIDDEN,
            "hook_inactive",
            "this hook is not active",
        );
        return Err(unverified(err, None));
    }
    if let Some(err) = address_refusal(&req, &app.settings.trusted_proxies, &hook) {
        return Err(unverified(err, None));
    }

    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let verification = match check_signature(&hook, &header, &body, received_at) {
        Ok(v) => v,
        Err((err, outcome)) => return Err(unverified(err, Some(outcome))),
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

/// `403 ip_not_allowed` when the hook has `allowed_ips` and the client address (the TCP peer, or
/// what a trusted proxy forwards) is not in them.
fn address_refusal(
    req: &HttpRequest,
    trusted_proxies: &[ipnet::IpNet],
    hook: &LoadedHook,
) -> Option<ApiError> {
    if hook.compiled.allowed_ips.is_empty() {
        return None;
    }
    let all = |name: &str| -> Vec<String> {
        req.headers()
            .get_all(name)
            .filter_map(|v| v.to_str().ok().map(str::to_string))
            .collect()
    };
    let ip = client_ip(req.peer_addr().map(|a| a.ip()), trusted_proxies, &all);
    if ip.is_some_and(|ip| is_trusted(ip, &hook.compiled.allowed_ips)) {
        return None;
    }
    let from = ip.map_or("an unknown address".to_string(), |ip| ip.to_string());
    Some(ApiError::new(
        StatusCode::FORBIDDEN,
        "ip_not_allowed",
        format!("requests from {from} are not in this hook's allowed_ips"),
    ))
}

/// The signature check of SPEC §4 (current secret, and the previous one during a rotation's
/// grace period). Ok: the verification record; Err: the 401 and the record of the failure.
pub fn check_signature(
    hook: &LoadedHook,
    header: &dyn Fn(&str) -> Option<String>,
    body: &[u8],
    now_ms: i64,
) -> Result<Value, (ApiError, Value)> {
    if !hook.compiled.requires_secret {
        return Ok(json!({ "result": "not_required" }));
    }
    let mut secrets = vec![hook.secret.expose_secret()];
    if let Some((prev, until)) = &hook.previous {
        if *until > now_ms {
            secrets.push(prev.expose_secret());
        }
    }
    match verify(&hook.compiled.verify, &secrets, header, body, now_ms / 1000) {
        Ok(0) => Ok(json!({ "result": "verified", "secret": "current" })),
        Ok(_) => Ok(json!({ "result": "verified", "secret": "previous" })),
        Err(e) => Err((
            ApiError::new(StatusCode::UNAUTHORIZED, e.code(), e.to_string()),
            json!({ "result": "failed", "problem": e.to_string() }),
        )),
    }
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
    let delivery_id = delivery.id.clone();
    let eval = evaluate(hook, &incoming, &delivery_id, delivery.received_at, false);
    delivery.provider_delivery_id = eval.provider_delivery_id.clone();
    delivery.event = eval.event.clone();
    if let Some(vars) = &eval.delivery_vars {
        delivery.variables = Some(serde_json::to_string(vars).expect("a JSON map serializes"));
    }
    let variables = match eval.outcome {
        Outcome::Refused(err, problems) => {
            if let Some(problems) = problems {
                delivery.problems = serde_json::to_string(&problems).ok();
            }
            return Err(reject(ingest, delivery, err));
        }
        Outcome::SlackChallenge(challenge) => {
            commit_ignored(ingest, delivery, "slack url_verification".into()).await?;
            return Ok(tagged(
                HttpResponse::Ok().json(json!({ "challenge": challenge })),
                Counted::Ignored,
            ));
        }
        Outcome::Ignored(reason) => {
            commit_ignored(ingest, delivery, reason.clone()).await?;
            return Ok(tagged(
                HttpResponse::Ok()
                    .json(json!({ "ignored": true, "reason": reason, "delivery_id": delivery_id })),
                Counted::Ignored,
            ));
        }
        Outcome::Run(variables) => variables,
    };
    delivery.variables = Some(serde_json::to_string(&variables).expect("a JSON map serializes"));

    let run = new_run(hook, &delivery, &variables);
    let run_id = run.id.clone();
    delivery.status_code = 202;
    delivery.outcome = "accepted".into();
    delivery.run_id = Some(run_id.clone());
    let dedup_key = eval.provider_delivery_id.filter(|_| dedup);
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
            Counted::Duplicate,
        )),
        _ => Ok(HttpResponse::Accepted().json(json!({
            "run_id": run_id,
            "delivery_id": delivery_id,
            "status_url": format!("{}/api/v1/runs/{run_id}", app.settings.public_url),
        }))),
    }
}

/// A 200 answer marked with its outcome, for the metrics (a 202 is `accepted`).
fn tagged(mut response: HttpResponse, outcome: Counted) -> HttpResponse {
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
