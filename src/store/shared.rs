//! What the store's aggregates share: the run insert, the outgoing-event enqueue macros, the
//! `Dialect` trait, and `impl_store!`, the `impl Store` that delegates to the aggregates'
//! inherent methods. `$1`-style placeholders work in SQLite and PostgreSQL alike, so the SQL is
//! written once and each backend expands the macros.

/// Inserts a run; bind with `bind_run!`.
pub(crate) const RUN_INSERT: &str = "INSERT INTO runs (id, pipeline_id, project_id, hook_id, delivery_id, status, reason, \
     variables, triggered_by, concurrency_key, attempt, lease_expires_at, created_at, started_at, finished_at, worker_id, \
     cancel_requested, max_attempts, concurrency_policy, concurrency_max) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)";

/// Binds every column of a `RunRow` to `RUN_INSERT`.
macro_rules! bind_run {
    ($query:expr, $run:expr) => {{
        let r = $run;
        $query
            .bind(&r.id)
            .bind(&r.pipeline_id)
            .bind(&r.project_id)
            .bind(&r.hook_id)
            .bind(&r.delivery_id)
            .bind(&r.status)
            .bind(&r.reason)
            .bind(&r.variables)
            .bind(&r.triggered_by)
            .bind(&r.concurrency_key)
            .bind(r.attempt)
            .bind(r.lease_expires_at)
            .bind(r.created_at)
            .bind(r.started_at)
            .bind(r.finished_at)
            .bind(&r.worker_id)
            .bind(r.cancel_requested)
            .bind(r.max_attempts)
            .bind(&r.concurrency_policy)
            .bind(r.concurrency_max)
    }};
}

/// The active outgoing hooks of `$pipeline_id` whose triggers include `$event`, as
/// `(hook id, pipeline name, project name)`, read inside the transaction `$tx`.
macro_rules! subscribed_hooks {
    ($tx:ident, $pipeline_id:expr, $event:expr) => {{
        let hooks: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT h.id, p.name, pr.name FROM outgoing_hooks h JOIN pipelines p ON p.id = h.pipeline_id \
             JOIN projects pr ON pr.id = p.project_id \
             WHERE h.pipeline_id = $1 AND h.is_active = TRUE AND h.triggers LIKE '%' || $2 || '%' ORDER BY h.id",
        )
        .bind($pipeline_id)
        // The pattern is built in SQL: SQLite re-prepares a statement whose LIKE has a bare
        // parameter on its right every time that parameter is bound.
        .bind(format!("\"{}\"", $event))
        .fetch_all(&mut *$tx)
        .await?;
        hooks
    }};
}

/// Inserts one `outgoing_events` row per hook in `$hooks` (from `subscribed_hooks!`), inside
/// the caller's transaction, with the run snapshot stored alongside (made by `$snapshot`, a
/// `Fn(&RunRow, pipeline name, project name) -> String`, when given).
macro_rules! insert_events {
    ($tx:ident, $hooks:expr, $run:expr, $event:expr, $now:expr) => {
        insert_events!($tx, $hooks, $run, $event, $now, |run: &RunRow, pipeline: &str, project: &str| {
            run.snapshot(pipeline, project).to_json()
        })
    };
    ($tx:ident, $hooks:expr, $run:expr, $event:expr, $now:expr, $snapshot:expr) => {{
        let run: &RunRow = $run;
        let event: &str = $event;
        let now: i64 = $now;
        for (hook_id, pipeline_name, project_name) in $hooks {
            sqlx::query(
                "INSERT INTO outgoing_events (id, hook_id, run_id, event, ordinal, occurred_at, snapshot, status, attempts, \
                 next_attempt_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', 0, $6, $6)",
            )
            .bind($crate::domain::ids::new_id($crate::domain::ids::IdKind::Event))
            .bind(hook_id)
            .bind(&run.id)
            .bind(event)
            .bind($crate::domain::run::event_ordinal(event))
            .bind(now)
            .bind(($snapshot)(run, pipeline_name, project_name))
            .execute(&mut *$tx)
            .await?;
        }
    }};
}

/// Inserts one `outgoing_events` row per active outgoing hook of the run's pipeline whose
/// triggers include `$event`, inside the caller's transaction `$tx`, so that an event exists
/// exactly when the run state change that caused it is committed (SPEC §6).
macro_rules! enqueue_events {
    ($tx:ident, $run:expr, $event:expr, $now:expr) => {{
        let run: &RunRow = $run;
        let hooks = subscribed_hooks!($tx, &run.pipeline_id, $event);
        insert_events!($tx, &hooks, run, $event, $now);
    }};
}

