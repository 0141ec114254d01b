//! Shared by the crash test and the PostgreSQL outage test: the real `hookgate serve` binary on
//! a fixed port, killed with SIGKILL and restarted at will; clients that send signed GitHub
//! pushes and retry the same delivery id until a 2xx; and the final count of lost and
//! duplicated deliveries, read straight from the database.

use std::collections::{BTreeMap, HashMap};
use std::fs::OpenOptions;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hookgate::signature::{sign, Provider, VerifyConfig};
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_hookgate");

/// Attempts per delivery id before a client gives up on it (it is then never acknowledged).
pub const MAX_TRIES: u32 = 30;

/// `hookgate serve` as a child process, on a port chosen once so that restarts reuse it.
pub struct Server {
    pub base: String,
    listen: String,
    database_url: String,
    master_key: String,
    work: tempfile::TempDir,
    log_path: PathBuf,
    child: Option<Child>,
    /// How many times `serve` was started.
    pub starts: u32,
}

impl Server {
    pub fn new(database_url: &str) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let work = tempfile::tempdir().unwrap();
        Self {
            base: format!("http://127.0.0.1:{port}"),
            listen: format!("127.0.0.1:{port}"),
            database_url: database_url.to_string(),
            master_key: hookgate::crypto::MasterKey::generate().to_base64(),
            log_path: work.path().join("serve.log"),
            work,
            child: None,
            starts: 0,
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.current_dir(self.work.path())
            .args(args)
            .env("HOOKGATE_LISTEN", &self.listen)
            .env("HOOKGATE_DATABASE_URL", &self.database_url)
            .env("HOOKGATE_MASTER_KEY", &self.master_key)
            // No workers: every committed run stays queued, so counting is exact.
            .env("HOOKGATE_WORKERS", "0")
            .env("HOOKGATE_LOG", "warn")
            .env_remove("HOOKGATE_LOG_FORMAT")
            .stdin(Stdio::null());
        cmd
    }

