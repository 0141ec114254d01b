//! `HOOKGATE_LOG_FORMAT=json` on the real binary: its log lines parse as JSON; a step's lines
//! carry `run_id`, `attempt` and `step`; a database error is logged once with the driver's
//! cause; the request span holds the route pattern, never the hook id from the path.

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::{fresh_database, Backend, TestApp};
use crate::on_both_backends;

on_both_backends!(json_logs_carry_ids_routes_and_whole_errors);

const BIN: &str = env!("CARGO_BIN_EXE_hookgate");

struct Serve {
    child: tokio::process::Child,
    base: String,
    log: std::path::PathBuf,
    token: String,
}

async fn serve(url: &str, key: &str, dir: &std::path::Path) -> Serve {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log = dir.join("serve.log");
    let env = |cmd: &mut tokio::process::Command| {
        cmd.current_dir(dir)
            .env("HOOKGATE_LISTEN", format!("127.0.0.1:{port}"))
            .env("HOOKGATE_DATABASE_URL", url)
            .env("HOOKGATE_MASTER_KEY", key)
            .env("HOOKGATE_WORKERS", "1")
            .env("HOOKGATE_LOG", "info")
            .env("HOOKGATE_LOG_FORMAT", "json")
            .stdin(Stdio::null())
            .kill_on_drop(true);
    };
    let mut cmd = tokio::process::Command::new(BIN);
    env(&mut cmd);
    let child = cmd
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("spawn hookgate serve");
    let base = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    while reqwest::get(format!("{base}/readyz"))
        .await
        .map(|r| r.status().as_u16())
        .ok()
        != Some(200)
    {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "serve did not become ready: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Only once serve has migrated the database: two first migrations at once collide.
    let mut cmd = tokio::process::Command::new(BIN);
    env(&mut cmd);
    let out = cmd
        .args(["token", "create", "--admin", "--name", "logs"])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap()
        .to_string();
    Serve {
        child,
        base,
        log,
        token,
    }
}

impl Serve {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = reqwest::Client::new()
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Stops the server and returns its log, one parsed JSON object per line.
    async fn stop(mut self) -> (String, Vec<Value>) {
        self.child.kill().await.unwrap();
        let text = std::fs::read_to_string(&self.log).unwrap();
        let lines = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect();
        (text, lines)
    }
}

/// The span named `name` in a line's span list.
fn span<'a>(line: &'a Value, name: &str) -> Option<&'a Value> {
    line["spans"].as_array()?.iter().find(|s| s["name"] == name)
}

async fn json_logs_carry_ids_routes_and_whole_errors(app: TestApp) {
    let backend = if app.database_url.starts_with("postgres") {
        Backend::Postgres
    } else {
        Backend::Sqlite
    };
    let (url, db_dir) = fresh_database(backend).await.unwrap();
    let work = tempfile::tempdir().unwrap();
    let server = serve(&url, &app.master_key, work.path()).await;
    use reqwest::Method;

    let (s, prj) = server
        .call(
            Method::POST,
            "/api/v1/projects",
            Some(json!({ "name": "logs" })),
        )
        .await;
    assert_eq!(s, 201, "{prj}");
    let prj = prj["id"].as_str().unwrap();
    let (s, pl) = server
        .call(Method::POST, &format!("/api/v1/projects/{prj}/pipelines"), Some(json!({ "name": "p",
            "steps": [{ "name": "greet", "action": "command", "program": "echo", "args": ["hi"] }] })))
        .await;
    assert_eq!(s, 201, "{pl}");
    let pl = pl["id"].as_str().unwrap();
    let (s, run) = server
        .call(
            Method::POST,
            &format!("/api/v1/pipelines/{pl}/runs"),
            Some(json!({ "variables": {} })),
        )
        .await;
    assert_eq!(s, 202, "{run}");
    let run = run["run_id"].as_str().unwrap().to_string();
    let started = Instant::now();
    loop {
        let (_, r) = server
            .call(Method::GET, &format!("/api/v1/runs/{run}"), None)
            .await;
        if r["status"] == "succeeded" {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the run did not finish: {r}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let (s, hook) = server
        .call(
            Method::POST,
            &format!("/api/v1/pipelines/{pl}/hooks/incoming"),
            Some(json!({ "name": "gh", "provider": "github" })),
        )
        .await;
    assert_eq!(s, 201, "{hook}");
    let hook_id = hook["id"].as_str().unwrap().to_string();
    let r = reqwest::Client::new()
        .post(format!("{}/hooks/{hook_id}", server.base))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // Break the database under the server: the next read of a run's steps fails.
    let cause = match backend {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
            sqlx::query("DROP TABLE run_steps")
                .execute(&pool)
                .await
                .unwrap();
            "no such table: run_steps"
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&url).await.unwrap();
            sqlx::query("DROP TABLE run_steps")
                .execute(&pool)
                .await
                .unwrap();
            "relation \"run_steps\" does not exist"
        }
    };
    let (s, b) = server
        .call(Method::GET, &format!("/api/v1/runs/{run}"), None)
        .await;
    assert_eq!(s, 500, "{b}");
    assert!(
        !b.to_string().contains("run_steps"),
        "the cause reached the client: {b}"
    );

    let (text, lines) = server.stop().await;
    drop(db_dir);

    // A step's lines carry the run, the attempt and the step.
    let finished = lines
        .iter()
        .find(|l| l["message"] == "step finished")
        .unwrap_or_else(|| panic!("no 'step finished' line in\n{text}"));
    let run_span = span(finished, "run").expect("a run span");
    assert_eq!(run_span["run_id"], run.as_str());
    assert_eq!(run_span["attempt"], 1);
    assert_eq!(
        span(finished, "step").expect("a step span")["step"],
        "greet"
    );

    // The request span holds the route pattern, never the hook id.
    let answered = lines
        .iter()
        .find(|l| l["message"] == "answered" && l["status"] == 401)
        .unwrap_or_else(|| panic!("no 401 answer line in\n{text}"));
    assert_eq!(span(answered, "request").unwrap()["route"], "/hooks/{hk}");
    assert!(
        !text.contains(&hook_id),
        "the hook id reached the log:\n{text}"
    );

    // The database error: once, with the driver's cause.
    let with_cause: Vec<&Value> = lines
        .iter()
        .filter(|l| l.to_string().contains(&cause.replace('"', "\\\"")))
        .collect();
    assert_eq!(with_cause.len(), 1, "logged once: {with_cause:#?}\n{text}");
    assert_eq!(with_cause[0]["level"], "ERROR");
    let error = with_cause[0]["error"].as_str().unwrap();
    assert!(
        error.starts_with("database error: ") && error.contains(cause),
        "{error}"
    );
}
