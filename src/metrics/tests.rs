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

/// The metric names `/metrics` exports (one per `# TYPE` line).
fn exported_names() -> HashSet<String> {
    Metrics::new()
        .encode()
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .map(str::to_string)
        .collect()
}

fn doc(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("docs")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn the_grafana_dashboard_imports_and_queries_exported_metrics() {
    let exported = exported_names();
    let dashboard: serde_json::Value =
        serde_json::from_str(&doc("grafana-dashboard.json")).expect("the dashboard is JSON");
    assert_eq!(dashboard["__inputs"][0]["pluginId"], "prometheus");
    assert!(dashboard["uid"].is_string() && dashboard["title"].is_string());
    let panels = dashboard["panels"].as_array().expect("panels");
    assert!(panels.len() >= 10);
    let mut queried = HashSet::new();
    for panel in panels {
        assert_eq!(
            panel["datasource"]["uid"], "${DS_PROMETHEUS}",
            "{}",
            panel["title"]
        );
        let targets = panel["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{}", panel["title"]);
        for target in targets {
            let expr = target["expr"].as_str().expect("expr");
            // PromQL identifiers: words of [a-z0-9_:]; metric names start with our prefixes.
            for word in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':')) {
                if !(word.starts_with("hookgate_") || word.starts_with("process_")) {
                    continue;
                }
                let family = ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|s| word.strip_suffix(s).filter(|b| exported.contains(*b)))
                    .unwrap_or(word);
                assert!(
                    exported.contains(family),
                    "{word} in {expr:?} is not exported"
                );
                queried.insert(family.to_string());
            }
        }
    }
    for needed in [
        "hookgate_deliveries_total",
        "hookgate_runs",
        "hookgate_oldest_queued_run_age_seconds",
        "hookgate_run_queue_wait_seconds",
    ] {
        assert!(queried.contains(needed), "the dashboard shows no {needed}");
    }
}

#[test]
fn observability_md_describes_every_exported_metric() {
    let text = doc("observability.md");
    for name in exported_names() {
        assert!(
            text.contains(&format!("`{name}`")),
            "docs/observability.md does not list {name}"
        );
    }
}
