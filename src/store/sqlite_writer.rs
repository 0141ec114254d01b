//! SQLite's group commit on a thread of its own (issue 17). One OS thread owns a connection to
//! the database file and runs each batch start to finish with rusqlite, each statement prepared
//! once and stepped once per row. Through sqlx, every statement of a batch was a round trip
//! between the committer task and sqlx's connection thread (docs/performance.md); here a batch
//! is one hop to this thread and one back.
//!
//! rusqlite links the same `libsqlite3-sys` as sqlx, and the schema stays sqlx's: this thread
//! opens its connection at its first batch, after the migrations have run, and never creates
//! the file. The batch is planned as PostgreSQL's is (`store/ingest.rs`); the SQL is that of
//! `postgres_ingest.rs`, one row at a time.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{mpsc, Arc};
use std::time::Duration;

use rusqlite::{params, Connection, OpenFlags, TransactionBehavior};
use tokio::sync::oneshot;

use super::error::sqlite_write_failed;
use super::ingest::{
    accepted_runs, alert_counts, claim_of, dedup_plan, first_results, recorded_as, resolve_twins,
    UPSERT_ALERT,
};
use super::{compress, IngestResult, IngestWrite, RunRow, StoreError};
use crate::domain::dedup::DedupPlan;
use crate::domain::ids::{new_id, IdKind};
use crate::domain::run::event_ordinal;
use crate::domain::run_status::RunStatus;

/// Page cache of the commit connection in KiB, for the pages every batch touches (the tables'
/// and indexes' last pages, the dedup index's inner pages). 16 MiB cost 12 MiB of RSS and no
/// CPU (docs/performance.md).
const CACHE_KIB: i64 = 8192;

type Reply = oneshot::Sender<Result<Vec<IngestResult>, StoreError>>;

struct Job {
    batch: Arc<Vec<IngestWrite>>,
    reply: Reply,
}

/// A handle to the writer thread; the thread ends when the handle is dropped.
pub(crate) struct Writer {
    jobs: mpsc::Sender<Job>,
}

impl Writer {
    /// Starts the thread for the database file at `path` (opened at the first batch).
    /// `read_only` follows the database URL's `mode=ro`: every batch then fails as the
    /// database's writes would (unavailable, a 503).
    pub(crate) fn start(
        path: PathBuf,
        read_only: bool,
        busy_timeout: Duration,
    ) -> std::io::Result<Self> {
        let (jobs, queue) = mpsc::channel();
        let flags = if read_only {
            OpenFlags::SQLITE_OPEN_READ_ONLY
        } else {
            OpenFlags::SQLITE_OPEN_READ_WRITE
        } | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || serve(&path, flags, busy_timeout, queue))?;
        Ok(Self { jobs })
    }

    /// Commits `batch` in one transaction on the writer thread.
    pub(crate) async fn commit(
        &self,
        batch: Arc<Vec<IngestWrite>>,
    ) -> Result<Vec<IngestResult>, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job { batch, reply })
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

/// The thread is gone: the database cannot take writes, a 503.
fn stopped() -> StoreError {
    StoreError::Unavailable(sqlx::Error::WorkerCrashed)
}

fn serve(
    path: &std::path::Path,
    flags: OpenFlags,
    busy_timeout: Duration,
    queue: mpsc::Receiver<Job>,
) {
    let mut conn: Option<Connection> = None;
    for job in queue {
        // A panic (a bug) fails its own batch, not every later one: the thread lives on, with
        // a new connection (the transaction it held rolls back as the old one closes).
        let attempt = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let c = match conn.as_mut() {
                Some(c) => c,
                None => conn.insert(open(path, flags, busy_timeout)?),
            };
            commit_batch(c, &job.batch)
        }));
        let result = attempt.unwrap_or_else(|_| {
            conn = None;
            Err(sqlite_write_failed(
                None,
                "the SQLite writer panicked on this batch (its message is on the standard error)"
                    .into(),
            ))
        });
        // A connection that failed for want of the database (its file gone, read-only, full)
        // is opened afresh for the next batch.
        if matches!(&result, Err(e) if e.is_unavailable()) {
            conn = None;
        }
        let _ = job.reply.send(result);
    }
}