/// What differs between the two backends' SQL, in one place. The aggregates' macros read these
/// items (`<$ty as Dialect>::BEGIN_WRITE`); everything else is written once for both.
pub trait Dialect {
    /// The sqlx database type, for the statements built with `QueryBuilder`.
    type Db: sqlx::Database;
    /// Opens a write transaction. SQLite: `BEGIN IMMEDIATE`, which takes the write lock at once
    /// (and so serializes claims and applies); PostgreSQL: `BEGIN`.
    const BEGIN_WRITE: &'static str;
    /// Ends a claim's `SELECT`: on PostgreSQL rows another process is claiming are skipped, not
    /// waited for; on SQLite nothing (`BEGIN IMMEDIATE` already serializes claims).
    const SKIP_LOCKED: &'static str;
    /// The queued runs a claim looks at, oldest first (ends with `SKIP_LOCKED`).
    const CLAIM_CANDIDATES: &'static str;
    /// A transaction-scoped lock on a text key (`$1`): a run's concurrency key in `claim_run`, a
    /// project in an apply. `None` where the write transaction already serializes them.
    const KEY_LOCK: Option<&'static str>;
    /// Locks a run's pipeline (`$1`) until the commit and returns its id, or no row when it is
    /// gone. PostgreSQL: `FOR KEY SHARE`, the lock its foreign key took before migration 0015
    /// moved the check to the writes. `None` where the foreign key still checks it (SQLite).
    const PIPELINE_LOCK: Option<&'static str>;
}

impl Dialect for super::sqlite::SqliteStore {
    type Db = sqlx::Sqlite;
    const BEGIN_WRITE: &'static str = "BEGIN IMMEDIATE";
    const SKIP_LOCKED: &'static str = "";
    const CLAIM_CANDIDATES: &'static str =
        "SELECT * FROM runs WHERE status = 'queued' ORDER BY created_at, id LIMIT 256";
    const KEY_LOCK: Option<&'static str> = None;
    const PIPELINE_LOCK: Option<&'static str> = None;
}

impl Dialect for super::postgres::PgStore {
    type Db = sqlx::Postgres;
    const BEGIN_WRITE: &'static str = "BEGIN";
    const SKIP_LOCKED: &'static str = " FOR UPDATE SKIP LOCKED";
    const CLAIM_CANDIDATES: &'static str = "SELECT * FROM runs WHERE status = 'queued' \
        ORDER BY created_at, id LIMIT 256 FOR UPDATE SKIP LOCKED";
    const KEY_LOCK: Option<&'static str> =
        Some("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))");
    const PIPELINE_LOCK: Option<&'static str> =
        Some("SELECT id FROM pipelines WHERE id = $1 FOR KEY SHARE");
}

