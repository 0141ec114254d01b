//! Group commit: concurrent ingests share one transaction, and so one fsync.
//!
//! Each request sends its write to one committer task and waits for its own result. While a
//! commit is in flight, new writes queue; the next commit takes all of them (up to a cap).
//! A batch that fails as a whole is retried one write at a time, so one bad write cannot fail
//! its neighbours; unless the database is unavailable, which fails the whole batch at once.
//! After such a failure, writes arriving within [`FAIL_FAST_FOR`] are failed at once instead of
//! each waiting out the pool's acquire timeout: with the writes that queued during a failing
//! attempt, that would add up to more than the 2 s within which a 503 must be answered.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};
use tracing::Instrument;

use crate::metrics::Metrics;
use crate::store::{IngestResult, IngestWrite, Store, StoreError};
use crate::wake::Wake;

/// Most writes in one transaction.
const MAX_BATCH: usize = 256;
/// Writes waiting for the committer before senders wait for room.
const QUEUE: usize = 4096;
/// How long after a batch failed for an unavailable database new batches fail without trying.
const FAIL_FAST_FOR: Duration = Duration::from_millis(500);

struct Job {
    write: IngestWrite,
    reply: Option<oneshot::Sender<Result<IngestResult, StoreError>>>,
}

/// A handle to the committer task.
#[derive(Clone)]
pub struct Committer {
    tx: mpsc::Sender<Job>,
}

impl Committer {
    /// Starts the committer task on the current runtime; `wake` is told when runs were committed.
    pub fn start(store: Arc<dyn Store>, wake: Wake, metrics: Arc<Metrics>) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(store, rx, wake, metrics));
        Self { tx }
    }

    /// Commits `write` and waits until it is durable (or failed).
    pub async fn commit(&self, write: IngestWrite) -> Result<IngestResult, CommitError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Job {
                write,
                reply: Some(reply),
            })
            .await
            .map_err(|_| CommitError::Stopped)?;
        answer
            .await
            .map_err(|_| CommitError::Stopped)?
            .map_err(CommitError::Store)
    }

    /// Records `write` without waiting (for rejected requests). When the queue is full the
    /// record is dropped: a flood of bad requests must not become a flood of writes.
    pub fn record(&self, write: IngestWrite) -> bool {
        self.tx.try_send(Job { write, reply: None }).is_ok()
    }
}

/// Why a commit did not happen.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    #[error("the committer has stopped")]
    Stopped,
    #[error(transparent)]
    Store(#[from] StoreError),
}

async fn run(
    store: Arc<dyn Store>,
    mut rx: mpsc::Receiver<Job>,
    wake: Wake,
    metrics: Arc<Metrics>,
) {
    let mut jobs: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    let mut down_until: Option<Instant> = None;
    let mut batch: u64 = 0;
    while rx.recv_many(&mut jobs, MAX_BATCH).await > 0 {
        batch += 1;
        let span = tracing::info_span!("commit", batch, writes = jobs.len());
        let (writes, replies): (Vec<IngestWrite>, Vec<_>) =
            jobs.drain(..).map(|j| (j.write, j.reply)).unzip();
        if down_until.is_some_and(|t| Instant::now() < t) {
            fail_all(replies, "the database was unavailable a moment ago");
            continue;
        }
        let unavailable = commit_batch(store.as_ref(), writes, replies, &wake, &metrics)
            .instrument(span)
            .await;
        down_until = unavailable.then(|| Instant::now() + FAIL_FAST_FOR);
    }
}

/// Commits one batch and answers each of its senders; true when the database was unavailable.
async fn commit_batch(
    store: &dyn Store,
    writes: Vec<IngestWrite>,
    replies: Vec<Option<oneshot::Sender<Result<IngestResult, StoreError>>>>,
    wake: &Wake,
    metrics: &Metrics,
) -> bool {
    let started = Instant::now();
    // Shared with the store, which may hand it to a thread of its own (SQLite's writer).
    let writes = Arc::new(writes);
    let committed = store.commit_ingest(Arc::clone(&writes)).await;
    metrics.commit(writes.len(), started.elapsed().as_secs_f64());
    let unavailable = matches!(&committed, Err(e) if e.is_unavailable());
    match committed {
        Ok(results) => {
            let accepted = results
                .iter()
                .any(|r| matches!(r, IngestResult::Accepted { .. }));
            // Answer first: the writes are committed, and announcing them (a NOTIFY on
            // PostgreSQL) must not hold the answers, for up to the pool's acquire timeout
            // when the database has just gone away.
            for (reply, result) in replies.into_iter().zip(results) {
                if let Some(reply) = reply {
                    let _ = reply.send(Ok(result));
                }
            }
            if accepted {
                wake.runs_ready().await;
            }
        }
        Err(e) if writes.len() == 1 => {
            if let Some(Some(reply)) = replies.into_iter().next() {
                let _ = reply.send(Err(e));
            }
        }
        Err(StoreError::Unavailable(e)) => {
            // The database is unreachable: retrying one write at a time would wait out the
            // pool's acquire timeout once per write while every new request queues behind
            // it. Fail the whole batch now (each sender gets a 503 and retries).
            tracing::warn!(error = %crate::telemetry::chain(&e), "group commit failed: database unavailable");
            fail_all(replies, &e.to_string());
        }
        Err(e) => {
            tracing::warn!(error = %crate::telemetry::chain(&e), "group commit failed; committing one by one");
            for (write, reply) in writes.iter().zip(replies) {
                let result = store
                    .commit_ingest(Arc::new(vec![write.clone()]))
                    .await
                    .map(|mut r| r.remove(0));
                if let Some(reply) = reply {
                    let _ = reply.send(result);
                }
            }
        }
    }
    unavailable
}

/// Answers every waiting write with `Unavailable` (a 503 for its sender).
fn fail_all(replies: Vec<Option<oneshot::Sender<Result<IngestResult, StoreError>>>>, why: &str) {
    for reply in replies.into_iter().flatten() {
        let e = sqlx::Error::Io(std::io::Error::other(why.to_string()));
        let _ = reply.send(Err(StoreError::Unavailable(e)));
    }
}
