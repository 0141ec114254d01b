//! The SQLite backend: the embedded default. WAL journal, `synchronous=FULL`, a busy timeout.

use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::Context;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

use super::sqlite_writer::Writer;
use super::*;

/// How long a SQLite write waits for another writer's lock. Longer than PostgreSQL's
/// [`ACQUIRE_TIMEOUT`]: here a wait is contention between writers, not an outage (a read-only,
/// full or missing database fails at once), and several processes writing one file under load
/// wait seconds for their turn (5 s was measured too short: manual runs got 503s).
const SQLITE_BUSY: std::time::Duration = std::time::Duration::from_secs(10);
/// How long a request waits for one of the pool's connections.
const SQLITE_ACQUIRE: std::time::Duration = std::time::Duration::from_secs(5);

/// [`Store`] on a SQLite file.
pub struct SqliteStore {
    pool: SqlitePool,
    /// The group commit's own thread and connection. SQLite has one writer at a time anyway,
    /// and a connection's page cache is dropped whenever another connection has written: with
    /// the commits spread over the pool, every batch started cold and re-read its index pages.
    writer: Writer,
    config_generation: Arc<AtomicU64>,
    schema: SchemaGate,
}

impl SqliteStore {
    /// Sets up the pools on the database file (created if needed at the first connection)
    /// without connecting yet; [`Store::migrate`] connects and migrates.
    pub fn open(url: &str) -> anyhow::Result<Self> {
        let options = SqliteConnectOptions::from_str(url)
            .context("parsing the SQLite database URL")?
            .create_if_missing(true)
            .page_size(8192)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            // A write waits this long for another writer's lock (contention, often between
            // processes), then the database counts as unavailable (503).
            .busy_timeout(SQLITE_BUSY)
            // 1 MiB of page cache per pooled connection (SQLite's default is 2 MiB): they
            // serve the API's reads; the commit's own connection keeps the larger cache.
            .pragma("cache_size", "-1024");
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(SQLITE_ACQUIRE)
            .connect_lazy_with(options.clone());
        let path = options.get_filename();
        // The writer thread opens the file by its name: an in-memory database would be
        // another database on each connection.
        if path.to_string_lossy().starts_with("file:sqlx-in-memory") || url.contains("mode=memory")
        {
            anyhow::bail!("an in-memory SQLite database cannot be used: name a file, as in sqlite://hookgate.db");
        }
        let writer = Writer::start(path.to_path_buf(), read_only(url), SQLITE_BUSY)
            .context("starting the SQLite writer thread")?;
        Ok(Self {
            pool,
            writer,
            config_generation: Arc::default(),
            schema: SchemaGate::default(),
        })
    }

    async fn config_changed(&self) {
        self.config_generation.fetch_add(1, Ordering::AcqRel);
    }
}

/// Whether the URL opens the database read-only (`?mode=ro`), as sqlx reads it: the writer
/// thread's connection then refuses writes too, and ingest answers 503.
fn read_only(url: &str) -> bool {
    let query = url.split_once('?').map_or("", |(_, q)| q);
    query.split('&').any(|pair| pair == "mode=ro")
}

impl_observe!(SqliteStore);

impl SqliteStore {
    /// [`Store::commit_ingest`]: on the writer thread (`sqlite_writer`).
    pub(crate) async fn commit_ingest_batch(
        &self,
        batch: Arc<Vec<IngestWrite>>,
    ) -> Result<Vec<IngestResult>, StoreError> {
        self.writer.commit(batch).await
    }
}

impl_catalog!(SqliteStore);
impl_deliveries!(SqliteStore);
impl_runs!(SqliteStore);
impl_outbox!(SqliteStore);

impl_store!(SqliteStore, {
    fn backend(&self) -> &'static str {
        "sqlite"
    }
    async fn queue_snapshot(&self, cap: i64) -> Result<crate::store::QueueSnapshot, StoreError> {
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

    fn apply_store(&self) -> &dyn apply::ApplyStore {
        self
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::migrate!("migrations/sqlite")
            .run(&self.pool)
            .await
            .map_err(schema::migrate_error)?;
        self.schema.set_ready();
        Ok(())
    }
});

impl_apply_store!(SqliteStore);
impl_approval_store!(SqliteStore);

impl_alert_store!(SqliteStore);

impl_session_store!(SqliteStore);
impl_delivery_filter!(SqliteStore);