    /// Starts `hookgate serve` and waits (up to 60 s) until `/readyz` answers 200.
    pub async fn start(&mut self) {
        assert!(self.child.is_none(), "serve is already running");
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .unwrap();
        let child = self
            .command(&["serve"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn hookgate serve");
        self.child = Some(child);
        self.starts += 1;
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap();
        let started = Instant::now();
        loop {
            if let Ok(r) = client.get(format!("{}/readyz", self.base)).send().await {
                if r.status().is_success() {
                    return;
                }
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("serve exited with {status}: {}", self.log());
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "serve did not become ready: {}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// `kill -9`: SIGKILL, no chance to flush or answer anything.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("SIGKILL hookgate serve");
            child.wait().expect("reap hookgate serve");
        }
    }

    /// Whether the process started last is still running.
    pub fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().unwrap().is_none())
    }

    /// The end of serve's log (all starts), for failure messages.
    pub fn log(&self) -> String {
        let log = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        let skip = log.len().saturating_sub(4000);
        log.get(skip..).unwrap_or(&log).to_string()
    }

    /// An admin token from `hookgate token create --admin` (its last stdout line).
    pub fn admin_token(&self) -> String {
        let out = self
            .command(&["token", "create", "--admin", "--name", "crash"])
            .output()
            .expect("run hookgate token create");
        assert!(
            out.status.success(),
            "token create: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        let token = stdout.lines().last().unwrap_or_default().trim().to_string();
        assert!(token.starts_with("hg_"), "token create printed {stdout}");
        token
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// The GitHub hook under test.
pub struct Target {
    pub url: String,
    pub secret: String,
}

/// Creates a project, a pipeline and a GitHub hook through the API.
pub async fn github_hook(base: &str, token: &str) -> Target {
    let c = reqwest::Client::new();
    let post = |path: String, body: Value| {
        let req = c
            .post(format!("{base}{path}"))
            .bearer_auth(token)
            .json(&body);
        async move {
            let resp = req.send().await.expect("API request");
            let status = resp.status().as_u16();
            let body: Value = resp.json().await.expect("API answer");
            assert_eq!(status, 201, "{path}: {body}");
            body
        }
    };
    let prj = post("/api/v1/projects".into(), json!({ "name": "crash" })).await;
    let prj = prj["id"].as_str().unwrap();
    let pl = post(
        format!("/api/v1/projects/{prj}/pipelines"),
        json!({ "name": "deploy", "variables": [],
                "steps": [{ "name": "echo", "action": "command", "program": "echo", "args": ["hello"] }] }),
    )
    .await;
    let pl = pl["id"].as_str().unwrap();
    let hook = post(
        format!("/api/v1/pipelines/{pl}/hooks/incoming"),
        json!({ "name": "github", "provider": "github" }),
    )
    .await;
    Target {
        url: format!("{base}/hooks/{}", hook["id"].as_str().unwrap()),
        secret: hook["secret"]
            .as_str()
            .expect("generated secret")
            .to_string(),
    }
}

/// One HTTP attempt: when it was sent and answered, and its status (`None`: no HTTP answer).
#[derive(Debug, Clone)]
pub struct Attempt {
    pub sent: Instant,
    pub done: Instant,
    pub status: Option<u16>,
    pub retry_after: bool,
}

/// What the clients saw.
#[derive(Default)]
pub struct Tally {
    /// `(provider delivery id, run id)` for every delivery answered 2xx.
    pub acked: Mutex<Vec<(String, String)>>,
    /// Delivery ids given up on (never acknowledged; allowed).
    pub abandoned: Mutex<Vec<String>>,
    pub attempts: Mutex<Vec<Attempt>>,
    /// Answers the promise forbids (a 2xx without a run id, a 500, a 503 without Retry-After…).
    pub bad: Mutex<Vec<String>>,
}

impl Tally {
    pub fn acked(&self) -> Vec<(String, String)> {
        self.acked.lock().unwrap().clone()
    }

    pub fn attempts(&self) -> Vec<Attempt> {
        self.attempts.lock().unwrap().clone()
    }

    /// Attempts beyond the first of each delivery.
    pub fn retried(&self) -> usize {
        let deliveries = self.acked.lock().unwrap().len() + self.abandoned.lock().unwrap().len();
        self.attempts.lock().unwrap().len() - deliveries
    }

    /// Answers by status, e.g. `202=812 503=40 conn=31`.
    pub fn statuses(attempts: &[Attempt]) -> String {
        let mut by: BTreeMap<String, usize> = BTreeMap::new();
        for a in attempts {
            let key = a.status.map_or("conn".to_string(), |s| s.to_string());
            *by.entry(key).or_default() += 1;
        }
        by.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// A client: sends new deliveries until `stop`, each with a unique `X-GitHub-Delivery`, retrying
/// the same delivery (same body, same signature) until a 2xx, at most [`MAX_TRIES`] times.
pub async fn client(n: usize, target: Arc<Target>, stop: Arc<AtomicBool>, tally: Arc<Tally>) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let config = VerifyConfig::new(Provider::Github);
    let mut seq = 0u64;
    while !stop.load(Ordering::Relaxed) {
        seq += 1;
        let id = format!("crash-{n}-{seq}-{:08x}", rand::random::<u32>());
        let body = json!({ "ref": "refs/heads/main", "after": format!("{:040x}", rand::random::<u128>()),
                           "repository": { "full_name": "hookgate/crash" }, "client": n, "seq": seq })
        .to_string()
        .into_bytes();
        let headers = sign(
            &config,
            &target.secret,
            &body,
            crate::ingest_support::now(),
            Some(&id),
            Some("push"),
        );
        let mut acked = None;
        for tries in 1..=MAX_TRIES {
            let mut req = http
                .post(&target.url)
                .header("content-type", "application/json")
                .body(body.clone());
            for (k, v) in &headers {
                req = req.header(k.as_str(), v.as_str());
            }
            let sent = Instant::now();
            let answer = match req.send().await {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let retry_after = resp.headers().contains_key("retry-after");
                    let json: Value = resp.json().await.unwrap_or(Value::Null);
                    Some((status, retry_after, json))
                }
                Err(_) => None,
            };
            tally.attempts.lock().unwrap().push(Attempt {
                sent,
                done: Instant::now(),
                status: answer.as_ref().map(|a| a.0),
                retry_after: answer.as_ref().is_some_and(|a| a.1),
            });
            if let Some((status, retry_after, json)) = answer {
                let run_id = json["run_id"].as_str().map(str::to_string);
                match (status, run_id) {
                    (202, Some(run)) => acked = Some(run),
                    (200, Some(run)) if json["duplicate"] == true => acked = Some(run),
                    (503, _) if retry_after => {}
                    _ => tally
                        .bad
                        .lock()
                        .unwrap()
                        .push(format!("{id}: {status} {json}")),
                }
            }
            if acked.is_some() {
                break;
            }
            let pause = Duration::from_millis((50 * tries as u64).min(500));
            tokio::time::sleep(pause).await;
        }
        match acked {
            Some(run) => tally.acked.lock().unwrap().push((id, run)),
            None => tally.abandoned.lock().unwrap().push(id),
        }
    }
}

/// The database's own account, compared with what the clients were told.
#[derive(Debug)]
pub struct Verdict {
    pub acknowledged: usize,
    /// Provider delivery ids with at least one run.
    pub committed: usize,
    /// Acknowledged deliveries whose acknowledged run is not in the database.
    pub lost: usize,
    /// Provider delivery ids with more than one run.
    pub duplicates: usize,
    /// Acknowledged deliveries whose run is not the one the dedup table maps their id to.
    pub mismatched: usize,
    /// Runs without a delivery row (the two are written in one transaction).
    pub orphans: usize,
    /// A few examples of whatever went wrong.
    pub examples: Vec<String>,
}

async fn rows(url: &str, sql: &str) -> Vec<(String, String)> {
    if url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(url).await.expect("open SQLite");
        let rows = sqlx::query_as(sql).fetch_all(&pool).await.expect(sql);
        pool.close().await;
        rows
    } else {
        let pool = sqlx::PgPool::connect(url)
            .await
            .expect("connect PostgreSQL");
        let rows = sqlx::query_as(sql).fetch_all(&pool).await.expect(sql);
        pool.close().await;
        rows
    }
}

/// Reads every run (with its delivery's provider id) and the dedup table, and checks `acked`.
pub async fn check(database_url: &str, acked: &[(String, String)]) -> Verdict {
    let runs = rows(
        database_url,
        "SELECT COALESCE(d.provider_delivery_id, ''), r.id FROM runs r \
         LEFT JOIN deliveries d ON d.id = r.delivery_id",
    )
    .await;
    let dedup: HashMap<String, String> = rows(
        database_url,
        "SELECT provider_delivery_id, run_id FROM delivery_ids",
    )
    .await
    .into_iter()
    .collect();
    let mut by_id: HashMap<String, Vec<String>> = HashMap::new();
    let mut orphans = 0;
    for (pid, run) in runs {
        if pid.is_empty() {
            orphans += 1;
        } else {
            by_id.entry(pid).or_default().push(run);
        }
    }
    let mut examples = Vec::new();
    let mut lost = 0;
    let mut mismatched = 0;
    for (pid, run) in acked {
        if !by_id.get(pid).is_some_and(|runs| runs.contains(run)) {
            lost += 1;
            examples.push(format!("lost: {pid} was answered with run {run}"));
        }
        if dedup.get(pid) != Some(run) {
            mismatched += 1;
            examples.push(format!(
                "mismatch: {pid} was answered with run {run}, delivery_ids says {:?}",
                dedup.get(pid)
            ));
        }
    }
    let duplicates = by_id.values().filter(|runs| runs.len() > 1).count();
    for (pid, runs) in by_id.iter().filter(|(_, runs)| runs.len() > 1) {
        examples.push(format!("duplicate: {pid} has runs {runs:?}"));
    }
    examples.truncate(10);
    Verdict {
        acknowledged: acked.len(),
        committed: by_id.len(),
        lost,
        duplicates,
        mismatched,
        orphans,
        examples,
    }
}

impl Verdict {
    /// Asserts the promise: nothing acknowledged is lost, nothing is duplicated.
    pub fn assert_holds(&self, what: &str) {
        assert!(
            self.lost == 0 && self.duplicates == 0 && self.mismatched == 0 && self.orphans == 0,
            "{what}: mismatched={} orphans={}; for example {:#?}",
            self.mismatched,
            self.orphans,
            self.examples
        );
        assert!(
            self.committed >= self.acknowledged,
            "{what}: fewer committed than acknowledged: {self:?}"
        );
        assert!(self.acknowledged > 0, "{what}: nothing was acknowledged");
    }
}
