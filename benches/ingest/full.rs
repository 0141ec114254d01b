//! The full run: interleaved rounds of the five phases on one server, the latency at half
//! load, every 202 checked against the database, then the time from enqueue to `running` on a
//! second server whose workers are on.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use serde_json::json;

use crate::args::{Args, PhaseName};
use crate::fixture::{self, Hook};
use crate::load::{drive, Target};
use crate::measure::{measure, Load};
use crate::procfs::peak_rss_mib;
use crate::report::{self, median, round, Figures, Totals};
use crate::server::{binary_under_test, Server};

/// Runs the bench and prints its JSON line (with `--only`, a line per round instead).
/// Returns false when a 202 has no run in the database.
pub async fn run(args: &Args) -> bool {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let key = hookgate::crypto::MasterKey::generate().to_base64();
    let database = args
        .database
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("bench.db").display()));
    let fx = fixture::prepare(&database, &key, 0).await;
    let server = Server::start(&binary_under_test(), &fx.env, dir.path(), true);
    let base = format!("http://127.0.0.1:{}", server.port);
    let hook = fixture::register_hook(&base, &fx.admin, &unique("bench")).await;
    let body = fixture::payload();
    let targets = targets(server.port, &hook, &body, args.only);
    let (figures, mut accepted_total) = rounds(server.pid(), &targets, args).await;
    if args.only.is_some() {
        return true;
    }

    let ingest = &targets.last().expect("ingest is the last phase").1;
    let half_rate = median(&figures[&PhaseName::Ingest].per_s) / 2.0;
    let mut half = drive(
        ingest,
        args.connections,
        args.seconds,
        Some(half_rate),
        &unique("half"),
    )
    .await;
    accepted_total += half.expected;
    let runs_committed = fx
        .store
        .count_runs(&hook.pipeline_id)
        .await
        .expect("count runs");
    let rss_mib = peak_rss_mib(server.pid());
    // The throughput phases leave their runs queued (workers off); delete them (with their
    // pipeline) so that the workers of the next phase, maybe on the same database, start on
    // fresh runs.
    delete_pipeline(&base, &fx.admin, &hook.pipeline_id).await;
    drop(server);

    let runner_db = match &args.database {
        Some(url) => url.clone(),
        None => format!("sqlite://{}", dir.path().join("runner.db").display()),
    };
    let (run_start_p50_ms, run_start_samples) =
        run_start(&runner_db, &key, dir.path(), &body).await;

    let totals = Totals {
        database: if args.database.is_some() {
            "postgres"
        } else {
            "sqlite"
        },
        connections: args.connections,
        seconds: args.seconds,
        rounds: args.rounds,
        payload_bytes: body.len(),
        half_load_per_s: half.per_s(),
        half_load_p99_ms: half.percentile_ms(0.99),
        accepted_total,
        runs_committed,
        run_start_p50_ms,
        run_start_samples,
        rss_mib,
    };
    println!("{}", report::line(&figures, &totals));
    let all_committed = runs_committed as u64 == accepted_total;
    if !all_committed {
        eprintln!("LOST: {accepted_total} deliveries were answered 202 but {runs_committed} runs are in the database");
    }
    all_committed
}

