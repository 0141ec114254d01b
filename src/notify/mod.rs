//! Outgoing hooks (SPEC §6): deliver run events to webhooks and Slack, signed per Standard
//! Webhooks, durably and with retries.
//!
//! - Events are rows in `outgoing_events`, inserted by the store in the same transaction as the
//!   run state change that caused them (`enqueue_events!` in store/shared.rs), with a snapshot
//!   of the run. A committed state change therefore always has its events, and a crash loses
//!   none: they wait in the database until a deliverer claims them.
//! - The deliverer claims due events (`status = 'pending' AND next_attempt_at <= now`); a claim
//!   moves `next_attempt_at` one lease ahead, so an event whose deliverer died is claimed again
//!   after the lease. PostgreSQL skips rows another process is claiming (`FOR UPDATE SKIP
//!   LOCKED`); SQLite serializes claims (`BEGIN IMMEDIATE`).
//! - A hook receives a run's events in order (queued, started, final): an event is claimed only
//!   once the earlier events of the same run for the same hook are delivered or failed.
//! - Each attempt is recorded (status, latency, error) together with what follows: delivered
//!   (2xx), retry after the configured backoff with jitter, or failed (410, which also disables
//!   the hook, or the schedule ran out). Nothing is dropped.

pub mod attempt;
pub mod deliver;
pub mod email;
pub mod jinja;
pub mod render;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::Settings;
use crate::crypto::{MasterKey, SealContext};
use crate::net_guard::TargetGuard;
use crate::store::{EventNext, OutgoingAttemptRow, OutgoingEventRow, Store};

/// Longest wait between looks for due events.
const POLL: Duration = Duration::from_secs(1);
/// Shortest wait, when events are due but held back by an earlier event in flight.
const MIN_WAIT: Duration = Duration::from_millis(50);
/// How long a claimed event is ours: longer than the longest timeout (60 s).
const LEASE_MS: i64 = 90_000;
/// How often finished minutes' delivery alerts are looked for.
const ALERTS_EVERY: Duration = Duration::from_secs(5);
/// Requests in flight at once per process.
const CONCURRENCY: usize = 16;

/// Where time comes from, so that delivery decisions can be tested with a given `now`.
pub trait Clock: Send + Sync + 'static {
    /// Unix milliseconds.
    fn now_ms(&self) -> i64;
}

/// The system clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        crate::domain::time::now_ms()
    }
}

/// What delivering needs.
pub struct NotifyContext {
    pub store: Arc<dyn Store>,
    pub key: Arc<MasterKey>,
    pub guard: TargetGuard,
    /// Delays before each retry.
    pub schedule: Vec<Duration>,
    pub clock: Arc<dyn Clock>,
    /// The email channel's relay and sender (`HOOKGATE_SMTP_URL`, `HOOKGATE_SMTP_FROM`).
    pub smtp_url: Option<secrecy::SecretString>,
    pub smtp_from: String,
    pub metrics: Arc<crate::metrics::Metrics>,
}

/// The running deliverer.
pub struct Notifier {
    stop: CancellationToken,
    done: tokio::task::JoinHandle<()>,
}

impl Notifier {
    /// Starts delivering on the current runtime.
    pub fn start(
        store: Arc<dyn Store>,
        key: Arc<MasterKey>,
        settings: &Settings,
        metrics: Arc<crate::metrics::Metrics>,
    ) -> Self {
        let ctx = Arc::new(NotifyContext {
            store,
            key,
            guard: TargetGuard {
                allow_private: settings.allow_private_targets,
            },
            schedule: settings.notify_backoff.clone(),
            clock: Arc::new(SystemClock),
            smtp_url: settings.smtp_url.clone(),
            smtp_from: settings.smtp_from.clone(),
            metrics,
        });
        let stop = CancellationToken::new();
        tokio::spawn(alerts_loop(ctx.store.clone(), stop.clone()));
        let done = tokio::spawn(deliver_loop(ctx, stop.clone()));
        Self { stop, done }
    }

    /// Stops claiming and waits for the requests in flight (each bounded by its timeout).
    pub async fn shutdown(self) {
        self.stop.cancel();
        let _ = self.done.await;
    }
}

/// Sends the delivery alerts of minutes that are over (`delivery.rejected|ignored`, one event
/// per hook, kind and minute with the count and the last reason), every few seconds.
async fn alerts_loop(store: Arc<dyn Store>, stop: CancellationToken) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(ALERTS_EVERY) => {}
            _ = stop.cancelled() => return,
        }
        if let Err(e) = store.emit_due_alerts(crate::domain::time::now_ms()).await {
            tracing::warn!(error = %crate::telemetry::chain(&e), "sending delivery alerts failed; retrying");
        }
    }
}

