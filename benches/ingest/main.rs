//! The ingest benchmark: durable ingest against baselines served by the same binary, in the
//! same run. Prints one JSON line. Run it with `scripts/bench` (a release build with the
//! `bench-endpoints` feature); docs/performance.md says what each key means.
//!
//! 1. Starts `hookgate serve` on a temporary SQLite database (or `--database URL`), pinned to
//!    CPU 0, workers off; the load generator runs pinned to CPU 1 (`server.rs`).
//! 2. Registers a GitHub hook with 5 variables (`fixture.rs`).
//! 3. Drives `--connections` keep-alive connections for `--seconds` per phase (`load.rs`), each
//!    request a signed 7 KB push with a unique `X-GitHub-Delivery`, against `/bench/bare`,
//!    `/bench/hmac/{hk}`, `/bench/verify-parse/{hk}`, `/hooks/{hk}` with a forged signature
//!    and the real `/hooks/{hk}`: `--rounds` interleaved rounds, medians (`full.rs`), with the
//!    server's CPU (and PostgreSQL's) read from /proc around each phase (`procfs.rs`).
//! 4. Checks that every accepted delivery has its run committed (counted in the database).
//! 5. Measures ingest latency at half the measured maximum load, and, with a second server
//!    whose workers are on, the time from enqueue to `running` at a gentle pace.
//!
//! `--ab OTHER_BIN` instead alternates rounds of durable ingest between two binaries
//! (`ab.rs`).

mod ab;
mod args;
mod fixture;
mod full;
mod load;
mod measure;
mod procfs;
mod report;
mod server;

use clap::Parser;

fn main() -> std::process::ExitCode {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs this program without it,
    // and a benchmark has nothing to check there.
    if !std::env::args().any(|a| a == "--bench") {
        println!("ingest: a benchmark, not a test; run it with scripts/bench");
        return std::process::ExitCode::SUCCESS;
    }
    let args = args::Args::parse();
    server::pin_to_cpu(server::LOAD_CPU).expect("pin the load generator to CPU 1");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let all_committed = rt.block_on(async {
        match &args.ab {
            Some(other) => {
                ab::run(&args, other).await;
                true
            }
            None => full::run(&args).await,
        }
    });
    if all_committed {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    }
}
