//! Logging: a tracing subscriber writing to stderr, as text or JSON lines, and a request span.
//!
//! Nothing secret is ever a field of a span or event: request spans carry the method, the route
//! pattern (`/hooks/{hk}`, never the raw path: a hook URL may be its only credential) and a
//! request id; bodies, headers and query strings are not logged.
//!
//! Errors are logged once, with their whole cause chain: `error = %chain(&e)`.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::HttpMessage;
use tracing::Instrument;
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Crates whose debug/trace output is noisy or may include protocol details; they stay at `info`
/// unless the filter names them.
const QUIET: &[&str] = &[
    "actix_http",
    "actix_server",
    "h2",
    "hyper",
    "rustls",
    "mio",
    "sqlx::query",
];

/// Builds the filter: the operator's directives plus caps on noisy crates.
pub fn filter(directives: &str) -> EnvFilter {
    let mut filter = EnvFilter::new(directives);
    for krate in QUIET {
        if !directives.contains(krate) {
            if let Ok(d) = format!("{krate}=info").parse() {
                filter = filter.add_directive(d);
            }
        }
    }
    filter
}

/// Installs the global subscriber. Safe to call more than once (later calls do nothing).
pub fn init(directives: &str, format: LogFormat) {
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter(directives))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// An error followed by each of its causes, `outer: cause: root`, for a log field.
pub struct Chain<'a>(&'a (dyn std::error::Error + 'static));

/// `error = %chain(&e)`: the error and its whole `source()` chain on one line.
pub fn chain<'a>(e: &'a (dyn std::error::Error + 'static)) -> Chain<'a> {
    Chain(e)
}

impl std::fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut shown = self.0.to_string();
        f.write_str(&shown)?;
        let mut cause = self.0.source();
        while let Some(c) = cause {
            let text = c.to_string();
            // Some errors print their cause already (`#[error("…: {0}")]`): say it once.
            if !shown.contains(&text) {
                write!(f, ": {text}")?;
                shown.push_str(&text);
            }
            cause = c.source();
        }
        Ok(())
    }
}

/// The route pattern of a request. Ingest, the hot path, is recognised without walking the
/// route table (`match_pattern` tries the routes one by one).
fn route_of(req: &ServiceRequest) -> std::borrow::Cow<'static, str> {
    match req.path().strip_prefix("/hooks/") {
        Some(rest) if !rest.is_empty() && !rest.contains('/') => "/hooks/{hk}".into(),
        _ => req
            .match_pattern()
            .map_or("unmatched".into(), std::borrow::Cow::Owned),
    }
}

/// A request's id, also sent back as `x-request-id`.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Middleware: one span per request, with its id, method and route pattern; logs the status on
/// completion.
pub async fn request_span(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = crate::domain::ids::base62_u128(rand::random::<u128>());
    req.extensions_mut().insert(RequestId(id.clone()));
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %req.method(),
        route = tracing::field::Empty
    );
    // The pattern the path matched (`/hooks/{hk}`), never the path itself. Finding it walks
    // the route table, so only for a span that will be written.
    if !span.is_disabled() {
        span.record("route", route_of(&req).as_ref());
    }
    async move {
        let started = std::time::Instant::now();
        let mut res = next.call(req).await?;
        if let Ok(v) = actix_web::http::header::HeaderValue::from_str(&id) {
            res.headers_mut().insert(
                actix_web::http::header::HeaderName::from_static("x-request-id"),
                v,
            );
        }
        tracing::info!(
            status = res.status().as_u16(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "answered"
        );
        Ok(res)
    }
    .instrument(span)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[derive(Debug, thiserror::Error)]
    #[error("wrapped: {0}")]
    struct Repeats(#[source] std::io::Error);

    #[test]
    fn a_chain_names_every_cause_once() {
        let e = Outer(std::io::Error::other("disk on fire"));
        assert_eq!(chain(&e).to_string(), "outer: disk on fire");
        let e = Repeats(std::io::Error::other("disk on fire"));
        assert_eq!(chain(&e).to_string(), "wrapped: disk on fire");
    }
}
