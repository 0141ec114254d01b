//! PostgreSQL outage under load (SPEC §4, §7): the PostgreSQL server itself is stopped for ~8 s
//! while 8 clients send signed pushes. During the outage ingest answers only 503 with
//! Retry-After (or nothing at all), never a 2xx and never a 500; once PostgreSQL is back, 202s
//! resume without restarting hookgate; nothing acknowledged is lost or duplicated.
//!
//! It stops the whole server, so it must not run inside the parallel suite: it is `#[ignore]`d
//! and run alone by `scripts/pg-outage-test`. The cluster is `$(ls /etc/postgresql | head -1)
//! main` unless `HOOKGATE_OUTAGE_PG_CLUSTER="VERSION NAME"` names another (it must be the server
//! that `HOOKGATE_TEST_POSTGRES_URL` points to).

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::crash_support::*;
use crate::helpers::{fresh_database, Backend};

const CLIENTS: usize = 8;
/// How long PostgreSQL stays down. Longer than hookgate's pool acquire timeout (5 s): a shorter
/// blip is absorbed (requests wait for a connection, then commit and answer 202), so only an
/// outage longer than that shows the 503s.
const OUTAGE: Duration = Duration::from_secs(8);

/// The PostgreSQL cluster to stop, as `pg_ctlcluster` arguments.
fn cluster() -> (String, String) {
    if let Ok(named) = std::env::var("HOOKGATE_OUTAGE_PG_CLUSTER") {
        let (version, name) = named
            .split_once(' ')
            .expect("HOOKGATE_OUTAGE_PG_CLUSTER is \"VERSION NAME\"");
        return (version.to_string(), name.to_string());
    }
    let mut versions: Vec<String> = std::fs::read_dir("/etc/postgresql")
        .expect("/etc/postgresql (pg_ctlcluster's clusters)")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    versions.sort();
    (
        versions.first().expect("a PostgreSQL version").clone(),
        "main".to_string(),
    )
}

fn pg_ctl(cluster: &(String, String), action: &str) -> bool {
    let mut cmd = Command::new("pg_ctlcluster");
    cmd.args(["--skip-systemctl-redirect", &cluster.0, &cluster.1, action]);
    if action == "stop" {
        cmd.args(["-m", "fast"]);
    }
    cmd.status().expect("run pg_ctlcluster").success()
}

/// Stops PostgreSQL; starts it again when dropped, so a failing test leaves it running.
struct Outage {
    cluster: (String, String),
    stopped: bool,
}

impl Outage {
    fn begin(cluster: (String, String)) -> Self {
        assert!(pg_ctl(&cluster, "stop"), "pg_ctlcluster stop failed");
        Self {
            cluster,
            stopped: true,
        }
    }

    fn end(&mut self) {
        if self.stopped {
            self.stopped = false;
            assert!(pg_ctl(&self.cluster, "start"), "pg_ctlcluster start failed");
        }
    }
}

impl Drop for Outage {
    fn drop(&mut self) {
        if self.stopped {
            self.stopped = false;
            eprintln!("pg-outage-test: starting PostgreSQL again after a failure");
            if !pg_ctl(&self.cluster, "start") {
                eprintln!("pg-outage-test: pg_ctlcluster start FAILED; start PostgreSQL by hand");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "stops the PostgreSQL server; run by scripts/pg-outage-test"]
async fn pg_outage_is_503_then_recovers_without_restart() {
    let Some((url, _)) = fresh_database(Backend::Postgres).await else {
        return;
    };
    let cluster = cluster();
    let mut server = Server::new(&url);
    server.start().await;
    let token = server.admin_token();
    let target = Arc::new(github_hook(&server.base, &token).await);

    let tally = Arc::new(Tally::default());
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|n| tokio::spawn(client(n, target.clone(), stop.clone(), tally.clone())))
        .collect();
    let began = Instant::now();
    tokio::time::sleep(Duration::from_secs(3)).await;

    let mut outage = Outage::begin(cluster.clone());
    let down = Instant::now();
    tokio::time::sleep(OUTAGE).await;
    let up_requested = Instant::now();
    outage.end();
    let up = Instant::now();

    // Keep the load going ~4 s, and until a request sent after PostgreSQL came back got a 2xx
    // (at most 20 s).
    let recovered_at = loop {
        let first = tally
            .attempts()
            .into_iter()
            .filter(|a| a.sent >= up && matches!(a.status, Some(200..=299)))
            .map(|a| a.done)
            .min();
        if up.elapsed() >= Duration::from_secs(4) && first.is_some() {
            break first;
        }
        if up.elapsed() > Duration::from_secs(20) {
            break first;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.await.expect("client task");
    }
    assert!(
        server.running() && server.starts == 1,
        "hookgate must stay up through the outage, without a restart: {}",
        server.log()
    );

    let attempts = tally.attempts();
    // Answered while PostgreSQL was down: from (a little after) the stop completed to the start.
    // The 0.5 s leaves room for an answer to a commit made just before the stop to arrive.
    let settled = down + Duration::from_millis(500);
    let during: Vec<Attempt> = attempts
        .iter()
        .filter(|a| a.done >= settled && a.done <= up_requested)
        .cloned()
        .collect();
    let acked = tally.acked();
    let verdict = check(&url, &acked).await;
    let recovered_after = recovered_at.map(|t| t.duration_since(up).as_secs_f64());
    // Sent while PostgreSQL was down, answered 2xx after it came back: waited, then committed.
    let held = attempts
        .iter()
        .filter(|a| a.sent < up_requested && a.done > up && matches!(a.status, Some(200..=299)))
        .count();
    let slowest = attempts
        .iter()
        .map(|a| a.done.duration_since(a.sent))
        .max()
        .unwrap_or_default();
    let line = format!(
        "pg-outage-test postgres: acknowledged={} committed={} lost={} duplicates={} outage={:.0}s answers_while_down=[{}] recovered_after={} retried={}",
        verdict.acknowledged,
        verdict.committed,
        verdict.lost,
        verdict.duplicates,
        OUTAGE.as_secs_f64(),
        Tally::statuses(&during),
        recovered_after.map_or("never".to_string(), |s| format!("{s:.1}s")),
        tally.retried()
    );
    eprintln!("{line}");
    eprintln!(
        "pg-outage-test postgres: all answers {} abandoned={} held_then_202={held} slowest={:.1}s load={:.1}s",
        Tally::statuses(&attempts),
        tally.abandoned.lock().unwrap().len(),
        slowest.as_secs_f64(),
        began.elapsed().as_secs_f64()
    );

    assert!(
        during.iter().any(|a| a.status == Some(503)),
        "{line}: no 503 seen while PostgreSQL was down"
    );
    for a in &during {
        assert!(
            a.status.is_none() || (a.status == Some(503) && a.retry_after),
            "{line}: while PostgreSQL was down only 503 with Retry-After (or no answer) may come, got {a:?}"
        );
    }
    let bad = tally.bad.lock().unwrap();
    assert!(
        bad.is_empty(),
        "{line}: answers the promise forbids: {:?}",
        &bad[..bad.len().min(10)]
    );
    assert!(
        recovered_at.is_some(),
        "{line}: no 2xx within 20 s of PostgreSQL coming back: {}",
        server.log()
    );
    verdict.assert_holds(&line);
}
