//! `hookgate apply` in the store: read a project's catalog, and write an apply's changes in ONE
//! transaction that holds the project's apply lock (SPEC §8).
//!
//! Two applies to one project are serialized: PostgreSQL takes a transaction-scoped advisory
//! lock on the project's name; SQLite opens the transaction with `BEGIN IMMEDIATE`, which takes
//! the database's write lock. Inside the lock the project's catalog is read again and compared
//! with the state the changes were planned on; when anything moved in between, nothing is
//! written and the caller plans again ([`ApplyCommit::Stale`]).

use std::collections::BTreeSet;

use sha2::{Digest, Sha256};

use super::{HookRow, OutgoingHookRow, PipelineRow, ProjectRow, SecretRow, StoreError};

/// The id under which a pipeline secret is marked as made by apply.
pub fn secret_object_id(pipeline_id: &str, name: &str) -> String {
    format!("{pipeline_id}/secret/{name}")
}

/// A project's catalog: what apply plans against and export writes.
#[derive(Debug, Clone)]
pub struct ProjectState {
    pub project: ProjectRow,
    pub pipelines: Vec<PipelineRow>,
    pub hooks: Vec<HookRow>,
    pub outgoing: Vec<OutgoingHookRow>,
    pub secrets: Vec<SecretRow>,
    /// Ids of the objects an apply created (`managed_by: apply`).
    pub managed: BTreeSet<String>,
}

impl ProjectState {
    /// A digest of everything in the state: equal digests, same catalog.
    pub fn fingerprint(&self) -> [u8; 32] {
        Sha256::digest(format!("{self:?}").as_bytes()).into()
    }
}

/// One project's changes, planned on the state whose fingerprint is `planned_on`.
#[derive(Debug, Default)]
pub struct ApplyBatch {
    pub project_name: String,
    /// Created first when the project does not exist yet (admin tokens only).
    pub create_project: Option<ProjectRow>,
    /// `None`: planned on a project that did not exist.
    pub planned_on: Option<[u8; 32]>,
    pub insert_pipelines: Vec<PipelineRow>,
    pub update_pipelines: Vec<PipelineRow>,
    pub delete_pipelines: Vec<String>,
    pub insert_hooks: Vec<HookRow>,
    pub update_hooks: Vec<HookRow>,
    pub delete_hooks: Vec<String>,
    pub insert_outgoing: Vec<OutgoingHookRow>,
    pub update_outgoing: Vec<OutgoingHookRow>,
    pub delete_outgoing: Vec<String>,
    pub put_secrets: Vec<SecretRow>,
    /// `(pipeline id, name)`.
    pub delete_secrets: Vec<(String, String)>,
    /// Object ids to mark `managed_by: apply` in the batch's project.
    pub mark_managed: Vec<String>,
}

/// How an apply's transaction ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApplyCommit {
    /// Everything is written.
    Done,
    /// The project changed after the plan was made: nothing is written.
    Stale { project: String },
}

/// The catalog reads and writes of `hookgate apply`.
#[async_trait::async_trait]
pub trait ApplyStore: Send + Sync {
    /// The project named `name` with its whole catalog, read in one transaction.
    async fn project_state(&self, name: &str) -> Result<Option<ProjectState>, StoreError>;
    /// Writes every batch in one transaction, after taking each project's apply lock (in name
    /// order) and checking that it is still in the state its batch was planned on.
    async fn apply_batches(&self, batches: &[ApplyBatch]) -> Result<ApplyCommit, StoreError>;
    /// Ids of the project's objects that an apply created (`managed_by: apply` in reads).
    async fn managed(&self, project_id: &str) -> Result<BTreeSet<String>, StoreError>;
}

