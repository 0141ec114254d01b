//! Runs: list, read (with steps), logs, cancel, retry, and manual runs.

use std::collections::HashSet;

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use utoipa::{IntoParams, ToSchema};

use super::pipelines::{hook_variable_names, load as load_pipeline, parse_spec};
use super::{page, AppState, Auth};
use crate::domain::ids::{new_id, IdKind};
use crate::domain::pipeline::{PipelineSpec, RunLimit};
use crate::domain::role::Role;
use crate::domain::run_status::RunStatus;
use crate::domain::step_status::StepStatus;
use crate::domain::time::{now_ms, parse_rfc3339, rfc3339};
use crate::domain::FieldError;
use crate::error::ApiError;
use crate::store::{PipelineRow, RunRow, StepRow};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(get_one)
        .service(logs)
        .service(list)
        .service(cancel)
        .service(retry)
        .service(manual);
}

/// A step of a run.
#[derive(Debug, Serialize, ToSchema)]
pub struct StepOut {
    pub name: String,
    /// `running`, `succeeded`, `failed`, `timed_out`, `cancelled`.
    #[schema(value_type = String)]
    pub status: StepStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
}

/// A run.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunOut {
    pub id: String,
    pub pipeline_id: String,
    #[schema(value_type = RunStatus)]
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[schema(value_type = Object)]
    pub variables: Value,
    /// `hook:hk_…`, `manual:tok_…`, `retry:run_…` or `replay:dlv_…`.
    pub triggered_by: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub concurrency_key: Option<String>,
    pub attempt: i64,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    pub steps: Vec<StepOut>,
    /// The run's latest approval step, once it reached one (`GET /runs/{run}`, approve, reject).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval: Option<super::approvals::ApprovalOut>,
}

impl RunOut {
    pub(super) fn new(r: RunRow, steps: Vec<StepRow>) -> Self {
        Self {
            variables: serde_json::from_str(&r.variables).unwrap_or(Value::Null),
            id: r.id,
            pipeline_id: r.pipeline_id,
            status: r.status.as_str().to_string(),
            reason: r.reason,
            triggered_by: r.triggered_by,
            delivery_id: r.delivery_id,
            concurrency_key: r.concurrency_key,
            attempt: r.attempt,
            created_at: rfc3339(r.created_at),
            started_at: r.started_at.map(rfc3339),
            finished_at: r.finished_at.map(rfc3339),
            steps: steps
                .into_iter()
                .map(|s| StepOut {
                    name: s.name,
                    status: s.status,
                    exit_code: s.exit_code,
                    started_at: s.started_at.map(rfc3339),
                    finished_at: s.finished_at.map(rfc3339),
                })
                .collect(),
            approval: None,
        }
    }
}

pub(super) async fn load(
    state: &AppState,
    auth: &Auth,
    id: &str,
    needed: Role,
) -> Result<RunRow, ApiError> {
    let row = state
        .store
        .get_run(id)
        .await?
        .ok_or_else(|| ApiError::not_found("run"))?;
    auth.require(&row.project_id, needed, "run")?;
    Ok(row)
}

/// Read a run with its steps.
#[utoipa::path(get, path = "/api/v1/runs/{run}", tag = "runs", responses((status = 200, body = RunOut), (status = 404, body = crate::error::ErrorBody)))]
#[get("/runs/{run}")]
pub async fn get_one(
    state: web::Data<AppState>,
    auth: Auth,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let row = load(&state, &auth, &path, Role::Viewer).await?;
    let steps = state.store.list_steps(&row.id).await?;
    let approval = state.store.list_approvals(&row.id).await?.pop();
    let mut out = RunOut::new(row, steps);
    out.approval = approval.map(super::approvals::ApprovalOut::new);
    Ok(HttpResponse::Ok().json(out))
}

/// A step's log.
#[derive(Debug, Serialize, ToSchema)]
pub struct StepLogOut {
    pub name: String,
    #[schema(value_type = String)]
    pub status: StepStatus,
    /// stdout and stderr (command) or status and first KiB of the answer (http); secrets redacted.
    pub log: String,
}

/// A run's step logs, in step order.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunLogsOut {
    pub run_id: String,
    pub steps: Vec<StepLogOut>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct LogsQuery {
    /// `true`: stream the logs live as Server-Sent Events (`log`, `step`, `end`) until the run
    /// is final; a reconnect with `Last-Event-ID` resumes after that event.
    pub follow: Option<bool>,
}

