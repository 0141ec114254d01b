//! Whether the database schema is in place: `serve` starts while the database is down, and
//! applies its migrations when it returns (SPEC §7).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

use super::{Store, StoreError};

/// Longest pause between two attempts to migrate a database that is not reachable yet.
const MAX_PAUSE: Duration = Duration::from_secs(5);

/// Set once the migrations have been applied in this process.
#[derive(Default)]
pub struct SchemaGate {
    ready: AtomicBool,
    changed: Notify,
    /// Why the last attempt failed, for `/readyz`.
    problem: Mutex<Option<String>>,
}

impl SchemaGate {
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Resolves once the schema is in place.
    pub async fn wait(&self) {
        loop {
            let changed = self.changed.notified();
            if self.is_ready() {
                return;
            }
            changed.await;
        }
    }

    /// Why the schema is not ready, when an attempt failed.
    pub fn problem(&self) -> Option<String> {
        self.problem.lock().expect("schema problem lock").clone()
    }

    pub(crate) fn set_ready(&self) {
        *self.problem.lock().expect("schema problem lock") = None;
        self.ready.store(true, Ordering::Release);
        self.changed.notify_waiters();
    }

    fn set_problem(&self, problem: String) {
        *self.problem.lock().expect("schema problem lock") = Some(problem);
    }
}

/// Migrates now. An unreachable PostgreSQL server is not an error: the migrations are retried
/// in the background (every second, backing off to 5 s) until they apply, and the gate opens
/// then. Any other failure (a migration that does not apply, a SQLite file that cannot be
/// opened: a local path is a setting to fix, not an outage to wait out) is returned, as at
/// every start.
pub async fn migrate_or_wait(store: Arc<dyn Store>) -> anyhow::Result<()> {
    match store.migrate().await {
        Ok(()) => Ok(()),
        Err(e) if e.is_unavailable() && store.backend() == "postgres" => {
            tracing::warn!(error = %crate::telemetry::chain(&e), "the database is unavailable; serving 503 until it returns");
            store.schema().set_problem(problem(&e));
            tokio::spawn(async move {
                let mut pause = Duration::from_secs(1);
                loop {
                    tokio::time::sleep(pause).await;
                    match store.migrate().await {
                        Ok(()) => {
                            tracing::info!("the database is back: migrations applied, ready");
                            return;
                        }
                        Err(e) => {
                            if !e.is_unavailable() {
                                tracing::error!(error = %crate::telemetry::chain(&e), "migrating the database failed; will retry");
                            }
                            store.schema().set_problem(problem(&e));
                        }
                    }
                    pause = (pause * 2).min(MAX_PAUSE);
                }
            });
            Ok(())
        }
        Err(e) => Err(anyhow::Error::new(e).context("migrating the database")),
    }
}

/// What readiness says while the schema waits: the kind of failure only, never the driver's
/// text (the log has that, once).
fn problem(e: &StoreError) -> String {
    if e.is_unavailable() {
        "database unavailable"
    } else {
        "database error"
    }
    .to_string()
}

/// Maps a migration failure: one that could not reach the database is `Unavailable`.
pub(crate) fn migrate_error(e: sqlx::migrate::MigrateError) -> StoreError {
    match e {
        sqlx::migrate::MigrateError::Execute(inner) => StoreError::from(inner),
        other => StoreError::Other(sqlx::Error::Migrate(Box::new(other))),
    }
}
