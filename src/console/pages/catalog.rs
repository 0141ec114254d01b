//! Projects → pipelines → a pipeline (steps, variables, concurrency, incoming and outgoing hooks).

use actix_web::{get, web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::{context, parsed, signed, time};
use crate::api::hooks::hook_url;
use crate::app::AppState;
use crate::console::render::{page, PageError};
use crate::crypto::mask;
use crate::domain::role::Role;
use crate::error::ApiError;

/// How many outgoing attempts the pipeline page shows per hook.
const ATTEMPTS_SHOWN: i64 = 5;

/// `GET /console/`: the projects the caller may see (an admin: all; a project token: its own).
#[get("/")]
pub async fn projects(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let s = signed(&state, &req).await?;
    let rows = match &s.auth.project_id {
        None => state.store.list_projects().await?,
        Some(id) => state.store.get_project(id).await?.into_iter().collect(),
    };
    let items: Vec<Value> = rows
        .iter()
        .map(|p| json!({ "id": p.id, "name": p.name, "created_at": time(p.created_at) }))
        .collect();
    page(
        "projects.html",
        context(&s, "Projects", &[], json!({ "projects": items })),
    )
}

/// `GET /console/projects/{prj}`: a project's pipelines.
#[get("/projects/{prj}")]
pub async fn project(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let s = signed(&state, &req).await?;
    s.auth.require(&path, Role::Viewer, "project")?;
    let p = state
        .store
        .get_project(&path)
        .await?
        .ok_or_else(|| ApiError::not_found("project"))?;
    let pipelines: Vec<Value> = state
        .store
        .list_pipelines(&p.id)
        .await?
        .iter()
        .map(|pl| {
            let spec = parsed(Some(&pl.spec));
            json!({ "id": pl.id, "name": pl.name, "steps": spec["steps"].as_array().map_or(0, Vec::len),
                    "updated_at": time(pl.updated_at) })
        })
        .collect();
    let crumbs = [("Projects", "/console/".to_string())];
    page(
        "project.html",
        context(
            &s,
            &p.name,
            &crumbs,
            json!({ "project": { "id": p.id, "name": p.name }, "pipelines": pipelines }),
        ),
    )
}

/// `GET /console/pipelines/{pl}`.
#[get("/pipelines/{pl}")]
pub async fn pipeline(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let s = signed(&state, &req).await?;
    let pl = crate::api::pipelines::load(&state, &s.auth, &path, Role::Viewer).await?;
    let owner = state.store.get_project(&pl.project_id).await?;
    let spec = parsed(Some(&pl.spec));
    let incoming: Vec<Value> = state
        .store
        .list_hooks(&pl.id)
        .await?
        .iter()
        .map(|h| {
            let config = parsed(Some(&h.config));
            json!({
                "id": h.id, "name": h.name, "provider": h.provider, "is_active": h.is_active,
                "url": hook_url(&state.settings.public_url, &h.id),
                "secret": mask(&h.secret_last4),
                "requires_secret": config["requires_secret"].as_bool().unwrap_or(true),
                "variables": config["settings"]["variables"],
                "filters": config["settings"]["filters"],
            })
        })
        .collect();
    let mut outgoing = Vec::new();
    for h in state.store.list_outgoing_hooks(&pl.id).await? {
        let attempts: Vec<Value> = state
            .store
            .list_attempts(&h.id, ATTEMPTS_SHOWN)
            .await?
            .into_iter()
            .map(|a| {
                json!({ "event": a.event, "attempt": a.attempt.attempt, "at": time(a.attempt.at),
                        "status_code": a.attempt.status_code, "latency_ms": a.attempt.latency_ms,
                        "error": a.attempt.error })
            })
            .collect();
        outgoing.push(json!({
            "id": h.id, "name": h.name, "channel": h.channel, "url": h.url, "is_active": h.is_active,
            "triggers": parsed(Some(&h.triggers)), "disabled_reason": h.disabled_reason,
            "attempts": attempts,
        }));
    }
    let project_name = owner.map(|p| p.name).unwrap_or_default();
    let crumbs = [
        ("Projects", "/console/".to_string()),
        (
            project_name.as_str(),
            format!("/console/projects/{}", pl.project_id),
        ),
    ];
    let fields = json!({
        "pipeline": { "id": pl.id, "name": pl.name, "updated_at": time(pl.updated_at) },
        "steps": spec["steps"],
        "variables": spec["variables"],
        "concurrency": spec["concurrency"],
        "incoming": incoming,
        "outgoing": outgoing,
    });
    page("pipeline.html", context(&s, &pl.name, &crumbs, fields))
}
