//! Stores a running step's log as it grows, so that `GET /runs/{run}/logs?follow=true` can
//! stream it from any process: every [`FLUSH_EVERY`], when output arrived, the settled prefix
//! of the log (redacted exactly as the final text will be) is written to the step's row,
//! fenced on the attempt like every step write.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::steps::step_log::LiveLog;
use crate::store::{RunStore, StepRow};

/// How often a running step's new output is stored.
pub const FLUSH_EVERY: Duration = Duration::from_millis(300);

/// The task storing one step's log while it runs.
pub(super) struct Flusher {
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

/// Starts storing `live` into `row` (a `running` step of `attempt`).
pub(super) fn spawn(
    store: Arc<dyn RunStore>,
    attempt: i64,
    mut row: StepRow,
    live: LiveLog,
) -> Flusher {
    let stop = CancellationToken::new();
    let token = stop.clone();
    let task = tokio::spawn(async move {
        let mut written = 0;
        let mut stored = 0;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(FLUSH_EVERY) => {}
                _ = token.cancelled() => return,
            }
            if live.written() == written {
                continue;
            }
            written = live.written();
            row.log = live.settled_text();
            if row.log.len() == stored {
                continue;
            }
            stored = row.log.len();
            if let Err(e) = store.record_step(attempt, &row).await {
                // The final write carries the whole log; a missed flush only delays followers.
                tracing::debug!(error = %crate::telemetry::chain(&e), "storing a running step's log failed");
            }
        }
    });
    Flusher { stop, task }
}

impl Flusher {
    /// Stops, after any write in flight, so that the step's final write lands last.
    pub(super) async fn stop(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}
