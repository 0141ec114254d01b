//! Incoming hooks: create (secret shown once), read (masked), change, delete, rotate, list.

use actix_web::{delete, get, patch, post, web, HttpResponse};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::pipelines::load as load_pipeline;
use super::{AppState, Auth};
use crate::crypto::{mask, rotate as rotate_secret, SealContext};
use crate::domain::check_name;
use crate::domain::hook::{check_supplied_secret, HookConfig, HookSettings};
use crate::domain::role::Role;
use crate::domain::time::{now_ms, rfc3339};
use crate::domain::FieldError;
use crate::error::ApiError;
use crate::signature::Provider;
use crate::store::HookRow;

pub use super::hook_draft::HookDraft;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(create)
        .service(list)
        .service(get_one)
        .service(update)
        .service(replace)
        .service(remove)
        .service(rotate);
}

fn yes() -> bool {
    true
}

/// The body of `POST /pipelines/{pl}/hooks/incoming`: the Devopness request plus extensions.
/// Unknown fields are refused (422 naming the field and the closest known one): a typo such as
/// `filter` for `filters` must never turn a rule off.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HookIn {
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub name: String,
    /// `generic` (default), `github`, `gitlab`, `bitbucket`, `gitea`, `stripe`, `shopify`, `slack`, `paddle`, `standard-webhooks`.
    #[serde(default)]
    pub provider: Option<String>,
    #[serde(default = "yes")]
    pub requires_secret: bool,
    #[serde(default)]
    pub secret_algorithm: Option<String>,
    #[serde(default)]
    pub secret_header_name: Option<String>,
    /// The provider's own secret (Stripe, Shopify, Slack, Paddle); generated when absent.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub secret: Option<SecretString>,
    #[serde(default)]
    pub action_type: Option<String>,
    #[serde(default = "yes")]
    pub is_active: bool,
    #[serde(default)]
    pub settings: HookSettings,
    #[serde(default)]
    pub tolerance_secs: Option<u64>,
    #[serde(default)]
    pub accept_legacy_sha1: bool,
    /// The header holding the sender's delivery id (dedup); the preset's by default.
    #[serde(default)]
    pub delivery_id_header: Option<String>,
    /// Verified deliveries accepted per minute; more answer 429.
    #[serde(default)]
    pub rate_limit_per_minute: Option<u32>,
    /// Networks requests may come from (`192.30.252.0/22`, `2001:db8::/32`); others get 403
    /// `ip_not_allowed` before the signature is checked. Empty or absent: any address.
    #[serde(default)]
    pub allowed_ips: Vec<String>,
}

/// The body of `PATCH /hooks/{hk}`: any subset of the fields.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct HookPatch {
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub name: Option<String>,
    pub provider: Option<String>,
    pub requires_secret: Option<bool>,
    pub secret_algorithm: Option<String>,
    pub secret_header_name: Option<String>,
    pub action_type: Option<String>,
    pub is_active: Option<bool>,
    pub settings: Option<HookSettings>,
    pub tolerance_secs: Option<u64>,
    pub accept_legacy_sha1: Option<bool>,
    pub delivery_id_header: Option<String>,
    pub rate_limit_per_minute: Option<u32>,
    pub allowed_ips: Option<Vec<String>>,
}

/// The body of `POST /hooks/{hk}/rotate-secret`.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct RotateIn {
    /// The new secret; generated when absent.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub secret: Option<SecretString>,
    /// How long the old secret still verifies (default 86400; 0 ends it now).
    #[serde(default)]
    pub grace_period_secs: Option<u64>,
}

/// An incoming hook as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct HookOut {
    pub id: String,
    pub pipeline_id: String,
    pub project_id: String,
    pub name: String,
    pub provider: String,
    /// Where the provider sends its requests.
    pub url: String,
    pub is_active: bool,
    /// Plain text in the answer that creates or rotates it; `••••abcd` ever after.
    pub secret: String,
    /// The hook's settings (`HookConfig`); a preset hook leaves out `secret_algorithm` and
    /// `secret_header_name`, which only `generic` uses.
    #[serde(flatten)]
    #[schema(value_type = HookConfig)]
    pub config: serde_json::Map<String, serde_json::Value>,
    /// When the previous secret stops verifying, during a rotation's grace period.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_secret_expires_at: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
    /// `apply` when `hookgate apply` created it (so `apply --prune` may delete it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub managed_by: Option<&'static str>,
}

/// A pipeline's hooks.
#[derive(Debug, Serialize, ToSchema)]
pub struct PipelineHooks {
    pub incoming: Vec<HookOut>,
    pub outgoing: Vec<super::outgoing::OutgoingOut>,
}

