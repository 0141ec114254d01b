//! The test panel's "send it signed for real": the server signs the payload with the hook's
//! secret, as the provider would, and posts it to its own ingest route over HTTP, so the request
//! takes exactly the path a provider's does (size limit, signature, variables, filters, dedup,
//! durable enqueue). The secret never leaves the server.

use actix_web::http::StatusCode;
use actix_web::{post, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use super::session::{self, CSRF_HEADER};
use crate::app::AppState;
use crate::domain::ids::{new_id, IdKind};
use crate::domain::role::Role;
use crate::domain::time::now_ms;
use crate::error::ApiError;
use crate::ingest::handler::IngestState;
use crate::signature::sign;
use secrecy::ExposeSecret;

/// How long the send waits for its own ingest route.
const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

/// `POST /console/hooks/{hk}/send` (JSON).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendIn {
    /// The raw body, as the provider would send it.
    pub body: String,
    /// The event name, for providers that send it in a header.
    #[serde(default)]
    pub event: Option<String>,
}

/// Signs and sends; answers `{ status, answer }`: the ingest route's status and JSON answer.
#[post("/hooks/{hk}/send")]
pub async fn send(
    req: HttpRequest,
    state: web::Data<AppState>,
    ingest: web::Data<IngestState>,
    path: web::Path<String>,
    input: web::Json<SendIn>,
) -> Result<HttpResponse, ApiError> {
    let signed_in = session::current(&state, &req)
        .await?
        .ok_or_else(|| ApiError::unauthorized("sign in to the console first"))?;
    let presented = req.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok());
    if !signed_in.csrf_ok(presented) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "csrf_token_invalid",
            "this request does not carry the session's CSRF token",
        ));
    }
    let row = state
        .store
        .get_hook(&path)
        .await?
        .ok_or_else(|| ApiError::not_found("hook"))?;
    signed_in
        .auth
        .require(&row.project_id, Role::Member, "hook")?;
    let hook = ingest
        .hooks
        .get(state.store.as_ref(), &state.key, &row.id)
        .await?
        .ok_or_else(|| ApiError::not_found("hook"))?;
    let body = input.body.as_bytes();
    let mut headers = if hook.compiled.requires_secret {
        sign(
            &hook.compiled.verify,
            hook.secret.expose_secret(),
            body,
            now_ms() / 1000,
            Some(&new_id(IdKind::Delivery)),
            input.event.as_deref().filter(|e| !e.is_empty()),
        )
    } else {
        Vec::new()
    };
    headers.push(("content-type".into(), "application/json".into()));
    if let (Some(name), Some(event)) = (
        super::samples::for_provider(&row.provider).and_then(|s| s.event_header),
        input.event.as_deref().filter(|e| !e.is_empty()),
    ) {
        if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(name)) {
            headers.push((name.to_ascii_lowercase(), event.to_string()));
        }
    }
    let mut local = req.app_config().local_addr();
    if local.ip().is_unspecified() {
        local.set_ip(if local.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        });
    }
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(TIMEOUT)
        .build()
        .map_err(|e| ApiError::internal(e.into()))?;
    let mut request = client
        .post(format!("http://{local}/hooks/{}", row.id))
        .body(input.body.clone());
    for (name, value) in &headers {
        request = request.header(name.as_str(), value.as_str());
    }
    let answer = request.send().await.map_err(|e| {
        let mut err = ApiError::new(
            StatusCode::BAD_GATEWAY,
            "send_failed",
            "the ingest route did not answer",
        );
        // Without the URL: a hook's URL is its credential and never goes to the logs.
        err.source = Some(e.without_url().into());
        err
    })?;
    let status = answer.status().as_u16();
    let text = answer.text().await.unwrap_or_default();
    let answer: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Ok(HttpResponse::Ok().json(json!({ "status": status, "answer": answer })))
}
