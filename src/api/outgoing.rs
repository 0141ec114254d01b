//! Outgoing hooks (SPEC §6): create (secret shown once), read (masked), change, delete,
//! rotate, and their events and delivery attempts. `GET/PATCH/DELETE /hooks/{id}` and
//! `rotate-secret` are shared with incoming hooks: `hooks.rs` hands `oh_` ids over to here.

use std::collections::HashSet;

use actix_web::{get, post, web, HttpResponse};
use reqwest::header::{HeaderName, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::pipelines::{hook_variable_names, load as load_pipeline, parse_spec};
use super::{AppState, Auth};
use crate::crypto::{last4, mask, MasterKey, SealContext};
use crate::domain::check_name;
use crate::domain::ids::{new_id, IdKind};
use crate::domain::role::Role;
use crate::domain::template;

mod forms;
use crate::domain::time::{now_ms, rfc3339};
use crate::domain::FieldError;
use crate::error::ApiError;
use crate::net_guard::TargetGuard;
use crate::notify::render::{DEFAULT_TRIGGERS, EVENTS, TEMPLATE_NAMES};
use crate::signature::Provider;
use crate::store::{OutgoingEventRow, OutgoingHookRow};
pub use forms::replace;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(create).service(attempts).service(events);
}

/// Default and largest request timeout, seconds.
const DEFAULT_TIMEOUT_SECS: u64 = 10;
const MAX_TIMEOUT_SECS: u64 = 60;
/// Headers hookgate sets itself.
pub(super) const RESERVED_HEADERS: &[&str] = &[
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "content-type",
    "content-length",
    "host",
    "transfer-encoding",
];

pub use crate::domain::outgoing_forms::OutgoingIn;

/// The body of `PATCH /hooks/{oh}`: any subset of the fields of hookgate's form; `payload: null`
/// or `text: null` removes the template. Setting `is_active: true` clears `disabled_reason`.
/// A hook created in a seed's form reads back in hookgate's form after a PATCH.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct OutgoingPatch {
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub name: Option<String>,
    pub channel: Option<String>,
    pub url: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub headers: Option<Map<String, Value>>,
    pub triggers: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Object>)]
    pub payload: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub text: Option<Value>,
    pub timeout_secs: Option<u64>,
    pub is_active: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub payload_template: Option<Value>,
    pub to: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub subject: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub secret_header: Option<Value>,
}

/// Keeps an explicit `null` as `Some(Value::Null)` (absent stays `None`).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// An outgoing hook as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct OutgoingOut {
    pub id: String,
    pub pipeline_id: String,
    pub project_id: String,
    pub name: String,
    pub channel: String,
    pub url: String,
    #[schema(value_type = Object)]
    pub headers: Value,
    pub triggers: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub payload: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// A Jinja2 template rendering the body.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload_template: Option<String>,
    /// `email`: the recipients.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub to: Vec<String>,
    /// `email`: the subject template.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The header that also carries the secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_header: Option<String>,
    pub timeout_secs: i64,
    pub is_active: bool,
    /// Why hookgate switched the hook off (the receiver answered 410).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
    /// The Standard Webhooks signing secret (`whsec_…`): plain text in the answer that creates
    /// or rotates it; `••••abcd` ever after.
    pub secret: String,
    /// During a rotation's grace period: until when requests are also signed with the previous secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_secret_expires_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    /// `apply` when `hookgate apply` created it (so `apply --prune` may delete it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub managed_by: Option<&'static str>,
}

/// One delivery attempt.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptOut {
    pub event_id: String,
    pub event: String,
    pub attempt: i64,
    pub status_code: Option<i64>,
    pub latency_ms: i64,
    pub error: Option<String>,
    pub at: String,
    /// `at` in Unix milliseconds.
    pub at_ms: i64,
}

/// One event and where its delivery stands.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventOut {
    pub id: String,
    pub event: String,
    pub run_id: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    pub attempts: i64,
    pub occurred_at: String,
    /// When a pending event is tried next.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptList {
    pub items: Vec<AttemptOut>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventList {
    pub items: Vec<EventOut>,
}

#[derive(Deserialize)]
pub struct LimitQuery {
    pub limit: Option<i64>,
}

fn internal(e: impl Into<anyhow::Error>) -> ApiError {
    ApiError::internal(e.into())
}

