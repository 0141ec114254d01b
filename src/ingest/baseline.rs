//! Baseline endpoints for the benchmark: compiled only with the cargo feature
//! `bench-endpoints`, and served only when the setting `bench_endpoints` is also on (a binary
//! built without the feature refuses that setting at start-up, see `config.rs`).
//!
//! They measure what ingest costs without durability, in the same binary and the same run:
//! - `POST /bench/bare` answers 202 and does nothing else.
//! - `POST /bench/hmac/{hk}` verifies the signature with the hook's secret, then answers 202:
//!   the baseline a flood of forged signatures on `/hooks/{hk}` is compared with.
//! - `POST /bench/verify-parse/{hk}` verifies the signature, parses the JSON and extracts the
//!   hook's variables, then answers 202, storing nothing.
//!
//! The hook comes from ingest's own hook cache, as for `/hooks/{hk}`, and the `{hk}` routes are
//! matched as ingest's is (`ingest::route`, no regex), so the comparison stays like for like.

use actix_web::web;

/// Mounts the baseline endpoints (none without the `bench-endpoints` feature).
pub fn routes(cfg: &mut web::ServiceConfig) {
    #[cfg(feature = "bench-endpoints")]
    {
        use crate::ingest::route::post_one_segment;
        cfg.service(endpoints::bare)
            .service(post_one_segment("/bench/hmac", endpoints::hmac))
            .service(post_one_segment(
                "/bench/verify-parse",
                endpoints::verify_parse,
            ));
    }
    #[cfg(not(feature = "bench-endpoints"))]
    let _ = cfg;
}

#[cfg(feature = "bench-endpoints")]
mod endpoints {
    use actix_web::http::StatusCode;
    use actix_web::{post, web, HttpRequest, HttpResponse};
    use secrecy::ExposeSecret;

    use crate::app::AppState;
    use crate::domain::time::now_ms;
    use crate::domain::variable::Keep;
    use crate::error::ApiError;
    use crate::ingest::body::parse_body;
    use crate::ingest::handler::IngestState;
    use crate::ingest::hooks::LoadedHook;
    use crate::ingest::route::segment;
    use crate::signature::verify;

    #[post("/bench/bare")]
    pub(super) async fn bare(_body: web::Bytes) -> HttpResponse {
        HttpResponse::Accepted().finish()
    }

    /// `POST /bench/hmac/{hk}`.
    pub(super) async fn hmac(
        req: HttpRequest,
        body: web::Bytes,
        app: web::Data<AppState>,
        ingest: web::Data<IngestState>,
    ) -> Result<HttpResponse, ApiError> {
        verified(&req, segment(&req), &body, &app, &ingest).await?;
        Ok(HttpResponse::Accepted().finish())
    }

    /// `POST /bench/verify-parse/{hk}`.
    pub(super) async fn verify_parse(
        req: HttpRequest,
        body: web::Bytes,
        app: web::Data<AppState>,
        ingest: web::Data<IngestState>,
    ) -> Result<HttpResponse, ApiError> {
        let hook = verified(&req, segment(&req), &body, &app, &ingest).await?;
        let content_type = req
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok());
        // A full parse into a `serde_json::Value`, as the ceiling is defined
        // (docs/performance.md); ingest itself builds only what the hook reads.
        let parsed = parse_body(content_type, &body, &Keep::everything())
            .map_err(|e| ApiError::bad_request("invalid_body", e.to_string()))?;
        let no_query = |_: &str| None;
        let vars = hook
            .compiled
            .variables
            .extract(&parsed, &|name: &str| header(&req, name), &no_query)
            .map_err(|_| {
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid_variables",
                    "invalid variables",
                )
            })?;
        Ok(HttpResponse::Accepted().json(serde_json::json!({ "variables": vars.len() })))
    }

    fn header(req: &HttpRequest, name: &str) -> Option<String> {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }

    /// The hook from ingest's cache, once the request's signature is checked with its secret.
    async fn verified(
        req: &HttpRequest,
        hk: &str,
        body: &[u8],
        app: &AppState,
        ingest: &IngestState,
    ) -> Result<std::sync::Arc<LoadedHook>, ApiError> {
        let hook = ingest
            .hooks
            .get(app.store.as_ref(), &app.key, hk)
            .await?
            .ok_or_else(|| {
                ApiError::new(StatusCode::NOT_FOUND, "hook_not_found", "no such hook")
            })?;
        verify(
            &hook.compiled.verify,
            &[hook.secret.expose_secret()],
            &|name: &str| header(req, name),
            body,
            now_ms() / 1000,
        )
        .map_err(|e| ApiError::new(StatusCode::UNAUTHORIZED, e.code(), e.to_string()))?;
        Ok(hook)
    }
}
