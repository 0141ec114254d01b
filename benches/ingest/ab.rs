//! An alternating A/B of two binaries on durable ingest (`--ab OTHER_BIN`): whether a change
//! costs server CPU, judged against the spread between rounds of one binary.
//!
//! Each round starts each binary in turn (A B, then B A, and so on, so that neither always
//! runs second) on a fresh database (SQLite) or a new project (`--database`), warms it for
//! 1 s and drives `/hooks/{hk}` for `--seconds`. Only that route is used, so any two builds of
//! hookgate compare, whether or not they have the bench's endpoints.

use std::path::{Path, PathBuf};

use serde_json::json;

use crate::args::Args;
use crate::fixture;
use crate::full::{delete_pipeline, unique};
use crate::load::drive;
use crate::measure::{measure, Load, Measured};
use crate::report::{mean, median, round};
use crate::server::{binary_under_test, Server};

/// One binary's figures, a value per round.
struct Side {
    bin: PathBuf,
    cpu_us: Vec<f64>,
    per_s: Vec<f64>,
    db_cpu_us: Vec<f64>,
}

/// Runs the A/B and prints a line per measurement, a table and one JSON line.
pub async fn run(args: &Args, other: &Path) {
    let key = hookgate::crypto::MasterKey::generate().to_base64();
    let body = fixture::payload();
    let mut sides = [binary_under_test(), other.to_path_buf()].map(|bin| Side {
        bin,
        cpu_us: vec![],
        per_s: vec![],
        db_cpu_us: vec![],
    });
    for round in 0..args.rounds {
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for i in order {
            let tag = unique(&format!("ab{round}{}", ["a", "b"][i]));
            let m = one_round(&sides[i].bin, args, &key, &body, &tag).await;
            let side = &mut sides[i];
            side.cpu_us.push(m.server_cpu_us);
            side.per_s.push(m.phase.per_s());
            side.db_cpu_us
                .extend(m.db_cpu_us.map(|(backends, _)| backends));
            eprintln!(
                "round {round} {}: {:.1} µs server CPU per request, {:.0}/s ({} unexpected)",
                ["A", "B"][i],
                m.server_cpu_us,
                m.phase.per_s(),
                m.phase.errors
            );
        }
    }
    for (label, side) in ["A", "B"].iter().zip(&sides) {
        let each: Vec<String> = side.cpu_us.iter().map(|c| format!("{c:.1}")).collect();
        eprintln!(
            "{label} {}: {} | mean {:.1}, median {:.1} µs",
            side.bin.display(),
            each.join(", "),
            mean(&side.cpu_us),
            median(&side.cpu_us)
        );
    }
    let summary = |s: &Side| {
        let figures = |v: &[f64]| v.iter().map(|x| round(*x, 1)).collect::<Vec<_>>();
        json!({ "bin": s.bin.display().to_string(),
            "server_cpu_us_per_request": figures(&s.cpu_us),
            "mean": round(mean(&s.cpu_us), 1), "median": round(median(&s.cpu_us), 1),
            "per_s": figures(&s.per_s),
            "db_cpu_us_per_request": (!s.db_cpu_us.is_empty()).then(|| figures(&s.db_cpu_us)) })
    };
    let change = mean(&sides[1].cpu_us) / mean(&sides[0].cpu_us) - 1.0;
    println!(
        "{}",
        json!({ "ab": "ingest", "database": if args.database.is_some() { "postgres" } else { "sqlite" },
            "connections": args.connections, "seconds": args.seconds, "rounds": args.rounds,
            "a": summary(&sides[0]), "b": summary(&sides[1]),
            "b_vs_a_mean_pct": round(change * 100.0, 1) })
    );
}

/// One binary, one round: a server of its own, a hook, 1 s of warm-up, then the measurement.
async fn one_round(bin: &Path, args: &Args, key: &str, body: &[u8], tag: &str) -> Measured {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let database = args
        .database
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("ab.db").display()));
    let fx = fixture::prepare(&database, key, 0).await;
    let server = Server::start(bin, &fx.env, dir.path(), false);
    let base = format!("http://127.0.0.1:{}", server.port);
    let hook = fixture::register_hook(&base, &fx.admin, tag).await;
    let target = hook.ingest(server.port, body);
    drive(&target, args.connections, 1, None, &format!("{tag}-warm")).await;
    let load = Load::of(args);
    let measured = measure(server.pid(), &target, &load, tag).await;
    if args.database.is_some() {
        // Leave no queued runs behind in a database that outlives the round.
        delete_pipeline(&base, &fx.admin, &hook.pipeline_id).await;
    }
    measured
}
