//! Configuration as code over HTTP (SPEC §8): `POST /apply` (`?dry_run=true`, `&prune=true`),
//! `GET /projects/{prj}/export`, and the document's JSON Schema.

use actix_web::{get, post, web, HttpResponse};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::{AppState, Auth};
use crate::apply::report::ApplyOut;
use crate::apply::{export::export, load_for, run, schema::apply_schema, ApplyOptions};
use crate::domain::role::Role;
use crate::error::{ApiError, ErrorBody};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(apply).service(export_project).service(schema);
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ApplyQuery {
    /// Plan only: answer what would change, write nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// Delete the objects the documents do not list, among those an apply created.
    #[serde(default)]
    pub prune: bool,
}

/// The body of `POST /apply`, as the OpenAPI document describes it: one apply document, or a
/// list of them. Each document's full schema is served at `/api/v1/schema/apply.json`.
#[derive(ToSchema)]
#[allow(dead_code)]
enum ApplyBody {
    /// One document: `{ "project": …, "pipelines": [ … ] }`.
    One(ApplyDocumentHead),
    /// Several, applied in one transaction.
    Many(Vec<ApplyDocumentHead>),
}

/// An apply document's outline (the whole schema: `/api/v1/schema/apply.json`).
#[derive(ToSchema)]
#[allow(dead_code)]
struct ApplyDocumentHead {
    /// The project's name.
    project: String,
    /// The project's pipelines, each with its hooks and secrets.
    #[schema(value_type = Option<Vec<Object>>)]
    pipelines: Option<Vec<serde_json::Value>>,
}

/// Converge projects to the documents in the body: one document, or a list of them, in one
/// database transaction (admin, or the owner of each named project). Generated secrets are in
/// the answer, once.
#[utoipa::path(post, path = "/api/v1/apply", tag = "apply", params(ApplyQuery),
    request_body(content = ApplyBody, description = "An apply document (see /api/v1/schema/apply.json), or a list of them"),
    responses(
        (status = 200, body = ApplyOut, description = "Applied, or planned with dry_run"),
        (status = 400, body = ErrorBody, description = "The body is not JSON, or the query is malformed"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody, description = "The token is not the project's owner"),
        (status = 404, body = ErrorBody, description = "A project this token may not use"),
        (status = 409, body = ErrorBody, description = "The project kept changing during the apply; nothing was applied"),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "Every bad field, by its place in the document; nothing was applied"),
        (status = 503, body = ErrorBody)))]
#[post("/apply")]
pub async fn apply(
    state: web::Data<AppState>,
    auth: Auth,
    query: web::Query<ApplyQuery>,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    let options = ApplyOptions {
        dry_run: query.dry_run,
        prune: query.prune,
    };
    let out = run(&state, &auth, body.into_inner(), options).await?;
    Ok(HttpResponse::Ok().json(out))
}

/// A project's pipelines, hooks, outgoing hooks and secret names as an apply document, secrets
/// as `${env:…}` placeholders (viewer). `prj` is the project's id or name.
#[utoipa::path(get, path = "/api/v1/projects/{prj}/export", tag = "apply",
    responses((status = 200, body = Object, description = "An apply document"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
#[get("/projects/{prj}/export")]
pub async fn export_project(
    state: web::Data<AppState>,
    auth: Auth,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let name = match state.store.get_project(&path).await? {
        Some(p) => p.name,
        None => path.into_inner(),
    };
    let project = load_for(&state, &auth, &name, Role::Viewer)
        .await?
        .ok_or_else(|| ApiError::not_found("project"))?;
    Ok(HttpResponse::Ok().json(export(&project)))
}

/// The JSON Schema of an apply document, for editors (`hookgate apply --schema` prints it).
#[utoipa::path(get, path = "/api/v1/schema/apply.json", tag = "apply", security(()),
    responses((status = 200, body = Object, description = "JSON Schema 2020-12")))]
#[get("/schema/apply.json")]
pub async fn schema() -> HttpResponse {
    HttpResponse::Ok().json(apply_schema())
}
