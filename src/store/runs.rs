//! The runs aggregate: runs and their steps, and the claims on them (claim, heartbeat, finish,
//! requeue, recovery of expired leases, cancel). Each state change that has an event enqueues
//! it in the same transaction (`enqueue_events!`, store/shared.rs).

/// Expands to `impl $ty { … }` with the runs' methods, as inherent methods the `Store` methods
/// of the same names delegate to. The dialect's items (`Dialect`, store/shared.rs): the write
/// transaction (SQLite's `BEGIN IMMEDIATE` takes the write lock up front instead of failing on
/// upgrade), the claim candidates, and the key lock (PostgreSQL: an advisory lock, so two
/// processes cannot both start the last free slot of a key). The backend needs a `pool` field.
macro_rules! impl_runs {
    ($ty:ty) => { impl $ty {
            pub(crate) async fn get_run(&self, id: &str) -> Result<Option<RunRow>, StoreError> {
                Ok(sqlx::query_as("SELECT * FROM runs WHERE id = $1").bind(id).fetch_optional(&self.pool).await?)
            }

            pub(crate) async fn count_runs(&self, pipeline_id: &str) -> Result<i64, StoreError> {
                let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM runs WHERE pipeline_id = $1")
                    .bind(pipeline_id)
                    .fetch_one(&self.pool)
                    .await?;
                Ok(n)
            }

            pub(crate) async fn run_start_delays(&self, pipeline_id: &str) -> Result<Vec<i64>, StoreError> {
                let rows: Vec<(i64,)> = sqlx::query_as(
                    "SELECT started_at - created_at FROM runs WHERE pipeline_id = $1 AND started_at IS NOT NULL",
                )
                .bind(pipeline_id)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(|r| r.0).collect())
            }

            pub(crate) async fn insert_run(&self, run: &RunRow) -> Result<(), StoreError> {
                let mut tx = self.pool.begin_with(<$ty as $crate::store::shared::Dialect>::BEGIN_WRITE).await?;
                let pipeline_lock: Option<&str> = <$ty as $crate::store::shared::Dialect>::PIPELINE_LOCK;
                if let Some(lock) = pipeline_lock {
                    let found: Option<(String,)> = sqlx::query_as(lock).bind(&run.pipeline_id).fetch_optional(&mut *tx).await?;
                    if found.is_none() {
                        return Err($crate::store::error::parent_deleted("the run's pipeline"));
                    }
                }
                bind_run!(sqlx::query($crate::store::shared::RUN_INSERT), run).execute(&mut *tx).await?;
                if run.status == $crate::domain::run_status::RunStatus::Queued {
                    enqueue_events!(tx, run, "run.queued", run.created_at);
                }
                tx.commit().await?;
                Ok(())
            }

            pub(crate) async fn list_runs(
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

            pub(crate) async fn claim_run(&self, worker_id: &str, lease_ms: i64, now: i64) -> Result<Option<RunRow>, StoreError> {
                let mut tx = self.pool.begin_with(<$ty as $crate::store::shared::Dialect>::BEGIN_WRITE).await?;
                let candidates: Vec<RunRow> = sqlx::query_as(<$ty as $crate::store::shared::Dialect>::CLAIM_CANDIDATES).fetch_all(&mut *tx).await?;
                let mut blocked: std::collections::HashSet<(String, String)> = std::collections::HashSet::new();
                for run in candidates {
                    use $crate::domain::concurrency::ConcurrencyPolicy;
                    let limited = ConcurrencyPolicy::limiting(run.concurrency_key.as_deref(), run.concurrency_policy)
                        .zip(run.concurrency_key.clone())
                        .map(|(policy, key)| (key, policy));
                    if let Some((key, policy)) = limited {
                        let slot = (run.pipeline_id.clone(), key.clone());
                        if blocked.contains(&slot) {
                            continue;
                        }
                        let key_lock: Option<&str> = <$ty as $crate::store::shared::Dialect>::KEY_LOCK;
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
                        if policy.yields_to_newer(approved) {
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
                        if policy.waits_for_older() {
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
                        if !$crate::domain::concurrency::slot_free(running, run.concurrency_max) {
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

            pub(crate) async fn heartbeat(&self, run_id: &str, attempt: i64, lease_until: i64) -> Result<Lease, StoreError> {
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

            pub(crate) async fn finish_run(&self, run_id: &str, attempt: i64, status: $crate::domain::run_status::RunStatus, reason: Option<&str>, now: i64) -> Result<bool, StoreError> {
                let mut tx = self.pool.begin_with(<$ty as $crate::store::shared::Dialect>::BEGIN_WRITE).await?;
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

            pub(crate) async fn requeue_run(&self, run_id: &str, attempt: i64) -> Result<bool, StoreError> {
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

            pub(crate) async fn record_step(&self, attempt: i64, step: &StepRow) -> Result<bool, StoreError> {
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

            pub(crate) async fn list_steps(&self, run_id: &str) -> Result<Vec<StepRow>, StoreError> {
                Ok(sqlx::query_as("SELECT * FROM run_steps WHERE run_id = $1 ORDER BY idx").bind(run_id).fetch_all(&self.pool).await?)
            }

            pub(crate) async fn recover_expired(&self, now: i64) -> Result<Vec<(String, $crate::domain::run_status::RunStatus)>, StoreError> {
                let expired: Vec<RunRow> = sqlx::query_as("SELECT * FROM runs WHERE status = 'running' AND lease_expires_at < $1")
                    .bind(now)
                    .fetch_all(&self.pool)
                    .await?;
                let mut changed = Vec::new();
                for run in expired {
                    let retry = run.attempt < run.max_attempts;
                    let status = if retry { $crate::domain::run_status::RunStatus::Queued } else { $crate::domain::run_status::RunStatus::Failed };
                    let mut tx = self.pool.begin_with(<$ty as $crate::store::shared::Dialect>::BEGIN_WRITE).await?;
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
                        changed.push((run.id, status));
                    }
                }
                Ok(changed)
            }

            pub(crate) async fn request_cancel(&self, run_id: &str, now: i64) -> Result<Option<$crate::domain::run_status::RunStatus>, StoreError> {
                let mut tx = self.pool.begin_with(<$ty as $crate::store::shared::Dialect>::BEGIN_WRITE).await?;
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
                    return Ok(Some($crate::domain::run_status::RunStatus::Cancelled));
                }
                sqlx::query("UPDATE runs SET cancel_requested = TRUE WHERE id = $1 AND status = 'running'")
                    .bind(run_id)
                    .execute(&self.pool)
                    .await?;
                let status: Option<($crate::domain::run_status::RunStatus,)> = sqlx::query_as("SELECT status FROM runs WHERE id = $1").bind(run_id).fetch_optional(&self.pool).await?;
                Ok(status.map(|s| s.0))
            }
    } };
}