pub fn to_out(row: OutgoingHookRow, plain_secret: Option<&str>) -> Result<OutgoingOut, ApiError> {
    Ok(OutgoingOut {
        headers: serde_json::from_str(&row.headers).map_err(internal)?,
        triggers: serde_json::from_str(&row.triggers).map_err(internal)?,
        payload: row
            .payload
            .as_deref()
            .map(serde_json::from_str)
            .transpose()
            .map_err(internal)?,
        secret: plain_secret
            .map(str::to_string)
            .unwrap_or_else(|| mask(&row.secret_last4)),
        text: row.text_template,
        payload_template: row.payload_template,
        to: row
            .email_to
            .as_deref()
            .map(serde_json::from_str)
            .transpose()
            .map_err(internal)?
            .unwrap_or_default(),
        subject: row.subject_template,
        secret_header: row.secret_header,
        previous_secret_expires_at: row
            .prev_secret_expires_at
            .filter(|t| *t > now_ms())
            .map(rfc3339),
        id: row.id,
        pipeline_id: row.pipeline_id,
        project_id: row.project_id,
        name: row.name,
        channel: row.channel,
        url: row.url,
        timeout_secs: row.timeout_secs,
        is_active: row.is_active,
        disabled_reason: row.disabled_reason,
        created_at: rfc3339(row.created_at),
        updated_at: rfc3339(row.updated_at),
        managed_by: None,
    })
}

/// Loads an outgoing hook the caller may act on with `needed`, or answers 404/403.
pub async fn load(
    state: &AppState,
    auth: &Auth,
    id: &str,
    needed: Role,
) -> Result<OutgoingHookRow, ApiError> {
    let row = state
        .store
        .get_outgoing_hook(id)
        .await?
        .ok_or_else(|| ApiError::not_found("hook"))?;
    auth.require(&row.project_id, needed, "hook")?;
    Ok(row)
}

/// The names an outgoing template of this pipeline may use.
pub(super) async fn known_names(
    state: &AppState,
    pipeline_id: &str,
) -> Result<HashSet<String>, ApiError> {
    let declared = match state.store.get_pipeline(pipeline_id).await? {
        Some(p) => parse_spec(&p)?
            .variables
            .into_iter()
            .map(|v| v.name)
            .collect(),
        None => Vec::new(),
    };
    let hooks = hook_variable_names(state.store.as_ref(), pipeline_id).await?;
    Ok(template_names(declared, hooks))
}

/// The names an outgoing template may use: the event's own names, the pipeline's declared
/// variables and the variables its incoming hooks declare.
pub fn template_names(
    pipeline_variables: impl IntoIterator<Item = String>,
    hook_variables: impl IntoIterator<Item = String>,
) -> HashSet<String> {
    let mut known: HashSet<String> = TEMPLATE_NAMES.iter().map(|s| s.to_string()).collect();
    known.extend(pipeline_variables);
    known.extend(hook_variables);
    known
}

