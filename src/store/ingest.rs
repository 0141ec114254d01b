//! The group commit's batch (`Store::commit_ingest`), as both backends plan it: which writes
//! claim a provider delivery id, which repeat one, which runs are inserted, what each delivery
//! is recorded as, and the delivery alerts counted. No SQL here: PostgreSQL commits a batch in
//! array statements (`postgres_ingest`), SQLite a row at a time on its writer thread
//! (`sqlite_writer`).

use std::collections::HashMap;

use super::{IngestResult, IngestWrite, RunRow};
use crate::domain::dedup::{plan_dedup, DedupPlan};

/// Each write's result before the database is asked: accepted with its run, or recorded.
pub(crate) fn first_results(batch: &[IngestWrite]) -> Vec<IngestResult> {
    batch
        .iter()
        .map(|w| match &w.run {
            Some(run) => IngestResult::Accepted {
                run_id: run.id.clone(),
            },
            None => IngestResult::Recorded,
        })
        .collect()
}

/// Dedup: the first write of a key in the batch claims it; later ones in the batch are its
/// duplicates (`plan_dedup`). Only writes that start a run have a key.
pub(crate) fn dedup_plan(batch: &[IngestWrite]) -> DedupPlan {
    let keys: Vec<Option<(&str, &str)>> = batch
        .iter()
        .map(|w| {
            w.run
                .as_ref()
                .and(w.dedup_key.as_deref())
                .map(|key| (w.delivery.hook_id.as_str(), key))
        })
        .collect();
    plan_dedup(&keys)
}

/// The claim a write stores: its hook, the provider's delivery id, its delivery and its run.
pub(crate) fn claim_of(w: &IngestWrite) -> (&str, &str, &str, &str) {
    (
        w.delivery.hook_id.as_str(),
        w.dedup_key.as_deref().unwrap_or_default(),
        w.delivery.id.as_str(),
        w.run.as_ref().map(|r| r.id.as_str()).unwrap_or_default(),
    )
}

/// A write whose key repeats an earlier one of the batch gets that one's run, as a duplicate.
pub(crate) fn resolve_twins(results: &mut [IngestResult], twin_of: &[Option<usize>]) {
    for i in 0..results.len() {
        if let Some(first) = twin_of[i] {
            let run_id = match &results[first] {
                IngestResult::Accepted { run_id } | IngestResult::Duplicate { run_id } => {
                    run_id.clone()
                }
                IngestResult::Recorded => continue,
            };
            results[i] = IngestResult::Duplicate { run_id };
        }
    }
}

/// The runs to insert: those of the writes still accepted after dedup.
pub(crate) fn accepted_runs<'a>(
    batch: &'a [IngestWrite],
    results: &'a [IngestResult],
) -> impl Iterator<Item = &'a RunRow> {
    batch
        .iter()
        .zip(results)
        .filter(|(_, r)| matches!(r, IngestResult::Accepted { .. }))
        .filter_map(|(w, _)| w.run.as_ref())
}

/// How a delivery is recorded: `(status code, outcome, run id)`. A duplicate is recorded with
/// the earlier run, status 200 and outcome `duplicate`.
pub(crate) fn recorded_as<'a>(
    w: &'a IngestWrite,
    r: &'a IngestResult,
) -> (i64, &'a str, Option<&'a str>) {
    let d = &w.delivery;
    match r {
        IngestResult::Duplicate { run_id } => (200, "duplicate", Some(run_id.as_str())),
        _ => (d.status_code, d.outcome.as_str(), d.run_id.as_deref()),
    }
}

/// `delivery.rejected` / `delivery.ignored` counts: per `(hook, kind, minute)`, the count and
/// the last reason. Accepted deliveries count nothing.
pub(crate) type AlertCounts<'a> = HashMap<(&'a str, &'a str, i64), (i64, Option<&'a str>)>;

/// The batch's delivery alerts, one entry per hook, kind and minute (one upsert each).
pub(crate) fn alert_counts<'a>(
    batch: &'a [IngestWrite],
    results: &[IngestResult],
) -> AlertCounts<'a> {
    let mut alerts = AlertCounts::new();
    for (w, r) in batch.iter().zip(results) {
        let d = &w.delivery;
        let kind = match (r, d.outcome.as_str()) {
            (IngestResult::Recorded, "rejected") => "rejected",
            (IngestResult::Recorded, "ignored") => "ignored",
            _ => continue,
        };
        let reason = if kind == "ignored" {
            d.filter_reason.as_deref()
        } else {
            d.error.as_deref()
        };
        let slot = alerts
            .entry((d.hook_id.as_str(), kind, d.received_at.div_euclid(60_000)))
            .or_default();
        slot.0 += 1;
        slot.1 = reason.or(slot.1);
    }
    alerts
}

/// The upsert of one alert count (both dialects).
pub(crate) const UPSERT_ALERT: &str = "INSERT INTO delivery_alerts (hook_id, kind, minute, count, last_reason, emitted) \
     VALUES ($1, $2, $3, $4, $5, FALSE) ON CONFLICT (hook_id, kind, minute) DO UPDATE SET \
     count = delivery_alerts.count + excluded.count, last_reason = COALESCE(excluded.last_reason, delivery_alerts.last_reason)";
