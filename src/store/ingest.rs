//! PostgreSQL's group commit transaction (`Store::commit_ingest`): dedup keys, runs, their
//! `run.queued` events, deliveries and delivery alerts for a whole batch, in multi-row
//! statements. SQLite runs the same SQL a row at a time on its writer thread
//! (`sqlite_writer`). A backend expands `impl_ingest!` into an inherent method that its
//! `impl Store` calls (`#[async_trait]` must see every trait method, so the trait method stays
//! in `impl_store!` as a one-line call).

/// Expands to `impl $ty { async fn commit_ingest_batch }`; `Dialect::BEGIN_WRITE` opens the
/// write transaction.
macro_rules! impl_ingest {
    ($ty:ty) => { impl $ty {
        /// [`Store::commit_ingest`](crate::store::Store::commit_ingest): one group commit's batch
        /// in one transaction.
        pub(crate) async fn commit_ingest_batch(&self, batch: std::sync::Arc<Vec<IngestWrite>>) -> Result<Vec<IngestResult>, StoreError> {
            let batch: &[IngestWrite] = &batch;
            // A handful of multi-row statements per batch, not several per delivery: with SQLite
            // every statement is a round trip to the connection's thread, which dominated the
            // cost of ingest (see docs/performance.md).
            use std::collections::HashMap;
            type Db = <$ty as $crate::store::shared::Dialect>::Db;
            let mut results: Vec<IngestResult> = batch
                .iter()
                .map(|w| match &w.run {
                    Some(run) => IngestResult::Accepted { run_id: run.id.clone() },
                    None => IngestResult::Recorded,
                })
                .collect();
            // Bodies are packed before the transaction opens: compressing is not the database's time.
            let packed: Vec<(Vec<u8>, Option<String>)> =
                batch.iter().map(|w| $crate::store::compress::pack(&w.delivery.body)).collect();
            let mut tx = self.ingest_pool.begin_with(<$ty as $crate::store::shared::Dialect>::BEGIN_WRITE).await?;

            // Dedup: the first write of a key in the batch claims it; later ones in the batch
            // are its duplicates (`plan_dedup`); a key already stored makes the first one a
            // duplicate too.
            let keys: Vec<Option<(&str, &str)>> = batch
                .iter()
                .map(|w| w.run.as_ref().and(w.dedup_key.as_deref()).map(|key| (w.delivery.hook_id.as_str(), key)))
                .collect();
            let $crate::domain::dedup::DedupPlan { claims, twin_of } = $crate::domain::dedup::plan_dedup(&keys);
            if !claims.is_empty() {
                let mut q = sqlx::QueryBuilder::<Db>::new(
                    "INSERT INTO delivery_ids (hook_id, provider_delivery_id, delivery_id, run_id, created_at) ",
                );
                q.push_values(&claims, |mut b, &i| {
                    let w = &batch[i];
                    b.push_bind(&w.delivery.hook_id)
                        .push_bind(w.dedup_key.as_deref().unwrap_or_default())
                        .push_bind(&w.delivery.id)
                        .push_bind(w.run.as_ref().map(|r| r.id.as_str()).unwrap_or_default())
                        .push_bind(w.delivery.received_at);
                });
                q.push(" ON CONFLICT (hook_id, provider_delivery_id) DO NOTHING");
                // No RETURNING: with sqlx every returned row is a message between threads. The
                // count says whether any key was already there (a sender's retry, the rare case);
                // only then is each claim looked up: a row naming another delivery makes it a
                // duplicate of that delivery's run.
                let inserted = q.build().execute(&mut *tx).await?.rows_affected();
                if inserted < claims.len() as u64 {
                    for &i in &claims {
                        let w = &batch[i];
                        let (owner, earlier): (String, String) = sqlx::query_as(
                            "SELECT delivery_id, run_id FROM delivery_ids WHERE hook_id = $1 AND provider_delivery_id = $2",
                        )
                        .bind(&w.delivery.hook_id)
                        .bind(w.dedup_key.as_deref().unwrap_or_default())
                        .fetch_one(&mut *tx)
                        .await?;
                        if owner != w.delivery.id {
                            results[i] = IngestResult::Duplicate { run_id: earlier };
                        }
                    }
                }
            }
            for i in 0..batch.len() {
                if let Some(first) = twin_of[i] {
                    let run_id = match &results[first] {
                        IngestResult::Accepted { run_id } | IngestResult::Duplicate { run_id } => run_id.clone(),
                        IngestResult::Recorded => continue,
                    };
                    results[i] = IngestResult::Duplicate { run_id };
                }
            }

            let accepted: Vec<&RunRow> = batch
                .iter()
                .zip(&results)
                .filter(|(_, r)| matches!(r, IngestResult::Accepted { .. }))
                .filter_map(|(w, _)| w.run.as_ref())
                .collect();
            if !accepted.is_empty() {
                let mut q = sqlx::QueryBuilder::<Db>::new(
                    "INSERT INTO runs (id, pipeline_id, project_id, hook_id, delivery_id, status, reason, variables, \
                     triggered_by, concurrency_key, attempt, lease_expires_at, created_at, started_at, finished_at, worker_id, \
                     cancel_requested, max_attempts, concurrency_policy, concurrency_max) ",
                );
                q.push_values(&accepted, |mut b, r| {
                    b.push_bind(r.id.as_str())
                        .push_bind(r.pipeline_id.as_str())
                        .push_bind(r.project_id.as_str())
                        .push_bind(r.hook_id.as_deref())
                        .push_bind(r.delivery_id.as_deref())
                        .push_bind(r.status.as_str())
                        .push_bind(r.reason.as_deref())
                        .push_bind(r.variables.as_str())
                        .push_bind(r.triggered_by.as_str())
                        .push_bind(r.concurrency_key.as_deref())
                        .push_bind(r.attempt)
                        .push_bind(r.lease_expires_at)
                        .push_bind(r.created_at)
                        .push_bind(r.started_at)
                        .push_bind(r.finished_at)
                        .push_bind(r.worker_id.as_deref())
                        .push_bind(r.cancel_requested)
                        .push_bind(r.max_attempts)
                        .push_bind(r.concurrency_policy)
                        .push_bind(r.concurrency_max);
                });
                q.build().execute(&mut *tx).await?;
                // One look-up of subscribed hooks per pipeline in the batch, not per run.
                let mut hooks_of: HashMap<&str, Vec<(String, String, String)>> = HashMap::new();
                for run in accepted.iter().filter(|r| r.status == $crate::domain::run_status::RunStatus::Queued) {
                    if !hooks_of.contains_key(run.pipeline_id.as_str()) {
                        let hooks = subscribed_hooks!(tx, &run.pipeline_id, "run.queued");
                        hooks_of.insert(run.pipeline_id.as_str(), hooks);
                    }
                    insert_events!(tx, &hooks_of[run.pipeline_id.as_str()], run, "run.queued", run.created_at);
                }
            }

            let mut q = sqlx::QueryBuilder::<Db>::new(
                "INSERT INTO deliveries (id, hook_id, project_id, received_at, status_code, outcome, error, verification, \
                 filter_reason, variables, problems, run_id, provider_delivery_id, event, content_type, query, headers, \
                 body, body_size, body_truncated, replay_of, body_encoding) ",
            );
            // Bound straight from the writes (no copy of each row): a duplicate is recorded with
            // the earlier run, status 200 and outcome `duplicate`.
            q.push_values(batch.iter().zip(&results).zip(&packed), |mut b, ((w, r), (body, encoding))| {
                let d = &w.delivery;
                let (status_code, outcome, run_id) = match r {
                    IngestResult::Duplicate { run_id } => (200, "duplicate", Some(run_id.as_str())),
                    _ => (d.status_code, d.outcome.as_str(), d.run_id.as_deref()),
                };
                b.push_bind(d.id.as_str())
                    .push_bind(d.hook_id.as_str())
                    .push_bind(d.project_id.as_str())
                    .push_bind(d.received_at)
                    .push_bind(status_code)
                    .push_bind(outcome)
                    .push_bind(d.error.as_deref())
                    .push_bind(d.verification.as_str())
                    .push_bind(d.filter_reason.as_deref())
                    .push_bind(d.variables.as_deref())
                    .push_bind(d.problems.as_deref())
                    .push_bind(run_id)
                    .push_bind(d.provider_delivery_id.as_deref())
                    .push_bind(d.event.as_deref())
                    .push_bind(d.content_type.as_deref())
                    .push_bind(d.query.as_deref())
                    .push_bind(d.headers.as_str())
                    .push_bind(body.as_slice())
                    .push_bind(d.body_size)
                    .push_bind(d.body_truncated)
                    .push_bind(d.replay_of.as_deref())
                    .push_bind(encoding.as_deref());
            });
            q.build().execute(&mut *tx).await?;
            // delivery.rejected / delivery.ignored: counted per hook and minute (one upsert per
            // hook and kind in the batch; accepted deliveries cost nothing here).
            let mut alerts: HashMap<(&str, &str, i64), (i64, Option<&str>)> = HashMap::new();
            for (w, r) in batch.iter().zip(&results) {
                let d = &w.delivery;
                let kind = match (r, d.outcome.as_str()) {
                    (IngestResult::Recorded, "rejected") => "rejected",
                    (IngestResult::Recorded, "ignored") => "ignored",
                    _ => continue,
                };
                let reason = if kind == "ignored" { d.filter_reason.as_deref() } else { d.error.as_deref() };
                let slot = alerts.entry((d.hook_id.as_str(), kind, d.received_at.div_euclid(60_000))).or_default();
                slot.0 += 1;
                slot.1 = reason.or(slot.1);
            }
            for ((hook_id, kind, minute), (count, reason)) in alerts {
                sqlx::query(
                    "INSERT INTO delivery_alerts (hook_id, kind, minute, count, last_reason, emitted) \
                     VALUES ($1, $2, $3, $4, $5, FALSE) ON CONFLICT (hook_id, kind, minute) DO UPDATE SET \
                     count = delivery_alerts.count + excluded.count, last_reason = COALESCE(excluded.last_reason, delivery_alerts.last_reason)",
                )
                .bind(hook_id)
                .bind(kind)
                .bind(minute)
                .bind(count)
                .bind(reason)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(results)
        }
    } };
}