/// A warm-up of 1 s per phase, then `--rounds` interleaved rounds of the phases. Returns
/// the figures and the number of 202s the ingest phases got.
async fn rounds(
    server_pid: u32,
    targets: &[(PhaseName, Target)],
    args: &Args,
) -> (HashMap<PhaseName, Figures>, u64) {
    let load = Load::of(args);
    let mut accepted = 0;
    for (name, target) in targets {
        let warm = drive(target, args.connections, 1, None, &unique(name.key())).await;
        if *name == PhaseName::Ingest {
            accepted += warm.expected;
        }
    }
    let mut figures: HashMap<PhaseName, Figures> = HashMap::new();
    for r in 0..args.rounds {
        for (name, target) in targets {
            let tag = unique(&format!("r{r}-{}", name.key()));
            let mut m = measure(server_pid, target, &load, &tag).await;
            if *name == PhaseName::Ingest {
                accepted += m.phase.expected;
            }
            let (per_s, errors) = (m.phase.per_s(), m.phase.errors);
            eprintln!(
                "round {r} {}: {per_s:.0}/s ({errors} unexpected)",
                name.key()
            );
            if args.only.is_some() {
                // Profiling one endpoint: a line per round instead of the summary.
                println!(
                    "{}",
                    json!({ "only": name.key(), "per_s": per_s.round(),
                        "server_cpu_us_per_request": round(m.server_cpu_us, 1),
                        "db_cpu_us_per_request": m.db_cpu_us.map(|(b, _)| round(b, 1)),
                        "p50_ms": m.phase.percentile_ms(0.5), "p99_ms": m.phase.percentile_ms(0.99),
                        "errors": errors, "rss_mib": peak_rss_mib(server_pid) })
                );
            }
            figures.entry(*name).or_default().push(&mut m);
        }
    }
    (figures, accepted)
}

/// The phases of a round, in the order they run (ingest last), each with its request.
fn targets(
    port: u16,
    hook: &Hook,
    body: &[u8],
    only: Option<PhaseName>,
) -> Vec<(PhaseName, Target)> {
    let ingest = hook.ingest(port, body);
    let target = |name: PhaseName| match name {
        PhaseName::Bare => Target {
            path: "/bench/bare".into(),
            ..ingest.clone()
        },
        PhaseName::Hmac => Target {
            path: format!("/bench/hmac/{}", hook.hk),
            ..ingest.clone()
        },
        PhaseName::VerifyParse => Target {
            path: format!("/bench/verify-parse/{}", hook.hk),
            ..ingest.clone()
        },
        PhaseName::Forged => Target {
            signature: fixture::forged_signature(),
            expect: 401,
            ..ingest.clone()
        },
        PhaseName::Ingest => ingest.clone(),
    };
    PhaseName::ALL
        .into_iter()
        .filter(|&name| only.is_none_or(|only| only == name))
        .map(|name| (name, target(name)))
        .collect()
}

/// Enqueue → `running`, on a second server with 2 workers, at a gentle pace (a worker is
/// free): 50 requests a second for 4 s. Returns (p50 in ms, samples).
async fn run_start(database: &str, key: &str, dir: &Path, body: &[u8]) -> (i64, usize) {
    let fx = fixture::prepare(database, key, 2).await;
    let runner = Server::start(&binary_under_test(), &fx.env, dir, true);
    let base = format!("http://127.0.0.1:{}", runner.port);
    let hook = fixture::register_hook(&base, &fx.admin, &unique("bench-runner")).await;
    let target = hook.ingest(runner.port, body);
    drive(&target, 4, 4, Some(50.0), &unique("runner")).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut delays = fx
        .store
        .run_start_delays(&hook.pipeline_id)
        .await
        .expect("run delays");
    delays.sort_unstable();
    (
        delays.get(delays.len() / 2).copied().unwrap_or(-1),
        delays.len(),
    )
}

/// Deletes a pipeline with its runs, through the API.
pub async fn delete_pipeline(base: &str, admin: &str, pipeline_id: &str) {
    let deleted = reqwest::Client::new()
        .delete(format!("{base}/api/v1/pipelines/{pipeline_id}"))
        .bearer_auth(admin)
        .send()
        .await
        .expect("delete the throughput pipeline");
    assert_eq!(
        deleted.status().as_u16(),
        204,
        "delete the throughput pipeline"
    );
}

/// `prefix` made unique to this run, so that a database used before (PostgreSQL) takes new
/// projects and deliveries.
pub fn unique(prefix: &str) -> String {
    use std::sync::OnceLock;
    static RUN: OnceLock<u128> = OnceLock::new();
    let run = RUN.get_or_init(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis())
    });
    format!("{prefix}-{run}")
}
