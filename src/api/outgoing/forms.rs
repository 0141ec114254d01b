//! Outgoing hooks in the seeds' forms (SPEC §6): create and replace (`PUT /hooks/{oh}`) from a
//! body in any form, answer in the form it was sent, and the checks of the channel fields
//! (email, `payload_template`, the shared-secret header, `${secrets.NAME}` in headers).

use std::collections::HashSet;

use actix_web::HttpResponse;
use reqwest::header::HeaderName;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Map, Value};

use super::{known_names, load, to_out, triggers_json, validate, OutgoingIn, RESERVED_HEADERS};
use crate::api::Auth;
use crate::app::AppState;
use crate::crypto::{last4, mask, SealContext};
use crate::domain::ids::{new_id, IdKind};
use crate::domain::outgoing_forms::{self, Form};
use crate::domain::role::Role;
use crate::domain::template;
use crate::domain::time::now_ms;
use crate::domain::FieldError;
use crate::error::ApiError;
use crate::notify::render::{EVENTS, HUMANITEC_ALIASES};
use crate::notify::{email, jinja};
use crate::signature::Provider;
use crate::store::{OutgoingHookRow, PipelineRow};

fn internal(e: impl Into<anyhow::Error>) -> ApiError {
    ApiError::internal(e.into())
}

/// Checks a supplied secret: `whsec_` + base64 (Standard Webhooks), or any string of at least
/// 32 characters (the HMAC key itself). Returns the last 4 characters to show.
fn check_secret(supplied: &SecretString, field: &str) -> Result<String, FieldError> {
    let s = supplied.expose_secret();
    if s.starts_with("whsec_") {
        let usable = crate::notify::deliver::signature_headers(s, "x", b"", 0)
            .iter()
            .any(|(k, _)| k == "webhook-signature");
        if !usable {
            return Err(FieldError::new(
                field,
                "a whsec_ secret must be whsec_ followed by base64",
            ));
        }
    } else if s.chars().count() < 32 {
        return Err(FieldError::new(
            field,
            "must be whsec_… (Standard Webhooks) or at least 32 characters",
        ));
    }
    Ok(last4(s))
}

/// Builds a row from one hook of a body. `keep` is the row a PUT replaces (its id, secret and
/// creation time stay unless the body supplies a secret).
fn build(
    state: &AppState,
    pipeline: &PipelineRow,
    input: OutgoingIn,
    form: Form,
    doc: Option<Value>,
    keep: Option<&OutgoingHookRow>,
) -> (OutgoingHookRow, Option<SecretString>, Option<FieldError>) {
    let id = keep.map_or_else(|| new_id(IdKind::OutgoingHook), |k| k.id.clone());
    let now = now_ms();
    let secret_field = if form == Form::Mendix {
        "validationSecret"
    } else {
        "secret"
    };
    let mut problem = None;
    let (secret_ct, secret_last4, shown) = match (&input.secret, keep) {
        // Kept as supplied: deliveries sign with its Standard Webhooks form, and the
        // shared-secret header sends it as the receiver knows it.
        (Some(supplied), _) => {
            let l4 = check_secret(supplied, secret_field).unwrap_or_else(|e| {
                problem = Some(e);
                String::new()
            });
            let ct = state.key.seal(
                &SealContext::OutgoingHook(&id),
                supplied.expose_secret().as_bytes(),
            );
            (ct, l4, Some(supplied.clone()))
        }
        (None, Some(k)) => (k.secret_ct.clone(), k.secret_last4.clone(), None),
        (None, None) => {
            let s = SecretString::from(Provider::StandardWebhooks.generate_secret());
            let ct = state.key.seal(
                &SealContext::OutgoingHook(&id),
                s.expose_secret().as_bytes(),
            );
            (ct, last4(s.expose_secret()), Some(s))
        }
    };
    let row = OutgoingHookRow {
        id,
        pipeline_id: pipeline.id.clone(),
        project_id: pipeline.project_id.clone(),
        name: input.name.trim().to_string(),
        channel: input.channel.unwrap_or_else(|| "webhook".into()),
        url: input.url.trim().to_string(),
        headers: Value::Object(input.headers).to_string(),
        triggers: triggers_json(input.triggers),
        payload: input.payload.map(|p| p.to_string()),
        text_template: input.text,
        timeout_secs: input
            .timeout_secs
            .unwrap_or(super::DEFAULT_TIMEOUT_SECS)
            .min(i64::MAX as u64) as i64,
        is_active: input.is_active,
        disabled_reason: None,
        secret_ct,
        secret_last4,
        prev_secret_ct: keep
            .and_then(|k| k.prev_secret_ct.clone())
            .filter(|_| input.secret.is_none()),
        prev_secret_expires_at: keep
            .and_then(|k| k.prev_secret_expires_at)
            .filter(|_| input.secret.is_none()),
        created_at: keep.map_or(now, |k| k.created_at),
        updated_at: now,
        email_to: (!input.to.is_empty()).then(|| json!(input.to).to_string()),
        subject_template: input.subject,
        payload_template: input.payload_template,
        secret_header: input.secret_header,
        request_form: (form != Form::Hookgate).then(|| form.as_str().to_string()),
        request_doc: doc.map(|d| d.to_string()),
    };
    (row, shown, problem)
}

