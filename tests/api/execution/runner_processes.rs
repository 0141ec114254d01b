//! Runners as real processes: `hookgate serve` and `hookgate worker` binaries sharing one
//! database, killed with SIGKILL, stopped with SIGTERM, and restarted.
//!
//! No timed assertions: every wait is a bounded polling loop with a generous limit. Every
//! process started here is killed when its guard drops (also when a test fails), and the
//! process groups of the commands the steps started are killed too, since a `kill -9`'d
//! hookgate cannot stop them itself.

use std::collections::BTreeSet;
use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use hookgate::domain::time::parse_rfc3339;
use serde_json::{json, Value};
use tokio::task::JoinSet;

use crate::helpers::{fresh_database, Backend};

const BIN: &str = env!("CARGO_BIN_EXE_hookgate");

/// A `hookgate` child process, killed (SIGKILL) and reaped when dropped.
struct Proc {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Proc {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `kill -9`, then reap.
    fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn signal(&self, signal: &str) {
        let ok = Command::new("kill")
            .args([signal, &self.pid().to_string()])
            .status()
            .expect("run kill")
            .success();
        assert!(ok, "kill {signal} {}", self.name);
    }

    fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().expect("try_wait")
    }

    async fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.exited() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not exit within {limit:?}",
                self.name
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.exited().is_none() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        if std::thread::panicking() {
            let logs = self.logs();
            let lines: Vec<&str> = logs.lines().collect();
            let tail = lines[lines.len().saturating_sub(40)..].join("\n");
            eprintln!("--- last log lines of {} ---\n{tail}", self.name);
        }
    }
}

/// Kills, when dropped, the process groups whose ids the steps appended to `file` (`echo $$`).
struct StepGroups {
    file: PathBuf,
}

impl StepGroups {
    /// Shell text that records the step's process group (the step's shell leads its group).
    fn record(&self) -> String {
        format!("echo $$ >> '{}'; ", self.file.display())
    }

    fn started(&self) -> bool {
        std::fs::read_to_string(&self.file).is_ok_and(|t| !t.trim().is_empty())
    }
}

impl Drop for StepGroups {
    fn drop(&mut self) {
        let text = std::fs::read_to_string(&self.file).unwrap_or_default();
        for pgid in text.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
            if pgid > 1 {
                // SAFETY: kill(2) with a negative pid signals that process group; no memory involved.
                unsafe {
                    libc::kill(-pgid, libc::SIGKILL);
                }
            }
        }
    }
}

