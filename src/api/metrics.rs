//! `GET /metrics`: the Prometheus scrape. Open unless `HOOKGATE_METRICS_TOKEN` is set; then it
//! takes `Authorization: Bearer <token>`, compared in constant time.

use actix_web::{get, web, HttpRequest, HttpResponse};
use secrecy::ExposeSecret;
use subtle::ConstantTimeEq;

use super::AppState;
use crate::error::ApiError;

/// Prometheus metrics (text format 0.0.4). Needs no token unless the server sets
/// `HOOKGATE_METRICS_TOKEN`.
#[utoipa::path(get, path = "/metrics", tag = "health", security(()),
    responses(
        (status = 200, description = "the metrics, in the Prometheus text format", content_type = "text/plain", body = String),
        (status = 401, description = "HOOKGATE_METRICS_TOKEN is set and the request's bearer token is missing or wrong", body = crate::error::ErrorBody)))]
#[get("/metrics")]
pub async fn metrics(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    if let Some(expected) = &state.settings.metrics_token {
        let given = req
            .headers()
            .get(actix_web::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        let ok: bool = given
            .as_bytes()
            .ct_eq(expected.expose_secret().as_bytes())
            .into();
        if !ok {
            return Err(ApiError::unauthorized(
                "this server's /metrics needs Authorization: Bearer <HOOKGATE_METRICS_TOKEN>",
            ));
        }
    }
    Ok(HttpResponse::Ok()
        .content_type(crate::metrics::CONTENT_TYPE)
        .body(state.metrics.encode()))
}