/// Reads a body in its form and builds and checks its rows.
async fn rows_of(
    state: &AppState,
    pipeline: &PipelineRow,
    body: Value,
    keep: Option<&OutgoingHookRow>,
) -> Result<
    (
        Vec<(OutgoingHookRow, Option<SecretString>)>,
        Vec<FieldError>,
    ),
    ApiError,
> {
    let read = outgoing_forms::read(body, EVENTS).map_err(ApiError::validation)?;
    if keep.is_some() && read.hooks.len() != 1 {
        return Err(ApiError::validation(vec![FieldError::new(
            "channels",
            "PUT replaces one hook: send one channel",
        )]));
    }
    let mut known = known_names(state, &pipeline.id).await?;
    if read.form == Form::Humanitec {
        known.extend(HUMANITEC_ALIASES.iter().map(|s| s.to_string()));
    }
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for (input, doc) in read.hooks.into_iter().zip(read.docs) {
        let (row, secret, problem) = build(state, pipeline, input, read.form, doc, keep);
        errors.extend(problem);
        errors.extend(validate(&row, &known, state.settings.allow_private_targets));
        rows.push((row, secret));
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    Ok((rows, read.warnings))
}

/// `POST /pipelines/{pl}/hooks/outgoing`: 201 in the form sent.
pub(super) async fn create(
    state: &AppState,
    pipeline: &PipelineRow,
    body: Value,
) -> Result<HttpResponse, ApiError> {
    let (rows, warnings) = rows_of(state, pipeline, body, None).await?;
    let mut outs = Vec::new();
    for (row, secret) in rows {
        state.store.insert_outgoing_hook(&row).await?;
        outs.push(out(row, secret.as_ref().map(|s| s.expose_secret()))?);
    }
    let mut answer = if outs.len() == 1 {
        outs.pop().unwrap_or_default()
    } else {
        mixpeek_many(outs)
    };
    if !warnings.is_empty() {
        answer["warnings"] = json!(warnings);
    }
    Ok(HttpResponse::Created().json(answer))
}

/// `PUT /hooks/{oh}`: replaces the hook with the body (any form); 200 in the form sent.
pub async fn replace(
    state: &AppState,
    auth: &Auth,
    id: &str,
    body: Value,
) -> Result<HttpResponse, ApiError> {
    let old = load(state, auth, id, Role::Member).await?;
    let pipeline = state
        .store
        .get_pipeline(&old.pipeline_id)
        .await?
        .ok_or_else(|| ApiError::not_found("hook"))?;
    let (mut rows, warnings) = rows_of(state, &pipeline, body, Some(&old)).await?;
    let (row, secret) = rows.pop().ok_or_else(|| ApiError::not_found("hook"))?;
    if !state.store.update_outgoing_hook(&row).await? {
        return Err(ApiError::not_found("hook"));
    }
    let mut answer = out(row, secret.as_ref().map(|s| s.expose_secret()))?;
    if !warnings.is_empty() {
        answer["warnings"] = json!(warnings);
    }
    Ok(HttpResponse::Ok().json(answer))
}

/// Several Mixpeek channels created from one body: the body's form, each channel with its hook.
fn mixpeek_many(outs: Vec<Value>) -> Value {
    let mut first = outs.first().cloned().unwrap_or_default();
    let channels: Vec<Value> = outs
        .iter()
        .filter_map(|o| o["channels"].as_array().and_then(|c| c.first()).cloned())
        .collect();
    first["channels"] = Value::Array(channels);
    if let Some(o) = first.as_object_mut() {
        o.remove("id");
        o.remove("secret");
    }
    first
}

/// A hook as read: in the form it was sent in (`plain_secret` only in the answer that sets it).
pub(super) fn out(row: OutgoingHookRow, plain_secret: Option<&str>) -> Result<Value, ApiError> {
    let doc: Value = match &row.request_doc {
        Some(d) => serde_json::from_str(d).map_err(internal)?,
        None => Value::Null,
    };
    let secret = plain_secret.map_or_else(|| mask(&row.secret_last4), str::to_string);
    let headers: Map<String, Value> = serde_json::from_str(&row.headers).map_err(internal)?;
    let payload: Option<Value> = row
        .payload
        .as_deref()
        .map(serde_json::from_str)
        .transpose()
        .map_err(internal)?;
    let common = json!({ "hook_id": row.id, "pipeline_id": row.pipeline_id, "disabled_reason": row.disabled_reason });
    let mut v = match Form::parse(row.request_form.as_deref()) {
        Form::Hookgate => {
            return serde_json::to_value(to_out(row, plain_secret)?).map_err(internal)
        }
        Form::Humanitec => {
            json!({ "id": row.name, "url": row.url, "headers": headers, "payload": payload,
            "triggers": doc["triggers"], "is_active": row.is_active, "secret": secret })
        }
        Form::Mendix => {
            json!({ "id": row.id, "name": row.name, "url": row.url, "eventTypes": doc["eventTypes"],
            "isActive": row.is_active, "validationSecret": secret,
            "headers": headers.iter().map(|(k, v)| json!({ "key": k, "value": v })).collect::<Vec<_>>() })
        }
        Form::Mixpeek => {
            let mut channel = doc["channels"][0].clone();
            channel["id"] = json!(row.id);
            channel["secret"] = json!(secret);
            json!({ "id": row.id, "event_types": doc["event_types"], "channels": [channel],
                "payload_template": doc.get("payload_template"), "timeout": row.timeout_secs,
                "is_active": row.is_active, "secret": secret })
        }
    };
    if let (Some(o), Some(c)) = (v.as_object_mut(), common.as_object()) {
        o.extend(
            c.iter()
                .filter(|(_, x)| !x.is_null())
                .map(|(k, x)| (k.clone(), x.clone())),
        );
    }
    Ok(v)
}

/// Header values may name pipeline secrets (`${secrets.NAME}`) and nothing else.
pub(super) fn check_header_template(value: &str) -> Option<String> {
    match template::names(value) {
        Err(e) => Some(e.to_string()),
        Ok(names) if names.iter().any(|n| !n.starts_with("secrets.")) => {
            Some("headers may use ${secrets.NAME} (a pipeline secret) and nothing else".into())
        }
        Ok(_) => None,
    }
}

/// The checks of the email fields, `payload_template` and `secret_header`.
pub(super) fn check_channel_fields(
    row: &OutgoingHookRow,
    known: &HashSet<String>,
) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let to: Vec<String> = row
        .email_to
        .as_deref()
        .and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or_default();
    if row.channel == "email" {
        if to.is_empty() {
            errors.push(FieldError::new(
                "to",
                "an email hook needs at least one recipient",
            ));
        }
        for (i, a) in to.iter().enumerate() {
            if let Err(e) = email::check_address(a) {
                errors.push(FieldError::new(format!("to[{i}]"), e));
            }
        }
        if row.payload.is_some() || row.payload_template.is_some() {
            errors.push(FieldError::new(
                "payload",
                "email hooks send subject and text",
            ));
        }
    } else {
        if !to.is_empty() {
            errors.push(FieldError::new("to", "is for email hooks"));
        }
        if row.subject_template.is_some() {
            errors.push(FieldError::new("subject", "is for email hooks"));
        }
    }
    // Mail and Slack texts are read by people: no secret may be rendered into them.
    for (field, t) in [
        ("subject", &row.subject_template),
        ("text", &row.text_template),
    ] {
        if let Some(names) = t.as_deref().and_then(|t| template::names(t).ok()) {
            if names.iter().any(|n| n.starts_with("secrets.")) {
                errors.push(FieldError::new(field, "may not use ${secrets.…}"));
            } else if let Some(bad) = names.iter().find(|n| !known.contains(**n)) {
                errors.push(FieldError::new(
                    field,
                    format!("unknown variable ${{{bad}}}"),
                ));
            }
        }
    }
    if let Some(t) = &row.payload_template {
        if row.payload.is_some() {
            errors.push(FieldError::new(
                "payload_template",
                "send payload or payload_template, not both",
            ));
        }
        if row.channel == "slack" {
            errors.push(FieldError::new(
                "payload_template",
                "slack hooks send { \"text\": … }: use text",
            ));
        }
        if let Err(e) = jinja::check(t, known, row.channel == "webhook") {
            errors.push(FieldError::new("payload_template", e));
        }
    }
    if let Some(h) = &row.secret_header {
        match HeaderName::from_bytes(h.as_bytes()) {
            Err(_) => errors.push(FieldError::new(
                "secret_header",
                "is not a valid header name",
            )),
            Ok(n) if RESERVED_HEADERS.contains(&n.as_str()) => {
                errors.push(FieldError::new("secret_header", "is set by hookgate"))
            }
            Ok(_) if row.channel == "email" => errors.push(FieldError::new(
                "secret_header",
                "email hooks send no headers",
            )),
            Ok(_) => {}
        }
    }
    errors
}

