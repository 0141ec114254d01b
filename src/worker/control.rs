//! Stopping a run from outside its steps, and the heartbeat that decides when to.

use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

use super::lease::{while_held, GaveUp, LeaseClock};
use crate::domain::ids::RunId;
use crate::domain::time::now_ms;
use crate::store::{Lease, RunStore};

/// Why a run's current step was stopped from outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stop {
    /// Someone asked to cancel the run.
    Cancel,
    /// Another attempt owns the run now, or may own it soon: change nothing.
    Lost,
    /// Shutdown: hand the run back to the queue.
    HandBack,
}

/// The first reason a run was stopped, and the token its steps watch.
#[derive(Default)]
pub(super) struct Control {
    cause: Mutex<Option<Stop>>,
    pub token: CancellationToken,
}

impl Control {
    /// Records `why` (unless a reason is already recorded) and stops the current step.
    pub fn stop(&self, why: Stop) {
        self.cause
            .lock()
            .expect("stop cause lock")
            .get_or_insert(why);
        self.token.cancel();
    }

    pub fn cause(&self) -> Option<Stop> {
        *self.cause.lock().expect("stop cause lock")
    }
}

/// Renews the lease every tenth of it, retrying failed renewals while the lease is ours; stops
/// the run when the lease is lost, a cancel is requested, or the workers hand runs back. When
/// no renewal reaches the database before [`LeaseClock::deadline`], the run is stopped as lost:
/// its steps end before the lease does, so the same run never goes on in two places.
pub(super) async fn heartbeat(
    store: Arc<dyn RunStore>,
    run_id: RunId,
    attempt: i64,
    lease: Arc<LeaseClock>,
    control: Arc<Control>,
    hand_back: CancellationToken,
) {
    let lease_ms = lease.lease_ms();
    loop {
        let Some(left) = lease.remaining() else {
            tracing::warn!(run_id = %run_id, "the lease is about to run out; stopping the run");
            control.stop(Stop::Lost);
            return;
        };
        tokio::select! {
            _ = tokio::time::sleep(lease.heartbeat_every().min(left)) => {}
            _ = hand_back.cancelled() => { control.stop(Stop::HandBack); return; }
        }
        let renewed = while_held(&lease, &run_id, "renewing the lease", || {
            let until = now_ms() + lease_ms;
            let store = store.clone();
            let run_id = run_id.clone();
            async move { Ok((store.heartbeat(&run_id, attempt, until).await?, until)) }
        })
        .await;
        match renewed {
            Ok((Lease::Held { cancel }, until)) => {
                lease.renewed(until);
                if cancel {
                    control.stop(Stop::Cancel);
                }
            }
            Ok((Lease::Lost, _)) => {
                control.stop(Stop::Lost);
                return;
            }
            Err(GaveUp::LeaseOut) => {
                tracing::warn!(run_id = %run_id, "no heartbeat reached the database before the lease ran out; stopping the run");
                control.stop(Stop::Lost);
                return;
            }
            // Not an outage: the next beat tries again, and the deadline still applies.
            Err(GaveUp::Failed(e)) => {
                tracing::warn!(run_id = %run_id, error = %crate::telemetry::chain(&e), "heartbeat failed; will retry");
            }
        }
    }
}
