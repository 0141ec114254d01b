//! PostgreSQL's group commit transaction (`Store::commit_ingest`). Each table gets one
//! statement per batch whose rows arrive as arrays (`UNNEST`): the SQL text is the same for
//! every batch, so it is parsed and planned once per connection and then only executed. (A
//! multi-row `VALUES` list was a new statement for every batch size: PostgreSQL parsed and
//! planned it again, and sqlx's statement cache churned.)

use std::sync::Arc;

use super::ingest::{
    accepted_runs, alert_counts, claim_of, dedup_plan, first_results, recorded_as, resolve_twins,
    UPSERT_ALERT,
};
use super::postgres::PgStore;
use super::{compress, IngestResult, IngestWrite, RunRow, StoreError};
use crate::domain::dedup::DedupPlan;
use crate::domain::run_status::RunStatus;

impl PgStore {
    /// [`Store::commit_ingest`](crate::store::Store::commit_ingest): one group commit's batch
    /// in one transaction.
    pub(crate) async fn commit_ingest_batch(
        &self,
        batch: Arc<Vec<IngestWrite>>,
    ) -> Result<Vec<IngestResult>, StoreError> {
        use std::collections::HashMap;
        let batch: &[IngestWrite] = &batch;
        let mut results = first_results(batch);
        // Bodies are packed before the transaction opens: compressing is not the database's time.
        let packed: Vec<(Vec<u8>, Option<String>)> = batch
            .iter()
            .map(|w| compress::pack(&w.delivery.body))
            .collect();
        let mut tx = self.ingest_pool.begin().await?;

        // A key already stored makes its claim a duplicate too.
        let DedupPlan { claims, twin_of } = dedup_plan(batch);
        if !claims.is_empty() {
            let mut hooks = Vec::with_capacity(claims.len());
            let mut keys = Vec::with_capacity(claims.len());
            let mut deliveries = Vec::with_capacity(claims.len());
            let mut runs = Vec::with_capacity(claims.len());
            let mut at = Vec::with_capacity(claims.len());
            for &i in &claims {
                let (hook, key, delivery, run) = claim_of(&batch[i]);
                hooks.push(hook);
                keys.push(key);
                deliveries.push(delivery);
                runs.push(run);
                at.push(batch[i].delivery.received_at);
            }
            // No RETURNING: the count says whether any key was already there (a sender's
            // retry, the rare case); only then is each claim looked up.
            let inserted = sqlx::query(
                "INSERT INTO delivery_ids (hook_id, provider_delivery_id, delivery_id, run_id, created_at) \
                 SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::int8[]) \
                 ON CONFLICT (hook_id, provider_delivery_id) DO NOTHING",
            )
            .bind(&hooks)
            .bind(&keys)
            .bind(&deliveries)
            .bind(&runs)
            .bind(&at)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if inserted < claims.len() as u64 {
                for &i in &claims {
                    let (hook, key, delivery, _) = claim_of(&batch[i]);
                    let (owner, earlier): (String, String) = sqlx::query_as(
                        "SELECT delivery_id, run_id FROM delivery_ids WHERE hook_id = $1 AND provider_delivery_id = $2",
                    )
                    .bind(hook)
                    .bind(key)
                    .fetch_one(&mut *tx)
                    .await?;
                    if owner != delivery {
                        results[i] = IngestResult::Duplicate { run_id: earlier };
                    }
                }
            }
        }
        resolve_twins(&mut results, &twin_of);

        let accepted: Vec<&RunRow> = accepted_runs(batch, &results).collect();
        if !accepted.is_empty() {
            insert_runs(&mut tx, &accepted).await?;
            // One look-up of subscribed hooks per pipeline in the batch, not per run.
            let mut hooks_of: HashMap<&str, Vec<(String, String, String)>> = HashMap::new();
            for run in accepted.iter().filter(|r| r.status == RunStatus::Queued) {
                if !hooks_of.contains_key(run.pipeline_id.as_str()) {
                    let hooks = subscribed_hooks!(tx, &run.pipeline_id, "run.queued");
                    hooks_of.insert(run.pipeline_id.as_str(), hooks);
                }
                insert_events!(
                    tx,
                    &hooks_of[run.pipeline_id.as_str()],
                    run,
                    "run.queued",
                    run.created_at
                );
            }
        }
        // The parents are locked by the same statement as the deliveries: a round trip of its
        // own cost the server as much CPU as the foreign keys' checks had cost PostgreSQL.
        let parents = Parents::of(batch);
        let found = insert_deliveries(&mut tx, batch, &results, &packed, &parents).await?;
        parents.check(found)?;
        for ((hook_id, kind, minute), (count, reason)) in alert_counts(batch, &results) {
            sqlx::query(UPSERT_ALERT)
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
}

type Tx = sqlx::Transaction<'static, sqlx::Postgres>;

/// The batch's distinct pipelines and hooks. `insert_deliveries` locks them until the commit
/// (`FOR KEY SHARE`, so a delete of one waits for this commit and then deletes its new rows
/// too) and counts those it found; a batch under one that is gone fails: the checks the foreign
/// keys made row by row before migration 0015, made once. The committer then retries each write
/// alone, so only those under the deleted one fail.
struct Parents<'a> {
    pipelines: Vec<&'a str>,
    hooks: Vec<&'a str>,
}

impl<'a> Parents<'a> {
    fn of(batch: &'a [IngestWrite]) -> Self {
        let mut pipelines: Vec<&str> = batch
            .iter()
            .filter_map(|w| w.run.as_ref())
            .map(|r| r.pipeline_id.as_str())
            .collect();
        let mut hooks: Vec<&str> = batch.iter().map(|w| w.delivery.hook_id.as_str()).collect();
        for ids in [&mut pipelines, &mut hooks] {
            ids.sort_unstable();
            ids.dedup();
        }
        Self { pipelines, hooks }
    }

