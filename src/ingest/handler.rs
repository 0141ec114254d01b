//! `POST /hooks/{hk}`: size limit → hook → signature → parse → variables → filters → dedup →
//! durable enqueue → answer. A 2xx is sent only once the run (or the ignored delivery) is
//! committed.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use secrecy::ExposeSecret;
use serde_json::json;

use super::accept::{accept, record_refused, Facts, Outcome, Refusal};
use super::client_ip::{client_ip, is_trusted};
use super::committer::Committer;
pub use super::evaluate::Incoming;
use super::hooks::{HookCache, LoadedHook};
use super::record::{new_delivery, MinuteBudget};
use super::route::{post_one_segment, segment};
use crate::app::AppState;
use crate::domain::delivery::{SecretUsed, Verification};
use crate::domain::ids::{new_id, IdKind};
use crate::domain::time::now_ms;
use crate::domain::variable::VariableProblem;
use crate::error::ApiError;
use crate::metrics::{Outcome as Counted, UNKNOWN};
use crate::signature::verify;
use crate::store::DeliveryRow;

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
    cfg.service(post_one_segment("/hooks", receive));
}

/// Receive a webhook delivery.
#[utoipa::path(post, path = "/hooks/{hk}", tag = "ingest", params(("hk" = String, Path)), request_body(content = Object, description = "the provider's payload (JSON, or a form with a payload field)"),
    responses(
        (status = 202, description = "the run is committed: { run_id, delivery_id, status_url }"),
        (status = 200, description = "{ duplicate: true, run_id } or { ignored: true, reason }"),
        (status = 400, body = crate::error::ErrorBody), (status = 401, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody),
        (status = 413, body = crate::error::ErrorBody), (status = 415, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody), (status = 503, body = crate::error::ErrorBody)))]
pub async fn receive(
    req: HttpRequest,
    payload: web::Payload,
    app: web::Data<AppState>,
    ingest: web::Data<IngestState>,
) -> Result<HttpResponse, ApiError> {
    let started = std::time::Instant::now();
    let mut hook = None;
    let answer = handle(req, payload, &app, &ingest, &mut hook).await;
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
        .get(app.store.as_ref(), &app.key, segment(&req))
        .await?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "hook_not_found", "no such hook"))?;
    *seen = Some((hook.id.clone(), hook.compiled.verify.provider.as_str()));
    let delivery_id = new_id(IdKind::Delivery);
    // Refusals before the signature is known to be good: recorded within the failure budget.
    let request = Unverified {
        hook: &hook,
        req: &req,
        delivery_id: &delivery_id,
        received_at,
        body: body.as_deref().unwrap_or_default(),
    };
    let unverified = |err: ApiError, verification: Option<Verification>| {
        request.refuse(ingest, err, verification)
    };
    let Some(body) = body.as_deref() else {
        let err = ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the body is over {max} bytes"),
        );
        return Err(unverified(err, None));
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
    let verification = match check_signature(&hook, &header, body, received_at) {
        Ok(v) => v,
        Err((err, failed)) => return Err(unverified(err, Some(failed))),
    };

    let mut delivery = new_delivery(&delivery_id, &hook, &req, received_at, body, true);
    delivery.verification = verification.to_json();
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
        body,
    };
    let facts = Facts {
        delivery,
        incoming,
        dedup: true,
    };
    accept_and_answer(ingest, &hook, facts, &app.settings.public_url).await
}

