//! Runs: a pipeline's list (status, duration, trigger; by status; cursor paging) and one run
//! (variables, steps and timings, its approval, the log following live).

use actix_web::{get, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{context, duration, parsed, signed, time};
use crate::api::page;
use crate::app::AppState;
use crate::console::render::{page as render_page, PageError};
use crate::domain::role::Role;
use crate::error::ApiError;
use crate::store::RunRow;

/// Runs per page.
const PAGE: i64 = 50;
/// The states the list filters by.
const STATUSES: &[&str] = &[
    "queued",
    "running",
    "waiting_approval",
    "succeeded",
    "failed",
    "cancelled",
    "timed_out",
    "superseded",
    "rejected",
];

#[derive(Deserialize)]
pub struct RunsQuery {
    status: Option<String>,
    cursor: Option<String>,
}

fn summary(r: &RunRow) -> Value {
    let took = match (r.started_at, r.finished_at) {
        (Some(a), Some(b)) => Some(duration(b - a)),
        _ => None,
    };
    json!({
        "id": r.id, "status": r.status, "reason": r.reason, "created_at": time(r.created_at),
        "duration": took, "triggered_by": r.triggered_by, "delivery_id": r.delivery_id,
    })
}

/// `GET /console/pipelines/{pl}/runs?status=&cursor=`.
#[get("/pipelines/{pl}/runs")]
pub async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<RunsQuery>,
) -> Result<HttpResponse, PageError> {
    let s = signed(&state, &req).await?;
    let pl = state
        .store
        .get_pipeline(&path)
        .await?
        .ok_or_else(|| ApiError::not_found("pipeline"))?;
    s.auth.require(&pl.project_id, Role::Viewer, "pipeline")?;
    let status = query.status.as_deref().filter(|o| !o.is_empty());
    if let Some(st) = status {
        if !STATUSES.contains(&st) {
            return Err(ApiError::bad_request(
                "invalid_status",
                format!("status is one of {}", STATUSES.join(", ")),
            )
            .into());
        }
    }
    let cursor = page::parse_cursor(query.cursor.as_deref().filter(|c| !c.is_empty()))?;
    let rows = state
        .store
        .list_runs(&pl.id, status, None, cursor, PAGE)
        .await?;
    let next = page::next_cursor(&rows, PAGE, |r| (r.created_at, r.id.as_str()));
    let project = state.store.get_project(&pl.project_id).await?;
    let project_name = project.map(|p| p.name).unwrap_or_default();
    let crumbs = [
        ("Projects", "/console/".to_string()),
        (
            project_name.as_str(),
            format!("/console/projects/{}", pl.project_id),
        ),
        (pl.name.as_str(), format!("/console/pipelines/{}", pl.id)),
    ];
    let fields = json!({
        "pipeline": { "id": pl.id, "name": pl.name },
        "runs": rows.iter().map(summary).collect::<Vec<_>>(),
        "status": status,
        "statuses": STATUSES,
        "next_cursor": next,
    });
    render_page(
        "runs.html",
        context(&s, &format!("Runs of {}", pl.name), &crumbs, fields),
    )
}

/// `GET /console/runs/{run}`.
#[get("/runs/{run}")]
pub async fn run(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let s = signed(&state, &req).await?;
    let r = state
        .store
        .get_run(&path)
        .await?
        .ok_or_else(|| ApiError::not_found("run"))?;
    s.auth.require(&r.project_id, Role::Viewer, "run")?;
    let steps: Vec<Value> = state
        .store
        .list_steps(&r.id)
        .await?
        .iter()
        .map(|st| {
            let took = match (st.started_at, st.finished_at) {
                (Some(a), Some(b)) => Some(duration(b - a)),
                _ => None,
            };
            json!({ "idx": st.idx, "name": st.name, "status": st.status, "exit_code": st.exit_code,
                    "started_at": st.started_at.map(time), "duration": took, "log": st.log })
        })
        .collect();
    let approval = state.store.list_approvals(&r.id).await?.pop();
    let may_decide = approval.as_ref().is_some_and(|a| {
        a.decision.is_none()
            && crate::domain::approval::may_decide(
                &serde_json::from_str::<Vec<String>>(&a.approvers).unwrap_or_default(),
                s.auth.role,
            )
    });
    let approval = approval.map(|a| {
        json!({ "step": a.step_name, "message": a.message, "decision": a.decision,
                "expires_at": time(a.deadline), "comment": a.comment })
    });
    let pl = state.store.get_pipeline(&r.pipeline_id).await?;
    let pl_name = pl.map(|p| p.name).unwrap_or_default();
    let crumbs = [
        ("Projects", "/console/".to_string()),
        (
            pl_name.as_str(),
            format!("/console/pipelines/{}", r.pipeline_id),
        ),
        ("Runs", format!("/console/pipelines/{}/runs", r.pipeline_id)),
    ];
    let is_final = r.status.is_final();
    let fields = json!({
        "run": {
            "id": r.id, "status": r.status, "reason": r.reason, "triggered_by": r.triggered_by,
            "delivery_id": r.delivery_id, "created_at": time(r.created_at),
            "started_at": r.started_at.map(time), "finished_at": r.finished_at.map(time),
            "duration": match (r.started_at, r.finished_at) { (Some(a), Some(b)) => Some(duration(b - a)), _ => None },
            "concurrency_key": r.concurrency_key, "attempt": r.attempt,
        },
        "variables": parsed(Some(&r.variables)),
        "steps": steps,
        "approval": approval,
        "may_decide": may_decide && s.can_write(),
        "is_final": is_final,
    });
    render_page("run.html", context(&s, &r.id, &crumbs, fields))
}
