//! The queries both dialects share, written once. `$1`-style placeholders work in SQLite and
//! PostgreSQL alike, so each backend expands this macro inside its own `impl Store`.

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

/// Names a backend's sqlx database type, for the statements built with `QueryBuilder`.
pub trait Dialect {
    type Db: sqlx::Database;
}

impl Dialect for super::sqlite::SqliteStore {
    type Db = sqlx::Sqlite;
}

impl Dialect for super::postgres::PgStore {
    type Db = sqlx::Postgres;
}

/// Expands to `impl Store for $ty` with the methods whose SQL is the same in both dialects,
/// plus the backend's own methods given as `$extra`. The backend type needs a `pool` field;
/// `begin_write` is the statement that opens a write transaction (SQLite: `BEGIN IMMEDIATE`,
/// so the write lock is taken up front instead of failing on upgrade); `claim_candidates` selects
/// queued runs oldest first (PostgreSQL adds `FOR UPDATE SKIP LOCKED`); `key_lock` is an optional
/// statement taking a transaction-scoped lock on a concurrency key (PostgreSQL: an advisory lock,
/// so two processes cannot both start the last free slot of a key).
/// The backend type also needs an `ingest_pool` field for the group commit (SQLite: one
/// connection of its own, so its page cache stays warm; PostgreSQL: the main pool), a
/// `config_generation: Arc<AtomicU64>` field and an inherent `async fn config_changed(&self)`
/// that bumps it (and tells other processes, where it can).
/// (The whole impl is generated here because `#[async_trait]` must see every method.)
macro_rules! impl_store {
    ($ty:ty, begin_write = $begin:literal, claim_candidates = $candidates:literal, key_lock = $key_lock:expr, { $($extra:tt)* }) => {
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

        fn schema(&self) -> &$crate::store::SchemaGate {
            &self.schema
        }

        fn config_generation(&self) -> u64 {
            self.config_generation.load(std::sync::atomic::Ordering::Acquire)
        }

        async fn insert_project(&self, p: &ProjectRow) -> Result<(), StoreError> {
            sqlx::query("INSERT INTO projects (id, name, created_at) VALUES ($1, $2, $3)")
                .bind(&p.id)
                .bind(&p.name)
                .bind(p.created_at)
                .execute(&self.pool)
                .await?;
            Ok(())
        }

        async fn list_projects(&self) -> Result<Vec<ProjectRow>, StoreError> {
            Ok(sqlx::query_as("SELECT * FROM projects ORDER BY created_at, id").fetch_all(&self.pool).await?)
        }

        async fn get_project(&self, id: &str) -> Result<Option<ProjectRow>, StoreError> {
            Ok(sqlx::query_as("SELECT * FROM projects WHERE id = $1").bind(id).fetch_optional(&self.pool).await?)
        }

        async fn get_project_by_name(&self, name: &str) -> Result<Option<ProjectRow>, StoreError> {
            Ok(sqlx::query_as("SELECT * FROM projects WHERE name = $1").bind(name).fetch_optional(&self.pool).await?)
        }

        async fn insert_token(&self, t: &TokenRow) -> Result<(), StoreError> {
            sqlx::query(
                "INSERT INTO tokens (id, project_id, name, role, token_hash, last4, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&t.id)
            .bind(&t.project_id)
            .bind(&t.name)
            .bind(&t.role)
            .bind(&t.token_hash)
            .bind(&t.last4)
            .bind(t.created_at)
            .execute(&self.pool)
            .await?;
            Ok(())
        }

        async fn list_tokens(&self, project_id: &str) -> Result<Vec<TokenRow>, StoreError> {
            Ok(sqlx::query_as("SELECT * FROM tokens WHERE project_id = $1 ORDER BY created_at, id")
                .bind(project_id)
                .fetch_all(&self.pool)
                .await?)
        }

        async fn get_token(&self, id: &str) -> Result<Option<TokenRow>, StoreError> {
            Ok(sqlx::query_as("SELECT * FROM tokens WHERE id = $1").bind(id).fetch_optional(&self.pool).await?)
        }

        async fn find_token_by_hash(&self, hash: &str) -> Result<Option<TokenRow>, StoreError> {
            Ok(sqlx::query_as("SELECT * FROM tokens WHERE token_hash = $1")
                .bind(hash)
                .fetch_optional(&self.pool)
                .await?)
        }

        async fn delete_token(&self, id: &str) -> Result<bool, StoreError> {
            let r = sqlx::query("DELETE FROM tokens WHERE id = $1").bind(id).execute(&self.pool).await?;
            Ok(r.rows_affected() > 0)
        }

        async fn insert_pipeline(&self, p: &PipelineRow) -> Result<(), StoreError> {
            let mut tx = self.pool.begin_with($begin).await?;
            catalog_query!(insert_pipeline, p)
            .execute(&mut *tx)
            .await?;
            pipeline_events!(tx, &p.id, &p.name, &p.project_id, "pipeline.created", p.created_at);
            tx.commit().await?;
            Ok(())
        }

        async fn list_pipelines(&self, project_id: &str) -> Result<Vec<PipelineRow>, StoreError> {
            Ok(sqlx::query_as("SELECT * FROM pipelines WHERE project_id = $1 ORDER BY created_at, id")
                .bind(project_id)
                .fetch_all(&self.pool)
                .await?)
        }

        async fn get_pipeline(&self, id: &str) -> Result<Option<PipelineRow>, StoreError> {
            Ok(sqlx::query_as("SELECT * FROM pipelines WHERE id = $1").bind(id).fetch_optional(&self.pool).await?)
        }

        async fn update_pipeline(&self, p: &PipelineRow) -> Result<bool, StoreError> {
            let mut tx = self.pool.begin_with($begin).await?;
            let updated: Option<(String,)> =
                sqlx::query_as("UPDATE pipelines SET name = $2, spec = $3, updated_at = $4 WHERE id = $1 RETURNING project_id")
                    .bind(&p.id)
                    .bind(&p.name)
                    .bind(&p.spec)
                    .bind(p.updated_at)
                    .fetch_optional(&mut *tx)
                    .await?;
            if let Some((project_id,)) = &updated {
                pipeline_events!(tx, &p.id, &p.name, project_id, "pipeline.updated", p.updated_at);
            }
            tx.commit().await?;
            self.config_changed().await;
            Ok(updated.is_some())
        }

        async fn delete_pipeline(&self, id: &str) -> Result<bool, StoreError> {
            let mut tx = self.pool.begin_with($begin).await?;
            let deleted: Option<(String, String)> =
                sqlx::query_as("DELETE FROM pipelines WHERE id = $1 RETURNING name, project_id")
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
            if let Some((name, project_id)) = &deleted {
                let now = $crate::domain::time::now_ms();
                pipeline_events!(tx, id, name, project_id, "pipeline.deleted", now);
            }
            tx.commit().await?;
            self.config_changed().await;
            Ok(deleted.is_some())
        }

        async fn put_secret(&self, s: &SecretRow) -> Result<(), StoreError> {
            catalog_query!(put_secret, s)
            .execute(&self.pool)
            .await?;
            Ok(())
        }

        async fn list_secrets(&self, pipeline_id: &str) -> Result<Vec<SecretRow>, StoreError> {
            Ok(sqlx::query_as("SELECT * FROM pipeline_secrets WHERE pipeline_id = $1 ORDER BY name")
                .bind(pipeline_id)
                .fetch_all(&self.pool)
                .await?)
        }

        async fn delete_secret(&self, pipeline_id: &str, name: &str) -> Result<bool, StoreError> {
            let r = sqlx::query("DELETE FROM pipeline_secrets WHERE pipeline_id = $1 AND name = $2")
                .bind(pipeline_id)
                .bind(name)
                .execute(&self.pool)
                .await?;
            Ok(r.rows_affected() > 0)
        }

        async fn insert_hook(&self, h: &HookRow) -> Result<(), StoreError> {
            catalog_query!(insert_hook, h)
            .execute(&self.pool)
            .await?;
            Ok(())
        }

        async fn get_hook(&self, id: &str) -> Result<Option<HookRow>, StoreError> {
            Ok(sqlx::query_as("SELECT * FROM incoming_hooks WHERE id = $1").bind(id).fetch_optional(&self.pool).await?)
        }

        async fn list_hooks(&self, pipeline_id: &str) -> Result<Vec<HookRow>, StoreError> {
            Ok(sqlx::query_as("SELECT * FROM incoming_hooks WHERE pipeline_id = $1 ORDER BY created_at, id")
                .bind(pipeline_id)
                .fetch_all(&self.pool)
                .await?)
        }

        async fn update_hook(&self, h: &HookRow) -> Result<bool, StoreError> {
            let r = catalog_query!(update_hook, h)
            .execute(&self.pool)
            .await?;
            self.config_changed().await;
            Ok(r.rows_affected() > 0)
        }

        async fn delete_hook(&self, id: &str) -> Result<bool, StoreError> {
            let r = sqlx::query("DELETE FROM incoming_hooks WHERE id = $1").bind(id).execute(&self.pool).await?;
            self.config_changed().await;
            Ok(r.rows_affected() > 0)
        }
        async fn commit_ingest(&self, batch: &[IngestWrite]) -> Result<Vec<IngestResult>, StoreError> {
            self.commit_ingest_batch(batch).await
        }

        async fn get_delivery(&self, id: &str) -> Result<Option<DeliveryRow>, StoreError> {
            let row: Option<DeliveryRow> =
                sqlx::query_as("SELECT * FROM deliveries WHERE id = $1").bind(id).fetch_optional(&self.pool).await?;
            row.map(|mut r| $crate::store::compress::unpack(&mut r).map(|()| r)).transpose()
        }

        async fn list_deliveries(
            &self,
            hook_id: &str,
            before: Option<(i64, String)>,
            limit: i64,
        ) -> Result<Vec<DeliveryRow>, StoreError> {
            let rows = match before {
                None => {
                    sqlx::query_as("SELECT * FROM deliveries WHERE hook_id = $1 ORDER BY received_at DESC, id DESC LIMIT $2")
                        .bind(hook_id)
                        .bind(limit)
                        .fetch_all(&self.pool)
                        .await?
                }
                Some((at, id)) => {
                    sqlx::query_as(
                        "SELECT * FROM deliveries WHERE hook_id = $1 AND (received_at < $2 OR (received_at = $2 AND id < $3)) \
                         ORDER BY received_at DESC, id DESC LIMIT $4",
                    )
                    .bind(hook_id)
                    .bind(at)
                    .bind(id)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?
                }
            };
            let mut rows: Vec<DeliveryRow> = rows;
            for r in &mut rows {
                $crate::store::compress::unpack(r)?;
            }
            Ok(rows)
        }

        async fn purge(&self, deliveries_before: i64, ids_before: i64) -> Result<u64, StoreError> {
            let gone = sqlx::query("DELETE FROM deliveries WHERE received_at < $1")
                .bind(deliveries_before)
                .execute(&self.pool)
                .await?
                .rows_affected();
            sqlx::query("DELETE FROM delivery_ids WHERE created_at < $1").bind(ids_before).execute(&self.pool).await?;
            Ok(gone)
        }

        async fn get_run(&self, id: &str) -> Result<Option<RunRow>, StoreError> {
            Ok(sqlx::query_as("SELECT * FROM runs WHERE id = $1").bind(id).fetch_optional(&self.pool).await?)
        }

        async fn count_runs(&self, pipeline_id: &str) -> Result<i64, StoreError> {
            let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM runs WHERE pipeline_id = $1")
                .bind(pipeline_id)
                .fetch_one(&self.pool)
                .await?;
            Ok(n)
        }

        async fn run_start_delays(&self, pipeline_id: &str) -> Result<Vec<i64>, StoreError> {
            let rows: Vec<(i64,)> = sqlx::query_as(
                "SELECT started_at - created_at FROM runs WHERE pipeline_id = $1 AND started_at IS NOT NULL",
            )
            .bind(pipeline_id)
            .fetch_all(&self.pool)
            .await?;
            Ok(rows.into_iter().map(|r| r.0).collect())
        }

        async fn get_hook_for_ingest(&self, id: &str) -> Result<Option<IngestHookRow>, StoreError> {
            Ok(sqlx::query_as(
                "SELECT h.*, p.name AS pipeline_name, p.spec AS pipeline_spec, p.updated_at AS pipeline_updated_at \
                 FROM incoming_hooks h JOIN pipelines p ON p.id = h.pipeline_id WHERE h.id = $1",
            )
            .bind(id)
            .fetch_optional(&self.pool)
            .await?)
        }

        async fn insert_run(&self, run: &RunRow) -> Result<(), StoreError> {
            let mut tx = self.pool.begin_with($begin).await?;
            bind_run!(sqlx::query($crate::store::shared::RUN_INSERT), run).execute(&mut *tx).await?;
            if run.status == "queued" {
                enqueue_events!(tx, run, "run.queued", run.created_at);
            }
            tx.commit().await?;
            Ok(())
        }

        async fn list_runs(
            &self,
            pipeline_id: &str,
            status: Option<&str>,
            since: Option<i64>,
            before: Option<(i64, String)>,
            limit: i64,
        ) -> Result<Vec<RunRow>, StoreError> {
            let (before_at, before_id) = match before {
                Some((at, id)) => (Some(at), Some(id)),
                None => (None, None),
            };
            Ok(sqlx::query_as(
                "SELECT * FROM runs WHERE pipeline_id = $1 AND ($2 IS NULL OR status = $2) \
                 AND ($3 IS NULL OR created_at >= $3) \
                 AND ($4 IS NULL OR created_at < $4 OR (created_at = $4 AND id < $5)) \
                 ORDER BY created_at DESC, id DESC LIMIT $6",
            )
            .bind(pipeline_id)
            .bind(status)
            .bind(since)
            .bind(before_at)
            .bind(before_id)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?)
        }

        async fn claim_run(&self, worker_id: &str, lease_ms: i64, now: i64) -> Result<Option<RunRow>, StoreError> {
            let mut tx = self.pool.begin_with($begin).await?;
            let candidates: Vec<RunRow> = sqlx::query_as($candidates).fetch_all(&mut *tx).await?;
            let mut blocked: std::collections::HashSet<(String, String)> = std::collections::HashSet::new();
            for run in candidates {
                use $crate::domain::concurrency::ConcurrencyPolicy;
                let limited = ConcurrencyPolicy::limiting(run.concurrency_key.as_deref(), run.concurrency_policy.as_deref())
                    .zip(run.concurrency_key.clone())
                    .map(|(policy, key)| (key, policy));
                if let Some((key, policy)) = limited {
                    let slot = (run.pipeline_id.clone(), key.clone());
                    if blocked.contains(&slot) {
                        continue;
                    }
                    let key_lock: Option<&str> = $key_lock;
                    if let Some(lock) = key_lock {
                        sqlx::query(lock).bind(format!("{}\u{1f}{}", run.pipeline_id, key)).execute(&mut *tx).await?;
                    }
                    // A run that an approver let go on is not dropped for a newer one.
                    let approved = run.started_at.is_some() && {
                        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM run_approvals WHERE run_id = $1")
                            .bind(&run.id)
                            .fetch_one(&mut *tx)
                            .await?;
                        n > 0
                    };
                    if policy == ConcurrencyPolicy::Supersede && !approved {
                        let newer: Option<(String,)> = sqlx::query_as(
                            "SELECT id FROM runs WHERE pipeline_id = $1 AND concurrency_key = $2 AND status = 'queued' \
                             AND (created_at > $3 OR (created_at = $3 AND id > $4)) ORDER BY created_at DESC, id DESC LIMIT 1",
                        )
                        .bind(&run.pipeline_id)
                        .bind(&key)
                        .bind(run.created_at)
                        .bind(&run.id)
                        .fetch_optional(&mut *tx)
                        .await?;
                        if let Some((newest,)) = newer {
                            let superseded: Option<RunRow> = sqlx::query_as(
                                "UPDATE runs SET status = 'superseded', reason = $2, finished_at = $3 WHERE id = $1 AND status = 'queued' \
                                 RETURNING *",
                            )
                            .bind(&run.id)
                            .bind(format!("superseded by {newest}"))
                            .bind(now)
                            .fetch_optional(&mut *tx)
                            .await?;
                            if let Some(superseded) = &superseded {
                                enqueue_events!(tx, superseded, "run.superseded", now);
                            }
                            continue;
                        }
                    }
                    if policy == ConcurrencyPolicy::Queue {
                        // FIFO per key: only the key's oldest queued run may start. Another
                        // claimer can hold older rows locked (PostgreSQL skips them), so look.
                        let older: Option<(String,)> = sqlx::query_as(
                            "SELECT id FROM runs WHERE pipeline_id = $1 AND concurrency_key = $2 AND status = 'queued' \
                             AND (created_at < $3 OR (created_at = $3 AND id < $4)) LIMIT 1",
                        )
                        .bind(&run.pipeline_id)
                        .bind(&key)
                        .bind(run.created_at)
                        .bind(&run.id)
                        .fetch_optional(&mut *tx)
                        .await?;
                        if older.is_some() {
                            blocked.insert(slot);
                            continue;
                        }
                    }
                    let (running,): (i64,) = sqlx::query_as(
                        // A run waiting for approval keeps its key's slot (SPEC §5).
                        "SELECT COUNT(*) FROM runs WHERE pipeline_id = $1 AND concurrency_key = $2 \
                         AND status IN ('running', 'waiting_approval')",
                    )
                    .bind(&run.pipeline_id)
                    .bind(&key)
                    .fetch_one(&mut *tx)
                    .await?;
                    if running >= run.concurrency_max.unwrap_or(1) {
                        blocked.insert(slot);
                        continue;
                    }
                }
                let claimed: Option<RunRow> = sqlx::query_as(
                    "UPDATE runs SET status = 'running', attempt = attempt + 1, worker_id = $2, lease_expires_at = $3, \
                     started_at = COALESCE(started_at, $4), reason = NULL WHERE id = $1 AND status = 'queued' RETURNING *",
                )
                .bind(&run.id)
                .bind(worker_id)
                .bind(now + lease_ms)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?;
                if let Some(claimed) = claimed {
                    // A run resuming after its approval already told its hooks it started.
                    let resumed = run.started_at.is_some()
                        && sqlx::query_as::<_, (String,)>("SELECT run_id FROM run_approvals WHERE run_id = $1 LIMIT 1")
                            .bind(&run.id)
                            .fetch_optional(&mut *tx)
                            .await?
                            .is_some();
                    if !resumed {
                        enqueue_events!(tx, &claimed, "run.started", now);
                    }
                    tx.commit().await?;
                    return Ok(Some(claimed));
                }
            }
            tx.commit().await?;
            Ok(None)
        }

        async fn heartbeat(&self, run_id: &str, attempt: i64, lease_until: i64) -> Result<Lease, StoreError> {
            let row: Option<(bool,)> = sqlx::query_as(
                "UPDATE runs SET lease_expires_at = $3 WHERE id = $1 AND attempt = $2 AND status = 'running' RETURNING cancel_requested",
            )
            .bind(run_id)
            .bind(attempt)
            .bind(lease_until)
            .fetch_optional(&self.pool)
            .await?;
            Ok(match row {
                Some((cancel,)) => Lease::Held { cancel },
                None => Lease::Lost,
            })
        }

        async fn finish_run(&self, run_id: &str, attempt: i64, status: $crate::domain::run_status::RunStatus, reason: Option<&str>, now: i64) -> Result<bool, StoreError> {
            let mut tx = self.pool.begin_with($begin).await?;
            let finished: Option<RunRow> = sqlx::query_as(
                "UPDATE runs SET status = $3, reason = $4, finished_at = $5, lease_expires_at = NULL \
                 WHERE id = $1 AND attempt = $2 AND status = 'running' RETURNING *",
            )
            .bind(run_id)
            .bind(attempt)
            .bind(status.as_str())
            .bind(reason)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
            if let (Some(run), Some(event)) = (&finished, status.event()) {
                enqueue_events!(tx, run, event, now);
            }
            tx.commit().await?;
            Ok(finished.is_some())
        }

        async fn requeue_run(&self, run_id: &str, attempt: i64) -> Result<bool, StoreError> {
            let r = sqlx::query(
                "UPDATE runs SET status = 'queued', worker_id = NULL, lease_expires_at = NULL, reason = 'handed back at shutdown' \
                 WHERE id = $1 AND attempt = $2 AND status = 'running'",
            )
            .bind(run_id)
            .bind(attempt)
            .execute(&self.pool)
            .await?;
            Ok(r.rows_affected() == 1)
        }

        async fn record_step(&self, attempt: i64, step: &StepRow) -> Result<bool, StoreError> {
            let r = sqlx::query(
                "INSERT INTO run_steps (run_id, idx, name, status, exit_code, started_at, finished_at, log) \
                 SELECT $1, $2, $3, $4, $5, $6, $7, $8 \
                 WHERE EXISTS (SELECT 1 FROM runs WHERE id = $1 AND attempt = $9 AND status = 'running') \
                 ON CONFLICT (run_id, idx) DO UPDATE SET name = excluded.name, status = excluded.status, \
                 exit_code = excluded.exit_code, started_at = excluded.started_at, finished_at = excluded.finished_at, \
                 log = excluded.log",
            )
            .bind(&step.run_id)
            .bind(step.idx)
            .bind(&step.name)
            .bind(&step.status)
            .bind(step.exit_code)
            .bind(step.started_at)
            .bind(step.finished_at)
            .bind(&step.log)
            .bind(attempt)
            .execute(&self.pool)
            .await?;
            Ok(r.rows_affected() == 1)
        }

        async fn list_steps(&self, run_id: &str) -> Result<Vec<StepRow>, StoreError> {
            Ok(sqlx::query_as("SELECT * FROM run_steps WHERE run_id = $1 ORDER BY idx").bind(run_id).fetch_all(&self.pool).await?)
        }

        async fn recover_expired(&self, now: i64) -> Result<Vec<(String, String)>, StoreError> {
            let expired: Vec<RunRow> = sqlx::query_as("SELECT * FROM runs WHERE status = 'running' AND lease_expires_at < $1")
                .bind(now)
                .fetch_all(&self.pool)
                .await?;
            let mut changed = Vec::new();
            for run in expired {
                let retry = run.attempt < run.max_attempts;
                let status = if retry { "queued" } else { "failed" };
                let mut tx = self.pool.begin_with($begin).await?;
                let updated: Option<RunRow> = sqlx::query_as(
                    "UPDATE runs SET status = $3, reason = $4, finished_at = $5, worker_id = NULL, lease_expires_at = NULL \
                     WHERE id = $1 AND attempt = $2 AND status = 'running' RETURNING *",
                )
                .bind(&run.id)
                .bind(run.attempt)
                .bind(status)
                .bind(if retry { "worker_lost; retrying" } else { "worker_lost" })
                .bind(if retry { None } else { Some(now) })
                .fetch_optional(&mut *tx)
                .await?;
                if let Some(failed) = updated.as_ref().filter(|_| !retry) {
                    // The lost attempt's step ended with it (a retry rewrites its rows).
                    sqlx::query("UPDATE run_steps SET status = 'failed', finished_at = $2 WHERE run_id = $1 AND status = 'running'")
                        .bind(&failed.id)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                    enqueue_events!(tx, failed, "run.failed", now);
                }
                tx.commit().await?;
                if updated.is_some() {
                    changed.push((run.id, status.to_string()));
                }
            }
            Ok(changed)
        }

        async fn request_cancel(&self, run_id: &str, now: i64) -> Result<Option<String>, StoreError> {
            let mut tx = self.pool.begin_with($begin).await?;
            let cancelled: Option<RunRow> = sqlx::query_as(
                "UPDATE runs SET status = 'cancelled', finished_at = $2, reason = CASE status WHEN 'queued' \
                 THEN 'cancelled before it started' ELSE 'cancelled while waiting for approval' END \
                 WHERE id = $1 AND status IN ('queued', 'waiting_approval') RETURNING *",
            )
            .bind(run_id)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(run) = &cancelled {
                enqueue_events!(tx, run, "run.cancelled", now);
            }
            tx.commit().await?;
            if cancelled.is_some() {
                return Ok(Some("cancelled".into()));
            }
            sqlx::query("UPDATE runs SET cancel_requested = TRUE WHERE id = $1 AND status = 'running'")
                .bind(run_id)
                .execute(&self.pool)
                .await?;
            let status: Option<(String,)> = sqlx::query_as("SELECT status FROM runs WHERE id = $1").bind(run_id).fetch_optional(&self.pool).await?;
            Ok(status.map(|s| s.0))
        }

        async fn insert_outgoing_hook(&self, h: &OutgoingHookRow) -> Result<(), StoreError> {
            catalog_query!(insert_outgoing_hook, h)
            .execute(&self.pool)
            .await?;
            Ok(())
        }

        async fn get_outgoing_hook(&self, id: &str) -> Result<Option<OutgoingHookRow>, StoreError> {
            Ok(sqlx::query_as("SELECT * FROM outgoing_hooks WHERE id = $1").bind(id).fetch_optional(&self.pool).await?)
        }

        async fn list_outgoing_hooks(&self, pipeline_id: &str) -> Result<Vec<OutgoingHookRow>, StoreError> {
            Ok(sqlx::query_as("SELECT * FROM outgoing_hooks WHERE pipeline_id = $1 ORDER BY created_at, id")
                .bind(pipeline_id)
                .fetch_all(&self.pool)
                .await?)
        }

        async fn update_outgoing_hook(&self, h: &OutgoingHookRow) -> Result<bool, StoreError> {
            let r = catalog_query!(update_outgoing_hook, h)
            .execute(&self.pool)
            .await?;
            Ok(r.rows_affected() > 0)
        }

        async fn delete_outgoing_hook(&self, id: &str) -> Result<bool, StoreError> {
            let r = sqlx::query("DELETE FROM outgoing_hooks WHERE id = $1").bind(id).execute(&self.pool).await?;
            Ok(r.rows_affected() > 0)
        }

        async fn claim_events(&self, now: i64, lease_ms: i64, limit: i64) -> Result<Vec<OutgoingEventRow>, StoreError> {
            let mut tx = self.pool.begin_with($begin).await?;
            // PostgreSQL: rows another process is claiming are skipped, not waited for; SQLite's
            // BEGIN IMMEDIATE already serializes claims.
            let lock = if self.backend() == "postgres" { " FOR UPDATE SKIP LOCKED" } else { "" };
            let due: Vec<OutgoingEventRow> = sqlx::query_as(&format!(
                "SELECT * FROM outgoing_events e WHERE status = 'pending' AND next_attempt_at <= $1 \
                 AND NOT EXISTS (SELECT 1 FROM outgoing_events o WHERE o.hook_id = e.hook_id AND o.run_id = e.run_id \
                 AND o.status = 'pending' AND (o.ordinal < e.ordinal OR (o.ordinal = e.ordinal AND \
                 (o.occurred_at < e.occurred_at OR (o.occurred_at = e.occurred_at AND o.id < e.id))))) \
                 ORDER BY next_attempt_at, id LIMIT $2{lock}"
            ))
            .bind(now)
            .bind(limit)
            .fetch_all(&mut *tx)
            .await?;
            let mut claimed = Vec::with_capacity(due.len());
            for mut event in due {
                let r = sqlx::query(
                    "UPDATE outgoing_events SET next_attempt_at = $3 WHERE id = $1 AND status = 'pending' AND next_attempt_at = $2",
                )
                .bind(&event.id)
                .bind(event.next_attempt_at)
                .bind(now + lease_ms)
                .execute(&mut *tx)
                .await?;
                if r.rows_affected() == 1 {
                    event.next_attempt_at = now + lease_ms;
                    claimed.push(event);
                }
            }
            tx.commit().await?;
            Ok(claimed)
        }

        async fn record_attempt(&self, a: &OutgoingAttemptRow, next: &EventNext) -> Result<bool, StoreError> {
            let mut tx = self.pool.begin_with($begin).await?;
            let finished_at = a.at + a.latency_ms;
            let (status, next_at, finished) = match next {
                EventNext::Delivered => ("delivered", finished_at, Some(finished_at)),
                EventNext::Retry { at } => ("pending", *at, None),
                EventNext::Failed { .. } => ("failed", finished_at, Some(finished_at)),
            };
            let r = sqlx::query(
                "UPDATE outgoing_events SET status = $3, attempts = $2, next_attempt_at = $4, last_error = $5, finished_at = $6 \
                 WHERE id = $1 AND status = 'pending' AND attempts = $2 - 1",
            )
            .bind(&a.event_id)
            .bind(a.attempt)
            .bind(status)
            .bind(next_at)
            .bind(&a.error)
            .bind(finished)
            .execute(&mut *tx)
            .await?;
            if r.rows_affected() != 1 {
                return Ok(false);
            }
            sqlx::query(
                "INSERT INTO outgoing_attempts (event_id, hook_id, attempt, at, status_code, latency_ms, error) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&a.event_id)
            .bind(&a.hook_id)
            .bind(a.attempt)
            .bind(a.at)
            .bind(a.status_code)
            .bind(a.latency_ms)
            .bind(&a.error)
            .execute(&mut *tx)
            .await?;
            if let EventNext::Failed { disable_hook: Some(reason) } = next {
                sqlx::query("UPDATE outgoing_hooks SET is_active = FALSE, disabled_reason = $2, updated_at = $3 WHERE id = $1")
                    .bind(&a.hook_id)
                    .bind(reason)
                    .bind(finished_at)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(true)
        }

        async fn fail_event(&self, event_id: &str, error: &str, now: i64) -> Result<bool, StoreError> {
            let r = sqlx::query(
                "UPDATE outgoing_events SET status = 'failed', last_error = $2, finished_at = $3 WHERE id = $1 AND status = 'pending'",
            )
            .bind(event_id)
            .bind(error)
            .bind(now)
            .execute(&self.pool)
            .await?;
            Ok(r.rows_affected() == 1)
        }

        async fn next_event_due(&self) -> Result<Option<i64>, StoreError> {
            let (due,): (Option<i64>,) =
                sqlx::query_as("SELECT MIN(next_attempt_at) FROM outgoing_events WHERE status = 'pending'")
                    .fetch_one(&self.pool)
                    .await?;
            Ok(due)
        }

        async fn list_attempts(&self, hook_id: &str, limit: i64) -> Result<Vec<OutgoingAttemptView>, StoreError> {
            Ok(sqlx::query_as(
                "SELECT a.*, e.event FROM outgoing_attempts a JOIN outgoing_events e ON e.id = a.event_id \
                 WHERE a.hook_id = $1 ORDER BY a.at DESC, a.attempt DESC LIMIT $2",
            )
            .bind(hook_id)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?)
        }

        async fn list_events(&self, hook_id: &str, limit: i64) -> Result<Vec<OutgoingEventRow>, StoreError> {
            Ok(sqlx::query_as(
                "SELECT * FROM outgoing_events WHERE hook_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2",
            )
            .bind(hook_id)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?)
        }

        $($extra)*
        }
    };
}