/// Outgoing hook ids (`oh_…`) are served by `outgoing.rs` on the same `/hooks/{id}` routes.
fn is_outgoing(id: &str) -> bool {
    id.starts_with(crate::domain::ids::IdKind::OutgoingHook.prefix())
}

fn config_of(row: &HookRow) -> Result<HookConfig, ApiError> {
    serde_json::from_str(&row.config)
        .map_err(|e| ApiError::internal(anyhow::Error::new(e).context("stored hook config")))
}

/// The settings as a hook reads back: only those that apply to its provider.
fn shown_config(
    config: &HookConfig,
    provider: &str,
) -> Result<serde_json::Map<String, serde_json::Value>, ApiError> {
    let mut shown = match serde_json::to_value(config) {
        Ok(serde_json::Value::Object(m)) => m,
        _ => {
            return Err(ApiError::internal(anyhow::anyhow!(
                "hook config is not an object"
            )))
        }
    };
    if Provider::parse(provider).is_some_and(|p| p != Provider::Generic) {
        shown.remove("secret_algorithm");
        shown.remove("secret_header_name");
    }
    Ok(shown)
}

/// Template uses of the hook's pipeline that the hook leaves unset (empty when the pipeline
/// cannot be read: warnings never fail a request).
fn pipeline_warnings(pipeline: &crate::store::PipelineRow, config: &HookConfig) -> Vec<String> {
    let declared: Vec<&str> = config
        .settings
        .variables
        .iter()
        .map(|v| v.name.as_str())
        .collect();
    super::pipelines::parse_spec(pipeline)
        .map(|spec| spec.hook_warnings(&declared))
        .unwrap_or_default()
}

fn to_out(state: &AppState, row: HookRow, plain_secret: Option<&str>) -> Result<HookOut, ApiError> {
    let config = config_of(&row)?;
    let now = now_ms();
    Ok(HookOut {
        url: hook_url(&state.settings.public_url, &row.id),
        secret: plain_secret
            .map(str::to_string)
            .unwrap_or_else(|| mask(&row.secret_last4)),
        previous_secret_expires_at: row.prev_secret_expires_at.filter(|t| *t > now).map(rfc3339),
        warnings: config.warnings(),
        config: shown_config(&config, &row.provider)?,
        id: row.id,
        pipeline_id: row.pipeline_id,
        project_id: row.project_id,
        name: row.name,
        provider: row.provider,
        is_active: row.is_active,
        created_at: rfc3339(row.created_at),
        updated_at: rfc3339(row.updated_at),
        managed_by: None,
    })
}

/// The incoming hook `id` when `auth` holds `needed` in its project; another project's hook is
/// answered 404, like a missing one.
pub(super) async fn load(
    state: &AppState,
    auth: &Auth,
    id: &str,
    needed: Role,
) -> Result<HookRow, ApiError> {
    let row = state
        .store
        .get_hook(id)
        .await?
        .ok_or_else(|| ApiError::not_found("hook"))?;
    auth.require(&row.project_id, needed, "hook")?;
    Ok(row)
}

fn new_secret(
    provider: &str,
    supplied: Option<SecretString>,
    field: &str,
) -> Result<SecretString, Vec<FieldError>> {
    match supplied {
        Some(s) => check_supplied_secret(field, s.expose_secret())
            .map(|_| s)
            .map_err(|e| vec![e]),
        None => Ok(generate_secret(provider)),
    }
}

/// A fresh secret in the provider's own form.
pub fn generate_secret(provider: &str) -> SecretString {
    SecretString::from(
        Provider::parse(provider)
            .unwrap_or(Provider::Generic)
            .generate_secret(),
    )
}

/// The URL a provider sends a hook's requests to.
pub fn hook_url(public_url: &str, hook_id: &str) -> String {
    format!("{public_url}/hooks/{hook_id}")
}

/// Create an incoming hook (member). The answer holds `url` and the plain `secret`, the only time.
#[utoipa::path(post, path = "/api/v1/pipelines/{pl}/hooks/incoming", tag = "hooks", request_body = HookIn,
    responses((status = 201, body = HookOut),
        (status = 400, body = crate::error::ErrorBody), (status = 401, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody),
        (status = 413, body = crate::error::ErrorBody), (status = 415, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody), (status = 503, body = crate::error::ErrorBody)))]