/// `accept`, answered over HTTP: the route's answer, which replay gives too.
pub async fn accept_and_answer(
    ingest: &IngestState,
    hook: &LoadedHook,
    facts: Facts<'_>,
    public_url: &str,
) -> Result<HttpResponse, ApiError> {
    let outcome = accept(&ingest.committer, hook, facts).await?;
    Ok(answer(outcome, public_url))
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
) -> Result<Verification, (ApiError, Verification)> {
    if !hook.compiled.requires_secret {
        return Ok(Verification::NotRequired);
    }
    let mut secrets = vec![hook.secret.expose_secret()];
    if let Some((prev, until)) = &hook.previous {
        if *until > now_ms {
            secrets.push(prev.expose_secret());
        }
    }
    match verify(&hook.compiled.verify, &secrets, header, body, now_ms / 1000) {
        Ok(0) => Ok(Verification::Verified {
            secret: SecretUsed::Current,
        }),
        Ok(_) => Ok(Verification::Verified {
            secret: SecretUsed::Previous,
        }),
        Err(e) => Err((
            ApiError::new(StatusCode::UNAUTHORIZED, e.code(), e.to_string()),
            Verification::Failed {
                problem: e.to_string(),
            },
        )),
    }
}

/// The HTTP answer to an `Outcome`: 202 with the run's status URL, or 200 for a duplicate,
/// an ignored delivery or Slack's challenge (marked with its outcome for the metrics).
fn answer(outcome: Outcome, public_url: &str) -> HttpResponse {
    match outcome {
        Outcome::Queued {
            run_id,
            delivery_id,
        } => HttpResponse::Accepted().json(json!({
            "run_id": run_id,
            "delivery_id": delivery_id,
            "status_url": format!("{public_url}/api/v1/runs/{run_id}"),
        })),
        Outcome::Duplicate {
            run_id,
            delivery_id,
        } => tagged(
            HttpResponse::Ok()
                .json(json!({ "duplicate": true, "run_id": run_id, "delivery_id": delivery_id })),
            Counted::Duplicate,
        ),
        Outcome::Ignored {
            reason,
            delivery_id,
        } => tagged(
            HttpResponse::Ok()
                .json(json!({ "ignored": true, "reason": reason, "delivery_id": delivery_id })),
            Counted::Ignored,
        ),
        Outcome::SlackChallenge(challenge) => tagged(
            HttpResponse::Ok().json(json!({ "challenge": challenge })),
            Counted::Ignored,
        ),
    }
}

impl From<Refusal> for ApiError {
    /// 400 `invalid_body`, 415, 422 `invalid_variables` (the problems as details), or 503 with
    /// Retry-After and the commit's error as its cause.
    fn from(refusal: Refusal) -> Self {
        let status = StatusCode::from_u16(refusal.status()).expect("a valid status");
        match refusal {
            Refusal::Body(e) => ApiError::new(status, e.code(), e.to_string()),
            Refusal::Variables(problems) => invalid_variables(&problems),
            Refusal::Unavailable(e) => {
                let mut err = ApiError::unavailable();
                err.source = Some(e.into());
                err
            }
        }
    }
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

/// Records an authenticated request that was refused, without waiting, and returns the error.
pub fn reject(ingest: &IngestState, delivery: DeliveryRow, err: ApiError) -> ApiError {
    record_refused(&ingest.committer, delivery, err.status.as_u16(), err.code);
    err
}

/// A request refused before its signature was known to be good.
struct Unverified<'a> {
    hook: &'a LoadedHook,
    req: &'a HttpRequest,
    delivery_id: &'a str,
    received_at: i64,
    body: &'a [u8],
}

impl Unverified<'_> {
    /// Records the refusal within the hook's failure budget, keeping only a prefix of the body,
    /// and returns the error.
    fn refuse(
        &self,
        ingest: &IngestState,
        err: ApiError,
        verification: Option<Verification>,
    ) -> ApiError {
        if !ingest
            .failures
            .allow(&self.hook.id, FAILURES_RECORDED_PER_MINUTE)
        {
            return err;
        }
        let mut delivery = new_delivery(
            self.delivery_id,
            self.hook,
            self.req,
            self.received_at,
            self.body,
            false,
        );
        if let Some(v) = verification {
            delivery.verification = v.to_json();
        }
        reject(ingest, delivery, err)
    }
}
