//! The management API under `/api/v1`, plus health, readiness and the OpenAPI document.

mod apply;
mod approvals;
pub mod auth;
mod deliveries;
pub(crate) mod extract;
pub(crate) mod health;
mod hook_draft;
mod hook_test;
pub mod hooks;
mod metrics;
mod openapi;
pub mod outgoing;
pub(crate) mod page;
pub mod pipelines;
mod projects;
mod run_stream;
mod runs;
pub mod secrets;
mod tokens;

use actix_web::web;

/// The old path of [`crate::app::AppState`], kept while other branches move to the new one.
pub use crate::app::AppState;
pub use auth::Auth;
pub use openapi::{no_such_route, ApiDoc};

/// The routes under `/api/v1` (also served to console sessions under `/console/api/v1`).
pub fn v1_routes(cfg: &mut web::ServiceConfig) {
    cfg.configure(projects::routes)
        .configure(apply::routes)
        .configure(tokens::routes)
        .configure(pipelines::routes)
        .configure(secrets::routes)
        .configure(hooks::routes)
        .configure(hook_test::routes)
        .configure(outgoing::routes)
        .configure(deliveries::routes)
        .configure(runs::routes)
        .configure(approvals::routes);
}

/// Registers the API routes, health endpoints, the OpenAPI document and Swagger UI.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(extract::json_config())
        .app_data(extract::path_config())
        .app_data(extract::query_config())
        .service(health::healthz)
        .service(health::readyz)
        .service(metrics::metrics)
        .service(
            web::scope("/api/v1")
                .wrap(actix_web::middleware::from_fn(extract::integral_numbers))
                .wrap(actix_web::middleware::from_fn(
                    extract::refuse_content_encoding,
                ))
                .configure(v1_routes),
        )
        .service(
            utoipa_swagger_ui::SwaggerUi::new("/api/docs/{_:.*}")
                .url("/api/openapi.json", <ApiDoc as utoipa::OpenApi>::openapi()),
        );
}
