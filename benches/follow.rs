//! Live logs under load: `--followers` (default 200) concurrent followers of one chatty run.
//! Prints one JSON line: how far behind the step's output the followers were (lag from the
//! moment a line was printed to the moment a follower read it), and the server's memory.
//! Bounded: the step prints for `--seconds` (default 10), the whole program stops after 90 s.
//!
//!     cargo bench --bench follow -- --followers 200 --seconds 10
//!     HOOKGATE_BIN=target/release/hookgate cargo bench --bench follow
//!
//! The server is `hookgate serve` (one worker) on a temporary SQLite database, or `--database`.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hookgate::cli::logs::SseReader;
use hookgate::domain::role::Role;
use secrecy::ExposeSecret;
use serde_json::{json, Value};

struct Args {
    followers: usize,
    seconds: u64,
    database: Option<String>,
}

fn args() -> Args {
    let mut a = Args {
        followers: 200,
        seconds: 10,
        database: None,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < argv.len() {
        let val = argv.get(i + 1).cloned().unwrap_or_default();
        match argv[i].as_str() {
            "--followers" => a.followers = val.parse().expect("--followers N"),
            "--seconds" => a.seconds = val.parse().expect("--seconds N"),
            "--database" => a.database = Some(val),
            "--bench" => {
                i += 1;
                continue;
            }
            other => panic!("unknown argument {other}"),
        }
        i += 2;
    }
    assert!(a.seconds <= 60, "--seconds is at most 60");
    a
}

fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64
}

/// Resident memory of `pid` in MiB, from /proc.
fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| (kb / 1024.0 * 10.0).round() / 10.0)
}

struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn percentile(sorted: &[i64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    (sorted[i] as f64 / 100.0).round() / 10.0
}

/// One follower: reads the stream to its end; returns the lag of every line it read (µs).
async fn follow(client: reqwest::Client, url: String, token: String) -> Vec<i64> {
    let mut response = client
        .get(&url)
        .bearer_auth(&token)
        .send()
        .await
        .expect("follow");
    assert!(response.status().is_success(), "{}", response.status());
    let mut reader = SseReader::default();
    let mut lags = Vec::new();
    let mut partial = String::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        let read_at = now_us();
        for event in reader.push(&chunk) {
            if event.event == "end" {
                return lags;
            }
            if event.event != "log" {
                continue;
            }
            let data: Value = serde_json::from_str(&event.data).unwrap();
            partial.push_str(data["text"].as_str().unwrap_or(""));
            while let Some(nl) = partial.find('\n') {
                let line: String = partial.drain(..=nl).collect();
                if let Some(printed) = line
                    .strip_prefix("t=")
                    .and_then(|t| t.trim().parse::<i64>().ok())
                {
                    lags.push(read_at - printed / 1000);
                }
            }
        }
    }
    lags
}

fn main() {
    let args = args();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(90), run(args))
            .await
            .expect("the benchmark took more than 90 s")
    });
}

async fn run(args: Args) {
    let dir = tempfile::tempdir().unwrap();
    let key = hookgate::crypto::MasterKey::generate().to_base64();
    let database = args
        .database
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("follow.db").display()));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let env = [
        ("HOOKGATE_DATABASE_URL", database.clone()),
        ("HOOKGATE_MASTER_KEY", key),
        ("HOOKGATE_WORKERS", "1".to_string()),
        ("HOOKGATE_LISTEN", format!("127.0.0.1:{port}")),
        ("HOOKGATE_LOG", "warn".to_string()),
    ];
    let settings = hookgate::config::Settings::from_sources(
        Some(std::path::Path::new("/dev/null")),
        &env.iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
    )
    .unwrap();
    let store = hookgate::store::connect(&settings).await.expect("database");
    let (_, admin) = hookgate::accounts::create_token(store.as_ref(), None, Role::Admin, "bench")
        .await
        .unwrap();
    let admin = admin.expose_secret().to_string();
    let bin =
        std::env::var("HOOKGATE_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_hookgate").into());
    let mut cmd = std::process::Command::new(bin);
    cmd.arg("serve").current_dir(dir.path());
    for (k, v) in &env {
        cmd.env(k, v);
    }
    let server = Server(
        cmd.stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start hookgate"),
    );
    let pid = server.0.id();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.followers + 8)
        .build()
        .unwrap();
    let started = Instant::now();
    while client.get(format!("{base}/readyz")).send().await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "hookgate did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let call = |path: &str, body: Value| {
        client
            .post(format!("{base}{path}"))
            .bearer_auth(&admin)
            .json(&body)
            .send()
    };
    let prj: Value = call("/api/v1/projects", json!({ "name": "follow" }))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // 100 lines a second, each carrying the time it was printed (ns), then a pause at the end
    // so that followers can catch up before the run ends.
    let lines = args.seconds * 100;
    let script = format!(
        "i=0; while [ $i -lt {lines} ]; do echo \"t=$(date +%s%N)\"; i=$((i+1)); sleep 0.01; done"
    );
    let pl: Value = call(
        &format!("/api/v1/projects/{}/pipelines", prj["id"].as_str().unwrap()),
        json!({ "name": "chatty", "steps": [{ "name": "talk", "action": "command",
            "program": "/bin/sh", "args": ["-c", script], "timeout_secs": 120 }] }),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let rss_before = rss_mib(pid);
    let run: Value = call(
        &format!("/api/v1/pipelines/{}/runs", pl["id"].as_str().unwrap()),
        json!({ "variables": {} }),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let url = format!(
        "{base}/api/v1/runs/{}/logs?follow=true",
        run["run_id"].as_str().unwrap()
    );
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..args.followers {
        tasks.spawn(follow(client.clone(), url.clone(), admin.clone()));
    }
    let rss_max = Arc::new(std::sync::Mutex::new(rss_before));
    let sampler = {
        let rss_max = rss_max.clone();
        tokio::spawn(async move {
            loop {
                let now = rss_mib(pid);
                {
                    let mut max = rss_max.lock().unwrap();
                    *max = max.max(now);
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };
    let mut lags = Vec::new();
    let mut lines_min = usize::MAX;
    while let Some(done) = tasks.join_next().await {
        let got = done.expect("follower");
        lines_min = lines_min.min(got.len());
        lags.extend(got);
    }
    sampler.abort();
    lags.sort_unstable();
    let cpu = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let f: Vec<String> = s[s.rfind(')')? + 2..]
                .split_whitespace()
                .map(str::to_string)
                .collect();
            Some((f[11].parse::<f64>().ok()? + f[12].parse::<f64>().ok()?) / 100.0)
        })
        .unwrap_or(0.0);
    let rss_max = *rss_max.lock().unwrap();
    println!(
        "{}",
        json!({
            "database": if database.starts_with("postgres") { "postgres" } else { "sqlite" },
            "followers": args.followers,
            "lines_printed": lines,
            "lines_read_min": lines_min,
            "lag_p50_ms": percentile(&lags, 0.5),
            "lag_p99_ms": percentile(&lags, 0.99),
            "lag_max_ms": percentile(&lags, 1.0),
            "server_rss_mib_before": rss_before,
            "server_rss_mib_max": rss_max,
            "server_cpu_s": cpu,
            "wall_s": (started.elapsed().as_secs_f64() * 10.0).round() / 10.0,
        })
    );
    drop(server);
}
