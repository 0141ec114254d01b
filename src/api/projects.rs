//! Projects: created and listed by the instance admin; readable by their own tokens.

use actix_web::{get, post, web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{AppState, Auth};
use crate::accounts::{create_project, CreateError};
use crate::domain::role::Role;
use crate::domain::time::rfc3339;
use crate::error::ApiError;
use crate::store::ProjectRow;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(create).service(list).service(get_one);
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectIn {
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectOut {
    pub id: String,
    pub name: String,
    pub created_at: String,
}

impl From<ProjectRow> for ProjectOut {
    fn from(p: ProjectRow) -> Self {
        Self {
            id: p.id,
            name: p.name,
            created_at: rfc3339(p.created_at),
        }
    }
}

impl From<CreateError> for ApiError {
    fn from(e: CreateError) -> Self {
        match e {
            CreateError::Invalid(f) => ApiError::validation(vec![f]),
            CreateError::Store(s) => s.into(),
        }
    }
}

/// Create a project (admin).
#[utoipa::path(post, path = "/api/v1/projects", tag = "projects", request_body = ProjectIn,
    responses((status = 201, body = ProjectOut), (status = 403, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
#[post("/projects")]
pub async fn create(
    state: web::Data<AppState>,
    auth: Auth,
    body: super::extract::Json<ProjectIn>,
) -> Result<HttpResponse, ApiError> {
    auth.require_admin()?;
    let row = create_project(state.store.as_ref(), &body.name).await?;
    Ok(HttpResponse::Created().json(ProjectOut::from(row)))
}

/// List projects (admin).
#[utoipa::path(get, path = "/api/v1/projects", tag = "projects", responses((status = 200, body = Vec<ProjectOut>)))]
#[get("/projects")]
pub async fn list(state: web::Data<AppState>, auth: Auth) -> Result<HttpResponse, ApiError> {
    auth.require_admin()?;
    let rows = state.store.list_projects().await?;
    Ok(HttpResponse::Ok().json(rows.into_iter().map(ProjectOut::from).collect::<Vec<_>>()))
}

/// Read a project (any token of the project).
#[utoipa::path(get, path = "/api/v1/projects/{prj}", tag = "projects", responses((status = 200, body = ProjectOut), (status = 404, body = crate::error::ErrorBody)))]
#[get("/projects/{prj}")]
pub async fn get_one(
    state: web::Data<AppState>,
    auth: Auth,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let row = state
        .store
        .get_project(&path)
        .await?
        .ok_or_else(|| ApiError::not_found("project"))?;
    auth.require(&row.id, Role::Viewer, "project")?;
    Ok(HttpResponse::Ok().json(ProjectOut::from(row)))
}
