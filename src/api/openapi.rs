//! The OpenAPI 3 document of the whole API, served at `/api/openapi.json` (Swagger UI at `/api/docs/`).
//!
//! Handlers list their own answers in their `#[utoipa::path]`. Answers that come from the edge
//! rather than from one handler are added here, by [`EdgeAnswers`], to every operation they can
//! happen on, so that the document stays true as routes are added (SPEC §7):
//! - `/api/v1/…`: 400 (malformed path, query or body), 401 (no or unknown token), 403 (role),
//!   404 (an object that does not exist or is another project's), 408 (a body slower than the
//!   minimum rate, see `body_deadline`), 415 (a `Content-Encoding`; with a body, a content type
//!   other than JSON), 503 (database unavailable); with a body also 413 (over 1 MiB) and 422
//!   (validation); with query parameters also 422.
//! - `POST /hooks/{hk}`: 408 and 429 besides its own list; `/healthz`, `/readyz` and
//!   `/hooks/{hk}` need no token (`security: []`).
//!
//! [`EdgeAnswers`] also makes read types honest where utoipa's derive is not: a flattened
//! definition (`PipelineOut` = `PipelineSpec` + id and times) keeps the definition's properties
//! without its `additionalProperties: false`, which would refuse the `id` beside it.

use serde_json::{json, Value};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{
    apply, approvals, deliveries, health, hook_test, hooks, metrics, outgoing, pipelines, projects,
    runs, secrets, tokens,
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
        hooks::create, hooks::list, hooks::get_one, hooks::update, hooks::replace, hooks::remove, hooks::rotate,
        hook_test::test_hook,
        outgoing::create, outgoing::attempts, outgoing::events,
        deliveries::list, deliveries::get_one, deliveries::replay,
        runs::get_one, runs::logs, runs::list, runs::cancel, runs::retry, runs::manual,
        approvals::approve, approvals::reject,
        crate::ingest::handler::receive,
        apply::apply, apply::export_project, apply::schema,
    ),
    components(schemas(crate::error::ErrorBody, crate::domain::FieldError, outgoing::OutgoingPatch)),
    modifiers(&BearerAuth, &EdgeAnswers),
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

/// Routes that need no token.
const PUBLIC: &[&str] = &[
    "/healthz",
    "/readyz",
    "/metrics",
    "/hooks/{hk}",
    "/api/v1/schema/apply.json",
];

struct EdgeAnswers;

impl Modify for EdgeAnswers {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        // Patched as JSON, then read back part by part: the whole document does not read back
        // (utoipa cannot deserialize its own "any value" schemas), but paths and the schemas
        // touched here do. A part that did not read back stays as it was, and the tests say so.
        if let Ok(mut paths) = serde_json::to_value(&openapi.paths) {
            patch_paths(&mut paths);
            if let Ok(patched) = serde_json::from_value(paths) {
                openapi.paths = patched;
            }
        }
        let Some(components) = openapi.components.as_mut() else {
            return;
        };
        let Ok(originals) = serde_json::to_value(&components.schemas) else {
            return;
        };
        let Some(originals) = originals.as_object() else {
            return;
        };
        for (name, schema) in originals {
            let mut schema = schema.clone();
            if inline_strict_parts(&mut schema, originals) {
                if let Ok(patched) = serde_json::from_value(schema) {
                    components.schemas.insert(name.clone(), patched);
                }
            }
        }
    }
}

/// Adds the edge's answers and `security: []` (see the module documentation) to `paths`.
pub fn patch_paths(paths: &mut Value) {
    let Some(paths) = paths.as_object_mut() else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (method, op) in item.iter_mut() {
            if matches!(
                method.as_str(),
                "get" | "put" | "post" | "patch" | "delete" | "head" | "options"
            ) {
                patch_operation(path, op);
            }
        }
    }
}

fn patch_operation(path: &str, op: &mut Value) {
    let has_body = op.get("requestBody").is_some();
    let has_query = op
        .get("parameters")
        .and_then(Value::as_array)
        .is_some_and(|ps| ps.iter().any(|p| p["in"] == "query"));
    let mut extra: Vec<(u16, &str)> = Vec::new();
    if PUBLIC.contains(&path) {
        op["security"] = json!([]);
    }
    if path.starts_with("/api/v1/") {
        extra.extend([
            (400, "malformed path, query or body (`invalid_path`, `invalid_query`, `invalid_body`)"),
            (401, "no token, or an unknown one (`unauthorized`)"),
            (403, "the token's role is too low (`forbidden`)"),
            (404, "no such object, or another project's (`not_found`)"),
            (408, "the body arrived slower than the minimum rate or past the deadline (`request_timeout`); the connection is closed"),
            (415, "a `Content-Encoding` (none is decoded), or a body that is not JSON (`unsupported_media_type`)"),
            (503, "the database is unavailable (`unavailable`, with `Retry-After`)"),
        ]);
        if has_body {
            extra.push((413, "the body is over 1 MiB (`body_too_large`)"));
        }
        if has_body || has_query {
            extra.push((
                422,
                "a field or parameter is not valid; `details` names each (`validation_failed`)",
            ));
        }
    } else if path == "/hooks/{hk}" {
        extra.extend([
            (408, "the body arrived slower than the minimum rate or past the deadline (`request_timeout`); the connection is closed"),
            (429, "the hook's rate limit is spent (`rate_limited`, with `Retry-After`)"),
        ]);
    }
    let responses = &mut op["responses"];
    if !responses.is_object() {
        *responses = json!({});
    }
    for (status, description) in extra {
        let key = status.to_string();
        if responses.get(&key).is_none() {
            responses[&key] = error_response(description);
        } else if responses[&key].get("content").is_none() {
            responses[&key]["content"] = error_response("")["content"].clone();
        }
    }
}

fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/ErrorBody" } } }
    })
}

/// In an `allOf`, a `$ref` to a schema with `additionalProperties: false` is replaced by a copy
/// of that schema without it: the other parts of the `allOf` add properties it would refuse.
/// True when something changed.
fn inline_strict_parts(schema: &mut Value, originals: &serde_json::Map<String, Value>) -> bool {
    let Some(parts) = schema.get_mut("allOf").and_then(Value::as_array_mut) else {
        return false;
    };
    if parts.len() < 2 {
        return false;
    }
    let mut changed = false;
    for part in parts.iter_mut() {
        let Some(name) = part
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix("#/components/schemas/"))
        else {
            continue;
        };
        let Some(target) = originals.get(name) else {
            continue;
        };
        if target.get("additionalProperties") == Some(&Value::Bool(false)) {
            let mut open = target.clone();
            if let Some(o) = open.as_object_mut() {
                o.remove("additionalProperties");
            }
            *part = open;
            changed = true;
        }
    }
    changed
}

/// Each documented path with the methods it takes (`GET, POST`), for [`no_such_route`].
static ROUTES: std::sync::LazyLock<Vec<(actix_web::dev::ResourceDef, String)>> =
    std::sync::LazyLock::new(|| {
        let paths = serde_json::to_value(&ApiDoc::openapi().paths).unwrap_or_default();
        let Some(paths) = paths.as_object() else {
            return Vec::new();
        };
        paths
            .iter()
            .map(|(path, item)| {
                let methods: Vec<String> = item
                    .as_object()
                    .into_iter()
                    .flat_map(|m| m.keys())
                    .filter(|m| {
                        matches!(
                            m.as_str(),
                            "get" | "put" | "post" | "patch" | "delete" | "head" | "options"
                        )
                    })
                    .map(|m| m.to_ascii_uppercase())
                    .collect();
                (
                    actix_web::dev::ResourceDef::new(path.as_str()),
                    methods.join(", "),
                )
            })
            .collect()
    });

/// The answer when no route matched: `405 method_not_allowed` with `Allow` when the path is a
/// documented one (the method is not), else `404 not_found`.
pub async fn no_such_route(req: actix_web::HttpRequest) -> actix_web::HttpResponse {
    use actix_web::http::StatusCode;
    use actix_web::ResponseError;
    let allowed = ROUTES
        .iter()
        .find(|(def, _)| def.is_match(req.path()))
        .map(|(_, methods)| methods.clone());
    match allowed {
        Some(methods) => {
            let mut res = crate::error::ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                format!(
                    "{} is not a method of this route; it takes {methods}",
                    req.method()
                ),
            )
            .error_response();
            if let Ok(v) = actix_web::http::header::HeaderValue::try_from(methods) {
                res.headers_mut().insert(actix_web::http::header::ALLOW, v);
            }
            res
        }
        None => crate::error::ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route")
            .error_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document() -> Value {
        serde_json::to_value(ApiDoc::openapi()).unwrap()
    }

    #[test]
    fn every_api_operation_lists_the_edge_answers_and_public_routes_need_no_token() {
        let doc = document();
        let paths = doc["paths"].as_object().unwrap();
        for (path, item) in paths {
            for (method, op) in item.as_object().unwrap() {
                let responses = op["responses"].as_object().unwrap();
                if path.starts_with("/api/v1/") {
                    for status in ["400", "401", "403", "404", "408", "415", "503"] {
                        assert!(responses.contains_key(status), "{method} {path}: {status}");
                    }
                    if op.get("requestBody").is_some() {
                        assert!(responses.contains_key("413"), "{method} {path}");
                        assert!(responses.contains_key("422"), "{method} {path}");
                    }
                }
                if PUBLIC.contains(&path.as_str()) {
                    assert_eq!(op["security"], json!([]), "{method} {path}");
                } else {
                    assert!(path.starts_with("/api/v1/"), "{path}");
                    assert!(op.get("security").is_none(), "{method} {path}");
                }
                for (status, r) in responses {
                    if status.starts_with('4') || status.starts_with('5') {
                        assert!(
                            r.pointer("/content/application~1json/schema").is_some(),
                            "{method} {path} {status}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn read_types_are_what_the_handlers_answer() {
        let doc = document();
        let schemas = &doc["components"]["schemas"];
        let logs = &doc["paths"]["/api/v1/runs/{run}/logs"]["get"]["responses"]["200"];
        assert_eq!(
            logs.pointer("/content/application~1json/schema/$ref"),
            Some(&json!("#/components/schemas/RunLogsOut")),
            "{logs}"
        );
        // Defaults and filter values are any JSON: no `type` restricts them.
        for (schema, field) in [
            ("PipelineVariable", "default_value"),
            ("VariableSpec", "default_value"),
            ("FilterSpec", "equals"),
        ] {
            let f = &schemas[schema]["properties"][field];
            assert!(f.is_object(), "{schema}.{field}: {f}");
            assert!(f.get("type").is_none(), "{schema}.{field}: {f}");
        }
        let status = &schemas["Step"]["properties"]["expect_status"];
        assert_eq!(
            (&status["minimum"], &status["maximum"]),
            (&json!(100), &json!(599)),
            "{status}"
        );
    }

    #[test]
    fn a_flattened_definition_does_not_refuse_its_neighbours() {
        let doc = document();
        let out = &doc["components"]["schemas"]["PipelineOut"];
        assert!(
            !out.to_string().contains("\"additionalProperties\":false"),
            "{out}"
        );
        // The request form stays strict.
        assert_eq!(
            doc["components"]["schemas"]["PipelineSpec"]["additionalProperties"],
            json!(false)
        );
    }
}
