//! Templates compiled into the binary (minijinja, auto-escaped HTML) and the page error type.

use std::sync::OnceLock;

use actix_web::http::header::{CONTENT_TYPE, LOCATION};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use minijinja::Environment;
use serde::Serialize;

use crate::error::ApiError;
use crate::store::StoreError;

/// Every template, by name; each is compiled into the binary.
const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("templates/base.html")),
    ("sign_in.html", include_str!("templates/sign_in.html")),
    ("error.html", include_str!("templates/error.html")),
    ("projects.html", include_str!("templates/projects.html")),
    ("project.html", include_str!("templates/project.html")),
    ("pipeline.html", include_str!("templates/pipeline.html")),
    ("hook.html", include_str!("templates/hook.html")),
    ("hook_test.html", include_str!("templates/hook_test.html")),
    ("delivery.html", include_str!("templates/delivery.html")),
    ("runs.html", include_str!("templates/runs.html")),
    ("run.html", include_str!("templates/run.html")),
];

fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        // `.html` names are auto-escaped (minijinja's default callback).
        for (name, source) in TEMPLATES {
            env.add_template(name, source)
                .expect("the console's templates compile (checked by a unit test)");
        }
        env.add_global(
            "asset",
            minijinja::Value::from_serialize(super::assets::names()),
        );
        env
    })
}

/// Renders template `name` with `ctx`.
pub fn render(name: &str, ctx: impl Serialize) -> Result<String, PageError> {
    let tpl = env()
        .get_template(name)
        .map_err(|e| PageError::Api(ApiError::internal(anyhow::Error::new(e))))?;
    tpl.render(ctx)
        .map_err(|e| PageError::Api(ApiError::internal(anyhow::Error::new(e))))
}

/// An HTML 200 of template `name`.
pub fn page(name: &str, ctx: impl Serialize) -> Result<HttpResponse, PageError> {
    Ok(HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "text/html; charset=utf-8"))
        .body(render(name, ctx)?))
}

/// Why a page is not shown.
#[derive(Debug)]
pub enum PageError {
    /// No live session: go to the sign-in page.
    SignIn,
    /// The API's answer (404 for another project's objects, 403, 503…), as an HTML page.
    Api(ApiError),
}

impl std::fmt::Display for PageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PageError::SignIn => f.write_str("sign in first"),
            PageError::Api(e) => e.fmt(f),
        }
    }
}

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        PageError::Api(e)
    }
}

impl From<StoreError> for PageError {
    fn from(e: StoreError) -> Self {
        PageError::Api(e.into())
    }
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        match self {
            PageError::SignIn => StatusCode::SEE_OTHER,
            PageError::Api(e) => e.status,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let api = match self {
            PageError::SignIn => None,
            PageError::Api(e) if e.status == StatusCode::UNAUTHORIZED => None,
            PageError::Api(e) => Some(e),
        };
        let Some(e) = api else {
            return HttpResponse::SeeOther()
                .insert_header((LOCATION, "/console/sign-in"))
                .finish();
        };
        // A 500's cause is logged by ApiError's own response, never shown.
        let logged = e.error_response();
        let message = if e.status.is_server_error() {
            "something went wrong on the server".to_string()
        } else {
            e.message.clone()
        };
        let ctx = serde_json::json!({
            "title": e.status.canonical_reason().unwrap_or("error"),
            "status": e.status.as_u16(),
            "message": message,
            "asset": super::assets::names(),
        });
        let body = render("error.html", ctx).unwrap_or_else(|_| message.clone());
        let mut resp = HttpResponse::build(e.status);
        for (name, value) in logged.headers() {
            if name == actix_web::http::header::RETRY_AFTER {
                resp.insert_header((name.clone(), value.clone()));
            }
        }
        resp.insert_header((CONTENT_TYPE, "text/html; charset=utf-8"))
            .body(body)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_template_compiles() {
        let env = super::env();
        for (name, _) in super::TEMPLATES {
            assert!(env.get_template(name).is_ok(), "{name}");
        }
    }
}
