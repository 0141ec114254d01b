//! Storage: one [`Store`] trait, two concrete backends (SQLite and PostgreSQL).
//!
//! The SQL both dialects share lives once, in one inherent-method macro per aggregate (catalog,
//! deliveries, runs, outbox, ingest, observe, approvals, alerts, apply); `impl_store!`
//! (store/shared.rs) makes the `Store` impl that delegates to them. Each backend module expands
//! them and adds what differs (connection set-up, migrations, notifications).

#[macro_use]
mod catalog;
#[macro_use]
pub mod apply;
pub mod compress;
#[macro_use]
mod deliveries;
mod error;
mod model;
#[macro_use]
mod observe;
#[macro_use]
mod outbox;
mod outgoing;
pub mod schema;
#[macro_use]
pub(crate) mod shared;
mod ingest;
#[macro_use]
mod approval;
#[macro_use]
mod runs;
mod text_enums;
#[macro_use]
pub mod events;
#[macro_use]
pub mod session;
#[macro_use]
pub mod delivery_filter;
pub mod postgres;
mod postgres_ingest;
pub mod sqlite;
mod sqlite_writer;

use std::sync::Arc;

pub use approval::{ApprovalRow, ApprovalStore, DecisionIn};
pub use delivery_filter::DeliveryFilter;
pub use error::StoreError;
pub use events::AlertStore;
pub use model::*;
pub use observe::{QueueSnapshot, RunProgress, StepProgress};
pub use outgoing::*;
pub use schema::SchemaGate;
pub use session::{SessionRow, SessionStore};

use crate::config::{DatabaseKind, Settings};
use crate::domain::ids::RunId;
use crate::domain::run_status::RunStatus;

/// What the runner uses: the claims on runs and their steps, and what a run reads (its
/// pipeline, secrets, approvals). `worker/` depends on this, not on the whole [`Store`].
#[async_trait::async_trait]
pub trait RunStore: ApprovalStore + Send + Sync + 'static {
    /// Whether the migrations have been applied by this process.
    fn schema(&self) -> &SchemaGate;
    async fn get_pipeline(&self, id: &str) -> Result<Option<PipelineRow>, StoreError>;
    async fn list_secrets(&self, pipeline_id: &str) -> Result<Vec<SecretRow>, StoreError>;
    async fn get_run(&self, id: &str) -> Result<Option<RunRow>, StoreError>;
    /// Claims the oldest queued run that its concurrency policy lets start, with a lease until
    /// `now + lease_ms`, in a transaction that commits at once. Queued runs that a newer run of
    /// the same key supersedes are marked `superseded` on the way.
    async fn claim_run(
        &self,
        worker_id: &str,
        lease_ms: i64,
        now: i64,
    ) -> Result<Option<RunRow>, StoreError>;
    /// Extends the lease of `attempt`; fenced: a worker that lost the run learns it and changes nothing.
    async fn heartbeat(
        &self,
        run_id: &RunId,
        attempt: i64,
        lease_until: i64,
    ) -> Result<Lease, StoreError>;
    /// Ends `attempt` with a final status; false when the attempt no longer holds the run.
    async fn finish_run(
        &self,
        run_id: &RunId,
        attempt: i64,
        status: crate::domain::run_status::RunStatus,
        reason: Option<&str>,
        now: i64,
    ) -> Result<bool, StoreError>;
    /// Hands a running attempt back to the queue (graceful shutdown).
    async fn requeue_run(&self, run_id: &RunId, attempt: i64) -> Result<bool, StoreError>;
    /// Writes a step's state, only while `attempt` holds the run.
    async fn record_step(&self, attempt: i64, step: &StepRow) -> Result<bool, StoreError>;
    /// Runs whose lease expired: re-queued when attempts remain, else `failed` with reason
    /// `worker_lost`. Returns `(run id, new status)`.
    async fn recover_expired(&self, now: i64) -> Result<Vec<(RunId, RunStatus)>, StoreError>;
}

