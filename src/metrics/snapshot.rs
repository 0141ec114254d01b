//! The periodic queue snapshot: every few seconds, one bounded read of the run and outgoing
//! queues (`Store::queue_snapshot`) sets the gauges that a scrape then only reads. A scrape
//! never touches the database.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::{Metrics, PipelineStatusLabels};
use crate::domain::time::now_ms;
use crate::store::{QueueSnapshot, Store};

/// How often the snapshot is taken.
pub const EVERY: Duration = Duration::from_secs(5);
/// At most this many rows are counted per state.
pub const CAP: i64 = 100_000;

/// Takes a snapshot every `every` until `stop` is cancelled. A failed read leaves the gauges
/// as they were (a debug line says so; the database's state is `/readyz`'s business).
pub fn spawn(
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
    every: Duration,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut shown: HashSet<PipelineStatusLabels> = HashSet::new();
        loop {
            match store.queue_snapshot(CAP).await {
                Ok(snap) => metrics.apply_snapshot(&snap, now_ms(), &mut shown),
                Err(e) => {
                    tracing::debug!(error = %crate::telemetry::chain(&e), "queue snapshot failed")
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.cancelled() => return,
            }
        }
    })
}

impl Metrics {
    /// Sets the queue gauges from `snap`, taken at `now` (Unix ms). Series of `shown` that the
    /// snapshot no longer has are removed, so a pipeline's gauges go when its runs do.
    pub fn apply_snapshot(
        &self,
        snap: &QueueSnapshot,
        now: i64,
        shown: &mut HashSet<PipelineStatusLabels>,
    ) {
        let mut now_shown = HashSet::with_capacity(snap.runs.len());
        for (pipeline, status, count) in &snap.runs {
            let labels = PipelineStatusLabels {
                pipeline: pipeline.clone(),
                status: status.clone(),
            };
            self.runs.get_or_create(&labels).set(*count);
            now_shown.insert(labels);
        }
        for gone in shown.difference(&now_shown) {
            self.runs.remove(gone);
        }
        *shown = now_shown;
        let age = snap
            .oldest_queued_at
            .map_or(0.0, |t| (now - t).max(0) as f64 / 1000.0);
        self.oldest_queued_age.set(age);
        self.outgoing_pending.set(snap.outgoing_pending);
        self.snapshot_capped.set(i64::from(snap.capped));
    }
}
