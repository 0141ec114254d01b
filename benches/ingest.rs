//! The ingest benchmark: durable ingest against two baselines served by the same binary, in
//! the same run. Prints one JSON line. Run it with `scripts/bench` (release build).
//!
//! 1. Starts `hookgate serve` (release) on a temporary SQLite database (or `--database URL`),
//!    pinned to CPU 0, with workers off; the load generator runs pinned to CPU 1.
//! 2. Registers a GitHub hook with 5 variables.
//! 3. Drives `--connections` keep-alive connections for `--seconds` per round, each request a
//!    signed 7 KB push with a unique `X-GitHub-Delivery`, against: `/bench/bare`,
//!    `/bench/verify-parse/{hk}` and the real `/hooks/{hk}`; `--rounds` interleaved rounds, median.
//! 4. Checks that every accepted delivery has its run committed (counted in the database).
//! 5. Measures ingest latency at half the measured maximum load, and, with a second server
//!    whose workers are on, the time from enqueue to `running` at a gentle pace.

use std::time::{Duration, Instant};

use hookgate::domain::role::Role;
use hookgate::ingest::signature::{sign, Provider, VerifyConfig};
use secrecy::ExposeSecret;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Args {
    connections: usize,
    seconds: u64,
    rounds: usize,
    database: Option<String>,
    /// Drive only this target (`bare`, `verify_parse` or `ingest`): for profiling one of them.
    only: Option<String>,
}

fn args() -> Args {
    let mut a = Args {
        connections: 64,
        seconds: 10,
        rounds: 3,
        database: None,
        only: None,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < argv.len() {
        let val = argv.get(i + 1).cloned().unwrap_or_default();
        match argv[i].as_str() {
            "--connections" => a.connections = val.parse().expect("--connections N"),
            "--seconds" => a.seconds = val.parse().expect("--seconds N"),
            "--rounds" => a.rounds = val.parse().expect("--rounds N"),
            "--database" => a.database = Some(val),
            "--only" => a.only = Some(val),
            "--bench" => {
                i += 1;
                continue;
            }
            other => panic!("unknown argument {other}"),
        }
        i += 2;
    }
    a
}

fn pin_to_cpu(cpu: usize) {
    // SAFETY: plain libc calls on a zeroed cpu_set_t for the current thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// A `hookgate serve` child process, killed on drop.
struct Server {
    child: std::process::Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn binary() -> String {
    std::env::var("HOOKGATE_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_hookgate").to_string())
}

fn start_server(env: &[(&str, String)], dir: &std::path::Path) -> Server {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut cmd = if std::path::Path::new("/usr/bin/taskset").exists() {
        let mut c = std::process::Command::new("/usr/bin/taskset");
        c.args(["-c", "0", &binary()]);
        c
    } else {
        std::process::Command::new(binary())
    };
    cmd.arg("serve")
        .current_dir(dir)
        .env("HOOKGATE_LISTEN", format!("127.0.0.1:{port}"));
    cmd.env("HOOKGATE_LOG", "warn")
        .env("HOOKGATE_BENCH_ENDPOINTS", "true");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("start hookgate");
    let server = Server { child, port };
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "hookgate did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    server
}

/// CPU time the process has used so far (user + system), in microseconds, from /proc.
fn cpu_us(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses: utime and stime are the 12th and
    // 13th of them (fields 14 and 15 of proc(5)).
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i)?.parse::<f64>().ok())
        .sum();
    // SAFETY: sysconf only reads a configuration value.
    let per_s = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    ticks * 1e6 / per_s
}

fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0.0);
    (kb / 1024.0 * 10.0).round() / 10.0
}

/// A 7 KB GitHub push: the real fixture when `../shared` is there, else one of the same shape.
fn payload() -> Vec<u8> {
    let shared = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/fixtures/github/push/payload.json"
    );
    if let Ok(bytes) = std::fs::read(shared) {
        return bytes;
    }
    let commits: Vec<Value> = (0..12)
        .map(|i| json!({ "id": format!("{:040x}", i), "message": "x".repeat(300), "author": { "name": "dev", "email": "dev@example.com" } }))
        .collect();
    serde_json::to_vec(
        &json!({ "ref": "refs/heads/main", "before": "0".repeat(40), "after": "1".repeat(40),
        "repository": { "full_name": "acme/api", "id": 1 }, "pusher": { "name": "dev" },
        "head_commit": { "id": "1".repeat(40) }, "commits": commits }),
    )
    .unwrap()
}

