//! A run waiting for approval survives `kill -9` of the `hookgate serve` that held it: a new
//! process finds it waiting (no lease), and an approval there finishes it.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{fresh_database, Backend};

const BIN: &str = env!("CARGO_BIN_EXE_hookgate");

/// A `hookgate serve` child, killed (SIGKILL) and reaped when dropped.
struct Serve {
    child: Child,
    base: String,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn command(url: &str, key: &str, dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir);
    for (name, _) in std::env::vars().filter(|(k, _)| k.starts_with("HOOKGATE_")) {
        cmd.env_remove(name);
    }
    cmd.env("HOOKGATE_DATABASE_URL", url)
        .env("HOOKGATE_MASTER_KEY", key)
        .env("HOOKGATE_LOG", "warn")
        .env("HOOKGATE_WORKERS", "2")
        .env("HOOKGATE_LEASE_SECS", "3")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd
}

async fn serve(url: &str, key: &str, dir: &std::path::Path) -> Serve {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = command(url, key, dir)
        .env("HOOKGATE_LISTEN", format!("127.0.0.1:{port}"))
        .arg("serve")
        .spawn()
        .expect("start hookgate serve");
    // Owned by the guard at once: it kills and reaps the child however the test ends.
    let server = Serve {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    for _ in 0..300 {
        if reqwest::get(format!("{}/readyz", server.base))
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            return server;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("hookgate serve did not become ready");
}

async fn call(
    base: &str,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .request(method, format!("{base}/api/v1{path}"))
        .bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn wait_status(base: &str, token: &str, run: &str, want: &str) -> Value {
    for _ in 0..400 {
        let (_, b) = call(
            base,
            token,
            reqwest::Method::GET,
            &format!("/runs/{run}"),
            None,
        )
        .await;
        if b["status"] == want {
            return b;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("run {run} never reached {want}");
}

async fn waiting_run_survives_kill_9(backend: Backend) {
    let Some((url, db_dir)) = fresh_database(backend).await else {
        return;
    };
    let key = hookgate::crypto::MasterKey::generate().to_base64();
    let work = tempfile::tempdir().unwrap();
    let out = command(&url, &key, work.path())
        .stdout(Stdio::piped())
        .args(["token", "create", "--admin", "--name", "restart"])
        .output()
        .expect("token create");
    assert!(out.status.success());
    let admin = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_string();

    let mut first = serve(&url, &key, work.path()).await;
    let post = reqwest::Method::POST;
    let (s, p) = call(
        &first.base,
        &admin,
        post.clone(),
        "/projects",
        Some(json!({ "name": "restart" })),
    )
    .await;
    assert_eq!(s, 201, "{p}");
    let (s, pl) = call(&first.base, &admin, post.clone(), &format!("/projects/{}/pipelines", p["id"].as_str().unwrap()),
        Some(json!({ "name": "gated", "steps": [
            { "name": "approve", "action": "approval", "approvers": ["member"], "timeout_secs": 3600 },
            { "name": "after", "action": "command", "program": "true" } ] }))).await;
    assert_eq!(s, 201, "{pl}");
    let (s, r) = call(
        &first.base,
        &admin,
        post.clone(),
        &format!("/pipelines/{}/runs", pl["id"].as_str().unwrap()),
        Some(json!({})),
    )
    .await;
    assert_eq!(s, 202, "{r}");
    let run = r["run_id"].as_str().unwrap().to_string();
    wait_status(&first.base, &admin, &run, "waiting_approval").await;

    // kill -9, then a new process on the same database.
    let _ = first.child.kill();
    let _ = first.child.wait();
    drop(first);
    let second = serve(&url, &key, work.path()).await;
    let waiting = wait_status(&second.base, &admin, &run, "waiting_approval").await;
    assert_eq!(waiting["approval"]["approvers"], json!(["member"]));
    let (s, b) = call(
        &second.base,
        &admin,
        post,
        &format!("/runs/{run}/approve"),
        Some(json!({ "comment": "after a crash" })),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let done = wait_status(&second.base, &admin, &run, "succeeded").await;
    assert_eq!(done["steps"][1]["status"], "succeeded");
    drop(db_dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_run_survives_kill_9_sqlite() {
    waiting_run_survives_kill_9(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_run_survives_kill_9_postgres() {
    waiting_run_survives_kill_9(Backend::Postgres).await;
}