/// Reads the state of the project named `$name` inside the transaction `$tx`.
macro_rules! read_project_state {
    ($tx:ident, $name:expr) => {{
        let project: Option<ProjectRow> = sqlx::query_as("SELECT * FROM projects WHERE name = $1")
            .bind($name)
            .fetch_optional(&mut *$tx)
            .await?;
        match project {
            None => None,
            Some(project) => {
                let pipelines: Vec<PipelineRow> = sqlx::query_as(
                    "SELECT * FROM pipelines WHERE project_id = $1 ORDER BY created_at, id",
                )
                .bind(&project.id)
                .fetch_all(&mut *$tx)
                .await?;
                let hooks: Vec<HookRow> = sqlx::query_as(
                    "SELECT * FROM incoming_hooks WHERE project_id = $1 ORDER BY created_at, id",
                )
                .bind(&project.id)
                .fetch_all(&mut *$tx)
                .await?;
                let outgoing: Vec<OutgoingHookRow> = sqlx::query_as(
                    "SELECT * FROM outgoing_hooks WHERE project_id = $1 ORDER BY created_at, id",
                )
                .bind(&project.id)
                .fetch_all(&mut *$tx)
                .await?;
                let secrets: Vec<SecretRow> = sqlx::query_as(
                    "SELECT s.* FROM pipeline_secrets s JOIN pipelines p ON p.id = s.pipeline_id \
                     WHERE p.project_id = $1 ORDER BY s.pipeline_id, s.name",
                )
                .bind(&project.id)
                .fetch_all(&mut *$tx)
                .await?;
                let managed: Vec<(String,)> = sqlx::query_as(
                    "SELECT object_id FROM apply_managed WHERE project_id = $1 ORDER BY object_id",
                )
                .bind(&project.id)
                .fetch_all(&mut *$tx)
                .await?;
                Some($crate::store::apply::ProjectState {
                    project,
                    pipelines,
                    hooks,
                    outgoing,
                    secrets,
                    managed: managed.into_iter().map(|(id,)| id).collect(),
                })
            }
        }
    }};
}

/// Writes one batch inside the transaction `$tx`, deletes first (a pipeline's deletion takes
/// its hooks, secrets and outgoing hooks with it).
macro_rules! write_apply_batch {
    ($tx:ident, $b:expr, $project_id:expr, $now:expr) => {{
        let b: &$crate::store::apply::ApplyBatch = $b;
        for id in &b.delete_hooks {
            sqlx::query("DELETE FROM incoming_hooks WHERE id = $1").bind(id).execute(&mut *$tx).await?;
        }
        for id in &b.delete_outgoing {
            sqlx::query("DELETE FROM outgoing_hooks WHERE id = $1").bind(id).execute(&mut *$tx).await?;
        }
        for (pipeline_id, name) in &b.delete_secrets {
            sqlx::query("DELETE FROM pipeline_secrets WHERE pipeline_id = $1 AND name = $2")
                .bind(pipeline_id)
                .bind(name)
                .execute(&mut *$tx)
                .await?;
        }
        for id in &b.delete_pipelines {
            sqlx::query("DELETE FROM pipelines WHERE id = $1").bind(id).execute(&mut *$tx).await?;
        }
        for p in &b.insert_pipelines {
            catalog_query!(insert_pipeline, p).execute(&mut *$tx).await?;
        }
        for p in &b.update_pipelines {
            catalog_query!(update_pipeline, p).execute(&mut *$tx).await?;
        }
        for s in &b.put_secrets {
            catalog_query!(put_secret, s).execute(&mut *$tx).await?;
        }
        for h in &b.insert_hooks {
            catalog_query!(insert_hook, h).execute(&mut *$tx).await?;
        }
        for h in &b.update_hooks {
            catalog_query!(update_hook, h).execute(&mut *$tx).await?;
        }
        for h in &b.insert_outgoing {
            catalog_query!(insert_outgoing_hook, h).execute(&mut *$tx).await?;
        }
        for h in &b.update_outgoing {
            catalog_query!(update_outgoing_hook, h).execute(&mut *$tx).await?;
        }
        // Marks of objects deleted by any means go; the new ones are added.
        sqlx::query(
            "DELETE FROM apply_managed WHERE project_id = $1 \
             AND object_id NOT IN (SELECT id FROM pipelines WHERE project_id = $1) \
             AND object_id NOT IN (SELECT id FROM incoming_hooks WHERE project_id = $1) \
             AND object_id NOT IN (SELECT id FROM outgoing_hooks WHERE project_id = $1) \
             AND object_id NOT IN (SELECT s.pipeline_id || '/secret/' || s.name FROM pipeline_secrets s \
                                   JOIN pipelines p ON p.id = s.pipeline_id WHERE p.project_id = $1)",
        )
        .bind($project_id)
        .execute(&mut *$tx)
        .await?;
        for id in &b.mark_managed {
            sqlx::query(
                "INSERT INTO apply_managed (object_id, project_id, created_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (object_id) DO NOTHING",
            )
            .bind(id)
            .bind($project_id)
            .bind($now)
            .execute(&mut *$tx)
            .await?;
        }
    }};
}

