//! Approval decisions (SPEC §5): `POST /runs/{run}/approve` and `POST /runs/{run}/reject`.
//!
//! The roles the approval step names may decide (a viewer never); the store decides with one
//! conditional UPDATE, so of two callers racing, across processes, exactly one wins and the
//! other is answered 409.

use actix_web::http::StatusCode;
use actix_web::{post, web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::runs::{load as load_run, RunOut};
use super::{AppState, Auth};
use crate::domain::approval::{may_decide, Decision, MAX_COMMENT_CHARS};
use crate::domain::role::Role;
use crate::domain::run_status::RunStatus;
use crate::domain::time::{now_ms, rfc3339};
use crate::domain::FieldError;
use crate::error::ApiError;
use crate::store::{ApprovalRow, DecisionIn};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(approve).service(reject);
}

/// The body of approve and reject (optional).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionBody {
    /// Kept on the run and offered to outgoing templates as `${comment}`.
    #[serde(default)]
    pub comment: Option<String>,
}

/// A run's approval: what was asked, of whom, until when, and the decision once made.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApprovalOut {
    /// The approval step's name.
    pub step: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The roles that may decide.
    pub approvers: Vec<String>,
    pub requested_at: String,
    /// When the run ends `timed_out` if nobody decides.
    pub expires_at: String,
    /// `approved`, `rejected` or `timed_out`; absent while waiting.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<String>,
    /// The token that decided (`tok_…`), or `hookgate` for a timeout.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

impl ApprovalOut {
    pub fn new(a: ApprovalRow) -> Self {
        Self {
            approvers: a.approvers(),
            step: a.step_name,
            message: a.message,
            requested_at: rfc3339(a.requested_at),
            expires_at: rfc3339(a.deadline),
            decision: a.decision,
            decided_by: a.decided_by,
            decided_at: a.decided_at.map(rfc3339),
            comment: a.comment,
        }
    }
}

fn not_waiting(status: &str) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "not_waiting_approval",
        format!(
            "the run is {status}, not waiting for an approval (already decided, or never asked)"
        ),
    )
}

async fn decide(
    state: &AppState,
    auth: &Auth,
    run_id: &str,
    decision: Decision,
    body: DecisionBody,
) -> Result<HttpResponse, ApiError> {
    let run = load_run(state, auth, run_id, Role::Viewer).await?;
    let comment = body
        .comment
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty());
    if let Some(c) = &comment {
        if c.chars().count() > MAX_COMMENT_CHARS {
            return Err(ApiError::validation(vec![FieldError::new(
                "comment",
                format!("must be at most {MAX_COMMENT_CHARS} characters"),
            )]));
        }
    }
    let pending = state
        .store
        .list_approvals(&run.id)
        .await?
        .into_iter()
        .find(|a| a.decision.is_none());
    let Some(pending) = pending.filter(|_| run.status == RunStatus::WaitingApproval) else {
        return Err(not_waiting(run.status.as_str()));
    };
    let approvers = pending.approvers();
    if !may_decide(&approvers, auth.role) {
        return Err(ApiError::forbidden(format!(
            "the {} role may not decide this approval; the step names {}",
            auth.role.as_str(),
            approvers.join(", ")
        )));
    }
    let decided = state
        .store
        .decide_approval(&DecisionIn {
            run_id: &run.id,
            decision,
            by: &auth.token_id,
            comment: comment.as_deref(),
            now: now_ms(),
        })
        .await?;
    let Some((run, approval)) = decided else {
        // Another caller (perhaps another process) decided first, or the run was cancelled.
        let now = state.store.get_run(&run.id).await?;
        return Err(not_waiting(
            now.as_ref().map_or("gone", |r| r.status.as_str()),
        ));
    };
    // Approved: back in the queue. Rejected: the key's slot is free. Either way, wake workers.
    state.wake.runs_ready().await;
    let steps = state.store.list_steps(&run.id).await?;
    let mut out = RunOut::new(run, steps);
    out.approval = Some(ApprovalOut::new(approval));
    Ok(HttpResponse::Ok().json(out))
}

/// Approve a run waiting at an approval step: it goes back to the queue and resumes with the
/// next step. Only the roles the step names may decide; a viewer never.
#[utoipa::path(post, path = "/api/v1/runs/{run}/approve", tag = "runs", request_body(content = Option<DecisionBody>),
    params(("run" = String, Path, description = "run id")),
    responses(
        (status = 200, body = RunOut, description = "approved: the run is queued again"),
        (status = 400, body = crate::error::ErrorBody, description = "the body is not JSON"),
        (status = 401, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody, description = "this role may not decide this approval"),
        (status = 404, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody, description = "the run is not waiting for an approval (already decided, or never asked)"),
        (status = 413, body = crate::error::ErrorBody),
        (status = 415, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody, description = "an unknown field, or a comment too long"),
        (status = 503, body = crate::error::ErrorBody)))]
#[post("/runs/{run}/approve")]
pub async fn approve(
    state: web::Data<AppState>,
    auth: Auth,
    path: web::Path<String>,
    body: super::extract::OptionalJson<DecisionBody>,
) -> Result<HttpResponse, ApiError> {
    decide(&state, &auth, &path, Decision::Approved, body.0).await
}

/// Reject a run waiting at an approval step: it ends `rejected` and emits `run.rejected`.
#[utoipa::path(post, path = "/api/v1/runs/{run}/reject", tag = "runs", request_body(content = Option<DecisionBody>),
    params(("run" = String, Path, description = "run id")),
    responses(
        (status = 200, body = RunOut, description = "rejected: the run has ended"),
        (status = 400, body = crate::error::ErrorBody, description = "the body is not JSON"),
        (status = 401, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody, description = "this role may not decide this approval"),
        (status = 404, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody, description = "the run is not waiting for an approval (already decided, or never asked)"),
        (status = 413, body = crate::error::ErrorBody),
        (status = 415, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody, description = "an unknown field, or a comment too long"),
        (status = 503, body = crate::error::ErrorBody)))]
#[post("/runs/{run}/reject")]
pub async fn reject(
    state: web::Data<AppState>,
    auth: Auth,
    path: web::Path<String>,
    body: super::extract::OptionalJson<DecisionBody>,
) -> Result<HttpResponse, ApiError> {
    decide(&state, &auth, &path, Decision::Rejected, body.0).await
}
