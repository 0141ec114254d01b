//! The PostgreSQL backend: for scale-out, several hookgate processes share one database.

use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use sqlx::PgPool;

use super::*;

/// The NOTIFY channel that announces runs ready to claim.
const RUNS_CHANNEL: &str = "hookgate_runs";
/// The NOTIFY channel that announces a changed hook or pipeline (ingest's hook caches).
const CONFIG_CHANNEL: &str = "hookgate_config";

/// [`Store`] on a PostgreSQL database.
pub struct PgStore {
    pool: PgPool,
    /// The group commit's transactions: the main pool.
    pub(super) ingest_pool: PgPool,
    config_generation: Arc<AtomicU64>,
    schema: SchemaGate,
}

impl PgStore {
    /// Sets up the pool without connecting yet; [`Store::migrate`] connects and migrates.
    /// Several processes may migrate at once: sqlx takes an advisory lock.
    pub fn open(url: &str) -> anyhow::Result<Self> {
        let options =
            PgConnectOptions::from_str(url).context("parsing the PostgreSQL database URL")?;
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_lazy_with(options);
        Ok(Self {
            ingest_pool: pool.clone(),
            pool,
            config_generation: Arc::default(),
            schema: SchemaGate::default(),
        })
    }

    /// Bumps the generation here and tells the other processes. A lost NOTIFY is covered by the
    /// hook cache's freshness limit.
    async fn config_changed(&self) {
        self.config_generation.fetch_add(1, Ordering::AcqRel);
        if let Err(e) = sqlx::query("SELECT pg_notify($1, '')")
            .bind(CONFIG_CHANNEL)
            .execute(&self.pool)
            .await
        {
            tracing::debug!(error = %crate::telemetry::chain(&e), "could not announce a hook change");
        }
    }
}

/// LISTENs on `channel` for as long as the process runs, reconnecting a second after the
/// connection is lost. `on_event` runs for every notification, and once after every
/// (re)connection, since announcements made while not listening were missed.
fn listen_forever(pool: PgPool, channel: &'static str, on_event: impl Fn() + Send + 'static) {
    tokio::spawn(async move {
        loop {
            match PgListener::connect_with(&pool).await {
                Ok(mut listener) => {
                    if listener.listen(channel).await.is_ok() {
                        on_event();
                        while listener.recv().await.is_ok() {
                            on_event();
                        }
                    }
                }
                Err(e) => {
                    tracing::debug!(error = %crate::telemetry::chain(&e), channel, "listener cannot connect; retrying")
                }
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
}

impl_observe!(PgStore);

impl_catalog!(PgStore);
impl_deliveries!(PgStore);
impl_runs!(PgStore);
impl_outbox!(PgStore);

impl_store!(PgStore, {
    fn backend(&self) -> &'static str {
        "postgres"
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
        sqlx::query("SELECT pg_notify($1, '')")
            .bind(RUNS_CHANNEL)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    fn listen_runs(&self, wake: Arc<tokio::sync::Notify>) {
        listen_forever(self.pool.clone(), RUNS_CHANNEL, move || wake.notify_one());
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::migrate!("migrations/postgres")
            .run(&self.pool)
            .await
            .map_err(schema::migrate_error)?;
        self.schema.set_ready();
        Ok(())
    }

    fn watch_config(&self) {
        let generation = self.config_generation.clone();
        listen_forever(self.pool.clone(), CONFIG_CHANNEL, move || {
            generation.fetch_add(1, Ordering::AcqRel);
        });
    }

    fn apply_store(&self) -> &dyn apply::ApplyStore {
        self
    }
});

impl_apply_store!(PgStore);
impl_approval_store!(PgStore);

impl_alert_store!(PgStore);

impl_session_store!(PgStore);
impl_delivery_filter!(PgStore);
