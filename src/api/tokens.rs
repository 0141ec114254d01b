//! Project tokens: owners create and delete them; the plain token is shown once.

use actix_web::{delete, get, post, web, HttpResponse};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{AppState, Auth};
use crate::accounts::create_token;
use crate::crypto::mask;
use crate::domain::role::Role;
use crate::domain::time::rfc3339;
use crate::domain::FieldError;
use crate::error::ApiError;
use crate::store::TokenRow;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(create).service(list).service(remove);
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenIn {
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub name: String,
    /// `owner`, `member` or `viewer`.
    pub role: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenOut {
    pub id: String,
    pub project_id: Option<String>,
    pub name: String,
    pub role: String,
    /// The plain token, present only in the answer that creates it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// The token masked: `••••abcd`.
    pub token_masked: String,
    pub created_at: String,
}

impl From<TokenRow> for TokenOut {
    fn from(t: TokenRow) -> Self {
        Self {
            id: t.id,
            project_id: t.project_id,
            name: t.name,
            role: t.role,
            token: None,
            token_masked: mask(&t.last4),
            created_at: rfc3339(t.created_at),
        }
    }
}

async fn project_for(
    state: &AppState,
    auth: &Auth,
    prj: &str,
    needed: Role,
) -> Result<(), ApiError> {
    let project = state
        .store
        .get_project(prj)
        .await?
        .ok_or_else(|| ApiError::not_found("project"))?;
    auth.require(&project.id, needed, "project")
}

/// Create a token (owner). The answer holds the plain token, the only time.
#[utoipa::path(post, path = "/api/v1/projects/{prj}/tokens", tag = "tokens", request_body = TokenIn,
    responses((status = 201, body = TokenOut), (status = 403, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
#[post("/projects/{prj}/tokens")]
pub async fn create(
    state: web::Data<AppState>,
    auth: Auth,
    path: web::Path<String>,
    body: super::extract::Json<TokenIn>,
) -> Result<HttpResponse, ApiError> {
    project_for(&state, &auth, &path, Role::Owner).await?;
    let role = match Role::parse(&body.role) {
        Some(r) if r != Role::Admin => r,
        _ => {
            return Err(ApiError::validation(vec![FieldError::new(
                "role",
                "must be owner, member or viewer",
            )]))
        }
    };
    let (row, token) = create_token(state.store.as_ref(), Some(&path), role, &body.name).await?;
    let mut out = TokenOut::from(row);
    out.token = Some(token.expose_secret().to_string());
    Ok(HttpResponse::Created().json(out))
}

/// List a project's tokens, masked.
#[utoipa::path(get, path = "/api/v1/projects/{prj}/tokens", tag = "tokens", responses((status = 200, body = Vec<TokenOut>)))]
#[get("/projects/{prj}/tokens")]
pub async fn list(
    state: web::Data<AppState>,
    auth: Auth,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    project_for(&state, &auth, &path, Role::Viewer).await?;
    let rows = state.store.list_tokens(&path).await?;
    Ok(HttpResponse::Ok().json(rows.into_iter().map(TokenOut::from).collect::<Vec<_>>()))
}

/// Delete a token (owner of its project).
#[utoipa::path(delete, path = "/api/v1/tokens/{tok}", tag = "tokens", responses((status = 204), (status = 404, body = crate::error::ErrorBody)))]
#[delete("/tokens/{tok}")]
pub async fn remove(
    state: web::Data<AppState>,
    auth: Auth,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let row = state
        .store
        .get_token(&path)
        .await?
        .ok_or_else(|| ApiError::not_found("token"))?;
    match &row.project_id {
        Some(prj) => auth.require(prj, Role::Owner, "token")?,
        None => auth
            .require_admin()
            .map_err(|_| ApiError::not_found("token"))?,
    }
    state.store.delete_token(&row.id).await?;
    Ok(HttpResponse::NoContent().finish())
}