#[post("/pipelines/{pl}/hooks/incoming")]
pub async fn create(
    state: web::Data<AppState>,
    auth: Auth,
    path: web::Path<String>,
    body: super::extract::Json<HookIn>,
) -> Result<HttpResponse, ApiError> {
    let pipeline = load_pipeline(&state, &auth, &path, Role::Member).await?;
    let mut draft = body
        .into_inner()
        .into_draft()
        .map_err(ApiError::validation)?;
    let secret = draft
        .secret
        .take()
        .unwrap_or_else(|| generate_secret(&draft.provider));
    let row = draft.new_row(
        &state.key,
        &pipeline.id,
        &pipeline.project_id,
        &secret,
        now_ms(),
    )?;
    let warnings = pipeline_warnings(&pipeline, &draft.config);
    state.store.insert_hook(&row).await?;
    let mut out = to_out(&state, row, Some(secret.expose_secret()))?;
    out.warnings.extend(warnings);
    Ok(HttpResponse::Created().json(out))
}

/// List a pipeline's hooks, secrets masked.
#[utoipa::path(get, path = "/api/v1/pipelines/{pl}/hooks", tag = "hooks",
    responses((status = 200, body = PipelineHooks), (status = 401, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody), (status = 503, body = crate::error::ErrorBody)))]
#[get("/pipelines/{pl}/hooks")]
pub async fn list(
    state: web::Data<AppState>,
    auth: Auth,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let pipeline = load_pipeline(&state, &auth, &path, Role::Viewer).await?;
    let rows = state.store.list_hooks(&pipeline.id).await?;
    let managed = crate::apply::managed_by(state.store.as_ref(), &pipeline.project_id).await?;
    let incoming = rows
        .into_iter()
        .map(|r| {
            let mut out = to_out(&state, r, None)?;
            out.managed_by = managed(&out.id);
            Ok(out)
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    let outgoing = state
        .store
        .list_outgoing_hooks(&pipeline.id)
        .await?
        .into_iter()
        .map(|r| {
            let mut out = super::outgoing::to_out(r, None)?;
            out.managed_by = managed(&out.id);
            Ok(out)
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    Ok(HttpResponse::Ok().json(PipelineHooks { incoming, outgoing }))
}

/// Read a hook (incoming `hk_…` or outgoing `oh_…`), secret masked.
#[utoipa::path(get, path = "/api/v1/hooks/{hk}", tag = "hooks",
    responses((status = 200, body = HookOut), (status = 401, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody), (status = 503, body = crate::error::ErrorBody)))]
#[get("/hooks/{hk}")]
pub async fn get_one(
    state: web::Data<AppState>,
    auth: Auth,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    if is_outgoing(&path) {
        return super::outgoing::get_one(&state, &auth, &path).await;
    }
    let row = load(&state, &auth, &path, Role::Viewer).await?;
    let managed = crate::apply::managed_by(state.store.as_ref(), &row.project_id).await?;
    let mut out = to_out(&state, row, None)?;
    out.managed_by = managed(&out.id);
    Ok(HttpResponse::Ok().json(out))
}

/// Replace an outgoing hook (member) with a body in any of the forms
/// `POST /pipelines/{pl}/hooks/outgoing` takes; answers 200 in the form sent. Incoming hooks
/// change with PATCH.
#[utoipa::path(put, path = "/api/v1/hooks/{hk}", tag = "hooks", request_body = super::outgoing::OutgoingIn,
    params(("hk" = String, Path, description = "an outgoing hook id (oh_…)")),
    responses((status = 200, body = super::outgoing::OutgoingOut, description = "replaced; in the form the body was sent in"),
        (status = 400, body = crate::error::ErrorBody), (status = 401, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody),
        (status = 405, body = crate::error::ErrorBody, description = "an incoming hook: use PATCH"),
        (status = 413, body = crate::error::ErrorBody), (status = 415, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody), (status = 503, body = crate::error::ErrorBody)))]
#[actix_web::put("/hooks/{hk}")]
pub async fn replace(
    state: web::Data<AppState>,
    auth: Auth,
    path: web::Path<String>,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    if is_outgoing(&path) {
        return super::outgoing::replace(&state, &auth, &path, body.into_inner()).await;
    }
    load(&state, &auth, &path, Role::Viewer).await?;
    Err(ApiError::new(
        actix_web::http::StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "incoming hooks change with PATCH /hooks/{hk}",
    ))
}

/// Change a hook (member), including `is_active`. An outgoing hook (`oh_…`) takes an
/// `OutgoingPatch`.
#[utoipa::path(patch, path = "/api/v1/hooks/{hk}", tag = "hooks", request_body = HookPatch,
    responses((status = 200, body = HookOut),
        (status = 400, body = crate::error::ErrorBody), (status = 401, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody),
        (status = 413, body = crate::error::ErrorBody), (status = 415, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody), (status = 503, body = crate::error::ErrorBody)))]