/// Expands to `impl Store for $ty`: the connection-level methods (ping, write probe, schema
/// gate, config generation), one-line delegations to the aggregates' inherent methods
/// (`impl_catalog!` in store/catalog.rs, `impl_deliveries!` in store/deliveries.rs, `impl_runs!`
/// in store/runs.rs, `impl_outbox!` in store/outbox.rs), plus the backend's own methods given
/// as `$extra`. The backend must expand those macros too, and have an inherent
/// `commit_ingest_batch` for the group commit (PostgreSQL: store/postgres_ingest.rs, on an
/// `ingest_pool` field; SQLite: its writer thread, store/sqlite_writer.rs).
/// The backend type needs a `pool` field, a `config_generation: Arc<AtomicU64>` field and an
/// inherent `async fn config_changed(&self)` that bumps it (and tells other processes, where it
/// can).
/// (The whole impl is generated here because `#[async_trait]` must see every method.)
macro_rules! impl_store {
    ($ty:ty, { $($extra:tt)* }) => {
        #[async_trait::async_trait]
        impl $crate::store::RunStore for $ty {
        fn schema(&self) -> &$crate::store::SchemaGate {
            &self.schema
        }

        async fn get_pipeline(&self, id: &str) -> Result<Option<PipelineRow>, StoreError> {
            <$ty>::get_pipeline(self, id).await
        }

        async fn list_secrets(&self, pipeline_id: &str) -> Result<Vec<SecretRow>, StoreError> {
            <$ty>::list_secrets(self, pipeline_id).await
        }

        async fn get_run(&self, id: &str) -> Result<Option<RunRow>, StoreError> {
            <$ty>::get_run(self, id).await
        }

        async fn claim_run(&self, worker_id: &str, lease_ms: i64, now: i64) -> Result<Option<RunRow>, StoreError> {
            <$ty>::claim_run(self, worker_id, lease_ms, now).await
        }

        async fn heartbeat(&self, run_id: &$crate::domain::ids::RunId, attempt: i64, lease_until: i64) -> Result<Lease, StoreError> {
            <$ty>::heartbeat(self, run_id, attempt, lease_until).await
        }

        async fn finish_run(&self, run_id: &$crate::domain::ids::RunId, attempt: i64, status: $crate::domain::run_status::RunStatus, reason: Option<&str>, now: i64) -> Result<bool, StoreError> {
            <$ty>::finish_run(self, run_id, attempt, status, reason, now).await
        }

        async fn requeue_run(&self, run_id: &$crate::domain::ids::RunId, attempt: i64) -> Result<bool, StoreError> {
            <$ty>::requeue_run(self, run_id, attempt).await
        }

        async fn record_step(&self, attempt: i64, step: &StepRow) -> Result<bool, StoreError> {
            <$ty>::record_step(self, attempt, step).await
        }

        async fn recover_expired(&self, now: i64) -> Result<Vec<($crate::domain::ids::RunId, $crate::domain::run_status::RunStatus)>, StoreError> {
            let changed = <$ty>::recover_expired(self, now).await?;
            Ok(changed.into_iter().map(|(id, status)| (id.into(), status)).collect())
        }
        }

        #[async_trait::async_trait]
        impl Store for $ty {
        async fn ping(&self) -> Result<(), StoreError> {
            sqlx::query("SELECT 1").execute(&self.pool).await?;
            Ok(())
        }

        async fn probe_write(&self, now: i64) -> Result<(), StoreError> {
            sqlx::query("UPDATE readiness_probe SET checked_at = $1 WHERE id = 1").bind(now).execute(&self.pool).await?;
            Ok(())
        }

        fn config_generation(&self) -> u64 {
            self.config_generation.load(std::sync::atomic::Ordering::Acquire)
        }

        async fn commit_ingest(&self, batch: std::sync::Arc<Vec<IngestWrite>>) -> Result<Vec<IngestResult>, StoreError> {
            self.commit_ingest_batch(batch).await
        }

        async fn insert_project(&self, p: &ProjectRow) -> Result<(), StoreError> {
            <$ty>::insert_project(self, p).await
        }

        async fn list_projects(&self) -> Result<Vec<ProjectRow>, StoreError> {
            <$ty>::list_projects(self).await
        }

        async fn get_project(&self, id: &str) -> Result<Option<ProjectRow>, StoreError> {
            <$ty>::get_project(self, id).await
        }

        async fn get_project_by_name(&self, name: &str) -> Result<Option<ProjectRow>, StoreError> {
            <$ty>::get_project_by_name(self, name).await
        }

        async fn insert_token(&self, t: &TokenRow) -> Result<(), StoreError> {
            <$ty>::insert_token(self, t).await
        }

        async fn list_tokens(&self, project_id: &str) -> Result<Vec<TokenRow>, StoreError> {
            <$ty>::list_tokens(self, project_id).await
        }

        async fn get_token(&self, id: &str) -> Result<Option<TokenRow>, StoreError> {
            <$ty>::get_token(self, id).await
        }

        async fn find_token_by_hash(&self, hash: &str) -> Result<Option<TokenRow>, StoreError> {
            <$ty>::find_token_by_hash(self, hash).await
        }

        async fn delete_token(&self, id: &str) -> Result<bool, StoreError> {
            <$ty>::delete_token(self, id).await
        }

        async fn insert_pipeline(&self, p: &PipelineRow) -> Result<(), StoreError> {
            <$ty>::insert_pipeline(self, p).await
        }

        async fn list_pipelines(&self, project_id: &str) -> Result<Vec<PipelineRow>, StoreError> {
            <$ty>::list_pipelines(self, project_id).await
        }

        async fn update_pipeline(&self, p: &PipelineRow) -> Result<bool, StoreError> {
            <$ty>::update_pipeline(self, p).await
        }

        async fn delete_pipeline(&self, id: &str) -> Result<bool, StoreError> {
            <$ty>::delete_pipeline(self, id).await
        }

        async fn put_secret(&self, s: &SecretRow) -> Result<(), StoreError> {
            <$ty>::put_secret(self, s).await
        }

        async fn delete_secret(&self, pipeline_id: &str, name: &str) -> Result<bool, StoreError> {
            <$ty>::delete_secret(self, pipeline_id, name).await
        }

        async fn insert_hook(&self, h: &HookRow) -> Result<(), StoreError> {
            <$ty>::insert_hook(self, h).await
        }

        async fn get_hook(&self, id: &str) -> Result<Option<HookRow>, StoreError> {
            <$ty>::get_hook(self, id).await
        }

        async fn list_hooks(&self, pipeline_id: &str) -> Result<Vec<HookRow>, StoreError> {
            <$ty>::list_hooks(self, pipeline_id).await
        }

        async fn update_hook(&self, h: &HookRow) -> Result<bool, StoreError> {
            <$ty>::update_hook(self, h).await
        }

        async fn delete_hook(&self, id: &str) -> Result<bool, StoreError> {
            <$ty>::delete_hook(self, id).await
        }

        async fn get_hook_for_ingest(&self, id: &str) -> Result<Option<IngestHookRow>, StoreError> {
            <$ty>::get_hook_for_ingest(self, id).await
        }

        async fn get_delivery(&self, id: &str) -> Result<Option<DeliveryRow>, StoreError> {
            <$ty>::get_delivery(self, id).await
        }

        async fn list_deliveries(&self, hook_id: &str, before: Option<(i64, String)>, limit: i64) -> Result<Vec<DeliveryRow>, StoreError> {
            <$ty>::list_deliveries(self, hook_id, before, limit).await
        }

        async fn purge(&self, deliveries_before: i64, ids_before: i64) -> Result<u64, StoreError> {
            <$ty>::purge(self, deliveries_before, ids_before).await
        }

        async fn count_runs(&self, pipeline_id: &str) -> Result<i64, StoreError> {
            <$ty>::count_runs(self, pipeline_id).await
        }

        async fn run_start_delays(&self, pipeline_id: &str) -> Result<Vec<i64>, StoreError> {
            <$ty>::run_start_delays(self, pipeline_id).await
        }

        async fn insert_run(&self, run: &RunRow) -> Result<(), StoreError> {
            <$ty>::insert_run(self, run).await
        }

        async fn list_runs(&self, pipeline_id: &str, status: Option<&str>, since: Option<i64>, before: Option<(i64, String)>, limit: i64) -> Result<Vec<RunRow>, StoreError> {
            <$ty>::list_runs(self, pipeline_id, status, since, before, limit).await
        }

        async fn list_steps(&self, run_id: &str) -> Result<Vec<StepRow>, StoreError> {
            <$ty>::list_steps(self, run_id).await
        }

        async fn request_cancel(&self, run_id: &str, now: i64) -> Result<Option<$crate::domain::run_status::RunStatus>, StoreError> {
            <$ty>::request_cancel(self, run_id, now).await
        }

        async fn insert_outgoing_hook(&self, h: &OutgoingHookRow) -> Result<(), StoreError> {
            <$ty>::insert_outgoing_hook(self, h).await
        }

        async fn get_outgoing_hook(&self, id: &str) -> Result<Option<OutgoingHookRow>, StoreError> {
            <$ty>::get_outgoing_hook(self, id).await
        }

        async fn list_outgoing_hooks(&self, pipeline_id: &str) -> Result<Vec<OutgoingHookRow>, StoreError> {
            <$ty>::list_outgoing_hooks(self, pipeline_id).await
        }

        async fn update_outgoing_hook(&self, h: &OutgoingHookRow) -> Result<bool, StoreError> {
            <$ty>::update_outgoing_hook(self, h).await
        }

        async fn delete_outgoing_hook(&self, id: &str) -> Result<bool, StoreError> {
            <$ty>::delete_outgoing_hook(self, id).await
        }

        async fn claim_events(&self, now: i64, lease_ms: i64, limit: i64) -> Result<Vec<OutgoingEventRow>, StoreError> {
            <$ty>::claim_events(self, now, lease_ms, limit).await
        }

        async fn record_attempt(&self, a: &OutgoingAttemptRow, next: &EventNext) -> Result<bool, StoreError> {
            <$ty>::record_attempt(self, a, next).await
        }

        async fn fail_event(&self, event_id: &str, error: &str, now: i64) -> Result<bool, StoreError> {
            <$ty>::fail_event(self, event_id, error, now).await
        }

        async fn next_event_due(&self) -> Result<Option<i64>, StoreError> {
            <$ty>::next_event_due(self).await
        }

        async fn list_attempts(&self, hook_id: &str, limit: i64) -> Result<Vec<OutgoingAttemptView>, StoreError> {
            <$ty>::list_attempts(self, hook_id, limit).await
        }

        async fn list_events(&self, hook_id: &str, limit: i64) -> Result<Vec<OutgoingEventRow>, StoreError> {
            <$ty>::list_events(self, hook_id, limit).await
        }

        $($extra)*
        }
    };
}
