//! Storage: one [`Store`] trait, two concrete backends (SQLite and PostgreSQL).
//!
//! The SQL both dialects share lives once, in the `impl_store!` macro (store/shared.rs); each backend module
//! adds what differs (connection set-up, migrations, claims).

mod error;
mod model;
#[macro_use]
mod shared;
pub mod postgres;
pub mod sqlite;

use std::sync::Arc;

pub use error::StoreError;
pub use model::*;

use crate::config::{DatabaseKind, Settings};

/// Everything hookgate keeps, behind one interface for both databases.
#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;
    /// Succeeds when the database answers.
    async fn ping(&self) -> Result<(), StoreError>;

    async fn insert_project(&self, p: &ProjectRow) -> Result<(), StoreError>;
    async fn list_projects(&self) -> Result<Vec<ProjectRow>, StoreError>;
    async fn get_project(&self, id: &str) -> Result<Option<ProjectRow>, StoreError>;
    async fn get_project_by_name(&self, name: &str) -> Result<Option<ProjectRow>, StoreError>;

    async fn insert_token(&self, t: &TokenRow) -> Result<(), StoreError>;
    async fn list_tokens(&self, project_id: &str) -> Result<Vec<TokenRow>, StoreError>;
    async fn get_token(&self, id: &str) -> Result<Option<TokenRow>, StoreError>;
    async fn find_token_by_hash(&self, hash: &str) -> Result<Option<TokenRow>, StoreError>;
    async fn delete_token(&self, id: &str) -> Result<bool, StoreError>;

    async fn insert_pipeline(&self, p: &PipelineRow) -> Result<(), StoreError>;
    async fn list_pipelines(&self, project_id: &str) -> Result<Vec<PipelineRow>, StoreError>;
    async fn get_pipeline(&self, id: &str) -> Result<Option<PipelineRow>, StoreError>;
    async fn update_pipeline(&self, p: &PipelineRow) -> Result<bool, StoreError>;
    async fn delete_pipeline(&self, id: &str) -> Result<bool, StoreError>;

    async fn put_secret(&self, s: &SecretRow) -> Result<(), StoreError>;
    async fn list_secrets(&self, pipeline_id: &str) -> Result<Vec<SecretRow>, StoreError>;
    async fn delete_secret(&self, pipeline_id: &str, name: &str) -> Result<bool, StoreError>;

    async fn insert_hook(&self, h: &HookRow) -> Result<(), StoreError>;
    async fn get_hook(&self, id: &str) -> Result<Option<HookRow>, StoreError>;
    async fn list_hooks(&self, pipeline_id: &str) -> Result<Vec<HookRow>, StoreError>;
    async fn update_hook(&self, h: &HookRow) -> Result<bool, StoreError>;
    async fn delete_hook(&self, id: &str) -> Result<bool, StoreError>;

    /// Commits a batch of ingests in one transaction (group commit). For each write with a
    /// dedup key, a key already seen on the hook makes it a duplicate: its run is not inserted
    /// and its delivery is recorded with the earlier run's id, status 200 and outcome `duplicate`.
    async fn commit_ingest(&self, batch: &[IngestWrite]) -> Result<Vec<IngestResult>, StoreError>;
    async fn get_delivery(&self, id: &str) -> Result<Option<DeliveryRow>, StoreError>;
    /// A hook's deliveries, newest first, before the `(received_at, id)` cursor when given.
    async fn list_deliveries(
        &self,
        hook_id: &str,
        before: Option<(i64, String)>,
        limit: i64,
    ) -> Result<Vec<DeliveryRow>, StoreError>;
    /// Deletes deliveries received before `deliveries_before` and dedup ids older than
    /// `ids_before`; returns how many deliveries went.
    async fn purge(&self, deliveries_before: i64, ids_before: i64) -> Result<u64, StoreError>;

    async fn get_run(&self, id: &str) -> Result<Option<RunRow>, StoreError>;
    async fn count_runs(&self, pipeline_id: &str) -> Result<i64, StoreError>;
}

/// Connects to the database the settings name and applies its migrations.
pub async fn connect(settings: &Settings) -> anyhow::Result<Arc<dyn Store>> {
    Ok(match settings.database_kind() {
        DatabaseKind::Sqlite => {
            Arc::new(sqlite::SqliteStore::connect(&settings.database_url).await?)
        }
        DatabaseKind::Postgres => {
            Arc::new(postgres::PgStore::connect(&settings.database_url).await?)
        }
    })
}
