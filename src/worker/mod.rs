//! Workers: claim queued runs with a lease, run their steps, heartbeat, recover lost runs,
//! and stop gracefully.
//!
//! - Claims happen in the store (`claim_run`): one transaction that commits at once, honouring
//!   each run's concurrency key and policy across processes.
//! - Wake-ups: ingest and the API call [`Wake::runs_ready`] after committing runs, which
//!   notifies this process at once and, on PostgreSQL, other processes through NOTIFY. A
//!   one-second poll is only the fallback.
//! - Each running run has a heartbeat that renews its lease while the attempt still holds it;
//!   a lost lease or a cancel request stops the run's current step.
//! - Shutdown: stop claiming, let runs in flight finish within the grace period, then hand the
//!   rest back to the queue.

pub mod approval;
mod control;
mod execute;
mod lease;
mod live_log;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::Settings;
use crate::crypto::MasterKey;
use crate::domain::ids::base62_u128;
use crate::domain::run_status::RunStatus;
use crate::domain::time::now_ms;
use crate::net_guard::TargetGuard;
use crate::store::RunStore;

/// Fallback poll when no wake-up arrives.
const POLL: Duration = Duration::from_secs(1);

pub use crate::wake::Wake;

/// What every run execution needs.
pub(crate) struct WorkerContext {
    pub store: Arc<dyn RunStore>,
    pub key: Arc<MasterKey>,
    pub guard: TargetGuard,
    pub wake: Wake,
    pub worker_id: String,
    pub lease_ms: i64,
    /// Cancelled when runs in flight must stop and be handed back.
    pub hand_back: CancellationToken,
    pub metrics: Arc<crate::metrics::Metrics>,
}

/// A running worker pool.
pub struct Workers {
    stop: CancellationToken,
    done: tokio::task::JoinHandle<()>,
}

impl Workers {
    /// Starts `settings.workers` concurrent run slots on the current runtime.
    pub fn start(
        store: Arc<dyn RunStore>,
        key: Arc<MasterKey>,
        settings: &Settings,
        wake: Wake,
        metrics: Arc<crate::metrics::Metrics>,
    ) -> Self {
        metrics.worker_slots(settings.workers.max(1));
        let ctx = Arc::new(WorkerContext {
            store,
            key,
            guard: TargetGuard {
                allow_private: settings.allow_private_targets,
            },
            wake,
            worker_id: format!("wrk_{}", base62_u128(rand::random::<u128>())),
            lease_ms: settings.lease_secs as i64 * 1000,
            hand_back: CancellationToken::new(),
            metrics,
        });
        let stop = CancellationToken::new();
        let grace = Duration::from_secs(settings.shutdown_grace_secs as u64);
        tracing::info!(worker_id = %ctx.worker_id, slots = settings.workers, "workers started");
        let done = tokio::spawn(claim_loop(
            ctx,
            settings.workers.max(1),
            stop.clone(),
            grace,
        ));
        Self { stop, done }
    }

    /// A token that, once cancelled, makes the workers stop claiming (see [`Workers::shutdown`]).
    pub fn stop_token(&self) -> CancellationToken {
        self.stop.clone()
    }

    /// Stops claiming, waits for runs in flight up to the grace period, hands back the rest.
    pub async fn shutdown(self) {
        self.stop.cancel();
        let _ = self.done.await;
    }
}

async fn claim_loop(
    ctx: Arc<WorkerContext>,
    slots: usize,
    stop: CancellationToken,
    grace: Duration,
) {
    // `serve` may start before the database is reachable: claim once it is migrated.
    tokio::select! {
        _ = ctx.store.schema().wait() => {}
        _ = stop.cancelled() => return,
    }
    let slots_free = Arc::new(Semaphore::new(slots));
    let mut running: JoinSet<()> = JoinSet::new();
    let recovery = tokio::spawn(recover_loop(ctx.clone(), stop.clone()));
    let approvals = tokio::spawn(approval::sweep_loop(ctx.store.clone(), stop.clone()));
    loop {
        while running.try_join_next().is_some() {}
        let permit = tokio::select! {
            p = slots_free.clone().acquire_owned() => p.expect("semaphore is never closed"),
            _ = stop.cancelled() => break,
        };
        match ctx
            .store
            .claim_run(&ctx.worker_id, ctx.lease_ms, now_ms())
            .await
        {
            Ok(Some(run)) => {
                let ctx = ctx.clone();
                running.spawn(async move {
                    let slot = ctx.metrics.slot_busy();
                    execute::run(&ctx, run).await;
                    drop((slot, permit));
                });
            }
            Ok(None) => {
                drop(permit);
                tokio::select! {
                    _ = ctx.wake.notified() => {}
                    _ = tokio::time::sleep(POLL) => {}
                    _ = stop.cancelled() => break,
                }
            }
            Err(e) => {
                drop(permit);
                tracing::warn!(error = %crate::telemetry::chain(&e), "claiming a run failed; retrying shortly");
                tokio::select! {
                    _ = tokio::time::sleep(POLL) => {}
                    _ = stop.cancelled() => break,
                }
            }
        }
    }
    recovery.abort();
    approvals.abort();
    if !running.is_empty() {
        tracing::info!(
            in_flight = running.len(),
            grace_secs = grace.as_secs(),
            "waiting for runs in flight"
        );
        let all_done = async { while running.join_next().await.is_some() {} };
        if tokio::time::timeout(grace, all_done).await.is_err() {
            tracing::warn!("grace period over: handing the remaining runs back to the queue");
            ctx.hand_back.cancel();
            while running.join_next().await.is_some() {}
        }
    }
}

/// Re-queues or fails runs whose lease expired (their worker died), every third of a lease.
async fn recover_loop(ctx: Arc<WorkerContext>, stop: CancellationToken) {
    let every = Duration::from_millis((ctx.lease_ms / 3).max(500) as u64);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.cancelled() => return,
        }
        match ctx.store.recover_expired(now_ms()).await {
            Ok(changed) if changed.is_empty() => {}
            Ok(changed) => {
                for (run, status) in &changed {
                    tracing::warn!(run_id = %run, status = %status, "recovered a run whose worker was lost");
                    if *status == RunStatus::Failed {
                        ctx.metrics
                            .run_recovered_failed(ctx.store.as_ref(), run)
                            .await;
                    }
                }
                ctx.wake.runs_ready().await;
            }
            Err(e) => {
                tracing::warn!(error = %crate::telemetry::chain(&e), "recovering expired runs failed")
            }
        }
    }
}