/// Checks a whole hook row; every problem is named.
pub fn validate(
    row: &OutgoingHookRow,
    known: &HashSet<String>,
    allow_private: bool,
) -> Vec<FieldError> {
    let mut errors: Vec<FieldError> = check_name("name", &row.name).err().into_iter().collect();
    if !matches!(row.channel.as_str(), "webhook" | "slack" | "email") {
        errors.push(FieldError::new(
            "channel",
            "must be webhook, slack or email",
        ));
    }
    if row.channel == "email" {
        if !row.url.is_empty() {
            errors.push(FieldError::new("url", "email hooks send mail: use to"));
        }
    } else {
        match forms::url_with_samples(&row.url, known) {
            Err(problem) => errors.push(FieldError::new("url", problem)),
            Ok(url) => {
                if let Err(e) = (TargetGuard { allow_private }).check_url(&url) {
                    errors.push(FieldError::new("url", e.to_string()));
                }
            }
        }
    }
    errors.extend(forms::check_channel_fields(row, known));
    if !(1..=MAX_TIMEOUT_SECS as i64).contains(&row.timeout_secs) {
        errors.push(FieldError::new(
            "timeout_secs",
            format!("must be 1 to {MAX_TIMEOUT_SECS}"),
        ));
    }
    let headers: Map<String, Value> = serde_json::from_str(&row.headers).unwrap_or_default();
    for (k, v) in &headers {
        let field = format!("headers.{k}");
        match (HeaderName::from_bytes(k.as_bytes()), v.as_str()) {
            (Err(_), _) => errors.push(FieldError::new(field, "is not a valid header name")),
            (_, None) => errors.push(FieldError::new(field, "must be a string")),
            (Ok(name), Some(value)) => {
                if RESERVED_HEADERS.contains(&name.as_str()) {
                    errors.push(FieldError::new(field, "is set by hookgate"));
                } else if HeaderValue::from_str(value).is_err() {
                    errors.push(FieldError::new(field, "is not a valid header value"));
                } else if let Some(problem) = forms::check_header_template(value) {
                    errors.push(FieldError::new(field, problem));
                }
            }
        }
    }
    let triggers: Vec<String> = serde_json::from_str(&row.triggers).unwrap_or_default();
    // Mendix's own event names are kept with a warning, not as triggers: a Mendix hook may
    // end up with none.
    let triggers_optional = row.request_form.as_deref() == Some("mendix");
    if triggers.is_empty() && !triggers_optional {
        errors.push(FieldError::new("triggers", "name at least one event"));
    }
    let unknown: Vec<&str> = triggers
        .iter()
        .map(String::as_str)
        .filter(|t| !EVENTS.contains(t))
        .collect();

    if !unknown.is_empty() {
        errors.push(FieldError::new(
            "triggers",
            format!(
                "unknown event(s) {}; known: {}",
                unknown.join(", "),
                EVENTS.join(", ")
            ),
        ));
    }
    let check_names = |field: &str, names: Result<Vec<String>, template::TemplateError>| match names
    {
        Err(e) => Some(FieldError::new(field, e.to_string())),
        Ok(names) => {
            let mut bad: Vec<String> = names.into_iter().filter(|n| !known.contains(n)).collect();
            bad.dedup();
            (!bad.is_empty()).then(|| {
                    FieldError::new(
                        field,
                        format!(
                            "unknown variable(s) {}: use {}, the pipeline's variables or its hooks' variables",
                            bad.iter().map(|n| format!("${{{n}}}")).collect::<Vec<_>>().join(", "),
                            TEMPLATE_NAMES.join(", ")
                        ),
                    )
                })
        }
    };
    if let Some(p) = &row.payload {
        if row.channel == "slack" {
            errors.push(FieldError::new(
                "payload",
                "slack hooks send { \"text\": … }: use text",
            ));
        }
        let value: Value = serde_json::from_str(p).unwrap_or_default();
        let mut names = Vec::new();
        errors.extend(check_names(
            "payload",
            template::names_in_json(&value, &mut names).map(|_| names),
        ));
    }
    if let Some(t) = &row.text_template {
        if row.channel == "webhook" {
            errors.push(FieldError::new(
                "text",
                "only slack and email hooks take text; use payload",
            ));
        }
        errors.extend(check_names(
            "text",
            template::names(t).map(|n| n.into_iter().map(str::to_string).collect()),
        ));
    }
    errors
}

/// A fresh Standard Webhooks signing secret (`whsec_…`).
pub fn generate_secret() -> SecretString {
    SecretString::from(Provider::StandardWebhooks.generate_secret())
}

impl OutgoingIn {
    /// A new hook row for this request on the pipeline `pipeline_id` of `project_id`, with
    /// `secret` sealed. Check it with [`validate`] before storing it.
    pub fn new_row(
        self,
        key: &MasterKey,
        pipeline_id: &str,
        project_id: &str,
        secret: &SecretString,
        now: i64,
    ) -> OutgoingHookRow {
        let id = new_id(IdKind::OutgoingHook);
        OutgoingHookRow {
            secret_ct: key.seal(
                &SealContext::OutgoingHook(&id),
                secret.expose_secret().as_bytes(),
            ),
            secret_last4: last4(secret.expose_secret()),
            id,
            pipeline_id: pipeline_id.to_string(),
            project_id: project_id.to_string(),
            name: self.name.trim().to_string(),
            channel: self.channel.unwrap_or_else(|| "webhook".into()),
            url: self.url.trim().to_string(),
            headers: Value::Object(self.headers).to_string(),
            triggers: triggers_json(self.triggers),
            payload: self.payload.map(|p| p.to_string()),
            text_template: self.text,
            timeout_secs: self
                .timeout_secs
                .unwrap_or(DEFAULT_TIMEOUT_SECS)
                .min(i64::MAX as u64) as i64,
            is_active: self.is_active,
            disabled_reason: None,
            prev_secret_ct: None,
            prev_secret_expires_at: None,
            created_at: now,
            updated_at: now,
            email_to: (!self.to.is_empty()).then(|| Value::from(self.to).to_string()),
            subject_template: self.subject,
            payload_template: self.payload_template,
            secret_header: self.secret_header,
            request_form: None,
            request_doc: None,
        }
    }
}

