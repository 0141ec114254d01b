//! Runs keep their true outcome through database outages (SPEC §7, issue #11).
//!
//! The database is taken away from the one hookgate process under test (a TCP proxy cut on
//! PostgreSQL, a writer holding the write lock on SQLite: see outage_support.rs) while a run is
//! in flight:
//!
//! - for less than a lease: the run's outcome is what its steps did, the deploy step ran once
//!   (even with `retries: 1`), and every step's status and log are complete;
//! - for more than a lease: the worker stops the step before the lease ends (nothing the step
//!   writes is later than the lease's end read from the database), and the run is then
//!   recovered as documented (`failed` / `worker_lost`), its step no longer `running`.
//!
//! No timed assertions: the waits are bounded polls; the only clock comparison is between the
//! step's own marks and the lease end the database recorded.

use std::path::Path;
use std::time::Duration;

use hookgate::domain::time::now_ms;
use serde_json::{json, Value};

use crate::execution::runs::wait_final;
use crate::helpers::{Backend, TestApp};
use crate::outage_support::OutageApp;

/// The lease of the long outage: heartbeats every second, steps stopped 2 s before it ends.
const LEASE_SECS: u32 = 10;
/// The lease of the short outage, the default: heartbeats every 3 s, steps stopped 6 s before
/// it ends, so outages up to 21 s change nothing.
const LONG_LEASE_SECS: u32 = 30;

async fn pipeline(app: &TestApp, retries: u32, steps: Value) -> String {
    let body = json!({ "name": "deploy", "retries": retries, "steps": steps });
    crate::execution::runs::pipeline(app, body).await
}

async fn manual_run(app: &TestApp, pl: &str) -> String {
    crate::execution::runs::manual(app, pl, json!({})).await
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Waits (bounded) until the step wrote its first line.
async fn wait_for_line(path: &Path) {
    for _ in 0..500 {
        if !lines(path).is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the step never started");
}

/// A `sh -c` command step.
fn shell(name: &str, script: &str) -> Value {
    json!({ "name": name, "action": "command", "program": "/bin/sh", "args": ["-c", script] })
}

async fn outage_shorter_than_a_lease(backend: Backend) {
    let Some(mut o) = OutageApp::start(backend, LONG_LEASE_SECS).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("deploys");
    // The deploy step ends during the outage (its end is written after it), the next step's
    // start is written after it, and so is the run's end.
    let pl = pipeline(
        &o.app,
        1,
        json!([
            shell(
                "deploy",
                &format!(
                    "echo deployed >> {}; sleep 1; echo deploy-done",
                    marker.display()
                )
            ),
            shell("check", "echo check-done"),
        ]),
    )
    .await;
    let run_id = manual_run(&o.app, &pl).await;
    wait_for_line(&marker).await;
    o.cut().await;
    // 13 s: like the outages of issue #11 (10-15 s), longer than the busy timeout SQLite
    // writes used to wait (10 s) after the step's end, shorter than the lease minus a
    // heartbeat and the stop margin.
    tokio::time::sleep(Duration::from_secs(13)).await;
    let (status, attempt, _) = o.run_row(&run_id).await;
    assert_eq!(
        (status.as_str(), attempt),
        ("running", 1),
        "during the outage"
    );
    o.restore().await;

    let run = wait_final(&o.app, &run_id).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["attempt"], 1, "one attempt: {run}");
    assert_eq!(lines(&marker), ["deployed"], "the deploy step ran once");
    let (s, logs) = o
        .app
        .get(&format!("/api/v1/runs/{run_id}/logs"), &o.app.admin_token)
        .await;
    assert_eq!(s, 200, "{logs}");
    let steps = logs["steps"].as_array().expect("steps");
    assert_eq!(steps.len(), 2, "{logs}");
    eprintln!(
        "run-outage {backend:?}: outage=13s lease={LONG_LEASE_SECS}s status={} attempt={} deploys={} steps={:?}",
        run["status"],
        run["attempt"],
        lines(&marker).len(),
        steps.iter().map(|s| s["status"].as_str().unwrap_or_default()).collect::<Vec<_>>()
    );
    for (step, done) in steps.iter().zip(["deploy-done", "check-done"]) {
        assert_eq!(step["status"], "succeeded", "{logs}");
        assert!(
            step["log"].as_str().unwrap_or_default().contains(done),
            "{logs}"
        );
    }
}

async fn outage_longer_than_a_lease(backend: Backend) {
    let Some(mut o) = OutageApp::start(backend, LEASE_SECS).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ticks");
    // Writes the time (ms) every 100 ms for as long as it is allowed to run.
    let pl = pipeline(
        &o.app,
        0,
        json!([shell(
            "deploy",
            &format!(
                "while true; do date +%s%3N >> {}; sleep 0.1; done",
                marker.display()
            )
        )]),
    )
    .await;
    let run_id = manual_run(&o.app, &pl).await;
    wait_for_line(&marker).await;
    o.cut().await;
    // From here hookgate cannot renew the lease: the end the database holds is final.
    let (status, _, lease_end) = o.run_row(&run_id).await;
    assert_eq!(status, "running");
    let lease_end = lease_end.expect("a running run has a lease");
    for _ in 0..400 {
        if now_ms() > lease_end + 1_000 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ticks: Vec<i64> = lines(&marker)
        .iter()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    o.restore().await;

    let last = *ticks.last().expect("the step ran");
    assert!(
        last < lease_end,
        "the step went on after the lease ended: last mark {last}, lease end {lease_end}"
    );
    let run = wait_final(&o.app, &run_id).await;
    eprintln!(
        "run-outage {backend:?}: outage past the lease ({LEASE_SECS}s): last step mark {} ms before the lease end; run {} / {}; step {}",
        lease_end - last,
        run["status"],
        run["reason"],
        run["steps"][0]["status"]
    );
    assert_eq!(run["status"], "failed", "{run}");
    assert_eq!(run["reason"], "worker_lost", "{run}");
    let step_status = &run["steps"][0]["status"];
    assert_ne!(step_status, "running", "{run}");
    assert_eq!(
        lines(&marker).len(),
        ticks.len(),
        "nothing ran after the lease ended"
    );
}

mod sqlite {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn outage_shorter_than_a_lease_changes_nothing() {
        outage_shorter_than_a_lease(Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn outage_longer_than_a_lease_stops_the_step_before_the_lease_ends() {
        outage_longer_than_a_lease(Backend::Sqlite).await;
    }
}

mod postgres {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn outage_shorter_than_a_lease_changes_nothing() {
        outage_shorter_than_a_lease(Backend::Postgres).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn outage_longer_than_a_lease_stops_the_step_before_the_lease_ends() {
        outage_longer_than_a_lease(Backend::Postgres).await;
    }
}
