//! One attempt at one event, by channel: a signed POST (webhook, Slack) or a mail (email).
//! Header values may name pipeline secrets; their values are sent and redacted from what the
//! attempts log records.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};

use super::{deliver, email, render, NotifyContext};
use crate::crypto::SealContext;
use crate::domain::template;
use crate::store::{OutgoingEventRow, OutgoingHookRow};

/// The key a secret signs with: `whsec_…` as it is; a supplied plain string (at least 32
/// characters) is itself the HMAC key, i.e. `whsec_` + base64 of its bytes.
pub fn signing_form(secret: &str) -> String {
    use base64::Engine;
    if secret.starts_with("whsec_") {
        secret.to_string()
    } else {
        format!(
            "whsec_{}",
            base64::engine::general_purpose::STANDARD.encode(secret.as_bytes())
        )
    }
}

/// The hook's custom headers with `${secrets.NAME}` filled in, plus the shared-secret header;
/// and the secret values to redact.
async fn headers(
    ctx: &NotifyContext,
    hook: &OutgoingHookRow,
    secret: &str,
) -> Result<(Map<String, Value>, Vec<String>), String> {
    let mut custom: Map<String, Value> = serde_json::from_str(&hook.headers).unwrap_or_default();
    let mut redact = vec![secret.to_string()];
    if hook.headers.contains("${secrets.") {
        let rows = ctx
            .store
            .list_secrets(&hook.pipeline_id)
            .await
            .map_err(|e| format!("could not read the pipeline's secrets: {e}"))?;
        let mut secrets = Map::new();
        for row in rows {
            let ctx_name = SealContext::PipelineSecret(&hook.pipeline_id, &row.name);
            if let Ok(value) = ctx.key.open(&ctx_name, &row.ciphertext) {
                redact.push(value.expose_secret().to_string());
                secrets.insert(
                    format!("secrets.{}", row.name),
                    Value::String(value.expose_secret().to_string()),
                );
            }
        }
        for (name, value) in custom.iter_mut() {
            let Some(text) = value.as_str() else { continue };
            for n in template::names(text).map_err(|e| e.to_string())? {
                if !secrets.contains_key(n) {
                    return Err(format!(
                        "header {name}: the secret {} is not set on this pipeline",
                        n.trim_start_matches("secrets.")
                    ));
                }
            }
            *value = Value::String(template::render(text, &secrets).map_err(|e| e.to_string())?);
        }
    }
    if let Some(h) = &hook.secret_header {
        custom.insert(h.clone(), Value::String(secret.to_string()));
    }
    Ok((custom, redact))
}

fn failed(problem: String) -> deliver::Outcome {
    deliver::Outcome {
        status_code: None,
        latency_ms: 0,
        error: Some(problem),
    }
}

/// Makes the attempt; the outcome's error never holds a secret.
pub async fn send(
    ctx: &NotifyContext,
    hook: &OutgoingHookRow,
    event: &OutgoingEventRow,
    secret: &SecretString,
    at: i64,
) -> deliver::Outcome {
    let timeout = Duration::from_secs(hook.timeout_secs.clamp(1, 60) as u64);
    if hook.channel == "email" {
        let (subject, text) = match render::mail(hook, event) {
            Ok(m) => m,
            Err(problem) => return failed(problem),
        };
        let to: Vec<String> = hook
            .email_to
            .as_deref()
            .and_then(|t| serde_json::from_str(t).ok())
            .unwrap_or_default();
        let mail = email::Mail {
            from: &ctx.smtp_from,
            to: &to,
            subject: &subject,
            text,
        };
        let url = ctx.smtp_url.as_ref().map(|u| u.expose_secret().to_string());
        return email::send(url.as_deref(), mail, timeout).await;
    }
    let body = match render::body(hook, event) {
        Ok(body) => serde_json::to_vec(&body).unwrap_or_default(),
        Err(problem) => return failed(problem),
    };
    let url = match render::url(hook, event) {
        Ok(u) => u,
        Err(problem) => return failed(problem),
    };
    let (custom, redact) = match headers(ctx, hook, secret.expose_secret()).await {
        Ok(h) => h,
        Err(problem) => return failed(problem),
    };
    // During a rotation's grace period, sign with the previous secret as well.
    let previous = match (&hook.prev_secret_ct, hook.prev_secret_expires_at) {
        (Some(ct), Some(until)) if until > at => {
            ctx.key.open(&SealContext::OutgoingHook(&hook.id), ct).ok()
        }
        _ => None,
    };
    let signed = deliver::signature_headers_rotating(
        &signing_form(secret.expose_secret()),
        previous
            .as_ref()
            .map(|p| signing_form(p.expose_secret()))
            .as_deref(),
        &event.id,
        &body,
        at / 1000,
    );
    let mut outcome = deliver::send(
        ctx.guard,
        &url,
        deliver::request_headers(&custom, signed),
        body,
        timeout,
    )
    .await;
    outcome.error = outcome.error.map(|e| {
        redact
            .iter()
            .filter(|s| !s.is_empty())
            .fold(e, |e, s| e.replace(s.as_str(), "[redacted]"))
    });
    outcome
}