async fn deliver_loop(ctx: Arc<NotifyContext>, stop: CancellationToken) {
    let slots = Arc::new(Semaphore::new(CONCURRENCY));
    let mut running: JoinSet<()> = JoinSet::new();
    loop {
        while running.try_join_next().is_some() {}
        let free = slots.available_permits();
        let mut wait = POLL;
        if free > 0 {
            let now = ctx.clock.now_ms();
            match ctx.store.claim_events(now, LEASE_MS, free as i64).await {
                Ok(events) if !events.is_empty() => {
                    for event in events {
                        let permit = slots
                            .clone()
                            .try_acquire_owned()
                            .expect("claimed no more than the free slots");
                        let ctx = ctx.clone();
                        running.spawn(async move {
                            process(&ctx, event).await;
                            drop(permit);
                        });
                    }
                    continue;
                }
                Ok(_) => {
                    if let Ok(Some(due)) = ctx.store.next_event_due().await {
                        let until = Duration::from_millis((due - now).max(0) as u64);
                        wait = until.clamp(MIN_WAIT, POLL);
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %crate::telemetry::chain(&e), "claiming outgoing events failed; retrying shortly")
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            Some(_) = running.join_next(), if !running.is_empty() => {}
            _ = stop.cancelled() => break,
        }
    }
    while running.join_next().await.is_some() {}
}

/// Makes one attempt at `event` and records it.
#[tracing::instrument(name = "outgoing", skip_all, fields(event_id = %event.id, attempt = event.attempts + 1))]
pub async fn process(ctx: &NotifyContext, event: OutgoingEventRow) {
    let store = ctx.store.as_ref();
    let event_id = event.id.clone();
    let fail = |why: &'static str| {
        let event_id = event_id.clone();
        async move {
            if let Err(e) = store.fail_event(&event_id, why, ctx.clock.now_ms()).await {
                tracing::warn!(event_id = %event_id, error = %crate::telemetry::chain(&e), "could not record a failed event");
            }
        }
    };
    let hook = match store.get_outgoing_hook(&event.hook_id).await {
        Ok(Some(h)) => h,
        Ok(None) => return fail("the outgoing hook was deleted").await,
        Err(e) => {
            // The lease runs out and the event is claimed again.
            tracing::warn!(event_id = %event.id, error = %crate::telemetry::chain(&e), "reading an outgoing hook failed");
            return;
        }
    };
    if !hook.is_active {
        return fail("the outgoing hook is inactive").await;
    }
    let Ok(secret) = ctx
        .key
        .open(&SealContext::OutgoingHook(&hook.id), &hook.secret_ct)
    else {
        return fail("the hook's secret cannot be opened with this master key").await;
    };
    let attempt_no = event.attempts + 1;
    let at = ctx.clock.now_ms();
    let outcome = attempt::send(ctx, &hook, &event, &secret, at).await;
    let now = ctx.clock.now_ms();
    let next = deliver::decide(
        &outcome,
        attempt_no,
        &ctx.schedule,
        now,
        rand::random::<f64>(),
    );
    let row = OutgoingAttemptRow {
        event_id: event.id.clone(),
        hook_id: hook.id.clone(),
        attempt: attempt_no,
        at,
        status_code: outcome.status_code.map(i64::from),
        latency_ms: (now - at).max(outcome.latency_ms),
        error: outcome.error.clone(),
    };
    match store.record_attempt(&row, &next).await {
        Ok(true) => {}
        Ok(false) => {
            tracing::debug!(event_id = %event.id, attempt = attempt_no, "attempt already recorded elsewhere")
        }
        Err(e) => {
            tracing::warn!(event_id = %event.id, error = %crate::telemetry::chain(&e), "recording an attempt failed")
        }
    }
    ctx.metrics.outgoing_attempt(&hook.id, next.result());
    match &next {
        EventNext::Delivered => {
            tracing::info!(event_id = %event.id, hook_id = %hook.id, event = %event.event, attempt = attempt_no, "event delivered")
        }
        EventNext::Retry { .. } => tracing::info!(
            event_id = %event.id, hook_id = %hook.id, attempt = attempt_no,
            error = outcome.error.as_deref().unwrap_or(""), "delivery failed; will retry"),
        EventNext::Failed { disable_hook } => tracing::warn!(
            event_id = %event.id, hook_id = %hook.id, attempt = attempt_no,
            error = outcome.error.as_deref().unwrap_or(""), disabled = disable_hook.is_some(),
            "event failed"),
    }
}