pub(super) fn triggers_json(triggers: Option<Vec<String>>) -> String {
    let mut list =
        triggers.unwrap_or_else(|| DEFAULT_TRIGGERS.iter().map(|s| s.to_string()).collect());
    let mut seen = HashSet::new();
    list.retain(|t| seen.insert(t.clone()));
    serde_json::to_string(&list).unwrap_or_else(|_| "[]".into())
}

/// Create an outgoing hook (member), in hookgate's form or as the Humanitec, Mendix or Mixpeek
/// request body (one hook per Mixpeek channel); the answer is in the form sent and holds the
/// plain signing `secret`, the only time.
#[utoipa::path(post, path = "/api/v1/pipelines/{pl}/hooks/outgoing", tag = "hooks", request_body = OutgoingIn,
    params(("pl" = String, Path, description = "pipeline id")),
    responses((status = 201, body = OutgoingOut, description = "created; in the form the body was sent in"),
        (status = 400, body = crate::error::ErrorBody), (status = 401, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody),
        (status = 413, body = crate::error::ErrorBody), (status = 415, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody, description = "a bad field, an unknown field, or forms mixed"),
        (status = 503, body = crate::error::ErrorBody)))]
#[post("/pipelines/{pl}/hooks/outgoing")]
pub async fn create(
    state: web::Data<AppState>,
    auth: Auth,
    path: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let pipeline = load_pipeline(&state, &auth, &path, Role::Member).await?;
    forms::create(&state, &pipeline, body.into_inner()).await
}

/// `GET /hooks/{oh}`.
pub async fn get_one(state: &AppState, auth: &Auth, id: &str) -> Result<HttpResponse, ApiError> {
    let row = load(state, auth, id, Role::Viewer).await?;
    let managed = crate::apply::managed_by(state.store.as_ref(), &row.project_id).await?;
    let id = row.id.clone();
    let mut out = forms::out(row, None)?;
    if let (Some(m), Some(obj)) = (managed(&id), out.as_object_mut()) {
        obj.insert("managed_by".into(), Value::from(m));
    }
    Ok(HttpResponse::Ok().json(out))
}

/// `PATCH /hooks/{oh}`.
pub async fn update(
    state: &AppState,
    auth: &Auth,
    id: &str,
    body: Value,
) -> Result<HttpResponse, ApiError> {
    let mut row = load(state, auth, id, Role::Member).await?;
    let p: OutgoingPatch = super::extract::from_value(body)?;
    // PATCH speaks hookgate's form: a hook sent in a seed's form reads back in hookgate's from
    // now on (PUT keeps a form).
    row.request_form = None;
    row.request_doc = None;
    let mut errors = Vec::new();
    if let Some(name) = p.name {
        row.name = name.trim().to_string();
    }
    row.channel = p.channel.unwrap_or(row.channel);
    if let Some(url) = p.url {
        row.url = url.trim().to_string();
    }
    if let Some(h) = p.headers {
        row.headers = Value::Object(h).to_string();
    }
    if let Some(t) = p.triggers {
        row.triggers = triggers_json(Some(t));
    }
    match p.payload {
        None => {}
        Some(Value::Null) => row.payload = None,
        Some(v) => row.payload = Some(v.to_string()),
    }
    match p.text {
        None => {}
        Some(Value::Null) => row.text_template = None,
        Some(Value::String(s)) => row.text_template = Some(s),
        Some(_) => errors.push(FieldError::new("text", "must be a string or null")),
    }
    if let Some(t) = p.timeout_secs {
        row.timeout_secs = t.min(i64::MAX as u64) as i64;
    }
    if let Some(active) = p.is_active {
        row.is_active = active;
        if active {
            row.disabled_reason = None;
        }
    }
    errors.extend(forms::patch_extras(
        &mut row,
        p.payload_template,
        p.to,
        p.subject,
        p.secret_header,
    ));
    errors.extend(validate(
        &row,
        &known_names(state, &row.pipeline_id).await?,
        state.settings.allow_private_targets,
    ));
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    row.updated_at = now_ms();
    if !state.store.update_outgoing_hook(&row).await? {
        return Err(ApiError::not_found("hook"));
    }
    Ok(HttpResponse::Ok().json(to_out(row, None)?))
}