/// Expands to `impl ApplyStore for $ty`. `Dialect::BEGIN_WRITE` opens a write transaction
/// (SQLite: `BEGIN IMMEDIATE`, which also serializes applies); `Dialect::KEY_LOCK`, when some,
/// locks the project for the transaction (PostgreSQL: an advisory lock). The backend needs a
/// `pool` field and an inherent `async fn config_changed(&self)` (the hook caches' generation).
macro_rules! impl_apply_store {
    ($ty:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::apply::ApplyStore for $ty {
            async fn project_state(
                &self,
                name: &str,
            ) -> Result<Option<$crate::store::apply::ProjectState>, StoreError> {
                let mut tx = self.pool.begin().await?;
                let state = read_project_state!(tx, name);
                tx.commit().await?;
                Ok(state)
            }

            async fn managed(
                &self,
                project_id: &str,
            ) -> Result<std::collections::BTreeSet<String>, StoreError> {
                let ids: Vec<(String,)> =
                    sqlx::query_as("SELECT object_id FROM apply_managed WHERE project_id = $1")
                        .bind(project_id)
                        .fetch_all(&self.pool)
                        .await?;
                Ok(ids.into_iter().map(|(id,)| id).collect())
            }

            async fn apply_batches(
                &self,
                batches: &[$crate::store::apply::ApplyBatch],
            ) -> Result<$crate::store::apply::ApplyCommit, StoreError> {
                use $crate::store::apply::ApplyCommit;
                let now = $crate::domain::time::now_ms();
                let mut tx = self
                    .pool
                    .begin_with(<$ty as $crate::store::shared::Dialect>::BEGIN_WRITE)
                    .await?;
                let lock: Option<&str> = <$ty as $crate::store::shared::Dialect>::KEY_LOCK;
                if let Some(lock) = lock {
                    let mut names: Vec<&str> =
                        batches.iter().map(|b| b.project_name.as_str()).collect();
                    names.sort_unstable();
                    names.dedup();
                    for name in names {
                        sqlx::query(lock)
                            .bind(format!("hookgate:apply:{name}"))
                            .execute(&mut *tx)
                            .await?;
                    }
                }
                for b in batches {
                    let state = read_project_state!(tx, &b.project_name);
                    if state.as_ref().map(|s| s.fingerprint()) != b.planned_on {
                        return Ok(ApplyCommit::Stale {
                            project: b.project_name.clone(),
                        });
                    }
                    let project_id = match (&state, &b.create_project) {
                        (Some(s), _) => s.project.id.clone(),
                        (None, Some(p)) => {
                            sqlx::query(
                                "INSERT INTO projects (id, name, created_at) VALUES ($1, $2, $3)",
                            )
                            .bind(&p.id)
                            .bind(&p.name)
                            .bind(p.created_at)
                            .execute(&mut *tx)
                            .await?;
                            p.id.clone()
                        }
                        (None, None) => {
                            return Ok(ApplyCommit::Stale {
                                project: b.project_name.clone(),
                            })
                        }
                    };
                    write_apply_batch!(tx, b, &project_id, now);
                }
                tx.commit().await?;
                self.config_changed().await;
                Ok(ApplyCommit::Done)
            }
        }
    };
}