#[patch("/hooks/{hk}")]
pub async fn update(
    state: web::Data<AppState>,
    auth: Auth,
    path: web::Path<String>,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    if is_outgoing(&path) {
        return super::outgoing::update(&state, &auth, &path, body.into_inner()).await;
    }
    let mut row = load(&state, &auth, &path, Role::Member).await?;
    let mut config = config_of(&row)?;
    let p: HookPatch = super::extract::from_value(body.into_inner())?;
    let mut errors = Vec::new();
    if let Some(name) = p.name {
        errors.extend(check_name("name", &name).err());
        row.name = name.trim().to_string();
    }
    row.provider = p.provider.unwrap_or(row.provider);
    row.is_active = p.is_active.unwrap_or(row.is_active);
    config.requires_secret = p.requires_secret.unwrap_or(config.requires_secret);
    config.secret_algorithm = p.secret_algorithm.unwrap_or(config.secret_algorithm);
    config.secret_header_name = p.secret_header_name.unwrap_or(config.secret_header_name);
    config.action_type = p.action_type.unwrap_or(config.action_type);
    config.settings = p.settings.unwrap_or(config.settings);
    config.tolerance_secs = p.tolerance_secs.or(config.tolerance_secs);
    config.accept_legacy_sha1 = p.accept_legacy_sha1.unwrap_or(config.accept_legacy_sha1);
    config.delivery_id_header = p.delivery_id_header.or(config.delivery_id_header);
    config.rate_limit_per_minute = p.rate_limit_per_minute.or(config.rate_limit_per_minute);
    config.allowed_ips = p.allowed_ips.unwrap_or(config.allowed_ips);
    if let Err(e) = config.compile(&row.provider) {
        errors.extend(e);
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    row.config = serde_json::to_string(&config).map_err(|e| ApiError::internal(e.into()))?;
    row.updated_at = now_ms();
    if !state.store.update_hook(&row).await? {
        return Err(ApiError::not_found("hook"));
    }
    let warnings = match state.store.get_pipeline(&row.pipeline_id).await? {
        Some(pipeline) => pipeline_warnings(&pipeline, &config),
        None => Vec::new(),
    };
    let mut out = to_out(&state, row, None)?;
    out.warnings.extend(warnings);
    Ok(HttpResponse::Ok().json(out))
}

/// Delete a hook (member); its URL answers 404 from then on.
#[utoipa::path(delete, path = "/api/v1/hooks/{hk}", tag = "hooks",
    responses((status = 204), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody), (status = 503, body = crate::error::ErrorBody)))]
#[delete("/hooks/{hk}")]
pub async fn remove(
    state: web::Data<AppState>,
    auth: Auth,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    if is_outgoing(&path) {
        return super::outgoing::remove(&state, &auth, &path).await;
    }
    let row = load(&state, &auth, &path, Role::Member).await?;
    state.store.delete_hook(&row.id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Rotate a hook's secret (member). The new secret is shown once; the old one still verifies
/// for `grace_period_secs`.
#[utoipa::path(post, path = "/api/v1/hooks/{hk}/rotate-secret", tag = "hooks", request_body = RotateIn,
    responses((status = 200, body = HookOut),
        (status = 400, body = crate::error::ErrorBody), (status = 401, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody),
        (status = 413, body = crate::error::ErrorBody), (status = 415, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody), (status = 503, body = crate::error::ErrorBody)))]
#[post("/hooks/{hk}/rotate-secret")]
pub async fn rotate(
    state: web::Data<AppState>,
    auth: Auth,
    path: web::Path<String>,
    body: super::extract::OptionalJson<RotateIn>,
) -> Result<HttpResponse, ApiError> {
    let body = body.0;
    if is_outgoing(&path) {
        return super::outgoing::rotate(&state, &auth, &path, body.secret, body.grace_period_secs)
            .await;
    }
    let mut row = load(&state, &auth, &path, Role::Member).await?;
    let secret = new_secret(&row.provider, body.secret, "secret").map_err(ApiError::validation)?;
    let now = now_ms();
    let rotated = rotate_secret(
        &state.key,
        &SealContext::IncomingHook(&row.id),
        std::mem::take(&mut row.secret_ct),
        &secret,
        body.grace_period_secs,
        now,
    )
    .map_err(|e| ApiError::validation(vec![FieldError::new("grace_period_secs", e.to_string())]))?;
    row.secret_ct = rotated.secret_ct;
    row.secret_last4 = rotated.secret_last4;
    row.prev_secret_ct = rotated.prev_secret_ct;
    row.prev_secret_expires_at = rotated.prev_secret_expires_at;
    row.updated_at = now;
    if !state.store.update_hook(&row).await? {
        return Err(ApiError::not_found("hook"));
    }
    Ok(HttpResponse::Ok().json(to_out(&state, row, Some(secret.expose_secret()))?))
}
