//! A hook's request log (newest first, by outcome, cursor paging), one delivery in full, and the
//! hook's test panel.

use actix_web::{get, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{context, parsed, pretty, signed, time};
use crate::api::page;
use crate::app::AppState;
use crate::console::render::{page as render_page, PageError};
use crate::console::samples;
use crate::console::wording;
use crate::domain::delivery::DeliveryOutcome::{Accepted, Duplicate, Ignored};
use crate::domain::delivery::Verification;
use crate::domain::role::Role;
use crate::error::ApiError;
use crate::ingest::handler::IngestState;
use crate::store::{DeliveryRow, HookRow};

/// Deliveries per page of the request log.
const PAGE: i64 = 50;
/// The outcomes the request log filters by.
const OUTCOMES: &[&str] = &["accepted", "duplicate", "ignored", "rejected"];

#[derive(Deserialize)]
pub struct LogQuery {
    outcome: Option<String>,
    cursor: Option<String>,
}

async fn load_hook(
    state: &AppState,
    s: &crate::console::session::Session,
    id: &str,
) -> Result<HookRow, PageError> {
    let hook = state
        .store
        .get_hook(id)
        .await?
        .ok_or_else(|| ApiError::not_found("hook"))?;
    s.auth.require(&hook.project_id, Role::Viewer, "hook")?;
    Ok(hook)
}

/// The breadcrumbs down to a hook's pipeline.
async fn crumbs_to(state: &AppState, hook: &HookRow) -> Result<Vec<(String, String)>, PageError> {
    let project = state.store.get_project(&hook.project_id).await?;
    let pipeline = state.store.get_pipeline(&hook.pipeline_id).await?;
    Ok(vec![
        ("Projects".into(), "/console/".into()),
        (
            project.map(|p| p.name).unwrap_or_default(),
            format!("/console/projects/{}", hook.project_id),
        ),
        (
            pipeline.map(|p| p.name).unwrap_or_default(),
            format!("/console/pipelines/{}", hook.pipeline_id),
        ),
    ])
}

fn borrowed(crumbs: &[(String, String)]) -> Vec<(&str, String)> {
    crumbs
        .iter()
        .map(|(l, h)| (l.as_str(), h.clone()))
        .collect()
}

/// `GET /console/hooks/{hk}?outcome=&cursor=`: the request log.
#[get("/hooks/{hk}")]
pub async fn log(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<LogQuery>,
) -> Result<HttpResponse, PageError> {
    let s = signed(&state, &req).await?;
    let hook = load_hook(&state, &s, &path).await?;
    let outcome = query.outcome.as_deref().filter(|o| !o.is_empty());
    if let Some(o) = outcome {
        if !OUTCOMES.contains(&o) {
            return Err(ApiError::bad_request(
                "invalid_outcome",
                format!("outcome is one of {}", OUTCOMES.join(", ")),
            )
            .into());
        }
    }
    let cursor = page::parse_cursor(query.cursor.as_deref().filter(|c| !c.is_empty()))?;
    let rows = match outcome {
        None => state.store.list_deliveries(&hook.id, cursor, PAGE).await?,
        Some(o) => {
            state
                .store
                .list_deliveries_with_outcome(&hook.id, o, cursor, PAGE)
                .await?
        }
    };
    let next = page::next_cursor(&rows, PAGE, |d| (d.received_at, d.id.as_str()));
    let items: Vec<Value> = rows.iter().map(summary).collect();
    let crumbs = crumbs_to(&state, &hook).await?;
    let fields = json!({
        "hook": { "id": hook.id, "name": hook.name, "provider": hook.provider, "is_active": hook.is_active },
        "deliveries": items,
        "outcome": outcome,
        "outcomes": OUTCOMES,
        "next_cursor": next,
    });
    render_page(
        "hook.html",
        context(&s, &hook.name, &borrowed(&crumbs), fields),
    )
}

fn summary(d: &DeliveryRow) -> Value {
    let why = d
        .filter_reason
        .clone()
        .or_else(|| d.error.as_deref().map(|c| wording::refusal(c).to_string()));
    json!({
        "id": d.id, "received_at": time(d.received_at), "status_code": d.status_code,
        "outcome": d.outcome, "event": d.event, "why": why, "run_id": d.run_id,
    })
}

/// `GET /console/deliveries/{dlv}`: a delivery in full.
#[get("/deliveries/{dlv}")]
pub async fn delivery(
    req: HttpRequest,
    state: web::Data<AppState>,
    ingest: web::Data<IngestState>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let s = signed(&state, &req).await?;
    let d = state
        .store
        .get_delivery(&path)
        .await?
        .ok_or_else(|| ApiError::not_found("delivery"))?;
    s.auth.require(&d.project_id, Role::Viewer, "delivery")?;
    let hook = load_hook(&state, &s, &d.hook_id).await?;
    let verification = Verification::from(d.verification.clone());
    let headers = parsed(Some(&d.headers));
    let body = match std::str::from_utf8(&d.body) {
        Ok(text) => pretty(text),
        Err(_) => format!("({} bytes that are not UTF-8 text)", d.body.len()),
    };
    // Each filter's verdict on the delivery's variables, by the hook's current filters (the
    // ones a replay would apply); a refused delivery has no variables to judge.
    let vars = parsed(d.variables.as_deref());
    let filters = match (vars.as_object(), d.outcome.parse()) {
        (Some(vars), Ok(Accepted | Ignored | Duplicate)) => {
            match ingest
                .hooks
                .get(state.store.as_ref(), &state.key, &hook.id)
                .await?
            {
                Some(loaded) => serde_json::to_value(loaded.compiled.filters.verdicts(vars))
                    .unwrap_or(Value::Null),
                None => Value::Null,
            }
        }
        _ => Value::Null,
    };
    let replayable = !d.body_truncated && verification.is_authenticated();
    let mut crumbs = crumbs_to(&state, &hook).await?;
    crumbs.push((hook.name.clone(), format!("/console/hooks/{}", hook.id)));
    let fields = json!({
        "delivery": {
            "id": d.id, "received_at": time(d.received_at), "status_code": d.status_code,
            "outcome": d.outcome, "error": d.error, "refusal": d.error.as_deref().map(wording::refusal),
            "filter_reason": d.filter_reason, "run_id": d.run_id, "event": d.event,
            "provider_delivery_id": d.provider_delivery_id, "replay_of": d.replay_of,
            "body_size": d.body_size, "body_truncated": d.body_truncated,
            "content_type": d.content_type, "query": d.query,
        },
        "hook": { "id": hook.id, "name": hook.name },
        "verification": wording::verification(&json!(verification)),
        "verified": verification.is_authenticated(),
        "headers": headers,
        "body": body,
        "variables": parsed(d.variables.as_deref()),
        "problems": parsed(d.problems.as_deref()),
        "filters": filters,
        "replayable": replayable,
    });
    render_page(
        "delivery.html",
        context(&s, &d.id, &borrowed(&crumbs), fields),
    )
}

/// `GET /console/hooks/{hk}/test`: the test panel.
#[get("/hooks/{hk}/test")]
pub async fn test_panel(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let s = signed(&state, &req).await?;
    let hook = load_hook(&state, &s, &path).await?;
    let mut crumbs = crumbs_to(&state, &hook).await?;
    crumbs.push((hook.name.clone(), format!("/console/hooks/{}", hook.id)));
    let sample = samples::for_provider(&hook.provider);
    let fields = json!({
        "hook": { "id": hook.id, "name": hook.name, "provider": hook.provider },
        "sample": sample.map(|s| json!({ "body": s.body, "event": s.event, "event_header": s.event_header })),
    });
    render_page(
        "hook_test.html",
        context(
            &s,
            &format!("Test {}", hook.name),
            &borrowed(&crumbs),
            fields,
        ),
    )
}
