//! Liveness, readiness, and the 503 every route answers until the database schema is in place.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{get, web, HttpResponse, ResponseError};
use serde_json::json;

use super::AppState;
use crate::domain::time::now_ms;
use crate::error::ApiError;

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "health", security(()), responses((status = 200, description = "alive")))]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// Readiness: the database is migrated and takes writes (a one-row write is committed), not
/// just reads: a read-only, full, locked or unreachable database is 503 (SPEC §7).
#[utoipa::path(get, path = "/readyz", tag = "health", security(()),
    responses((status = 200, description = "ready: the database takes writes"),
        (status = 503, description = "the database is unreachable, not migrated yet, or cannot take writes; with Retry-After", body = crate::error::ErrorBody)))]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    if !state.store.schema().is_ready() {
        return Err(not_ready());
    }
    state.store.probe_write(now_ms()).await?;
    Ok(HttpResponse::Ok().json(json!({ "status": "ready", "database": state.store.backend() })))
}

fn not_ready() -> ApiError {
    let mut e = ApiError::unavailable();
    e.message = "the database is unavailable or not migrated yet; try again shortly".into();
    e
}

/// Answers 503 + `Retry-After` on every route but `/healthz` until the migrations are applied
/// (`serve` started while the database was down). A no-op afterwards.
pub async fn schema_gate(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let ready = req
        .app_data::<web::Data<AppState>>()
        .is_none_or(|state| state.store.schema().is_ready());
    if ready || req.path() == "/healthz" {
        return Ok(next.call(req).await?.map_into_left_body());
    }
    let answer = not_ready().error_response();
    Ok(req.into_response(answer).map_into_right_body())
}
