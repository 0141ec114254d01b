//! The PostgreSQL backend: for scale-out, several hookgate processes share one database.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use sqlx::PgPool;

use super::*;

/// The NOTIFY channel that announces runs ready to claim.
const RUNS_CHANNEL: &str = "hookgate_runs";

/// [`Store`] on a PostgreSQL database.
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects and migrates. Several processes may migrate at once: sqlx takes an advisory lock.
    #[tracing::instrument(name = "connect postgres", skip_all)]
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let options =
            PgConnectOptions::from_str(url).context("parsing the PostgreSQL database URL")?;
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await
            .context("connecting to PostgreSQL")?;
        sqlx::migrate!("migrations/postgres")
            .run(&pool)
            .await
            .context("migrating the PostgreSQL database")?;
        Ok(Self { pool })
    }
}

impl_store!(
    PgStore,
    begin_write = "BEGIN",
    claim_candidates = "SELECT * FROM runs WHERE status = 'queued' ORDER BY created_at, id LIMIT 256 FOR UPDATE SKIP LOCKED",
    key_lock = Some("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))"), {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn announce_runs(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT pg_notify($1, '')").bind(RUNS_CHANNEL).execute(&self.pool).await?;
        Ok(())
    }

    fn listen_runs(&self, wake: Arc<tokio::sync::Notify>) {
        let pool = self.pool.clone();
        tokio::spawn(async move {
            loop {
                match PgListener::connect_with(&pool).await {
                    Ok(mut listener) => {
                        if listener.listen(RUNS_CHANNEL).await.is_ok() {
                            // A (re)connected listener may have missed announcements: look once.
                            wake.notify_one();
                            while listener.recv().await.is_ok() {
                                wake.notify_one();
                            }
                        }
                    }
                    Err(e) => tracing::debug!(error = %e, "run listener cannot connect; retrying"),
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
    }
});
