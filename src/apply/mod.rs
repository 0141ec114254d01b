//! Configuration as code (SPEC §8): documents declare projects' pipelines, incoming hooks,
//! outgoing hooks and pipeline secrets; `apply` converges the server to them in one
//! transaction, `export` writes the current state in the same form.
//!
//! The core knows no HTTP: `api/apply.rs` parses the request and calls [`run`]; the CLI
//! (`cli/apply.rs`) reads files and talks to that route.

pub mod document;
pub mod export;
mod hooks;
pub mod plan;
pub mod report;
pub mod schema;

use serde_json::Value;

use crate::api::Auth;
use crate::app::AppState;
use crate::domain::role::Role;
use crate::error::ApiError;
use crate::store::apply::{ApplyCommit, ProjectState};
use document::prefixed;
use plan::{plan_project, PlanContext};
use report::ApplyOut;

/// What reads show as `managed_by` for an object an apply created (`--prune` may delete it).
pub const MANAGED_BY_APPLY: &str = "apply";

/// `Some("apply")` for each id of `ids` that an apply created in `project_id`.
pub async fn managed_by(
    store: &dyn crate::store::Store,
    project_id: &str,
) -> Result<impl Fn(&str) -> Option<&'static str>, ApiError> {
    let managed = store.apply_store().managed(project_id).await?;
    Ok(move |id: &str| managed.contains(id).then_some(MANAGED_BY_APPLY))
}

/// How many times an apply plans again when a project changed between its plan and its lock.
const MAX_ATTEMPTS: usize = 5;

/// What the caller asked for.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApplyOptions {
    /// Plan only; write nothing.
    pub dry_run: bool,
    /// Delete what the documents do not list, among the objects an apply created.
    pub prune: bool,
}

/// Loads a project's state for `auth`: its owner (or an admin) may apply to it; an admin may
/// create a project that does not exist. Another project's name is a 404, as for ids.
pub async fn load_for(
    app: &AppState,
    auth: &Auth,
    name: &str,
    needed: Role,
) -> Result<Option<ProjectState>, ApiError> {
    let state = app.store.apply_store().project_state(name).await?;
    match &state {
        Some(s) => auth.require(&s.project.id, needed, "project")?,
        None if auth.role == Role::Admin && needed != Role::Viewer => {}
        None => {
            return Err(ApiError::not_found("project").with_details(vec![
                crate::domain::FieldError::new(
                    "project",
                    format!(
                        "no project {name:?} that this token may use; an admin token may create it"
                    ),
                ),
            ]))
        }
    }
    Ok(state)
}

/// Applies (or, with `dry_run`, plans) the documents in `body`: one document, or a list.
pub async fn run(
    app: &AppState,
    auth: &Auth,
    body: Value,
    options: ApplyOptions,
) -> Result<ApplyOut, ApiError> {
    let many = matches!(&body, Value::Array(a) if a.len() > 1);
    for _ in 0..MAX_ATTEMPTS {
        let docs = document::parse_all(body.clone()).map_err(ApiError::validation)?;
        let cx = PlanContext {
            key: &app.key,
            public_url: &app.settings.public_url,
            allow_private: app.settings.allow_private_targets,
            prune: options.prune,
            now: crate::domain::time::now_ms(),
        };
        let mut planned = Vec::new();
        let mut errors = Vec::new();
        for (i, doc) in docs.into_iter().enumerate() {
            let state = load_for(app, auth, &doc.project, Role::Owner).await?;
            match plan_project(&cx, doc, state.as_ref()) {
                Ok(p) => planned.push(p),
                Err(e) if many => errors.extend(prefixed(&format!("documents[{i}]"), e)),
                Err(e) => errors.extend(e),
            }
        }
        if !errors.is_empty() {
            return Err(ApiError::validation(errors));
        }
        let mut plans: Vec<_> = planned.iter().map(|p| p.plan.clone()).collect();
        if options.dry_run {
            // The ids a plan made up for new objects are never used: not shown.
            for c in plans.iter_mut().flat_map(|p| p.changes.iter_mut()) {
                if c.action == report::Action::Create {
                    c.id = None;
                    c.url = None;
                }
            }
            return Ok(ApplyOut::new(true, options.prune, plans, Vec::new()));
        }
        let (batches, generated): (Vec<_>, Vec<_>) =
            planned.into_iter().map(|p| (p.batch, p.generated)).unzip();
        match app.store.apply_store().apply_batches(&batches).await? {
            ApplyCommit::Done => {
                let generated = generated.into_iter().flatten().collect();
                return Ok(ApplyOut::new(false, options.prune, plans, generated));
            }
            ApplyCommit::Stale { project } => {
                tracing::info!(
                    project,
                    "project changed while planning an apply; planning again"
                );
            }
        }
    }
    Err(ApiError::conflict(
        "the project kept changing while this apply was planned; nothing was applied, try again",
    ))
}
