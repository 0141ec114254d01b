//! Baseline endpoints for the benchmark, off unless `bench_endpoints` is set.
//!
//! They measure what ingest costs without durability, in the same binary and the same run:
//! - `POST /bench/bare` answers 202 and does nothing else.
//! - `POST /bench/verify-parse/{hk}` verifies the signature with the hook's secret, parses the
//!   JSON and extracts the hook's variables, then answers 202, storing nothing. The hook is read
//!   from the database once and kept in memory, so no database work is measured.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use actix_web::http::StatusCode;
use actix_web::{post, web, HttpRequest, HttpResponse};
use secrecy::ExposeSecret;

use super::body::parse_body;
use super::handler::IngestState;
use super::hooks::LoadedHook;
use super::signature::verify;
use crate::api::AppState;
use crate::domain::time::now_ms;
use crate::error::ApiError;

/// Hooks loaded once for the verify-and-parse baseline.
#[derive(Default)]
pub struct BaselineHooks(RwLock<HashMap<String, Arc<LoadedHook>>>);

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::Data::new(BaselineHooks::default()))
        .service(bare)
        .service(verify_parse);
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
    loaded: web::Data<BaselineHooks>,
) -> Result<HttpResponse, ApiError> {
    let cached = loaded
        .0
        .read()
        .expect("baseline lock")
        .get(path.as_str())
        .cloned();
    let hook = match cached {
        Some(h) => h,
        None => {
            let h = ingest
                .hooks
                .get(app.store.as_ref(), &app.key, &path)
                .await?
                .ok_or_else(|| {
                    ApiError::new(StatusCode::NOT_FOUND, "hook_not_found", "no such hook")
                })?;
            loaded
                .0
                .write()
                .expect("baseline lock")
                .insert(path.to_string(), h.clone());
            h
        }
    };
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
    let parsed = parse_body(content_type, &body)
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
