//! Prometheus metrics (SPEC §9): one [`Metrics`] per process, no global registry.
//!
//! Call sites elsewhere are one line each (`metrics.delivery(hook, provider, Outcome::Accepted)`).
//! Every label value is bounded: an enum, a status from a fixed list, or a hook/pipeline id that
//! configuration bounds. Requests on unknown hook ids all count under the hook label `unknown`.
//! The queue gauges are set by a periodic snapshot ([`snapshot`]), never read at scrape time.
//! Why `prometheus-client`: see docs/observability.md.

mod exposition;
mod labels;
mod process;
pub mod snapshot;

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};

pub use exposition::CONTENT_TYPE;
pub use labels::*;

/// Request read → answer, and one group commit: 0.5 ms to 10 s.
const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Writes in one group commit (at most 256).
const BATCH_BUCKETS: [f64; 9] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];
/// A run from start to end: 0.1 s to 1 h.
const RUN_BUCKETS: [f64; 12] = [
    0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
];
/// A run from enqueue to start: 5 ms to 1 h.
const WAIT_BUCKETS: [f64; 13] = [
    0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0,
];

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;
type FloatGauge = Gauge<f64, AtomicU64>;

/// Every family hookgate exports, and the registry that encodes them.
pub struct Metrics {
    registry: Registry,
    deliveries: Family<DeliveryLabels, Counter>,
    ingest_duration: Histogram,
    commit_batch_size: Histogram,
    commit_duration: Histogram,
    runs_total: Family<PipelineStatusLabels, Counter>,
    run_duration: HistogramFamily<PipelineLabels>,
    queue_wait: HistogramFamily<PipelineLabels>,
    pub(crate) runs: Family<PipelineStatusLabels, Gauge>,
    pub(crate) oldest_queued_age: FloatGauge,
    pub(crate) snapshot_capped: Gauge,
    outgoing_attempts: Family<OutgoingLabels, Counter>,
    pub(crate) outgoing_pending: Gauge,
    worker_slots: Family<SlotLabels, Gauge>,
    leases_lost: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh registry with every family registered (and `hookgate_build_info`).
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let m = Self {
            deliveries: Family::default(),
            ingest_duration: Histogram::new(LATENCY_BUCKETS),
            commit_batch_size: Histogram::new(BATCH_BUCKETS),
            commit_duration: Histogram::new(LATENCY_BUCKETS),
            runs_total: Family::default(),
            run_duration: Family::new_with_constructor(|| Histogram::new(RUN_BUCKETS)),
            queue_wait: Family::new_with_constructor(|| Histogram::new(WAIT_BUCKETS)),
            runs: Family::default(),
            oldest_queued_age: FloatGauge::default(),
            snapshot_capped: Gauge::default(),
            outgoing_attempts: Family::default(),
            outgoing_pending: Gauge::default(),
            worker_slots: Family::default(),
            leases_lost: Counter::default(),
            registry: Registry::default(),
        };
        let r = &mut registry;
        r.register(
            "hookgate_deliveries",
            "Requests on POST /hooks/{hk}, by hook, provider and outcome",
            m.deliveries.clone(),
        );
        r.register_with_unit(
            "hookgate_ingest_duration",
            "POST /hooks/{hk}: from the request's first byte read to its answer",
            Unit::Seconds,
            m.ingest_duration.clone(),
        );
        r.register(
            "hookgate_commit_batch_size",
            "Writes per group commit",
            m.commit_batch_size.clone(),
        );
        r.register_with_unit(
            "hookgate_commit_duration",
            "One group commit's transaction",
            Unit::Seconds,
            m.commit_duration.clone(),
        );
        r.register(
            "hookgate_runs",
            "Runs that reached a final state in this process, by pipeline and status",
            m.runs_total.clone(),
        );
        r.register_with_unit(
            "hookgate_run_duration",
            "Runs from start to final state, by pipeline",
            Unit::Seconds,
            m.run_duration.clone(),
        );
        r.register_with_unit(
            "hookgate_run_queue_wait",
            "Runs from enqueue (created) to running, by pipeline",
            Unit::Seconds,
            m.queue_wait.clone(),
        );
        r.register(
            "hookgate_runs",
            "Runs now queued, running or waiting for approval, by pipeline (periodic snapshot)",
            m.runs.clone(),
        );
        r.register_with_unit(
            "hookgate_oldest_queued_run_age",
            "Age of the oldest queued run, 0 when none (periodic snapshot)",
            Unit::Seconds,
            m.oldest_queued_age.clone(),
        );
        r.register(
            "hookgate_queue_snapshot_capped",
            "1 when a snapshot count reached its cap (the gauges then read at least that many)",
            m.snapshot_capped.clone(),
        );
        r.register(
            "hookgate_outgoing_attempts",
            "Outgoing hook attempts, by hook and result (delivered, retry, failed)",
            m.outgoing_attempts.clone(),
        );
        r.register(
            "hookgate_outgoing_pending",
            "Outgoing events waiting to be delivered (periodic snapshot)",
            m.outgoing_pending.clone(),
        );
        r.register(
            "hookgate_worker_slots",
            "This process's run slots, by state (busy, idle)",
            m.worker_slots.clone(),
        );
        r.register(
            "hookgate_leases_lost",
            "Runs this process stopped because another attempt owns them now",
            m.leases_lost.clone(),
        );
        r.register(
            "hookgate_build",
            "The running version",
            Info::new(VersionLabels {
                version: env!("CARGO_PKG_VERSION"),
            }),
        );
        r.register_collector(Box::new(process::ProcessCollector));
        Self { registry, ..m }
    }

    /// One request on `POST /hooks/{hk}` answered with `outcome` after `seconds`.
    pub fn delivery(&self, hook: Option<&str>, provider: &'static str, outcome: Outcome) {
        let labels = DeliveryLabels {
            hook: hook.unwrap_or(UNKNOWN).to_string(),
            provider,
            outcome,
        };
        self.deliveries.get_or_create(&labels).inc();
    }

    /// The time one ingest request took.
    pub fn ingest_duration(&self, seconds: f64) {
        self.ingest_duration.observe(seconds);
    }

    /// One group commit of `writes` writes that took `seconds`.
    pub fn commit(&self, writes: usize, seconds: f64) {
        self.commit_batch_size.observe(writes as f64);
        self.commit_duration.observe(seconds);
    }

    /// A run that reached the final `status`; `times` are its (created, started, finished) in
    /// Unix ms when known.
    pub fn run_finished(&self, pipeline: &str, status: &str, started: Option<i64>, finished: i64) {
        let labels = PipelineStatusLabels {
            pipeline: pipeline.to_string(),
            status: status.to_string(),
        };
        self.runs_total.get_or_create(&labels).inc();
        if let Some(started) = started {
            let labels = PipelineLabels {
                pipeline: labels.pipeline,
            };
            self.run_duration
                .get_or_create(&labels)
                .observe(ms_to_secs(finished - started));
        }
    }

    /// A run that recovery failed with `worker_lost` (its pipeline is read back: rare).
    pub async fn run_recovered_failed(&self, store: &dyn crate::store::RunStore, run_id: &str) {
        if let Ok(Some(run)) = store.get_run(run_id).await {
            let finished = run.finished_at.unwrap_or_else(crate::domain::time::now_ms);
            self.run_finished(&run.pipeline_id, "failed", run.started_at, finished);
        }
    }

    /// A run that started `wait_ms` after it was enqueued.
    pub fn run_started(&self, pipeline: &str, wait_ms: i64) {
        let labels = PipelineLabels {
            pipeline: pipeline.to_string(),
        };
        self.queue_wait
            .get_or_create(&labels)
            .observe(ms_to_secs(wait_ms));
    }

    /// One outgoing attempt on `hook`, with `result` `delivered`, `retry` or `failed`.
    pub fn outgoing_attempt(&self, hook: &str, result: &'static str) {
        let labels = OutgoingLabels {
            hook: hook.to_string(),
            result,
        };
        self.outgoing_attempts.get_or_create(&labels).inc();
    }

    /// Declares `slots` run slots, all idle.
    pub fn worker_slots(&self, slots: usize) {
        self.slot_gauge("idle").set(slots as i64);
        self.slot_gauge("busy").set(0);
    }

    /// Marks one slot busy until the guard drops.
    pub fn slot_busy(self: &Arc<Self>) -> BusySlot {
        self.slot_gauge("idle").dec();
        self.slot_gauge("busy").inc();
        BusySlot(self.clone())
    }

    fn slot_gauge(&self, state: &'static str) -> Gauge {
        self.worker_slots
            .get_or_create(&SlotLabels { state })
            .clone()
    }

    /// A run this process stopped because its lease was lost.
    pub fn lease_lost(&self) {
        self.leases_lost.inc();
    }

    /// The text exposition, in the classic Prometheus format ([`CONTENT_TYPE`]).
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(16 * 1024);
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        exposition::to_classic(&out)
    }
}

/// A busy worker slot; idle again when dropped.
pub struct BusySlot(Arc<Metrics>);

impl Drop for BusySlot {
    fn drop(&mut self) {
        self.0.slot_gauge("busy").dec();
        self.0.slot_gauge("idle").inc();
    }
}

fn ms_to_secs(ms: i64) -> f64 {
    ms.max(0) as f64 / 1000.0
}

#[cfg(test)]
mod tests;
