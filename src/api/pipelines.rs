//! Pipelines: create, list, read, replace, delete.

use std::collections::HashSet;

use actix_web::{delete, get, post, put, web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use super::{AppState, Auth};
use crate::domain::ids::{new_id, IdKind};
use crate::domain::pipeline::PipelineSpec;
use crate::domain::role::Role;
use crate::domain::time::{now_ms, rfc3339};
use crate::error::ApiError;
use crate::store::{PipelineRow, Store};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(create)
        .service(list)
        .service(get_one)
        .service(replace)
        .service(remove);
}

/// A pipeline as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PipelineOut {
    pub id: String,
    pub project_id: String,
    #[serde(flatten)]
    pub spec: PipelineSpec,
    pub created_at: String,
    pub updated_at: String,
    /// `apply` when `hookgate apply` created it (so `apply --prune` may delete it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub managed_by: Option<&'static str>,
}

impl TryFrom<PipelineRow> for PipelineOut {
    type Error = ApiError;
    fn try_from(row: PipelineRow) -> Result<Self, ApiError> {
        let mut spec = parse_spec(&row)?;
        spec.name = row.name;
        Ok(Self {
            id: row.id,
            project_id: row.project_id,
            spec,
            created_at: rfc3339(row.created_at),
            updated_at: rfc3339(row.updated_at),
            managed_by: None,
        })
    }
}

/// Reads a stored definition.
pub fn parse_spec(row: &PipelineRow) -> Result<PipelineSpec, ApiError> {
    serde_json::from_str(&row.spec)
        .map_err(|e| ApiError::internal(anyhow::Error::new(e).context("stored pipeline spec")))
}

/// Loads a pipeline the caller may act on with `needed`, or answers 404/403.
pub async fn load(
    state: &AppState,
    auth: &Auth,
    id: &str,
    needed: Role,
) -> Result<PipelineRow, ApiError> {
    let row = state
        .store
        .get_pipeline(id)
        .await?
        .ok_or_else(|| ApiError::not_found("pipeline"))?;
    auth.require(&row.project_id, needed, "pipeline")?;
    Ok(row)
}

/// Names of the variables declared by the pipeline's incoming hooks: templates may use them.
pub async fn hook_variable_names(
    store: &dyn Store,
    pipeline_id: &str,
) -> Result<HashSet<String>, ApiError> {
    let mut names = HashSet::new();
    for hook in store.list_hooks(pipeline_id).await? {
        let config: serde_json::Value = serde_json::from_str(&hook.config).unwrap_or_default();
        if let Some(vars) = config
            .pointer("/settings/variables")
            .and_then(|v| v.as_array())
        {
            names.extend(
                vars.iter()
                    .filter_map(|v| v.get("name")?.as_str().map(str::to_string)),
            );
        }
    }
    Ok(names)
}

fn to_json(spec: &PipelineSpec) -> Result<String, ApiError> {
    serde_json::to_string(spec).map_err(|e| ApiError::internal(e.into()))
}

/// Create a pipeline (member). Templates may only name declared variables, built-ins and secrets.
#[utoipa::path(post, path = "/api/v1/projects/{prj}/pipelines", tag = "pipelines", request_body = PipelineSpec,
    responses((status = 201, body = PipelineOut), (status = 422, body = crate::error::ErrorBody)))]
#[post("/projects/{prj}/pipelines")]
pub async fn create(
    state: web::Data<AppState>,
    auth: Auth,
    path: web::Path<String>,
    body: super::extract::Json<PipelineSpec>,
) -> Result<HttpResponse, ApiError> {
    let project = state
        .store
        .get_project(&path)
        .await?
        .ok_or_else(|| ApiError::not_found("project"))?;
    auth.require(&project.id, Role::Member, "project")?;
    let spec = body.into_inner();
    let errors = spec.validate(&HashSet::new());
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let now = now_ms();
    let row = PipelineRow {
        id: new_id(IdKind::Pipeline),
        project_id: project.id,
        name: spec.name.trim().to_string(),
        spec: to_json(&spec)?,
        created_at: now,
        updated_at: now,
    };
    state.store.insert_pipeline(&row).await?;
    Ok(HttpResponse::Created().json(PipelineOut::try_from(row)?))
}

/// List a project's pipelines.
#[utoipa::path(get, path = "/api/v1/projects/{prj}/pipelines", tag = "pipelines", responses((status = 200, body = Vec<PipelineOut>)))]
#[get("/projects/{prj}/pipelines")]
pub async fn list(
    state: web::Data<AppState>,
    auth: Auth,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let project = state
        .store
        .get_project(&path)
        .await?
        .ok_or_else(|| ApiError::not_found("project"))?;
    auth.require(&project.id, Role::Viewer, "project")?;
    let rows = state.store.list_pipelines(&project.id).await?;
    let managed = crate::apply::managed_by(state.store.as_ref(), &project.id).await?;
    let out = rows
        .into_iter()
        .map(|r| {
            let mut out = PipelineOut::try_from(r)?;
            out.managed_by = managed(&out.id);
            Ok(out)
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    Ok(HttpResponse::Ok().json(out))
}

/// Read a pipeline.
#[utoipa::path(get, path = "/api/v1/pipelines/{pl}", tag = "pipelines", responses((status = 200, body = PipelineOut), (status = 404, body = crate::error::ErrorBody)))]
#[get("/pipelines/{pl}")]
pub async fn get_one(
    state: web::Data<AppState>,
    auth: Auth,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let row = load(&state, &auth, &path, Role::Viewer).await?;
    let managed = crate::apply::managed_by(state.store.as_ref(), &row.project_id).await?;
    let mut out = PipelineOut::try_from(row)?;
    out.managed_by = managed(&out.id);
    Ok(HttpResponse::Ok().json(out))
}

/// Replace a pipeline's definition (member).
#[utoipa::path(put, path = "/api/v1/pipelines/{pl}", tag = "pipelines", request_body = PipelineSpec,
    responses((status = 200, body = PipelineOut), (status = 422, body = crate::error::ErrorBody)))]
#[put("/pipelines/{pl}")]
pub async fn replace(
    state: web::Data<AppState>,
    auth: Auth,
    path: web::Path<String>,
    body: super::extract::Json<PipelineSpec>,
) -> Result<HttpResponse, ApiError> {
    let mut row = load(&state, &auth, &path, Role::Member).await?;
    let spec = body.into_inner();
    let errors = spec.validate(&hook_variable_names(state.store.as_ref(), &row.id).await?);
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    row.name = spec.name.trim().to_string();
    row.spec = to_json(&spec)?;
    row.updated_at = now_ms();
    if !state.store.update_pipeline(&row).await? {
        return Err(ApiError::not_found("pipeline"));
    }
    Ok(HttpResponse::Ok().json(PipelineOut::try_from(row)?))
}

/// Delete a pipeline with its hooks and secrets (member).
#[utoipa::path(delete, path = "/api/v1/pipelines/{pl}", tag = "pipelines", responses((status = 204), (status = 404, body = crate::error::ErrorBody)))]
#[delete("/pipelines/{pl}")]
pub async fn remove(
    state: web::Data<AppState>,
    auth: Auth,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let row = load(&state, &auth, &path, Role::Member).await?;
    state.store.delete_pipeline(&row.id).await?;
    Ok(HttpResponse::NoContent().finish())
}
