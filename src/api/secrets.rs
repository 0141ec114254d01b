//! Pipeline secrets: written, listed masked, deleted; never read back.

use actix_web::{delete, get, put, web, HttpResponse};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::pipelines::load;
use super::{AppState, Auth};
use crate::crypto::{last4, mask};
use crate::domain::role::Role;
use crate::domain::time::{now_ms, rfc3339};
use crate::domain::FieldError;
use crate::error::ApiError;
use crate::store::SecretRow;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(put_secret).service(list).service(remove);
}

const MAX_SECRET_BYTES: usize = 64 * 1024;

/// The body of `PUT /pipelines/{pl}/secrets/{NAME}`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretIn {
    #[schema(value_type = String)]
    pub value: SecretString,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SecretOut {
    pub name: String,
    /// Always masked: `••••abcd`.
    pub value: String,
    pub updated_at: String,
}

impl From<SecretRow> for SecretOut {
    fn from(s: SecretRow) -> Self {
        Self {
            name: s.name,
            value: mask(&s.last4),
            updated_at: rfc3339(s.updated_at),
        }
    }
}

/// The context a pipeline secret is sealed under.
pub fn secret_context(pipeline_id: &str, name: &str) -> String {
    format!("pipeline:{pipeline_id}:secret:{name}")
}

fn check_secret_name(name: &str) -> Result<(), ApiError> {
    let ok = !name.is_empty()
        && name.len() <= 100
        && name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(ApiError::validation(vec![FieldError::new(
            "name",
            "must be letters, digits and _, not starting with a digit",
        )]))
    }
}

/// Write a secret (member); used in steps as `${secrets.NAME}`.
#[utoipa::path(put, path = "/api/v1/pipelines/{pl}/secrets/{name}", tag = "secrets", request_body = SecretIn,
    responses((status = 200, body = SecretOut), (status = 422, body = crate::error::ErrorBody)))]
#[put("/pipelines/{pl}/secrets/{name}")]
pub async fn put_secret(
    state: web::Data<AppState>,
    auth: Auth,
    path: web::Path<(String, String)>,
    body: super::extract::Json<SecretIn>,
) -> Result<HttpResponse, ApiError> {
    let (pl, name) = path.into_inner();
    let pipeline = load(&state, &auth, &pl, Role::Member).await?;
    check_secret_name(&name)?;
    let value = body.into_inner().value;
    let plain = value.expose_secret();
    if plain.is_empty() || plain.len() > MAX_SECRET_BYTES {
        return Err(ApiError::validation(vec![FieldError::new(
            "value",
            "must be 1 byte to 64 KiB",
        )]));
    }
    let row = SecretRow {
        ciphertext: state
            .key
            .seal(&secret_context(&pipeline.id, &name), plain.as_bytes()),
        last4: last4(plain),
        pipeline_id: pipeline.id,
        name,
        updated_at: now_ms(),
    };
    state.store.put_secret(&row).await?;
    Ok(HttpResponse::Ok().json(SecretOut::from(row)))
}

/// List a pipeline's secrets, masked.
#[utoipa::path(get, path = "/api/v1/pipelines/{pl}/secrets", tag = "secrets", responses((status = 200, body = Vec<SecretOut>)))]
#[get("/pipelines/{pl}/secrets")]
pub async fn list(
    state: web::Data<AppState>,
    auth: Auth,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let pipeline = load(&state, &auth, &path, Role::Viewer).await?;
    let rows = state.store.list_secrets(&pipeline.id).await?;
    Ok(HttpResponse::Ok().json(rows.into_iter().map(SecretOut::from).collect::<Vec<_>>()))
}

/// Delete a secret (member).
#[utoipa::path(delete, path = "/api/v1/pipelines/{pl}/secrets/{name}", tag = "secrets", responses((status = 204), (status = 404, body = crate::error::ErrorBody)))]
#[delete("/pipelines/{pl}/secrets/{name}")]
pub async fn remove(
    state: web::Data<AppState>,
    auth: Auth,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (pl, name) = path.into_inner();
    let pipeline = load(&state, &auth, &pl, Role::Member).await?;
    if !state.store.delete_secret(&pipeline.id, &name).await? {
        return Err(ApiError::not_found("secret"));
    }
    Ok(HttpResponse::NoContent().finish())
}
