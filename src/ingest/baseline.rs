//! Baseline endpoints for the benchmark, off unless `bench_endpoints` is set.
//!
//! They measure what ingest costs without durability, in the same binary and the same run:
//! - `POST /bench/bare` answers 202 and does nothing else.
//! - `POST /bench/verify-parse/{hk}` verifies the signature with the hook's secret, parses the
//!   JSON and extracts the hook's variables, then answers 202, storing nothing. The hook comes
//!   from ingest's own hook cache, as for `/hooks/{hk}`.

use actix_web::http::StatusCode;
use actix_web::{post, web, HttpRequest, HttpResponse};
use secrecy::ExposeSecret;

use super::body::parse_body;
use super::handler::IngestState;
use super::signature::verify;
use crate::api::AppState;
use crate::domain::time::now_ms;
use crate::domain::variable::Keep;
use crate::error::ApiError;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(bare).service(verify_parse);
}

#[post("/bench/bare")]
async fn bare(_body: web::Bytes) -> HttpResponse {
    HttpResponse::Accepted().finish()
}

#[post("/bench/verify-parse/{hk}")]
async fn verify_parse(
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
    app: web::Data<AppState>,
    ingest: web::Data<IngestState>,
) -> Result<HttpResponse, ApiError> {
    let hook = ingest
        .hooks
        .get(app.store.as_ref(), &app.key, &path)
        .await?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "hook_not_found", "no such hook"))?;
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    verify(
        &hook.compiled.verify,
        &[hook.secret.expose_secret()],
        &header,
        &body,
        now_ms() / 1000,
    )
    .map_err(|e| ApiError::new(StatusCode::UNAUTHORIZED, e.code(), e.to_string()))?;
    let content_type = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok());
    // A full parse into a `serde_json::Value`, as the ceiling is defined (docs/performance.md);
    // ingest itself builds only what the hook reads.
    let parsed = parse_body(content_type, &body, &Keep::everything())
        .map_err(|e| ApiError::bad_request("invalid_body", e.to_string()))?;
    let no_query = |_: &str| None;
    let vars = hook
        .compiled
        .variables
        .extract(&parsed, &header, &no_query)
        .map_err(|_| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_variables",
                "invalid variables",
            )
        })?;
    Ok(HttpResponse::Accepted().json(serde_json::json!({ "variables": vars.len() })))
}