/// The commit connection, with the pragmas sqlx's connections get (`SqliteStore::open`).
fn open(
    path: &std::path::Path,
    flags: OpenFlags,
    busy_timeout: Duration,
) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(busy_timeout)?;
    // Every 202 is durable: the WAL is synced at each commit.
    conn.execute_batch(&format!(
        "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY; \
         PRAGMA cache_size = -{CACHE_KIB};"
    ))?;
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(sqlite_write_failed(
            None,
            format!("the database could not switch to WAL (journal_mode is {mode})"),
        ));
    }
    Ok(conn)
}

/// One group commit's batch in one transaction: dedup keys, runs and their `run.queued`
/// events, deliveries and delivery alerts.
fn commit_batch(
    conn: &mut Connection,
    batch: &[IngestWrite],
) -> Result<Vec<IngestResult>, StoreError> {
    let mut results = first_results(batch);
    // Bodies are packed before the transaction opens: compressing is not the database's time.
    let packed: Vec<(Vec<u8>, Option<String>)> = batch
        .iter()
        .map(|w| compress::pack(&w.delivery.body))
        .collect();
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    claim_keys(&tx, batch, &mut results)?;
    insert_runs(&tx, batch, &results)?;
    insert_deliveries(&tx, batch, &results, &packed)?;
    count_alerts(&tx, batch, &results)?;
    tx.commit()?;
    Ok(results)
}

/// Dedup: the first write of a key in the batch claims it; later ones in the batch are its
/// duplicates (`plan_dedup`); a key already stored makes the first one a duplicate too.
fn claim_keys(
    tx: &Connection,
    batch: &[IngestWrite],
    results: &mut [IngestResult],
) -> Result<(), StoreError> {
    let DedupPlan { claims, twin_of } = dedup_plan(batch);
    if !claims.is_empty() {
        let mut claim = tx.prepare_cached(
            "INSERT INTO delivery_ids (hook_id, provider_delivery_id, delivery_id, run_id, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (hook_id, provider_delivery_id) DO NOTHING",
        )?;
        let mut owner = tx.prepare_cached(
            "SELECT delivery_id, run_id FROM delivery_ids WHERE hook_id = ?1 AND provider_delivery_id = ?2",
        )?;
        for &i in &claims {
            let (hook, key, delivery, run) = claim_of(&batch[i]);
            let inserted = claim.execute(params![
                hook,
                key,
                delivery,
                run,
                batch[i].delivery.received_at
            ])?;
            if inserted == 0 {
                // A sender's retry (the rare case): the stored row names the earlier run.
                let (first, earlier): (String, String) =
                    owner.query_row(params![hook, key], |r| Ok((r.get(0)?, r.get(1)?)))?;
                if first != delivery {
                    results[i] = IngestResult::Duplicate { run_id: earlier };
                }
            }
        }
    }
    resolve_twins(results, &twin_of);
    Ok(())
}

/// The accepted writes' runs, and a `run.queued` event per subscribed outgoing hook.
fn insert_runs(
    tx: &Connection,
    batch: &[IngestWrite],
    results: &[IngestResult],
) -> Result<(), StoreError> {
    let mut insert = tx.prepare_cached(
        "INSERT INTO runs (id, pipeline_id, project_id, hook_id, delivery_id, status, reason, variables, \
         triggered_by, concurrency_key, attempt, lease_expires_at, created_at, started_at, finished_at, worker_id, \
         cancel_requested, max_attempts, concurrency_policy, concurrency_max) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)",
    )?;
    // One look-up of subscribed hooks per pipeline in the batch, not per run.
    let mut hooks_of: HashMap<&str, Vec<(String, String, String)>> = HashMap::new();
    for r in accepted_runs(batch, results) {
        insert.execute(params![
            r.id,
            r.pipeline_id,
            r.project_id,
            r.hook_id,
            r.delivery_id,
            r.status.as_str(),
            r.reason,
            r.variables,
            r.triggered_by,
            r.concurrency_key,
            r.attempt,
            r.lease_expires_at,
            r.created_at,
            r.started_at,
            r.finished_at,
            r.worker_id,
            r.cancel_requested,
            r.max_attempts,
            r.concurrency_policy.map(|p| p.as_str()),
            r.concurrency_max
        ])?;
        if r.status != RunStatus::Queued {
            continue;
        }
        if !hooks_of.contains_key(r.pipeline_id.as_str()) {
            hooks_of.insert(
                r.pipeline_id.as_str(),
                subscribed_hooks(tx, &r.pipeline_id, "run.queued")?,
            );
        }
        insert_events(tx, &hooks_of[r.pipeline_id.as_str()], r, "run.queued")?;
    }
    Ok(())
}

