//! Runs, as far as ingest creates them. Workers, step logs, cancel and retry come with the runner.

use actix_web::{get, web, HttpResponse};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::{AppState, Auth};
use crate::domain::role::Role;
use crate::domain::time::rfc3339;
use crate::error::ApiError;
use crate::store::RunRow;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(get_one);
}

/// A run.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunOut {
    pub id: String,
    pub pipeline_id: String,
    /// `queued`, `running`, `succeeded`, `failed`, `cancelled`, `timed_out`, `superseded`.
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[schema(value_type = Object)]
    pub variables: Value,
    pub triggered_by: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery_id: Option<String>,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// Per-step state; empty until a worker has run the run (the runner is not built yet).
    #[schema(value_type = Vec<Object>)]
    pub steps: Vec<Value>,
}

impl From<RunRow> for RunOut {
    fn from(r: RunRow) -> Self {
        Self {
            variables: serde_json::from_str(&r.variables).unwrap_or(Value::Null),
            id: r.id,
            pipeline_id: r.pipeline_id,
            status: r.status,
            reason: r.reason,
            triggered_by: r.triggered_by,
            delivery_id: r.delivery_id,
            created_at: rfc3339(r.created_at),
            started_at: r.started_at.map(rfc3339),
            finished_at: r.finished_at.map(rfc3339),
            steps: Vec::new(),
        }
    }
}

/// Read a run.
#[utoipa::path(get, path = "/api/v1/runs/{run}", tag = "runs", responses((status = 200, body = RunOut), (status = 404, body = crate::error::ErrorBody)))]
#[get("/runs/{run}")]
pub async fn get_one(
    state: web::Data<AppState>,
    auth: Auth,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let row = state
        .store
        .get_run(&path)
        .await?
        .ok_or_else(|| ApiError::not_found("run"))?;
    auth.require(&row.project_id, Role::Viewer, "run")?;
    Ok(HttpResponse::Ok().json(RunOut::from(row)))
}
