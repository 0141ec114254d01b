use std::collections::HashSet;

use super::*;
use crate::store::QueueSnapshot;

#[test]
fn every_spec_family_is_exported() {
    let m = Metrics::new();
    m.delivery(Some("hk_a"), "github", Outcome::Accepted);
    m.commit(3, 0.002);
    m.run_started("pl_a", 10);
    m.run_finished("pl_a", "succeeded", Some(0), 1500);
    m.outgoing_attempt("oh_a", "delivered");
    m.worker_slots(2);
    m.lease_lost();
    m.apply_snapshot(
        &QueueSnapshot {
            runs: vec![("pl_a".into(), "queued".into(), 4)],
            oldest_queued_at: Some(1_000),
            outgoing_pending: 2,
            capped: false,
        },
        3_500,
        &mut HashSet::new(),
    );
    let text = m.encode();
    for name in [
        "# TYPE hookgate_deliveries_total counter",
        "# TYPE hookgate_ingest_duration_seconds histogram",
        "# TYPE hookgate_commit_batch_size histogram",
        "# TYPE hookgate_commit_duration_seconds histogram",
        "# TYPE hookgate_runs_total counter",
        "# TYPE hookgate_run_duration_seconds histogram",
        "# TYPE hookgate_run_queue_wait_seconds histogram",
        "# TYPE hookgate_runs gauge",
        "# TYPE hookgate_oldest_queued_run_age_seconds gauge",
        "# TYPE hookgate_outgoing_attempts_total counter",
        "# TYPE hookgate_outgoing_pending gauge",
        "# TYPE hookgate_worker_slots gauge",
        "# TYPE hookgate_leases_lost_total counter",
        "# TYPE hookgate_build_info gauge",
    ] {
        assert!(text.contains(name), "{name} missing from\n{text}");
    }
    assert!(text.contains("hookgate_oldest_queued_run_age_seconds 2.5"));
    assert!(text.contains(r#"hookgate_runs{pipeline="pl_a",status="queued"} 4"#));
    assert!(!text.contains("# EOF") && !text.contains("# UNIT"));
}

#[test]
fn a_snapshot_removes_the_series_that_went_away() {
    let m = Metrics::new();
    let mut shown = HashSet::new();
    let snap = |runs: Vec<(String, String, i64)>| QueueSnapshot {
        runs,
        ..QueueSnapshot::default()
    };
    m.apply_snapshot(
        &snap(vec![("pl_a".into(), "running".into(), 1)]),
        0,
        &mut shown,
    );
    m.apply_snapshot(&snap(vec![]), 0, &mut shown);
    assert!(!m.encode().contains(r#"pipeline="pl_a""#));
}

#[test]
fn error_codes_map_to_spec_outcomes() {
    assert_eq!(
        Outcome::from_error(401, "invalid_signature"),
        Outcome::InvalidSignature
    );
    assert_eq!(
        Outcome::from_error(413, "body_too_large"),
        Outcome::TooLarge
    );
    assert_eq!(Outcome::from_error(403, "hook_inactive"), Outcome::Inactive);
    assert_eq!(
        Outcome::from_error(415, "unsupported_media_type"),
        Outcome::InvalidBody
    );
    assert_eq!(
        Outcome::from_error(503, "unavailable"),
        Outcome::Unavailable
    );
    let names: HashSet<&str> = Outcome::ALL.iter().map(|o| o.as_str()).collect();
    assert_eq!(names.len(), Outcome::ALL.len());
}

#[test]
fn busy_slots_come_back_idle() {
    let m = Arc::new(Metrics::new());
    m.worker_slots(2);
    let slot = m.slot_busy();
    assert!(m
        .encode()
        .contains(r#"hookgate_worker_slots{state="busy"} 1"#));
    drop(slot);
    let text = m.encode();
    assert!(text.contains(r#"hookgate_worker_slots{state="busy"} 0"#));
    assert!(text.contains(r#"hookgate_worker_slots{state="idle"} 2"#));
}