struct Setup {
    hook_path: String,
    secret: String,
    pipeline_id: String,
}

async fn setup(base: &str, admin: &str, project: &str) -> Setup {
    let c = reqwest::Client::new();
    let post = |path: String, body: Value| {
        c.post(format!("{base}{path}"))
            .bearer_auth(admin)
            .json(&body)
            .send()
    };
    let prj: Value = post("/api/v1/projects".into(), json!({ "name": project }))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let pl: Value = post(
        format!("/api/v1/projects/{}/pipelines", prj["id"].as_str().unwrap()),
        json!({ "name": "deploy", "steps": [{ "name": "noop", "action": "command", "program": "true" }] }),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let hook: Value = post(
        format!(
            "/api/v1/pipelines/{}/hooks/incoming",
            pl["id"].as_str().unwrap()
        ),
        json!({ "name": "gh", "provider": "github", "settings": { "variables": [
            { "name": "git_ref", "path": "ref", "required": true },
            { "name": "after", "path": "after" },
            { "name": "repo", "path": "repository.full_name" },
            { "name": "pusher", "path": "pusher.name" },
            { "name": "head", "path": "head_commit.id", "default_value": "none" } ] } }),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let url = hook["url"].as_str().expect("hook url");
    Setup {
        hook_path: url[url.find("/hooks/").unwrap()..].to_string(),
        secret: hook["secret"].as_str().unwrap().to_string(),
        pipeline_id: pl["id"].as_str().unwrap().to_string(),
    }
}

/// What one load phase measured.
#[derive(Default)]
struct Phase {
    requests: u64,
    accepted: u64,
    errors: u64,
    latencies_us: Vec<u32>,
    seconds: f64,
}

impl Phase {
    fn per_s(&self) -> f64 {
        self.requests as f64 / self.seconds
    }
    fn percentile_ms(&mut self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return 0.0;
        }
        self.latencies_us.sort_unstable();
        let i = ((self.latencies_us.len() as f64 - 1.0) * p).round() as usize;
        (self.latencies_us[i] as f64 / 10.0).round() / 100.0
    }
}

/// Drives `connections` keep-alive connections at `path` for `seconds`. With `rate`, requests
/// are paced to that many per second in total; otherwise each connection sends back to back.
/// What every request of a phase sends.
#[derive(Clone, Copy)]
struct Target<'a> {
    port: u16,
    path: &'a str,
    signature: &'a str,
    body: &'a [u8],
}

async fn drive(
    target: Target<'_>,
    connections: usize,
    seconds: u64,
    rate: Option<f64>,
    tag: &str,
) -> Phase {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for conn in 0..connections {
        let (port, path, signature, body, tag) = (
            target.port,
            target.path.to_string(),
            target.signature.to_string(),
            target.body.to_vec(),
            tag.to_string(),
        );
        tasks.push(tokio::spawn(async move {
            let mut phase = Phase::default();
            let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)).await else {
                phase.errors += 1;
                return phase;
            };
            stream.set_nodelay(true).ok();
            let interval = rate.map(|r| Duration::from_secs_f64(connections as f64 / r));
            let mut next = Instant::now() + interval.map(|i| i.mul_f64(conn as f64 / connections as f64)).unwrap_or_default();
            let mut buf = vec![0u8; 16 * 1024];
            let mut n = 0u64;
            while Instant::now() < deadline {
                if let Some(i) = interval {
                    tokio::time::sleep_until(next.into()).await;
                    next += i;
                }
                n += 1;
                let head = format!(
                    "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
                     X-GitHub-Event: push\r\nX-GitHub-Delivery: {tag}-{conn}-{n}\r\nX-Hub-Signature-256: {signature}\r\n\r\n",
                    body.len()
                );
                let sent = Instant::now();
                if stream.write_all(head.as_bytes()).await.is_err() || stream.write_all(&body).await.is_err() {
                    phase.errors += 1;
                    break;
                }
                match read_response(&mut stream, &mut buf).await {
                    Some(status) => {
                        phase.requests += 1;
                        phase.latencies_us.push(sent.elapsed().as_micros().min(u32::MAX as u128) as u32);
                        if status == 202 {
                            phase.accepted += 1;
                        } else {
                            phase.errors += 1;
                        }
                    }
                    None => {
                        phase.errors += 1;
                        break;
                    }
                }
            }
            phase
        }));
    }
    let mut total = Phase::default();
    for t in tasks {
        let p = t.await.unwrap();
        total.requests += p.requests;
        total.accepted += p.accepted;
        total.errors += p.errors;
        total.latencies_us.extend(p.latencies_us);
    }
    total.seconds = started.elapsed().as_secs_f64();
    total
}

