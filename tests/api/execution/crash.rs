//! Crash test (SPEC §4, §7): a 2xx from ingest means the run is committed. The real binary is
//! killed with SIGKILL every 2–3 s under load from 16 clients and restarted on the same port;
//! clients retry each delivery id until a 2xx. Afterwards, read from the database: no
//! acknowledged delivery is lost, no provider delivery id has more than one run.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;

use crate::crash_support::*;
use crate::helpers::{fresh_database, Backend};

const CLIENTS: usize = 16;
/// Load lasts at least this long, and until the server was killed at least [`MIN_KILLS`] times.
const LOAD: Duration = Duration::from_secs(10);
const MIN_KILLS: u32 = 3;

async fn crash(backend: Backend) {
    let Some((url, _dir)) = fresh_database(backend).await else {
        return;
    };
    let name = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
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
    let mut kills = 0;
    loop {
        let pause = rand::thread_rng().gen_range(2000..3000);
        tokio::time::sleep(Duration::from_millis(pause)).await;
        if kills >= MIN_KILLS && began.elapsed() >= LOAD {
            break;
        }
        server.kill9();
        kills += 1;
        server.start().await;
    }
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.await.expect("client task");
    }
    // Once more, with nothing in flight: whatever was committed survives a restart.
    server.kill9();
    server.start().await;

    let acked = tally.acked();
    let verdict = check(&url, &acked).await;
    let line = format!(
        "crash-test {name}: acknowledged={} committed={} lost={} duplicates={} kills={kills} retried={}",
        verdict.acknowledged,
        verdict.committed,
        verdict.lost,
        verdict.duplicates,
        tally.retried()
    );
    eprintln!("{line}");
    eprintln!(
        "crash-test {name}: answers {} abandoned={} load={:.1}s",
        Tally::statuses(&tally.attempts()),
        tally.abandoned.lock().unwrap().len(),
        began.elapsed().as_secs_f64()
    );
    verdict.assert_holds(&line);
    assert!(kills >= MIN_KILLS);
    let bad = tally.bad.lock().unwrap();
    assert!(
        bad.is_empty(),
        "answers the promise forbids: {:?}",
        &bad[..bad.len().min(10)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_sqlite() {
    crash(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_postgres() {
    crash(Backend::Postgres).await;
}
