//! The `http` step: one request to a guarded target; redirects are not followed.

use std::time::Duration;

use reqwest::Method;
use tokio_util::sync::CancellationToken;

use super::command::StepOutcome;
use super::step_log::StepLog;
use crate::net_guard::{refusal_in, TargetGuard};

/// How much of the answer's body goes to the step log.
const BODY_LOG_LIMIT: usize = 1024;

/// A rendered `http` step.
#[derive(Debug, Clone)]
pub struct HttpSpec {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    /// Sent as JSON (`Content-Type: application/json` unless a header sets another).
    pub body: Option<serde_json::Value>,
    /// The one status that counts as success; any 2xx when `None`.
    pub expect_status: Option<u16>,
    pub timeout: Duration,
}

/// Sends the request with `guard.client(timeout)` (no redirects; a 3xx is just a status).
/// Success: the status equals expect_status, or is 2xx when none. Logs `HTTP <status>` and the
/// first 1 KiB of the answer body to `log`. Guard refusals and connect errors → Failed with a
/// reason; timeout → TimedOut; cancel token → Cancelled.
pub async fn run_http(
    spec: &HttpSpec,
    guard: &TargetGuard,
    cancel: &CancellationToken,
    log: &mut StepLog,
) -> StepOutcome {
    tokio::select! {
        outcome = send(spec, guard, log) => outcome,
        _ = cancel.cancelled() => {
            log.line("cancelled");
            StepOutcome::Cancelled
        }
    }
}

async fn send(spec: &HttpSpec, guard: &TargetGuard, log: &mut StepLog) -> StepOutcome {
    let url = match guard.check_url(&spec.url) {
        Ok(url) => url,
        Err(e) => return fail(log, format!("target refused: {e}")),
    };
    let method = match Method::from_bytes(spec.method.to_ascii_uppercase().as_bytes()) {
        Ok(m) => m,
        Err(_) => return fail(log, format!("invalid method {:?}", spec.method)),
    };
    // The URL as rendered, not as parsed: the step log redacts secrets by their exact text,
    // which percent-encoding would change.
    log.line(&format!("{method} {}", spec.url));

    let mut request = guard.client(spec.timeout).request(method, url);
    for (name, value) in &spec.headers {
        request = request.header(name, value);
    }
    if let Some(body) = &spec.body {
        request = request.json(body);
    }

    let mut response = match request.send().await {
        Ok(r) => r,
        Err(e) if e.is_timeout() => {
            log.line(&format!("timed out after {} s", spec.timeout.as_secs_f64()));
            return StepOutcome::TimedOut;
        }
        Err(e) => {
            let reason = match refusal_in(&e) {
                Some(refusal) => format!("target refused: {refusal}"),
                None => format!("request failed: {}", error_chain(&e.without_url())),
            };
            return fail(log, reason);
        }
    };

    let status = response.status();
    log.line(&format!("HTTP {}", status.as_u16()));
    let mut body = Vec::new();
    let mut more = false;
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = BODY_LOG_LIMIT - body.len();
                body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                if chunk.len() > room {
                    more = true;
                    break;
                }
            }
            Ok(None) => break,
            // The status decides the outcome; an unreadable body is only worth a note.
            Err(e) => {
                log.push(&body);
                log.line(&format!(
                    "(reading the body failed: {})",
                    error_chain(&e.without_url())
                ));
                body.clear();
                break;
            }
        }
    }
    log.push(&body);
    if more {
        log.line(&format!("[… body truncated at {BODY_LOG_LIMIT} bytes]"));
    }

    let ok = match spec.expect_status {
        Some(expected) => status.as_u16() == expected,
        None => status.is_success(),
    };
    if ok {
        StepOutcome::Succeeded { exit_code: None }
    } else {
        let expected = match spec.expect_status {
            Some(code) => code.to_string(),
            None => "2xx".to_string(),
        };
        StepOutcome::Failed {
            exit_code: None,
            reason: format!("HTTP {}, expected {expected}", status.as_u16()),
        }
    }
}

fn fail(log: &mut StepLog, reason: String) -> StepOutcome {
    log.line(&reason);
    StepOutcome::Failed {
        exit_code: None,
        reason,
    }
}

/// reqwest's own message is terse ("error sending request"); the causes say what happened.
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        let message = e.to_string();
        if !text.contains(&message) {
            text.push_str(": ");
            text.push_str(&message);
        }
        source = e.source();
    }
    text
}

#[cfg(test)]
mod tests;