/// Read a run's step logs, or follow them live (`?follow=true`, Server-Sent Events).
#[utoipa::path(get, path = "/api/v1/runs/{run}/logs", tag = "runs", params(LogsQuery),
    responses(
        (status = 200, description = "the logs; with follow=true a text/event-stream of `step`, `log` and `end` events", body = RunLogsOut),
        (status = 400, description = "a Last-Event-ID this stream did not send, or a malformed query", body = crate::error::ErrorBody),
        (status = 401, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody),
        (status = 503, body = crate::error::ErrorBody)))]
#[get("/runs/{run}/logs")]
pub async fn logs(
    req: actix_web::HttpRequest,
    state: web::Data<AppState>,
    auth: Auth,
    path: web::Path<String>,
    query: web::Query<LogsQuery>,
) -> Result<HttpResponse, ApiError> {
    let row = load(&state, &auth, &path, Role::Viewer).await?;
    if query.follow == Some(true) {
        return super::run_stream::follow(&state.live, state.store.clone(), &row.id, &req);
    }
    let steps = state.store.list_steps(&row.id).await?;
    let out: Vec<StepLogOut> = steps
        .into_iter()
        .map(|s| StepLogOut {
            name: s.name,
            status: s.status,
            log: s.log,
        })
        .collect();
    Ok(HttpResponse::Ok().json(RunLogsOut {
        run_id: row.id,
        steps: out,
    }))
}

/// A page of runs, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunPage {
    pub items: Vec<RunOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct RunQuery {
    /// Only runs in this state.
    pub status: Option<String>,
    /// Only runs created at or after this RFC 3339 time.
    pub since: Option<String>,
    /// 1 to 100 (default 50).
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// List a pipeline's runs (filters: status, since; cursor pagination).
#[utoipa::path(get, path = "/api/v1/pipelines/{pl}/runs", tag = "runs", params(RunQuery), responses((status = 200, body = RunPage)))]
#[get("/pipelines/{pl}/runs")]
pub async fn list(
    state: web::Data<AppState>,
    auth: Auth,
    path: web::Path<String>,
    query: web::Query<RunQuery>,
) -> Result<HttpResponse, ApiError> {
    let pipeline = load_pipeline(&state, &auth, &path, Role::Viewer).await?;
    let since = match &query.since {
        Some(s) => Some(parse_rfc3339(s).ok_or_else(|| {
            ApiError::validation(vec![FieldError::new("since", "must be an RFC 3339 time")])
        })?),
        None => None,
    };
    let cursor = page::parse_cursor(query.cursor.as_deref())?;
    let limit = page::limit(query.limit);
    let rows = state
        .store
        .list_runs(&pipeline.id, query.status.as_deref(), since, cursor, limit)
        .await?;
    let next_cursor = page::next_cursor(&rows, limit, |r| (r.created_at, r.id.as_str()));
    let items = rows
        .into_iter()
        .map(|r| RunOut::new(r, Vec::new()))
        .collect();
    Ok(HttpResponse::Ok().json(RunPage { items, next_cursor }))
}

/// Cancel a run (member): a queued run is cancelled at once; a running one is stopped (its
/// command's process group is killed) within a heartbeat.
#[utoipa::path(post, path = "/api/v1/runs/{run}/cancel", tag = "runs", responses((status = 202, description = "{ run_id, status }"), (status = 409, body = crate::error::ErrorBody)))]
#[post("/runs/{run}/cancel")]
pub async fn cancel(
    state: web::Data<AppState>,
    auth: Auth,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let row = load(&state, &auth, &path, Role::Member).await?;
    let status = state
        .store
        .request_cancel(&row.id, now_ms())
        .await?
        .ok_or_else(|| ApiError::not_found("run"))?;
    if status.is_final() && status != RunStatus::Cancelled {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "run_finished",
            format!("the run already ended: {status}"),
        ));
    }
    if row.status == RunStatus::Queued && status == RunStatus::Cancelled {
        state
            .metrics
            .run_finished(&row.pipeline_id, "cancelled", None, now_ms());
    }
    let note = if status == RunStatus::Running {
        "cancel requested: the run stops within a heartbeat"
    } else {
        "cancelled"
    };
    Ok(HttpResponse::Accepted()
        .json(json!({ "run_id": row.id, "status": status, "message": note })))
}