/// `DELETE /hooks/{oh}`: its pending events go with it.
pub async fn remove(state: &AppState, auth: &Auth, id: &str) -> Result<HttpResponse, ApiError> {
    let row = load(state, auth, id, Role::Member).await?;
    state.store.delete_outgoing_hook(&row.id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `POST /hooks/{oh}/rotate-secret`: a new `whsec_` secret (generated, or `secret` if given),
/// shown once. For `grace_period_secs` (default 86400, at most 30 days; 0 ends it now) requests
/// carry a second signature made with the previous secret.
pub async fn rotate(
    state: &AppState,
    auth: &Auth,
    id: &str,
    supplied: Option<SecretString>,
    grace_secs: Option<u64>,
) -> Result<HttpResponse, ApiError> {
    let mut row = load(state, auth, id, Role::Member).await?;
    let secret = match supplied {
        None => generate_secret(),
        Some(s) => {
            let usable = s.expose_secret().starts_with("whsec_")
                && crate::notify::deliver::signature_headers(s.expose_secret(), "x", b"", 0)
                    .iter()
                    .any(|(k, _)| k == "webhook-signature");
            if !usable {
                return Err(ApiError::validation(vec![FieldError::new(
                    "secret",
                    "must be a Standard Webhooks secret: whsec_ followed by base64",
                )]));
            }
            s
        }
    };
    let now = now_ms();
    let rotated = crate::crypto::rotate(
        &state.key,
        &SealContext::OutgoingHook(&row.id),
        std::mem::take(&mut row.secret_ct),
        &secret,
        grace_secs,
        now,
    )
    .map_err(|e| ApiError::validation(vec![FieldError::new("grace_period_secs", e.to_string())]))?;
    row.secret_ct = rotated.secret_ct;
    row.secret_last4 = rotated.secret_last4;
    row.prev_secret_ct = rotated.prev_secret_ct;
    row.prev_secret_expires_at = rotated.prev_secret_expires_at;
    row.updated_at = now;
    if !state.store.update_outgoing_hook(&row).await? {
        return Err(ApiError::not_found("hook"));
    }
    Ok(HttpResponse::Ok().json(to_out(row, Some(secret.expose_secret()))?))
}

fn limit_of(q: &LimitQuery) -> Result<i64, ApiError> {
    match q.limit {
        None => Ok(100),
        Some(n) if (1..=500).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::validation(vec![FieldError::new(
            "limit",
            "must be 1 to 500",
        )])),
    }
}

/// An outgoing hook's delivery attempts, newest first (`limit`, default 100, at most 500).
#[utoipa::path(get, path = "/api/v1/hooks/{oh}/attempts", tag = "hooks", params(("limit" = Option<i64>, Query)),
    responses((status = 200, body = AttemptList), (status = 404, body = crate::error::ErrorBody)))]
#[get("/hooks/{oh}/attempts")]
pub async fn attempts(
    state: web::Data<AppState>,
    auth: Auth,
    path: web::Path<String>,
    query: web::Query<LimitQuery>,
) -> Result<HttpResponse, ApiError> {
    let row = load(&state, &auth, &path, Role::Viewer).await?;
    let rows = state
        .store
        .list_attempts(&row.id, limit_of(&query)?)
        .await?;
    let items = rows
        .into_iter()
        .map(|v| AttemptOut {
            event_id: v.attempt.event_id,
            event: v.event,
            attempt: v.attempt.attempt,
            status_code: v.attempt.status_code,
            latency_ms: v.attempt.latency_ms,
            error: v.attempt.error,
            at: rfc3339(v.attempt.at),
            at_ms: v.attempt.at,
        })
        .collect();
    Ok(HttpResponse::Ok().json(AttemptList { items }))
}

fn event_out(e: OutgoingEventRow) -> EventOut {
    EventOut {
        next_attempt_at: (e.status == "pending").then(|| rfc3339(e.next_attempt_at)),
        finished_at: e.finished_at.map(rfc3339),
        occurred_at: rfc3339(e.occurred_at),
        id: e.id,
        event: e.event,
        run_id: e.run_id,
        status: e.status,
        attempts: e.attempts,
        last_error: e.last_error,
    }
}

/// An outgoing hook's events and their delivery status, newest first.
#[utoipa::path(get, path = "/api/v1/hooks/{oh}/events", tag = "hooks", params(("limit" = Option<i64>, Query)),
    responses((status = 200, body = EventList), (status = 404, body = crate::error::ErrorBody)))]
#[get("/hooks/{oh}/events")]
pub async fn events(
    state: web::Data<AppState>,
    auth: Auth,
    path: web::Path<String>,
    query: web::Query<LimitQuery>,
) -> Result<HttpResponse, ApiError> {
    let row = load(&state, &auth, &path, Role::Viewer).await?;
    let rows = state.store.list_events(&row.id, limit_of(&query)?).await?;
    Ok(HttpResponse::Ok().json(EventList {
        items: rows.into_iter().map(event_out).collect(),
    }))
}
