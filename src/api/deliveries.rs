//! The request log: a hook's deliveries, one delivery in full, and replay.

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpResponse};
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::{page, AppState, Auth};
use crate::domain::delivery::Verification;
use crate::domain::ids::{new_id, IdKind};
use crate::domain::role::Role;
use crate::domain::time::{now_ms, rfc3339};
use crate::error::ApiError;
use crate::ingest::accept::Facts;
use crate::ingest::handler::{accept_and_answer, Incoming, IngestState};
use crate::store::DeliveryRow;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(list).service(get_one).service(replay);
}

/// One delivery. Lists leave out `headers` and `body`.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryOut {
    pub id: String,
    pub hook_id: String,
    pub received_at: String,
    /// The HTTP status answered.
    pub status_code: i64,
    /// `accepted`, `duplicate`, `ignored` or `rejected`.
    pub outcome: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// `{ "result": "verified" | "failed" | "not_required" | "replayed", "secret"?, "problem"? }`.
    #[schema(value_type = Object)]
    pub verification: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub variables: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub problems: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider_delivery_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replay_of: Option<String>,
    pub body_size: i64,
    /// True when only the first bytes were kept (requests that failed before authentication).
    pub body_truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// Request headers; secret-bearing ones read `[redacted]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub headers: Option<Value>,
    /// The body as text when it is UTF-8, else base64 (see `body_encoding`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// `utf8` or `base64`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body_encoding: Option<String>,
}

fn json_field(s: &Option<String>) -> Option<Value> {
    s.as_deref().and_then(|t| serde_json::from_str(t).ok())
}

impl DeliveryOut {
    fn from_row(d: DeliveryRow, full: bool) -> Self {
        let (headers, body, body_encoding) = if full {
            let headers = serde_json::from_str(&d.headers).ok();
            match String::from_utf8(d.body.clone()) {
                Ok(text) => (headers, Some(text), Some("utf8".to_string())),
                Err(_) => (
                    headers,
                    Some(base64::engine::general_purpose::STANDARD.encode(&d.body)),
                    Some("base64".into()),
                ),
            }
        } else {
            (None, None, None)
        };
        Self {
            verification: serde_json::to_value(Verification::from(d.verification.clone()))
                .unwrap_or(Value::Null),
            variables: json_field(&d.variables),
            problems: json_field(&d.problems),
            id: d.id,
            hook_id: d.hook_id,
            received_at: rfc3339(d.received_at),
            status_code: d.status_code,
            outcome: d.outcome,
            error: d.error,
            filter_reason: d.filter_reason,
            run_id: d.run_id,
            provider_delivery_id: d.provider_delivery_id,
            event: d.event,
            replay_of: d.replay_of,
            body_size: d.body_size,
            body_truncated: d.body_truncated,
            content_type: d.content_type,
            query: d.query,
            headers,
            body,
            body_encoding,
        }
    }
}

/// A page of deliveries, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryPage {
    pub items: Vec<DeliveryOut>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct PageQuery {
    /// 1 to 100 (default 50).
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// List a hook's deliveries (the request log), newest first.
#[utoipa::path(get, path = "/api/v1/hooks/{hk}/deliveries", tag = "deliveries", params(PageQuery), responses((status = 200, body = DeliveryPage)))]
#[get("/hooks/{hk}/deliveries")]
pub async fn list(
    state: web::Data<AppState>,
    auth: Auth,
    path: web::Path<String>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let hook = super::hooks::load(&state, &auth, &path, Role::Viewer).await?;
    let limit = page::limit(query.limit);
    let cursor = page::parse_cursor(query.cursor.as_deref())?;
    let rows = state.store.list_deliveries(&hook.id, cursor, limit).await?;
    let next_cursor = page::next_cursor(&rows, limit, |d| (d.received_at, d.id.as_str()));
    let items = rows
        .into_iter()
        .map(|d| DeliveryOut::from_row(d, false))
        .collect();
    Ok(HttpResponse::Ok().json(DeliveryPage { items, next_cursor }))
}

async fn load(
    state: &AppState,
    auth: &Auth,
    id: &str,
    needed: Role,
) -> Result<DeliveryRow, ApiError> {
    let row = state
        .store
        .get_delivery(id)
        .await?
        .ok_or_else(|| ApiError::not_found("delivery"))?;
    auth.require(&row.project_id, needed, "delivery")?;
    Ok(row)
}

/// Read one delivery in full: headers (redacted), body, verification, filter outcome, variables, run.
#[utoipa::path(get, path = "/api/v1/deliveries/{dlv}", tag = "deliveries", responses((status = 200, body = DeliveryOut), (status = 404, body = crate::error::ErrorBody)))]
#[get("/deliveries/{dlv}")]
pub async fn get_one(
    state: web::Data<AppState>,
    auth: Auth,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let row = load(&state, &auth, &path, Role::Viewer).await?;
    Ok(HttpResponse::Ok().json(DeliveryOut::from_row(row, true)))
}

/// Run a stored request through the hook's current rules again (member). The signature is not
/// checked again (the caller is authenticated, and signature headers are not stored), nor is the
/// provider's delivery id deduplicated: a replay always makes a new run unless a filter or a
/// variable refuses it. Requests that failed before authentication cannot be replayed.
#[utoipa::path(post, path = "/api/v1/deliveries/{dlv}/replay", tag = "deliveries",
    responses((status = 202, description = "a new run is committed"), (status = 200, description = "ignored by a filter"),
        (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
#[post("/deliveries/{dlv}/replay")]
pub async fn replay(
    state: web::Data<AppState>,
    ingest: web::Data<IngestState>,
    auth: Auth,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let original = load(&state, &auth, &path, Role::Member).await?;
    // Only requests that passed authentication (or needed none) were kept whole; a replay of a
    // replay is as good as its original.
    let verification = Verification::from(original.verification.clone());
    let unverified = original.body_truncated || !verification.is_authenticated();
    if unverified {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "cannot_replay",
            "this request failed before authentication; only part of it was kept, so it cannot be replayed",
        ));
    }
    let hook = ingest
        .hooks
        .get(state.store.as_ref(), &state.key, &original.hook_id)
        .await?
        .ok_or_else(|| ApiError::not_found("hook"))?;
    if !hook.is_active {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "hook_inactive",
            "this hook is not active",
        ));
    }
    let headers: serde_json::Map<String, Value> =
        serde_json::from_str(&original.headers).unwrap_or_default();
    let header = |name: &str| {
        headers
            .get(&name.to_ascii_lowercase())
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let query: Vec<(String, String)> =
        serde_urlencoded::from_str(original.query.as_deref().unwrap_or("")).unwrap_or_default();
    let delivery = DeliveryRow {
        id: new_id(IdKind::Delivery),
        received_at: now_ms(),
        status_code: 0,
        outcome: String::new(),
        error: None,
        verification: Verification::Replayed {
            original: original.id.clone(),
        }
        .to_json(),
        filter_reason: None,
        variables: None,
        problems: None,
        run_id: None,
        replay_of: Some(original.id.clone()),
        ..original.clone()
    };
    let incoming = Incoming {
        header: &header,
        query: &query,
        content_type: original.content_type.as_deref(),
        body: &original.body,
    };
    let facts = Facts {
        delivery,
        incoming,
        dedup: false,
    };
    accept_and_answer(&ingest, &hook, facts, &state.settings.public_url).await
}
