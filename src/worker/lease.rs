//! Keeping a run's lease through database outages (SPEC §7).
//!
//! A worker owns a run until its lease runs out. While it does, a write that fails because the
//! database is unavailable is retried with backoff ([`while_held`]); the step meanwhile goes on.
//! The lease is only renewed by a heartbeat that reaches the database, so once renewals have
//! failed long enough, the worker must stop the run's steps before the lease ends, because from
//! then on another worker may claim the run. [`LeaseClock::deadline`] is that moment: the end of
//! the last lease known to be held, minus a margin long enough to stop a step's processes.

use std::future::Future;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use crate::domain::time::now_ms;
use crate::store::StoreError;

/// First pause between two attempts of a failed write; it doubles up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(100);
const MAX_PAUSE: Duration = Duration::from_secs(1);

/// The lease one attempt of a run holds, as this worker last saw it renewed.
pub(super) struct LeaseClock {
    held_until: AtomicI64,
    lease_ms: i64,
}

impl LeaseClock {
    pub fn new(lease_ms: i64, held_until: i64) -> Self {
        Self {
            held_until: AtomicI64::new(held_until),
            lease_ms,
        }
    }

    pub fn lease_ms(&self) -> i64 {
        self.lease_ms
    }

    /// How often the heartbeat renews the lease: a tenth of it (3 s for the default 30 s), at
    /// least 1 s (no more database writes than before for short leases).
    pub fn heartbeat_every(&self) -> Duration {
        Duration::from_millis((self.lease_ms / 10).max(1_000) as u64)
    }

    /// How long before the lease ends the worker stops the run's steps: a fifth of the lease
    /// (6 s for the default 30 s), at least 500 ms.
    pub fn margin_ms(&self) -> i64 {
        (self.lease_ms / 5).max(500)
    }

    /// How long a stopped step's processes get between SIGTERM and SIGKILL: they must be gone
    /// before the lease ends. The margin less a second (5 s by default, the runner's usual
    /// grace), at least half the margin.
    pub fn term_grace(&self) -> Duration {
        let margin = self.margin_ms();
        let ms = (margin - 1_000).max(margin / 2) as u64;
        Duration::from_millis(ms).min(crate::steps::command::TERM_GRACE)
    }

    /// The time (Unix ms) after which the run is no longer ours to continue.
    pub fn deadline(&self) -> i64 {
        self.held_until.load(Ordering::Acquire) - self.margin_ms()
    }

    /// A renewal reached the database: the lease is held until `until`.
    pub fn renewed(&self, until: i64) {
        self.held_until.fetch_max(until, Ordering::AcqRel);
    }

    /// Time left before [`Self::deadline`], if any.
    pub fn remaining(&self) -> Option<Duration> {
        let left = self.deadline() - now_ms();
        (left > 0).then(|| Duration::from_millis(left as u64))
    }
}

/// Why [`while_held`] gave up.
#[derive(Debug)]
pub(super) enum GaveUp {
    /// The lease ran out (or would have) before the database answered.
    LeaseOut,
    /// The database answered with an error that trying again would not change.
    Failed(StoreError),
}

impl std::fmt::Display for GaveUp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GaveUp::LeaseOut => f.write_str("the database was unavailable until the lease ran out"),
            GaveUp::Failed(e) => write!(f, "{e}"),
        }
    }
}

// `Failed` already says its error's own message; its cause chain goes on from that error's cause.
impl std::error::Error for GaveUp {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            GaveUp::LeaseOut => None,
            GaveUp::Failed(e) => std::error::Error::source(e),
        }
    }
}

/// Runs `op` until it succeeds, retrying with backoff while it fails because the database is
/// unavailable and the lease is still ours. No attempt outlives the deadline: one blocked on a
/// locked or unreachable database is abandoned when the lease runs out.
pub(super) async fn while_held<T, F, Fut>(
    lease: &LeaseClock,
    run_id: &str,
    what: &str,
    mut op: F,
) -> Result<T, GaveUp>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
{
    let mut pause = FIRST_PAUSE;
    let mut failures = 0u32;
    loop {
        let Some(left) = lease.remaining() else {
            return Err(GaveUp::LeaseOut);
        };
        match tokio::time::timeout(left, op()).await {
            Ok(Ok(value)) => {
                if failures > 0 {
                    tracing::info!(run_id, what, failures, "the database answered again");
                }
                return Ok(value);
            }
            Ok(Err(e)) if e.is_unavailable() => {
                failures += 1;
                if failures == 1 {
                    tracing::warn!(run_id, what, error = %crate::telemetry::chain(&e), "database unavailable; retrying while the lease is ours");
                }
            }
            Ok(Err(e)) => return Err(GaveUp::Failed(e)),
            Err(_) => return Err(GaveUp::LeaseOut),
        }
        let Some(left) = lease.remaining() else {
            return Err(GaveUp::LeaseOut);
        };
        tokio::time::sleep(pause.min(left)).await;
        pause = (pause * 2).min(MAX_PAUSE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    fn unavailable() -> StoreError {
        StoreError::Unavailable(sqlx::Error::PoolTimedOut)
    }

    #[tokio::test]
    async fn retries_an_unavailable_database_until_it_answers() {
        let lease = LeaseClock::new(10_000, now_ms() + 10_000);
        let calls = AtomicU32::new(0);
        let got = while_held(&lease, "run", "test", || async {
            match calls.fetch_add(1, Ordering::SeqCst) {
                0..=2 => Err(unavailable()),
                n => Ok(n),
            }
        })
        .await;
        assert_eq!(got.expect("answered"), 3);
    }

    #[tokio::test]
    async fn gives_up_at_once_on_other_errors() {
        let lease = LeaseClock::new(10_000, now_ms() + 10_000);
        let calls = AtomicU32::new(0);
        let got: Result<(), _> = while_held(&lease, "run", "test", || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(StoreError::Other(sqlx::Error::RowNotFound))
        })
        .await;
        assert!(matches!(got, Err(GaveUp::Failed(_))));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn stops_at_the_deadline_even_while_an_attempt_hangs() {
        // Lease of 1 s held for 600 ms more: the deadline (minus the 500 ms margin) is 100 ms away.
        let lease = LeaseClock::new(1_000, now_ms() + 600);
        let got: Result<(), _> = while_held(&lease, "run", "test", || async {
            std::future::pending::<Result<(), StoreError>>().await
        })
        .await;
        assert!(matches!(got, Err(GaveUp::LeaseOut)));
    }

    #[test]
    fn an_expired_lease_has_no_time_left() {
        let lease = LeaseClock::new(30_000, now_ms() - 1);
        assert!(lease.remaining().is_none());
        lease.renewed(now_ms() + 30_000);
        assert!(lease.remaining().is_some());
        assert_eq!(lease.margin_ms(), 6_000);
        assert_eq!(lease.heartbeat_every(), Duration::from_secs(3));
        assert_eq!(lease.term_grace(), Duration::from_secs(5));
        let short = LeaseClock::new(3_000, now_ms());
        assert_eq!(short.term_grace(), Duration::from_millis(300));
    }
}
