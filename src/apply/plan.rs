//! Planning: a project's declared state against what the server holds, object by object, into
//! the rows to write ([`ApplyBatch`]) and the report ([`ProjectPlan`]). Pure: no I/O; the
//! clock and the master key come in through [`PlanContext`].

use std::collections::{HashMap, HashSet};

use secrecy::ExposeSecret;
use serde_json::Value;

use super::document::{prefixed, Desired, DesiredPipeline};
use super::hooks::{plan_incoming, plan_outgoing, Siblings};
use super::report::{Action, Change, ProjectPlan, ShownSecret};
use crate::api::secrets::{check_secret, new_row as new_secret_row};
use crate::crypto::{ct_eq, secret_digest, MasterKey, SealContext};
use crate::domain::ids::{new_id, IdKind};
use crate::domain::pipeline::PipelineSpec;
use crate::domain::FieldError;
use crate::store::apply::{secret_object_id, ApplyBatch, ProjectState};
use crate::store::{PipelineRow, ProjectRow};

/// What planning needs besides the two states.
pub struct PlanContext<'a> {
    pub key: &'a MasterKey,
    pub public_url: &'a str,
    pub allow_private: bool,
    pub prune: bool,
    pub now: i64,
}

/// One project's plan with the writes that carry it out.
pub struct Planned {
    pub batch: ApplyBatch,
    pub plan: ProjectPlan,
    /// Generated secrets, to show once if the batch is written.
    pub generated: Vec<ShownSecret>,
}

/// Why an object that the file does not list stays.
pub const KEPT_UNMANAGED: &str = "not in the file; made outside apply, so never pruned";
pub const KEPT_NO_PRUNE: &str = "not in the file; --prune deletes it";

/// What the planning of one pipeline's objects shares.
pub struct Acc<'a> {
    pub cx: &'a PlanContext<'a>,
    pub state: Option<&'a ProjectState>,
    pub project: String,
    pub project_id: String,
    pub batch: ApplyBatch,
    pub changes: Vec<Change>,
    pub generated: Vec<ShownSecret>,
    pub errors: Vec<FieldError>,
}

impl Acc<'_> {
    pub fn managed(&self, id: &str) -> bool {
        self.state.is_some_and(|s| s.managed.contains(id))
    }

    /// An object on the server that the file does not list: deleted with `--prune` when an
    /// apply made it, kept otherwise. Returns true when it is deleted.
    pub fn unlisted(&mut self, mut change: Change, id: &str) -> bool {
        let delete = self.cx.prune && self.managed(id);
        change.action = if delete { Action::Delete } else { Action::Kept };
        change.note = match (delete, self.managed(id)) {
            (true, _) => None,
            (false, true) => Some(KEPT_NO_PRUNE),
            (false, false) => Some(KEPT_UNMANAGED),
        };
        self.changes.push(change);
        delete
    }
}

/// Plans one project. `state` is `None` when the project does not exist yet.
pub fn plan_project(
    cx: &PlanContext<'_>,
    desired: Desired,
    state: Option<&ProjectState>,
) -> Result<Planned, Vec<FieldError>> {
    let mut acc = Acc {
        cx,
        state,
        project: desired.project.clone(),
        project_id: String::new(),
        batch: ApplyBatch {
            project_name: desired.project.clone(),
            planned_on: state.map(ProjectState::fingerprint),
            ..ApplyBatch::default()
        },
        changes: Vec::new(),
        generated: Vec::new(),
        errors: Vec::new(),
    };
    match state {
        Some(s) => acc.project_id = s.project.id.clone(),
        None => {
            let p = ProjectRow {
                id: new_id(IdKind::Project),
                name: desired.project.clone(),
                created_at: cx.now,
            };
            acc.project_id = p.id.clone();
            let mut c = Change::new("project", None, &p.name, Action::Create);
            c.id = Some(p.id.clone());
            acc.changes.push(c);
            acc.batch.create_project = Some(p);
        }
    }
    let listed: HashSet<String> = desired.pipelines.iter().map(|p| p.name.clone()).collect();
    for (i, dp) in desired.pipelines.into_iter().enumerate() {
        plan_pipeline(&mut acc, dp, &format!("pipelines[{i}]"));
    }
    if let Some(s) = state {
        for row in s.pipelines.iter().filter(|p| !listed.contains(&p.name)) {
            let mut c = Change::new("pipeline", None, &row.name, Action::Kept);
            c.id = Some(row.id.clone());
            if acc.unlisted(c, &row.id) {
                acc.batch.delete_pipelines.push(row.id.clone());
            }
        }
    }
    if !acc.errors.is_empty() {
        return Err(acc.errors);
    }
    Ok(Planned {
        batch: acc.batch,
        plan: ProjectPlan {
            project: acc.project,
            changes: acc.changes,
        },
        generated: acc.generated,
    })
}

