//! The SQLite backend: the embedded default. WAL journal, `synchronous=FULL`, a busy timeout.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

use super::*;

/// [`Store`] on a SQLite file.
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and migrates it.
    #[tracing::instrument(name = "connect sqlite", skip_all)]
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let options = SqliteConnectOptions::from_str(url)
            .context("parsing the SQLite database URL")?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await
            .context("opening the SQLite database")?;
        sqlx::migrate!("migrations/sqlite")
            .run(&pool)
            .await
            .context("migrating the SQLite database")?;
        Ok(Self { pool })
    }
}

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
        async fn announce_runs(&self) -> Result<(), StoreError> {
            Ok(())
        }

        fn listen_runs(&self, _wake: Arc<tokio::sync::Notify>) {}
    }
);