/// Builds and commits a new run of `pipeline`, then wakes the workers.
async fn enqueue(
    state: &AppState,
    pipeline: &PipelineRow,
    spec: &PipelineSpec,
    variables: Map<String, Value>,
    triggered_by: String,
) -> Result<HttpResponse, ApiError> {
    let limit = RunLimit::resolve(spec.concurrency.as_ref(), &variables);
    let run = RunRow {
        id: new_id(IdKind::Run),
        pipeline_id: pipeline.id.clone(),
        project_id: pipeline.project_id.clone(),
        hook_id: None,
        delivery_id: None,
        status: RunStatus::Queued,
        reason: None,
        variables: Value::Object(variables).to_string(),
        triggered_by,
        concurrency_key: limit.key,
        attempt: 0,
        lease_expires_at: None,
        created_at: now_ms(),
        started_at: None,
        finished_at: None,
        worker_id: None,
        cancel_requested: false,
        max_attempts: 1 + spec.retries as i64,
        concurrency_policy: limit.policy,
        concurrency_max: limit.max,
    };
    state.store.insert_run(&run).await?;
    state.wake.runs_ready().await;
    Ok(HttpResponse::Accepted().json(json!({
        "run_id": run.id,
        "status_url": format!("{}/api/v1/runs/{}", state.settings.public_url, run.id),
    })))
}

/// Re-run a finished run with the same variables (member).
#[utoipa::path(post, path = "/api/v1/runs/{run}/retry", tag = "runs", responses((status = 202, description = "{ run_id, status_url }"), (status = 409, body = crate::error::ErrorBody)))]
#[post("/runs/{run}/retry")]
pub async fn retry(
    state: web::Data<AppState>,
    auth: Auth,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let row = load(&state, &auth, &path, Role::Member).await?;
    if !row.status.is_final() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "run_not_finished",
            format!("the run is {}; retry it once it ends", row.status),
        ));
    }
    let pipeline = state
        .store
        .get_pipeline(&row.pipeline_id)
        .await?
        .ok_or_else(|| ApiError::not_found("pipeline"))?;
    let spec = parse_spec(&pipeline)?;
    let variables: Map<String, Value> = serde_json::from_str(&row.variables).unwrap_or_default();
    enqueue(
        &state,
        &pipeline,
        &spec,
        variables,
        format!("retry:{}", row.id),
    )
    .await
}

/// The body of a manual run.
#[derive(Debug, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ManualRunIn {
    /// Values for the pipeline's variables (declared ones, or those its hooks declare).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub variables: Map<String, Value>,
}

/// Start a run by hand (member).
#[utoipa::path(post, path = "/api/v1/pipelines/{pl}/runs", tag = "runs", request_body = ManualRunIn,
    responses((status = 202, description = "{ run_id, status_url }"), (status = 422, body = crate::error::ErrorBody)))]
#[post("/pipelines/{pl}/runs")]
pub async fn manual(
    state: web::Data<AppState>,
    auth: Auth,
    path: web::Path<String>,
    body: super::extract::OptionalJson<ManualRunIn>,
) -> Result<HttpResponse, ApiError> {
    let pipeline = load_pipeline(&state, &auth, &path, Role::Member).await?;
    let spec = parse_spec(&pipeline)?;
    let given = body.0.variables;
    let mut known: HashSet<String> =
        hook_variable_names(state.store.as_ref(), &pipeline.id).await?;
    known.extend(spec.variables.iter().map(|v| v.name.clone()));
    let mut names: Vec<&str> = known.iter().map(String::as_str).collect();
    names.sort_unstable();
    let errors: Vec<FieldError> = given
        .keys()
        .filter(|k| !known.contains(*k))
        .map(|k| {
            let mut problem =
                "not a variable of this pipeline (declare it in the pipeline's variables)"
                    .to_string();
            if let Some(best) = crate::domain::closest(k, names.iter().copied()) {
                problem.push_str(&format!("; did you mean {best:?}?"));
            }
            if !names.is_empty() {
                problem.push_str(&format!(" Known: {}", names.join(", ")));
            }
            FieldError::new(format!("variables.{k}"), problem)
        })
        .collect();
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let now = now_ms();
    let mut variables = spec.defaults();
    variables.insert("hook_id".into(), "".into());
    variables.insert("delivery_id".into(), "".into());
    variables.insert("event".into(), "manual".into());
    variables.insert("action_type".into(), "manual".into());
    variables.insert("received_at".into(), rfc3339(now).into());
    variables.extend(given);
    let missing = spec.missing_required(&variables);
    if !missing.is_empty() {
        return Err(ApiError::validation(
            missing
                .into_iter()
                .map(|m| FieldError::new(format!("variables.{}", m.name), m.problem))
                .collect(),
        ));
    }
    enqueue(
        &state,
        &pipeline,
        &spec,
        variables,
        format!("manual:{}", auth.token_id),
    )
    .await
}