fn stored_spec(row: &PipelineRow) -> Option<PipelineSpec> {
    serde_json::from_str(&row.spec).ok()
}

/// The top-level keys whose values differ between two JSON objects.
pub fn changed_keys(old: &Value, new: &Value) -> Vec<String> {
    let empty = serde_json::Map::new();
    let (a, b) = (
        old.as_object().unwrap_or(&empty),
        new.as_object().unwrap_or(&empty),
    );
    let mut keys: Vec<String> = a
        .keys()
        .chain(b.keys())
        .filter(|k| a.get(*k) != b.get(*k))
        .cloned()
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

fn plan_pipeline(acc: &mut Acc<'_>, dp: DesiredPipeline, prefix: &str) {
    let existing = acc
        .state
        .and_then(|s| s.pipelines.iter().find(|p| p.name == dp.name));
    let pipeline_id = existing
        .map(|p| p.id.clone())
        .unwrap_or_else(|| new_id(IdKind::Pipeline));
    let siblings = Siblings::of(acc, &pipeline_id, &dp);
    let spec = match (dp.spec, existing) {
        (None, None) => {
            acc.errors.push(FieldError::new(
                format!("{prefix}.name"),
                format!(
                    "no pipeline {:?} in the file or on the server: declare its steps to create it",
                    dp.name
                ),
            ));
            return;
        }
        (None, Some(row)) => {
            let mut c = Change::new("pipeline", None, &row.name, Action::Unchanged);
            c.id = Some(row.id.clone());
            acc.changes.push(c);
            stored_spec(row)
        }
        (Some(spec), existing) => {
            plan_definition(acc, &spec, existing, &pipeline_id, &siblings, prefix);
            Some(spec)
        }
    };
    plan_secrets(acc, &dp.secrets, &dp.name, &pipeline_id, prefix);
    plan_incoming(acc, dp.incoming, &dp.name, &pipeline_id, prefix);
    let declared = spec
        .map(|s| s.variables.into_iter().map(|v| v.name).collect::<Vec<_>>())
        .unwrap_or_default();
    plan_outgoing(
        acc,
        dp.outgoing,
        &dp.name,
        &pipeline_id,
        declared,
        &siblings,
        prefix,
    );
}

fn plan_definition(
    acc: &mut Acc<'_>,
    spec: &PipelineSpec,
    existing: Option<&PipelineRow>,
    pipeline_id: &str,
    siblings: &Siblings,
    prefix: &str,
) {
    let errors = spec.validate(&siblings.hook_variables);
    if !errors.is_empty() {
        acc.errors.extend(prefixed(prefix, errors));
        return;
    }
    let text = match serde_json::to_string(spec) {
        Ok(t) => t,
        Err(e) => {
            acc.errors.push(FieldError::new(prefix, e.to_string()));
            return;
        }
    };
    let now = acc.cx.now;
    let mut row = PipelineRow {
        id: pipeline_id.to_string(),
        project_id: acc.project_id.clone(),
        name: spec.name.trim().to_string(),
        spec: text,
        created_at: now,
        updated_at: now,
    };
    let mut c = Change::new("pipeline", None, &row.name, Action::Create);
    c.id = Some(row.id.clone());
    match existing {
        None => {
            acc.batch.mark_managed.push(row.id.clone());
            acc.batch.insert_pipelines.push(row);
        }
        Some(old) => {
            let comparable = |s: Option<PipelineSpec>| {
                let mut v = serde_json::to_value(s).unwrap_or_default();
                if let Some(m) = v.as_object_mut() {
                    m.remove("name");
                }
                v
            };
            c.fields = changed_keys(
                &comparable(stored_spec(old)),
                &comparable(Some(spec.clone())),
            );
            if c.fields.is_empty() {
                c.action = Action::Unchanged;
            } else {
                c.action = Action::Update;
                row.created_at = old.created_at;
                acc.batch.update_pipelines.push(row);
            }
        }
    }
    acc.changes.push(c);
}

/// Whether `plain` is the secret sealed in `sealed` under `context`, compared by their keyed
/// digests (a wrong key or altered data counts as different).
pub fn same_secret(key: &MasterKey, context: &SealContext<'_>, sealed: &[u8], plain: &str) -> bool {
    key.open(context, sealed).is_ok_and(|stored| {
        ct_eq(
            &secret_digest(key, stored.expose_secret()),
            &secret_digest(key, plain),
        )
    })
}

fn plan_secrets(
    acc: &mut Acc<'_>,
    secrets: &std::collections::BTreeMap<String, secrecy::SecretString>,
    pipeline: &str,
    pipeline_id: &str,
    prefix: &str,
) {
    let existing: HashMap<&str, &crate::store::SecretRow> = acc
        .state
        .map(|s| {
            s.secrets
                .iter()
                .filter(|r| r.pipeline_id == pipeline_id)
                .map(|r| (r.name.as_str(), r))
                .collect()
        })
        .unwrap_or_default();
    for (name, value) in secrets {
        let plain = value.expose_secret();
        let field = format!("{prefix}.secrets.{name}");
        let errors = check_secret(name, plain);
        if !errors.is_empty() {
            acc.errors.extend(
                errors
                    .into_iter()
                    .map(|e| FieldError::new(field.clone(), e.problem)),
            );
            continue;
        }
        let mut c = Change::new("secret", Some(pipeline), name, Action::Create);
        match existing.get(name.as_str()) {
            None => {
                c.secret = Some("(set)");
                acc.batch
                    .mark_managed
                    .push(secret_object_id(pipeline_id, name));
            }
            Some(row) => {
                let context = SealContext::PipelineSecret(pipeline_id, name);
                if same_secret(acc.cx.key, &context, &row.ciphertext, plain) {
                    c.action = Action::Unchanged;
                    c.secret = Some("(unchanged)");
                } else {
                    c.action = Action::Update;
                    c.secret = Some("(changed)");
                    c.fields = vec!["value".into()];
                }
            }
        }
        if c.action != Action::Unchanged {
            let row = new_secret_row(acc.cx.key, pipeline_id, name, plain, acc.cx.now);
            acc.batch.put_secrets.push(row);
        }
        acc.changes.push(c);
    }
    let mut unlisted: Vec<&str> = existing
        .keys()
        .copied()
        .filter(|n| !secrets.contains_key(*n))
        .collect();
    unlisted.sort_unstable();
    for name in unlisted {
        let c = Change::new("secret", Some(pipeline), name, Action::Kept);
        if acc.unlisted(c, &secret_object_id(pipeline_id, name)) {
            acc.batch
                .delete_secrets
                .push((pipeline_id.to_string(), name.to_string()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn changed_keys_names_each_differing_field_once() {
        let old = json!({ "steps": [1], "retries": 0, "concurrency": null });
        let new = json!({ "steps": [2], "retries": 0, "variables": [] });
        assert_eq!(
            changed_keys(&old, &new),
            vec!["concurrency", "steps", "variables"]
        );
        assert!(changed_keys(&old, &old).is_empty());
    }

    #[test]
    fn secrets_are_compared_by_their_digest_under_the_master_key() {
        let key = MasterKey::generate();
        let sealed = key.seal(&SealContext::IncomingHook("hk_1"), b"s3cret");
        assert!(same_secret(
            &key,
            &SealContext::IncomingHook("hk_1"),
            &sealed,
            "s3cret"
        ));
        assert!(!same_secret(
            &key,
            &SealContext::IncomingHook("hk_1"),
            &sealed,
            "s3cret2"
        ));
        assert!(!same_secret(
            &key,
            &SealContext::IncomingHook("hk_2"),
            &sealed,
            "s3cret"
        ));
        // The digest is keyed: another master key gives another digest for the same secret.
        let other = MasterKey::generate();
        assert_ne!(
            crate::crypto::secret_digest(&key, "s3cret"),
            crate::crypto::secret_digest(&other, "s3cret")
        );
    }
}