/// Everything hookgate keeps, behind one interface for both databases.
#[async_trait::async_trait]
pub trait Store:
    RunStore + ApprovalStore + AlertStore + SessionStore + DeliveryFilter + Send + Sync + 'static
{
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;
    /// Succeeds when the database answers.
    async fn ping(&self) -> Result<(), StoreError>;
    /// Commits a one-row write: succeeds only when the database takes writes (not read-only,
    /// full, locked or unreachable). `/readyz` calls it.
    async fn probe_write(&self, now: i64) -> Result<(), StoreError>;
    /// Applies the migrations this build carries; opens [`Store::schema`] when done.
    async fn migrate(&self) -> Result<(), StoreError>;
    /// Changes when a hook or a pipeline changes: by this process at once, and on PostgreSQL by
    /// another process as soon as its NOTIFY arrives (once `watch_config` runs). Ingest keeps a
    /// compiled hook in memory while this is unchanged.
    fn config_generation(&self) -> u64;
    /// Starts following other processes' hook and pipeline changes (PostgreSQL: LISTEN); a
    /// no-op on SQLite, where other processes are covered by the hook cache's freshness limit.
    fn watch_config(&self);
    /// The transaction-scoped catalog reads and writes of `hookgate apply` (store/apply.rs).
    fn apply_store(&self) -> &dyn apply::ApplyStore;

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
    async fn update_pipeline(&self, p: &PipelineRow) -> Result<bool, StoreError>;
    async fn delete_pipeline(&self, id: &str) -> Result<bool, StoreError>;

    async fn put_secret(&self, s: &SecretRow) -> Result<(), StoreError>;
    async fn delete_secret(&self, pipeline_id: &str, name: &str) -> Result<bool, StoreError>;

    async fn insert_hook(&self, h: &HookRow) -> Result<(), StoreError>;
    async fn get_hook(&self, id: &str) -> Result<Option<HookRow>, StoreError>;
    async fn list_hooks(&self, pipeline_id: &str) -> Result<Vec<HookRow>, StoreError>;
    async fn update_hook(&self, h: &HookRow) -> Result<bool, StoreError>;
    async fn delete_hook(&self, id: &str) -> Result<bool, StoreError>;

    /// Commits a batch of ingests in one transaction (group commit). For each write with a
    /// dedup key, a key already seen on the hook makes it a duplicate: its run is not inserted
    /// and its delivery is recorded with the earlier run's id, status 200 and outcome `duplicate`.
    async fn commit_ingest(
        &self,
        batch: std::sync::Arc<Vec<IngestWrite>>,
    ) -> Result<Vec<IngestResult>, StoreError>;
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

    async fn count_runs(&self, pipeline_id: &str) -> Result<i64, StoreError>;
    /// For a pipeline's runs that have started: milliseconds from enqueue (`created_at`) to
    /// `started_at` (measuring wake-up latency).
    async fn run_start_delays(&self, pipeline_id: &str) -> Result<Vec<i64>, StoreError>;
    /// A hook and its pipeline's definition, in one read (the ingest hot path).
    async fn get_hook_for_ingest(&self, id: &str) -> Result<Option<IngestHookRow>, StoreError>;
    /// Inserts a run on its own (manual runs, retries).
    async fn insert_run(&self, run: &RunRow) -> Result<(), StoreError>;
    /// Runs of a pipeline, newest first, filtered by status and `created_at >= since`, before
    /// the `(created_at, id)` cursor.
    async fn list_runs(
        &self,
        pipeline_id: &str,
        status: Option<&str>,
        since: Option<i64>,
        before: Option<(i64, String)>,
        limit: i64,
    ) -> Result<Vec<RunRow>, StoreError>;

    async fn list_steps(&self, run_id: &str) -> Result<Vec<StepRow>, StoreError>;
    /// Cancels a queued run at once, or asks a running one to stop. Returns the status after:
    /// `cancelled`, `running` (cancel requested) or the run's final status; `None` if no run.
    async fn request_cancel(&self, run_id: &str, now: i64)
        -> Result<Option<RunStatus>, StoreError>;

    /// Tells workers in other processes that runs may be ready (PostgreSQL NOTIFY; SQLite has
    /// one process, so nothing).
    async fn announce_runs(&self) -> Result<(), StoreError>;
    /// Calls `wake.notify_one()` whenever another process announces runs, until the process
    /// ends (PostgreSQL LISTEN, reconnecting after errors; SQLite: nothing).
    fn listen_runs(&self, wake: std::sync::Arc<tokio::sync::Notify>);

    // Outgoing hooks (SPEC §6). Their events are inserted by the run state changes above, in
    // the same transaction.
    async fn insert_outgoing_hook(&self, h: &OutgoingHookRow) -> Result<(), StoreError>;
    async fn get_outgoing_hook(&self, id: &str) -> Result<Option<OutgoingHookRow>, StoreError>;
    async fn list_outgoing_hooks(
        &self,
        pipeline_id: &str,
    ) -> Result<Vec<OutgoingHookRow>, StoreError>;
    async fn update_outgoing_hook(&self, h: &OutgoingHookRow) -> Result<bool, StoreError>;
    async fn delete_outgoing_hook(&self, id: &str) -> Result<bool, StoreError>;
    /// Claims up to `limit` pending events due at `now`: each claimed event's `next_attempt_at`
    /// moves to `now + lease_ms`, so an event whose deliverer died is tried again after that.
    async fn claim_events(
        &self,
        now: i64,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<OutgoingEventRow>, StoreError>;
    /// Records attempt `attempt.attempt` and what follows, in one transaction; false (and nothing
    /// written) when that attempt was already recorded or the event is no longer pending.
    async fn record_attempt(
        &self,
        attempt: &OutgoingAttemptRow,
        next: &EventNext,
    ) -> Result<bool, StoreError>;
    /// Ends a pending event without an attempt (its hook is inactive or gone).
    async fn fail_event(&self, event_id: &str, error: &str, now: i64) -> Result<bool, StoreError>;
    /// The earliest `next_attempt_at` of pending events, if any.
    async fn next_event_due(&self) -> Result<Option<i64>, StoreError>;
    /// A hook's attempts, newest first.
    async fn list_attempts(
        &self,
        hook_id: &str,
        limit: i64,
    ) -> Result<Vec<OutgoingAttemptView>, StoreError>;
    /// A hook's events, newest first.
    async fn list_events(
        &self,
        hook_id: &str,
        limit: i64,
    ) -> Result<Vec<OutgoingEventRow>, StoreError>;

    // Observability (store/observe.rs).
    /// Runs per pipeline and state, the oldest queued run and the outgoing backlog; each count
    /// reads at most `cap` rows.
    async fn queue_snapshot(&self, cap: i64) -> Result<QueueSnapshot, StoreError>;
    /// A run's status and its steps' status and log length, in one read; `None` if no run.
    async fn run_progress(&self, run_id: &str) -> Result<Option<RunProgress>, StoreError>;
    /// A step's stored log from character `from_chars` (0-based) on; `None` if no such step.
    async fn step_log_tail(
        &self,
        run_id: &str,
        idx: i64,
        from_chars: i64,
    ) -> Result<Option<String>, StoreError>;
}

/// How long a request waits for a pooled PostgreSQL connection (connecting included) before
/// the database counts as unavailable: a 503 must come within 2 s of a request (SPEC §7).
pub const ACQUIRE_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(1500);

/// Opens the database the settings name without connecting yet.
fn open(settings: &Settings) -> anyhow::Result<Arc<dyn Store>> {
    Ok(match settings.database_kind() {
        DatabaseKind::Sqlite => Arc::new(sqlite::SqliteStore::open(&settings.database_url)?),
        DatabaseKind::Postgres => Arc::new(postgres::PgStore::open(&settings.database_url)?),
    })
}

/// Connects to the database the settings name and applies its migrations; fails when the
/// database cannot be reached (the CLI's commands).
pub async fn connect(settings: &Settings) -> anyhow::Result<Arc<dyn Store>> {
    let store = open(settings)?;
    store
        .migrate()
        .await
        .map_err(|e| anyhow::Error::new(e).context("connecting to and migrating the database"))?;
    Ok(store)
}

/// Like [`connect`], but an unreachable database is not an error: the store is returned at
/// once, answers `Unavailable` until the database returns, and is migrated then (`serve`,
/// `worker`). See [`schema::migrate_or_wait`].
pub async fn connect_or_wait(settings: &Settings) -> anyhow::Result<Arc<dyn Store>> {
    let store = open(settings)?;
    schema::migrate_or_wait(store.clone()).await?;
    Ok(store)
}