/// The active outgoing hooks of `pipeline_id` whose triggers include `event`, with the
/// pipeline's and project's names (as `subscribed_hooks!`).
fn subscribed_hooks(
    tx: &Connection,
    pipeline_id: &str,
    event: &str,
) -> Result<Vec<(String, String, String)>, StoreError> {
    let mut select = tx.prepare_cached(
        "SELECT h.id, p.name, pr.name FROM outgoing_hooks h JOIN pipelines p ON p.id = h.pipeline_id \
         JOIN projects pr ON pr.id = p.project_id \
         WHERE h.pipeline_id = ?1 AND h.is_active = TRUE AND h.triggers LIKE '%' || ?2 || '%' ORDER BY h.id",
    )?;
    let rows = select.query_map(params![pipeline_id, format!("\"{event}\"")], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// One `outgoing_events` row per hook, with the run's snapshot (as `insert_events!`).
fn insert_events(
    tx: &Connection,
    hooks: &[(String, String, String)],
    run: &RunRow,
    event: &str,
) -> Result<(), StoreError> {
    if hooks.is_empty() {
        return Ok(());
    }
    let mut insert = tx.prepare_cached(
        "INSERT INTO outgoing_events (id, hook_id, run_id, event, ordinal, occurred_at, snapshot, status, attempts, \
         next_attempt_at, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending', 0, ?6, ?6)",
    )?;
    for (hook_id, pipeline_name, project_name) in hooks {
        insert.execute(params![
            new_id(IdKind::Event),
            hook_id,
            run.id,
            event,
            event_ordinal(event),
            run.created_at,
            run.snapshot(pipeline_name, project_name).to_json()
        ])?;
    }
    Ok(())
}

/// Every write's delivery: a duplicate is recorded with the earlier run, status 200 and
/// outcome `duplicate`.
fn insert_deliveries(
    tx: &Connection,
    batch: &[IngestWrite],
    results: &[IngestResult],
    packed: &[(Vec<u8>, Option<String>)],
) -> Result<(), StoreError> {
    let mut insert = tx.prepare_cached(
        "INSERT INTO deliveries (id, hook_id, project_id, received_at, status_code, outcome, error, verification, \
         filter_reason, variables, problems, run_id, provider_delivery_id, event, content_type, query, headers, \
         body, body_size, body_truncated, replay_of, body_encoding) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22)",
    )?;
    for ((w, r), (body, encoding)) in batch.iter().zip(results).zip(packed) {
        let d = &w.delivery;
        let (status_code, outcome, run_id) = recorded_as(w, r);
        insert.execute(params![
            d.id,
            d.hook_id,
            d.project_id,
            d.received_at,
            status_code,
            outcome,
            d.error,
            d.verification,
            d.filter_reason,
            d.variables,
            d.problems,
            run_id,
            d.provider_delivery_id,
            d.event,
            d.content_type,
            d.query,
            d.headers,
            body,
            d.body_size,
            d.body_truncated,
            d.replay_of,
            encoding
        ])?;
    }
    Ok(())
}

/// `delivery.rejected` / `delivery.ignored`: counted per hook and minute (one upsert per hook
/// and kind in the batch; accepted deliveries cost nothing here).
fn count_alerts(
    tx: &Connection,
    batch: &[IngestWrite],
    results: &[IngestResult],
) -> Result<(), StoreError> {
    let alerts = alert_counts(batch, results);
    if alerts.is_empty() {
        return Ok(());
    }
    let mut upsert = tx.prepare_cached(UPSERT_ALERT)?;
    for ((hook_id, kind, minute), (count, reason)) in alerts {
        upsert.execute(params![hook_id, kind, minute, count, reason])?;
    }
    Ok(())
}
