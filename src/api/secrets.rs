//! Pipeline secrets: written, listed masked, deleted; never read back.

use actix_web::{delete, get, put, web, HttpResponse};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::pipelines::load;
use super::{AppState, Auth};
use crate::crypto::{last4, mask, MasterKey, SealContext};
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

/// Checks a secret's name and value by the API's rules: fields `name` and `value`.
pub fn check_secret(name: &str, value: &str) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let name_ok = !name.is_empty()
        && name.len() <= 100
        && name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !name_ok {
        errors.push(FieldError::new(
            "name",
            "must be letters, digits and _, not starting with a digit",
        ));
    }
    if value.is_empty() || value.len() > MAX_SECRET_BYTES {
        errors.push(FieldError::new("value", "must be 1 byte to 64 KiB"));
    }
    errors
}

/// A pipeline secret row with `plain` sealed under its context.
pub fn new_row(key: &MasterKey, pipeline_id: &str, name: &str, plain: &str, now: i64) -> SecretRow {
    SecretRow {
        ciphertext: key.seal(
            &SealContext::PipelineSecret(pipeline_id, name),
            plain.as_bytes(),
        ),
        last4: last4(plain),
        pipeline_id: pipeline_id.to_string(),
        name: name.to_string(),
        updated_at: now,
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
    let value = body.into_inner().value;
    let plain = value.expose_secret();
    let errors = check_secret(&name, plain);
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let row = new_row(&state.key, &pipeline.id, &name, plain, now_ms());
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
