//! The SQLite backend: the embedded default. WAL journal, `synchronous=FULL`, a busy timeout.

use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

use super::*;

/// [`Store`] on a SQLite file.
pub struct SqliteStore {
    pool: SqlitePool,
    /// One connection for the group commit. SQLite has one writer at a time anyway, and a
    /// connection's page cache is dropped whenever another connection has written: with the
    /// commits spread over the pool, every batch started cold and re-read its index pages.
    ingest_pool: SqlitePool,
    config_generation: Arc<AtomicU64>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and migrates it.
    #[tracing::instrument(name = "connect sqlite", skip_all)]
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let options = SqliteConnectOptions::from_str(url)
            .context("parsing the SQLite database URL")?
            .create_if_missing(true)
            .page_size(8192)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options.clone())
            .await
            .context("opening the SQLite database")?;
        sqlx::migrate!("migrations/sqlite")
            .run(&pool)
            .await
            .context("migrating the SQLite database")?;
        let ingest_pool = SqlitePoolOptions::new()
            .min_connections(1)
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(5))
            // 16 MiB of page cache (negative: KiB), so the indexes' pages stay in memory.
            .connect_with(
                options
                    .pragma("cache_size", "-16384")
                    .pragma("temp_store", "MEMORY"),
            )
            .await
            .context("opening the SQLite database")?;
        Ok(Self {
            pool,
            ingest_pool,
            config_generation: Arc::default(),
        })
    }

    async fn config_changed(&self) {
        self.config_generation.fetch_add(1, Ordering::AcqRel);
    }
}

impl_observe!(SqliteStore);

impl_store!(
    SqliteStore,
    begin_write = "BEGIN IMMEDIATE",
    claim_candidates =
        "SELECT * FROM runs WHERE status = 'queued' ORDER BY created_at, id LIMIT 256",
    key_lock = None,
    {
        fn backend(&self) -> &'static str {
            "sqlite"
        }
        async fn queue_snapshot(
            &self,
            cap: i64,
        ) -> Result<crate::store::QueueSnapshot, StoreError> {
            self.observe_queue_snapshot(cap).await
        }
        async fn run_progress(
            &self,
            run_id: &str,
        ) -> Result<Option<crate::store::RunProgress>, StoreError> {
            self.observe_run_progress(run_id).await
        }
        async fn step_log_tail(
            &self,
            run_id: &str,
            idx: i64,
            from: i64,
        ) -> Result<Option<String>, StoreError> {
            self.observe_step_log_tail(run_id, idx, from).await
        }
        async fn announce_runs(&self) -> Result<(), StoreError> {
            Ok(())
        }

        fn listen_runs(&self, _wake: Arc<tokio::sync::Notify>) {}

        fn watch_config(&self) {}
    }
);
