//! The OpenAPI 3 document of the whole API, served at `/api/openapi.json` (Swagger UI at `/api/docs/`).

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{
    deliveries, health, hooks, metrics, outgoing, pipelines, projects, runs, secrets, tokens,
};

/// The document; every handler is listed here.
#[derive(OpenApi)]
#[openapi(
    info(title = "hookgate", description = "Self-hosted incoming-webhook gateway: management API and ingest."),
    paths(
        health::healthz, health::readyz, metrics::metrics,
        projects::create, projects::list, projects::get_one,
        tokens::create, tokens::list, tokens::remove,
        pipelines::create, pipelines::list, pipelines::get_one, pipelines::replace, pipelines::remove,
        secrets::put_secret, secrets::list, secrets::remove,
        hooks::create, hooks::list, hooks::get_one, hooks::update, hooks::remove, hooks::rotate,
        outgoing::create, outgoing::attempts, outgoing::events,
        deliveries::list, deliveries::get_one, deliveries::replay,
        runs::get_one, runs::logs, runs::list, runs::cancel, runs::retry, runs::manual,
        crate::ingest::handler::receive,
    ),
    components(schemas(crate::error::ErrorBody, crate::domain::FieldError, outgoing::OutgoingPatch)),
    modifiers(&BearerAuth),
    security(("bearer" = []))
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("hg_…")
                    .build(),
            ),
        );
    }
}