    /// `found`: how many of the pipelines and of the hooks the lock found.
    fn check(&self, (pipelines, hooks): (i64, i64)) -> Result<(), StoreError> {
        if pipelines != self.pipelines.len() as i64 {
            return Err(super::error::parent_deleted("a run's pipeline"));
        }
        if hooks != self.hooks.len() as i64 {
            return Err(super::error::parent_deleted("a delivery's hook"));
        }
        Ok(())
    }
}

/// The accepted runs, a column array each.
async fn insert_runs(tx: &mut Tx, runs: &[&RunRow]) -> Result<(), StoreError> {
    let column = |f: fn(&RunRow) -> Option<&str>| runs.iter().map(|r| f(r)).collect::<Vec<_>>();
    let number = |f: fn(&RunRow) -> Option<i64>| runs.iter().map(|r| f(r)).collect::<Vec<_>>();
    sqlx::query(
        "INSERT INTO runs (id, pipeline_id, project_id, hook_id, delivery_id, status, reason, variables, \
         triggered_by, concurrency_key, attempt, lease_expires_at, created_at, started_at, finished_at, worker_id, \
         cancel_requested, max_attempts, concurrency_policy, concurrency_max) \
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], \
         $8::text[], $9::text[], $10::text[], $11::int8[], $12::int8[], $13::int8[], $14::int8[], $15::int8[], \
         $16::text[], $17::bool[], $18::int8[], $19::text[], $20::int8[])",
    )
    .bind(column(|r| Some(r.id.as_str())))
    .bind(column(|r| Some(r.pipeline_id.as_str())))
    .bind(column(|r| Some(r.project_id.as_str())))
    .bind(column(|r| r.hook_id.as_deref()))
    .bind(column(|r| r.delivery_id.as_deref()))
    .bind(column(|r| Some(r.status.as_str())))
    .bind(column(|r| r.reason.as_deref()))
    .bind(column(|r| Some(r.variables.as_str())))
    .bind(column(|r| Some(r.triggered_by.as_str())))
    .bind(column(|r| r.concurrency_key.as_deref()))
    .bind(number(|r| Some(r.attempt)))
    .bind(number(|r| r.lease_expires_at))
    .bind(number(|r| Some(r.created_at)))
    .bind(number(|r| r.started_at))
    .bind(number(|r| r.finished_at))
    .bind(column(|r| r.worker_id.as_deref()))
    .bind(runs.iter().map(|r| r.cancel_requested).collect::<Vec<_>>())
    .bind(number(|r| Some(r.max_attempts)))
    .bind(column(|r| r.concurrency_policy.map(|p| p.as_str())))
    .bind(number(|r| r.concurrency_max))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Every write's delivery, a column array each (bound straight from the writes), and in the same
/// statement the lock on the batch's pipelines and hooks ([`Parents`]): how many of each it found.
async fn insert_deliveries(
    tx: &mut Tx,
    batch: &[IngestWrite],
    results: &[IngestResult],
    packed: &[(Vec<u8>, Option<String>)],
    parents: &Parents<'_>,
) -> Result<(i64, i64), StoreError> {
    let rows: Vec<_> = batch
        .iter()
        .zip(results)
        .map(|(w, r)| (&w.delivery, recorded_as(w, r)))
        .collect();
    let column = |f: fn(&super::DeliveryRow) -> Option<&str>| {
        rows.iter().map(|(d, _)| f(d)).collect::<Vec<_>>()
    };
    let number =
        |f: fn(&super::DeliveryRow) -> i64| rows.iter().map(|(d, _)| f(d)).collect::<Vec<_>>();
    let found = sqlx::query_as(
        "WITH p AS MATERIALIZED (SELECT id FROM pipelines WHERE id = ANY($23) FOR KEY SHARE), \
         h AS MATERIALIZED (SELECT id FROM incoming_hooks WHERE id = ANY($24) FOR KEY SHARE), \
         d AS (INSERT INTO deliveries (id, hook_id, project_id, received_at, status_code, outcome, error, verification, \
         filter_reason, variables, problems, run_id, provider_delivery_id, event, content_type, query, headers, \
         body, body_size, body_truncated, replay_of, body_encoding) \
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::int8[], $5::int8[], $6::text[], $7::text[], \
         $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[], \
         $16::text[], $17::text[], $18::bytea[], $19::int8[], $20::bool[], $21::text[], $22::text[])) \
         SELECT (SELECT count(*) FROM p), (SELECT count(*) FROM h)",
    )
    .bind(column(|d| Some(d.id.as_str())))
    .bind(column(|d| Some(d.hook_id.as_str())))
    .bind(column(|d| Some(d.project_id.as_str())))
    .bind(number(|d| d.received_at))
    .bind(rows.iter().map(|(_, (status, _, _))| *status).collect::<Vec<_>>())
    .bind(rows.iter().map(|(_, (_, outcome, _))| *outcome).collect::<Vec<_>>())
    .bind(column(|d| d.error.as_deref()))
    .bind(column(|d| Some(d.verification.as_str())))
    .bind(column(|d| d.filter_reason.as_deref()))
    .bind(column(|d| d.variables.as_deref()))
    .bind(column(|d| d.problems.as_deref()))
    .bind(rows.iter().map(|(_, (_, _, run_id))| *run_id).collect::<Vec<_>>())
    .bind(column(|d| d.provider_delivery_id.as_deref()))
    .bind(column(|d| d.event.as_deref()))
    .bind(column(|d| d.content_type.as_deref()))
    .bind(column(|d| d.query.as_deref()))
    .bind(column(|d| Some(d.headers.as_str())))
    .bind(packed.iter().map(|(body, _)| body.as_slice()).collect::<Vec<_>>())
    .bind(number(|d| d.body_size))
    .bind(rows.iter().map(|(d, _)| d.body_truncated).collect::<Vec<_>>())
    .bind(column(|d| d.replay_of.as_deref()))
    .bind(packed.iter().map(|(_, encoding)| encoding.as_deref()).collect::<Vec<_>>())
    .bind(&parents.pipelines)
    .bind(&parents.hooks)
    .fetch_one(&mut **tx)
    .await?;
    Ok(found)
}