/// Reads one HTTP/1.1 response (Content-Length bodies); returns its status.
async fn read_response(stream: &mut TcpStream, buf: &mut [u8]) -> Option<u16> {
    let mut filled = 0;
    loop {
        let n = stream.read(&mut buf[filled..]).await.ok()?;
        if n == 0 {
            return None;
        }
        filled += n;
        if let Some(end) = buf[..filled].windows(4).position(|w| w == b"\r\n\r\n") {
            let head = std::str::from_utf8(&buf[..end]).ok()?;
            let status: u16 = head.split(' ').nth(1)?.parse().ok()?;
            let len: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap_or(0))
                })
                .unwrap_or(0);
            let mut have = filled - end - 4;
            while have < len {
                let n = stream.read(&mut buf[..]).await.ok()?;
                if n == 0 {
                    return None;
                }
                have += n;
            }
            return Some(status);
        }
        if filled == buf.len() {
            return None;
        }
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let args = args();
    pin_to_cpu(1);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run(args));
}

async fn run(args: Args) {
    let dir = tempfile::tempdir().unwrap();
    let key = hookgate::crypto::MasterKey::generate().to_base64();
    let database = args
        .database
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("bench.db").display()));
    let env = vec![
        ("HOOKGATE_DATABASE_URL", database.clone()),
        ("HOOKGATE_MASTER_KEY", key.clone()),
        ("HOOKGATE_WORKERS", "0".to_string()),
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
    let server = start_server(&env, dir.path());
    let base = format!("http://127.0.0.1:{}", server.port);
    let s = setup(&base, &admin, "bench").await;
    let body = payload();
    let signature = sign(
        &VerifyConfig::new(Provider::Github),
        &s.secret,
        &body,
        0,
        None,
        None,
    )
    .into_iter()
    .find(|(k, _)| k == "x-hub-signature-256")
    .unwrap()
    .1;
    let hk = s.hook_path.trim_start_matches("/hooks/").to_string();
    let targets: Vec<(&str, String)> = [
        ("bare", "/bench/bare".to_string()),
        ("verify_parse", format!("/bench/verify-parse/{hk}")),
        ("ingest", s.hook_path.clone()),
    ]
    .into_iter()
    .filter(|(name, _)| args.only.as_deref().is_none_or(|only| only == *name))
    .collect();
    assert!(
        !targets.is_empty(),
        "--only takes bare, verify_parse or ingest"
    );
    let mut accepted_total = 0u64;
    for (name, path) in &targets {
        let warm = drive(
            Target {
                port: server.port,
                path,
                signature: &signature,
                body: &body,
            },
            args.connections,
            1,
            None,
            &format!("warm-{name}"),
        )
        .await;
        if *name == "ingest" {
            accepted_total += warm.accepted;
        }
    }
    let mut rates: std::collections::HashMap<&str, Vec<f64>> = Default::default();
    let mut ingest_latencies = Vec::new();
    let mut cpu: std::collections::HashMap<&str, Vec<f64>> = Default::default();
    for round in 0..args.rounds {
        for (name, path) in &targets {
            let cpu_before = cpu_us(server.child.id());
            let mut phase = drive(
                Target {
                    port: server.port,
                    path,
                    signature: &signature,
                    body: &body,
                },
                args.connections,
                args.seconds,
                None,
                &format!("r{round}-{name}"),
            )
            .await;
            if *name == "ingest" {
                accepted_total += phase.accepted;
                ingest_latencies.push((phase.percentile_ms(0.5), phase.percentile_ms(0.99)));
            }
            eprintln!(
                "round {round} {name}: {:.0}/s ({} errors)",
                phase.per_s(),
                phase.errors
            );
            let cpu_per_request =
                (cpu_us(server.child.id()) - cpu_before) / phase.requests.max(1) as f64;
            if args.only.is_some() {
                // Profiling one endpoint: a line per round instead of the summary.
                println!(
                    "{}",
                    json!({ "only": name, "per_s": phase.per_s().round(),
                        "server_cpu_us_per_request": (cpu_per_request * 10.0).round() / 10.0,
                        "p50_ms": phase.percentile_ms(0.5), "p99_ms": phase.percentile_ms(0.99),
                        "errors": phase.errors })
                );
            }
            rates.entry(name).or_default().push(phase.per_s());
            cpu.entry(name).or_default().push(cpu_per_request);
        }
    }
    if args.only.is_some() {
        return;
    }
    // Server CPU per request, whatever else the machine is doing: the cost of each endpoint.
    let cpu_per_request = |name: &str| (median(cpu[name].clone()) * 10.0).round() / 10.0;
    let accepted_per_s = median(rates["ingest"].clone());
    let half = drive(
        Target {
            port: server.port,
            path: &s.hook_path,
            signature: &signature,
            body: &body,
        },
        args.connections,
        args.seconds,
        Some(accepted_per_s / 2.0),
        "half",
    )
    .await;
    accepted_total += half.accepted;
    let mut half = half;
    let runs_committed = store.count_runs(&s.pipeline_id).await.unwrap();
    let rss = rss_mib(server.child.id());
    // The throughput phases leave their runs queued (workers off); delete them (with their
    // pipeline) so that the workers of the next phase, on the same database, start on fresh runs.
    let deleted = reqwest::Client::new()
        .delete(format!("{base}/api/v1/pipelines/{}", s.pipeline_id))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("delete the throughput pipeline");
    assert_eq!(deleted.status().as_u16(), 204);
    drop(server);

    // Enqueue → running, with workers on and a gentle pace (a worker is free).
    let runner_db = match &args.database {
        Some(url) => url.clone(),
        None => format!("sqlite://{}", dir.path().join("runner.db").display()),
    };
    let runner_env = vec![
        ("HOOKGATE_DATABASE_URL", runner_db.clone()),
        ("HOOKGATE_MASTER_KEY", key.clone()),
        ("HOOKGATE_WORKERS", "2".to_string()),
    ];
    let runner_settings = hookgate::config::Settings::from_sources(
        Some(std::path::Path::new("/dev/null")),
        &runner_env
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
    )
    .unwrap();
    let runner_store = hookgate::store::connect(&runner_settings).await.unwrap();
    let (_, admin2) =
        hookgate::accounts::create_token(runner_store.as_ref(), None, Role::Admin, "bench2")
            .await
            .unwrap();
    let runner = start_server(&runner_env, dir.path());
    let r = setup(
        &format!("http://127.0.0.1:{}", runner.port),
        admin2.expose_secret(),
        "bench-runner",
    )
    .await;
    let sig2 = sign(
        &VerifyConfig::new(Provider::Github),
        &r.secret,
        &body,
        0,
        None,
        None,
    )
    .into_iter()
    .find(|(k, _)| k == "x-hub-signature-256")
    .unwrap()
    .1;
    drive(
        Target {
            port: runner.port,
            path: &r.hook_path,
            signature: &sig2,
            body: &body,
        },
        4,
        4,
        Some(50.0),
        "runner",
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut delays = runner_store.run_start_delays(&r.pipeline_id).await.unwrap();
    delays.sort_unstable();
    let run_start_p50_ms = delays.get(delays.len() / 2).copied().unwrap_or(-1);
    drop(runner);

    let (p50, p99) = ingest_latencies[ingest_latencies.len() / 2];
    let verify_parse_per_s = median(rates["verify_parse"].clone());
    let line = json!({
        "database": if args.database.is_some() { "postgres" } else { "sqlite" },
        "connections": args.connections,
        "seconds": args.seconds,
        "rounds": args.rounds,
        "payload_bytes": body.len(),
        "accepted_per_s": accepted_per_s.round(),
        "p50_ms": p50,
        "p99_ms": p99,
        "bare_per_s": median(rates["bare"].clone()).round(),
        "verify_parse_per_s": verify_parse_per_s.round(),
        "ratio": (accepted_per_s / verify_parse_per_s * 1000.0).round() / 1000.0,
        "server_cpu_us_per_request": {
            "bare": cpu_per_request("bare"),
            "verify_parse": cpu_per_request("verify_parse"),
            "ingest": cpu_per_request("ingest"),
        },
        "half_load_per_s": half.per_s().round(),
        "half_load_p99_ms": half.percentile_ms(0.99),
        "accepted_total": accepted_total,
        "runs_committed": runs_committed,
        "all_accepted_committed": runs_committed as u64 == accepted_total,
        "run_start_p50_ms": run_start_p50_ms,
        "run_start_samples": delays.len(),
        "rss_mib": rss,
    });
    println!("{line}");
    if runs_committed as u64 != accepted_total {
        eprintln!("LOST: {accepted_total} deliveries were answered 202 but {runs_committed} runs are in the database");
        std::process::exit(1);
    }
}