/// One database and master key shared by the processes of a test, plus an admin token.
struct Cluster {
    url: String,
    key: String,
    admin: String,
    work: tempfile::TempDir,
    _db_dir: Option<tempfile::TempDir>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn sh(name: &str, script: &str) -> Value {
    json!({ "name": name, "action": "command", "program": "/bin/sh",
            "args": ["-c", script], "timeout_secs": 600 })
}

impl Cluster {
    /// `None` when the backend is not available (the skip is printed).
    async fn new(backend: Backend) -> Option<Self> {
        let (url, db_dir) = fresh_database(backend).await?;
        let key = hookgate::crypto::MasterKey::generate().to_base64();
        let work = tempfile::tempdir().expect("temp dir");
        let mut cluster = Self {
            url,
            key,
            admin: String::new(),
            work,
            _db_dir: db_dir,
        };
        let out = cluster
            .command(&[])
            .args(["token", "create", "--admin", "--name", "runner-tests"])
            .stdin(Stdio::null())
            .output()
            .expect("run hookgate token create");
        assert!(
            out.status.success(),
            "token create: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        cluster.admin = String::from_utf8_lossy(&out.stdout)
            .lines()
            .last()
            .unwrap_or_default()
            .trim()
            .to_string();
        assert!(cluster.admin.starts_with("hg_"), "{}", cluster.admin);
        Some(cluster)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.work.path().join(name)
    }

    /// The binary with this cluster's database and key and nothing else from our environment.
    fn command(&self, env: &[(&str, &str)]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.current_dir(self.work.path());
        for (name, _) in std::env::vars().filter(|(k, _)| k.starts_with("HOOKGATE_")) {
            cmd.env_remove(name);
        }
        cmd.env("HOOKGATE_DATABASE_URL", &self.url)
            .env("HOOKGATE_MASTER_KEY", &self.key)
            .env("HOOKGATE_LOG", "info")
            .env("HOOKGATE_WORKERS", "4");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd
    }

    fn spawn(&self, name: &str, args: &[&str], env: &[(&str, &str)]) -> Proc {
        let log = self.path(&format!("{name}.log"));
        let out = File::create(&log).expect("log file");
        let err = out.try_clone().expect("log file");
        let child = self
            .command(env)
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("spawn hookgate");
        Proc {
            name: name.to_string(),
            child,
            log,
        }
    }

    /// `hookgate serve [extra]` on a free port, once `/readyz` answers.
    async fn serve(&self, name: &str, extra: &[&str], env: &[(&str, &str)]) -> (Proc, Api) {
        let listen = format!("127.0.0.1:{}", free_port());
        let mut env = env.to_vec();
        env.push(("HOOKGATE_LISTEN", &listen));
        let mut args = vec!["serve"];
        args.extend_from_slice(extra);
        let mut proc = self.spawn(name, &args, &env);
        let api = Api::new(format!("http://{listen}"), self.admin.clone());
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = api.client.get(format!("{}/readyz", api.base)).send().await {
                if r.status().is_success() {
                    break;
                }
            }
            if let Some(status) = proc.exited() {
                panic!("{name} exited with {status}:\n{}", proc.logs());
            }
            assert!(Instant::now() < deadline, "{name} did not become ready");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        (proc, api)
    }

    /// `hookgate worker`, once it logged that its workers started.
    async fn worker(&self, name: &str, env: &[(&str, &str)]) -> Proc {
        let mut proc = self.spawn(name, &["worker"], env);
        let deadline = Instant::now() + Duration::from_secs(60);
        while !proc.logs().contains("workers started") {
            if let Some(status) = proc.exited() {
                panic!("{name} exited with {status}:\n{}", proc.logs());
            }
            assert!(
                Instant::now() < deadline,
                "{name} did not start its workers"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        proc
    }
}

/// The HTTP API of one `serve` process, as the admin.
#[derive(Clone)]
struct Api {
    base: String,
    token: String,
    client: reqwest::Client,
}

impl Api {
    fn new(base: String, token: String) -> Self {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            // Below the server's 5 s keep-alive: a pooled connection reused just as the server
            // closes it fails with `IncompleteMessage` (seen under load, between request
            // batches that waited seconds for SQLite's write lock).
            .pool_idle_timeout(Duration::from_secs(2))
            .build()
            .unwrap();
        Self {
            base,
            token,
            client,
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn get(&self, path: &str) -> Value {
        let (s, b) = self.call(reqwest::Method::GET, path, None).await;
        assert_eq!(s, 200, "GET {path}: {b}");
        b
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    /// Creates a project and a pipeline in it; returns the pipeline id.
    async fn pipeline(&self, spec: Value) -> String {
        let (s, b) = self
            .post(
                "/api/v1/projects",
                json!({ "name": format!("p{}", rand::random::<u32>()) }),
            )
            .await;
        assert_eq!(s, 201, "{b}");
        let prj = b["id"].as_str().unwrap();
        let (s, b) = self
            .post(&format!("/api/v1/projects/{prj}/pipelines"), spec)
            .await;
        assert_eq!(s, 201, "{b}");
        b["id"].as_str().unwrap().to_string()
    }

    async fn start_run(&self, pipeline: &str, variables: Value) -> String {
        let (s, b) = self
            .post(
                &format!("/api/v1/pipelines/{pipeline}/runs"),
                json!({ "variables": variables }),
            )
            .await;
        assert_eq!(s, 202, "{b}");
        b["run_id"].as_str().unwrap().to_string()
    }

    async fn run(&self, run: &str) -> Value {
        self.get(&format!("/api/v1/runs/{run}")).await
    }

    /// Polls the run until `done` holds (at most `limit`); returns it.
    async fn wait_run(
        &self,
        run: &str,
        what: &str,
        limit: Duration,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            let r = self.run(run).await;
            if done(&r) {
                return r;
            }
            assert!(
                Instant::now() < deadline,
                "run {run} not {what} within {limit:?}: {r}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Every run of the pipeline in `status` (all pages), oldest first.
    async fn runs(&self, pipeline: &str, status: Option<&str>) -> Vec<Value> {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!("/api/v1/pipelines/{pipeline}/runs?limit=100");
            if let Some(s) = status {
                path.push_str(&format!("&status={s}"));
            }
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={c}"));
            }
            let page = self.get(&path).await;
            all.extend(page["items"].as_array().unwrap().iter().cloned());
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => break,
            }
        }
        all.reverse();
        all
    }

    /// Waits until `count` runs of the pipeline succeeded (fails fast on a failed run).
    async fn wait_succeeded(&self, pipeline: &str, count: usize, limit: Duration) -> Vec<Value> {
        let deadline = Instant::now() + limit;
        loop {
            let failed = self.runs(pipeline, Some("failed")).await;
            assert!(failed.is_empty(), "runs failed: {failed:?}");
            let done = self.runs(pipeline, Some("succeeded")).await;
            if done.len() >= count {
                return done;
            }
            assert!(
                Instant::now() < deadline,
                "only {} of {count} runs succeeded within {limit:?}",
                done.len()
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

fn is_final(r: &Value) -> bool {
    !matches!(r["status"].as_str(), Some("queued" | "running"))
}

/// The run is `running` and its first step has started.
fn step_running(r: &Value) -> bool {
    r["status"] == "running" && r["steps"][0]["status"] == "running"
}

// 1. Exactly once across processes ------------------------------------------------------------

async fn exactly_once_across_processes(backend: Backend) {
    let Some(c) = Cluster::new(backend).await else {
        return;
    };
    let (_api_proc, api) = c.serve("api", &["--no-worker"], &[]).await;
    let workers = [
        c.worker("worker-1", &[]).await,
        c.worker("worker-2", &[]).await,
    ];
    let executions = c.path("executions");
    let pl = api
        .pipeline(json!({ "name": "append", "steps": [sh(
            "append",
            &format!("echo \"$HOOKGATE_VAR_RUN_ID\" >> '{}'", executions.display()),
        )] }))
        .await;

    let started = Instant::now();
    let mut enqueued = BTreeSet::new();
    for _batch in 0..10 {
        let mut batch = JoinSet::new();
        for _ in 0..50 {
            let (api, pl) = (api.clone(), pl.clone());
            batch.spawn(async move { api.start_run(&pl, json!({})).await });
        }
        while let Some(id) = batch.join_next().await {
            assert!(enqueued.insert(id.expect("enqueue task")), "a run id twice");
        }
    }
    assert_eq!(enqueued.len(), 500);
    let succeeded = api.wait_succeeded(&pl, 500, Duration::from_secs(180)).await;
    let wall = started.elapsed();
    let per_worker: Vec<usize> = workers
        .iter()
        .map(|w| w.logs().matches("run started").count())
        .collect();
    eprintln!(
        "{backend:?}: 500 runs enqueued and succeeded across 2 worker processes in {wall:.2?} \
         (runs started per worker: {per_worker:?})"
    );

    let succeeded: BTreeSet<String> = succeeded
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        succeeded, enqueued,
        "the succeeded runs are the enqueued ones"
    );
    let text = std::fs::read_to_string(&executions).expect("executions file");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 500, "one execution per run");
    let executed: BTreeSet<String> = lines.iter().map(|l| l.trim().to_string()).collect();
    assert_eq!(executed.len(), 500, "500 distinct run ids");
    assert_eq!(
        executed, enqueued,
        "exactly the enqueued runs were executed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn exactly_once_across_processes_postgres() {
    exactly_once_across_processes(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn exactly_once_across_processes_sqlite() {
    exactly_once_across_processes(Backend::Sqlite).await;
}

// 2 and 3. kill -9 mid-run ---------------------------------------------------------------------

async fn kill_9_mid_run_is_worker_lost(backend: Backend) {
    let Some(c) = Cluster::new(backend).await else {
        return;
    };
    let groups = StepGroups {
        file: c.path("pgids"),
    };
    let lease = [("HOOKGATE_LEASE_SECS", "2")];
    let (mut first, api) = c.serve("serve-1", &[], &lease).await;
    let pl = api
        .pipeline(json!({ "name": "slow",
            "steps": [sh("sleep", &format!("{}sleep 30", groups.record()))] }))
        .await;
    let run = api.start_run(&pl, json!({})).await;
    api.wait_run(&run, "running", Duration::from_secs(30), step_running)
        .await;
    wait_for("the step's shell to start", || groups.started()).await;

    first.kill9();
    let (_second, api) = c.serve("serve-2", &[], &lease).await;
    let end = api
        .wait_run(&run, "ended", Duration::from_secs(30), is_final)
        .await;
    assert_eq!(end["status"], "failed", "{end}");
    assert_eq!(end["reason"], "worker_lost", "{end}");
    assert_eq!(end["attempt"], 1, "{end}");
}

async fn kill_9_with_retries_is_retried(backend: Backend) {
    let Some(c) = Cluster::new(backend).await else {
        return;
    };
    let groups = StepGroups {
        file: c.path("pgids"),
    };
    let mark = c.path("MARK");
    let script = format!(
        "{}if [ -f '{m}' ]; then echo second; exit 0; fi; touch '{m}'; sleep 30",
        groups.record(),
        m = mark.display()
    );
    let lease = [("HOOKGATE_LEASE_SECS", "2")];
    let (mut first, api) = c.serve("serve-1", &[], &lease).await;
    let pl = api
        .pipeline(json!({ "name": "retried", "retries": 1, "steps": [sh("once", &script)] }))
        .await;
    let run = api.start_run(&pl, json!({})).await;
    api.wait_run(&run, "running", Duration::from_secs(30), step_running)
        .await;
    wait_for("the first attempt to touch MARK", || mark.exists()).await;

    first.kill9();
    let (_second, api) = c.serve("serve-2", &[], &lease).await;
    let end = api
        .wait_run(&run, "ended", Duration::from_secs(60), is_final)
        .await;
    assert_eq!(end["status"], "succeeded", "{end}");
    assert_eq!(end["attempt"], 2, "{end}");
    let logs = api.get(&format!("/api/v1/runs/{run}/logs")).await;
    assert!(
        logs["steps"][0]["log"].as_str().unwrap().contains("second"),
        "{logs}"
    );
}

/// Polls `cond` every 50 ms for at most 30 s.
async fn wait_for(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(Instant::now() < deadline, "waited 30 s for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_run_is_worker_lost_sqlite() {
    kill_9_mid_run_is_worker_lost(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_run_is_worker_lost_postgres() {
    kill_9_mid_run_is_worker_lost(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_with_retries_is_retried_sqlite() {
    kill_9_with_retries_is_retried(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_with_retries_is_retried_postgres() {
    kill_9_with_retries_is_retried(Backend::Postgres).await;
}

// 4. Queue policy across processes ---------------------------------------------------------

/// `runs` runs of one key under `queue`, max 1, on two worker processes; the step sleeps
/// `step`; runs are enqueued `pace` apart (zero: at once).
async fn queue_policy_across_processes(runs: usize, step: &str, pace: Duration) {
    let Some(c) = Cluster::new(Backend::Postgres).await else {
        return;
    };
    let (_api_proc, api) = c.serve("api", &["--no-worker"], &[]).await;
    let _w1 = c.worker("worker-1", &[]).await;
    let _w2 = c.worker("worker-2", &[]).await;
    let pl = api
        .pipeline(
            json!({ "name": "serial", "variables": [{ "name": "target" }],
            "concurrency": { "key": "${target}", "max": 1, "policy": "queue" },
            "steps": [sh("deploy", &format!("sleep {step}"))] }),
        )
        .await;
    for _ in 0..runs {
        api.start_run(&pl, json!({ "target": "prod" })).await;
        tokio::time::sleep(pace).await;
    }
    api.wait_succeeded(&pl, runs, Duration::from_secs(120))
        .await;

    // Creation order as the store defines it (created_at, then id): the list, oldest first.
    let created: Vec<String> = api
        .runs(&pl, None)
        .await
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(created.len(), runs);
    let mut spans = Vec::new();
    for id in &created {
        let r = api.run(id).await;
        assert_eq!(r["status"], "succeeded", "{r}");
        let at = |field: &str| parse_rfc3339(r["steps"][0][field].as_str().unwrap()).unwrap();
        spans.push((at("started_at"), at("finished_at"), id.clone()));
    }
    spans.sort();
    for pair in spans.windows(2) {
        assert!(
            pair[1].0 >= pair[0].1,
            "runs overlapped under queue max 1: {pair:?}"
        );
    }
    let started: Vec<String> = spans.into_iter().map(|s| s.2).collect();
    assert_eq!(started, created, "runs started in creation (FIFO) order");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_policy_across_processes_postgres() {
    queue_policy_across_processes(8, "0.3", Duration::ZERO).await;
}

/// New runs keep arriving while earlier ones finish (each claim races an enqueue).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_policy_across_processes_while_runs_arrive_postgres() {
    queue_policy_across_processes(30, "0.05", Duration::from_millis(25)).await;
}

// 5. SIGTERM hands back --------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_hands_back_the_run_sqlite() {
    let Some(c) = Cluster::new(Backend::Sqlite).await else {
        return;
    };
    let groups = StepGroups {
        file: c.path("pgids"),
    };
    let (mut first, api) = c
        .serve("serve-1", &[], &[("HOOKGATE_SHUTDOWN_GRACE_SECS", "2")])
        .await;
    let pl = api
        .pipeline(json!({ "name": "slow",
            "steps": [sh("sleep", &format!("{}sleep 30", groups.record()))] }))
        .await;
    let run = api.start_run(&pl, json!({})).await;
    api.wait_run(&run, "running", Duration::from_secs(30), step_running)
        .await;
    wait_for("the step's shell to start", || groups.started()).await;

    first.signal("-TERM");
    let status = first.wait_exit(Duration::from_secs(40)).await;
    assert!(status.success(), "SIGTERM exits 0, got {status}");

    // Look without workers: the run was handed back to the queue.
    let (observer, api) = c.serve("observer", &["--no-worker"], &[]).await;
    let r = api.run(&run).await;
    assert_eq!(r["status"], "queued", "{r}");
    assert!(
        r["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("shutdown"),
        "{r}"
    );
    assert_eq!(r["attempt"], 1, "{r}");
    drop(observer);

    let (_second, api) = c.serve("serve-2", &[], &[]).await;
    let r = api
        .wait_run(&run, "claimed again", Duration::from_secs(30), |r| {
            r["status"] != "queued"
        })
        .await;
    assert_eq!(r["attempt"], 2, "{r}");
    assert!(
        matches!(r["status"].as_str(), Some("running" | "succeeded")),
        "{r}"
    );
}

// 6. Cancel kills the process group --------------------------------------------------------

/// The process is gone (or a zombie nobody reaped yet: dead all the same).
fn process_gone(pid: i32) -> bool {
    // SAFETY: kill(2) with signal 0 only checks that the process exists.
    if unsafe { libc::kill(pid, 0) } != 0 {
        return true;
    }
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(true)
}

async fn cancel_kills_the_process_group(backend: Backend) {
    let Some(c) = Cluster::new(backend).await else {
        return;
    };
    let groups = StepGroups {
        file: c.path("pgids"),
    };
    let pidfile = c.path("PIDFILE");
    let (_serve, api) = c.serve("serve", &[], &[]).await;
    let pl = api
        .pipeline(json!({ "name": "bg", "steps": [sh("bg", &format!(
            "{}sleep 300 & echo $! > '{}.tmp' && mv '{p}.tmp' '{p}'; wait",
            groups.record(),
            pidfile.display(),
            p = pidfile.display()
        ))] }))
        .await;
    let run = api.start_run(&pl, json!({})).await;
    api.wait_run(&run, "running", Duration::from_secs(30), step_running)
        .await;
    wait_for("the background sleep's pid", || pidfile.exists()).await;
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(!process_gone(pid), "the background sleep runs");

    let (s, b) = api
        .post(&format!("/api/v1/runs/{run}/cancel"), json!({}))
        .await;
    assert_eq!(s, 202, "{b}");
    let end = api
        .wait_run(&run, "ended", Duration::from_secs(20), is_final)
        .await;
    assert_eq!(end["status"], "cancelled", "{end}");
    wait_for("the background sleep to be killed", || process_gone(pid)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_kills_the_process_group_sqlite() {
    cancel_kills_the_process_group(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_kills_the_process_group_postgres() {
    cancel_kills_the_process_group(Backend::Postgres).await;
}