/// Applies the PATCH fields of the email channel, `payload_template` and `secret_header`.
pub(super) fn patch_extras(
    row: &mut OutgoingHookRow,
    payload_template: Option<Value>,
    to: Option<Vec<String>>,
    subject: Option<Value>,
    secret_header: Option<Value>,
) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let mut text = |field: &str, v: Option<Value>, slot: &mut Option<String>| match v {
        None => {}
        Some(Value::Null) => *slot = None,
        Some(Value::String(s)) => *slot = Some(s),
        Some(_) => errors.push(FieldError::new(field, "must be a string or null")),
    };
    text(
        "payload_template",
        payload_template,
        &mut row.payload_template,
    );
    text("subject", subject, &mut row.subject_template);
    text("secret_header", secret_header, &mut row.secret_header);
    if let Some(to) = to {
        row.email_to = (!to.is_empty()).then(|| json!(to).to_string());
    }
    errors
}

/// The URL with each `${name}` (a known, non-secret name) replaced by a sample, for the checks
/// made at save time; the real one is rendered, and checked again, at each delivery.
pub(super) fn url_with_samples(url: &str, known: &HashSet<String>) -> Result<String, String> {
    let names = template::names(url).map_err(|e| e.to_string())?;
    if let Some(bad) = names
        .iter()
        .find(|n| n.starts_with("secrets.") || !known.contains(**n))
    {
        return Err(format!("may use the template names, not ${{{bad}}}"));
    }
    let samples: Map<String, Value> = names.iter().map(|n| (n.to_string(), json!("1"))).collect();
    template::render(url, &samples).map_err(|e| e.to_string())
}
