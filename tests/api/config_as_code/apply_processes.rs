//! Two `hookgate serve` processes on one PostgreSQL database, applying two different files to
//! one project at the same time: each apply waits for the other's lock (and plans again) or
//! fails with a clear error; the project always ends in the state of one whole file.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::{skip, POSTGRES_ENV};

const BIN: &str = env!("CARGO_BIN_EXE_hookgate");

/// A `hookgate serve` child, killed when dropped.
struct Serve {
    base: String,
    child: Child,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn command(url: &str, key: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env("HOOKGATE_DATABASE_URL", url)
        .env("HOOKGATE_MASTER_KEY", key)
        .env("HOOKGATE_WORKERS", "0")
        .env("HOOKGATE_LOG", "warn")
        .env("HOOKGATE_ALLOW_PRIVATE_TARGETS", "true")
        .stdin(Stdio::null());
    cmd
}

async fn serve(url: &str, key: &str) -> Serve {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = command(url, key, &["serve"])
        .env("HOOKGATE_LISTEN", format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn hookgate serve");
    let s = Serve {
        base: format!("http://127.0.0.1:{port}"),
        child,
    };
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        if let Ok(r) = reqwest::get(format!("{}/readyz", s.base)).await {
            if r.status().is_success() {
                return s;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("serve did not become ready");
}

/// 30 pipelines × 2 hooks, every step saying `which`.
fn file(which: &str) -> Value {
    let pipelines: Vec<Value> = (0..30)
        .map(|i| {
            json!({ "name": format!("p{i}"),
                "steps": [{ "name": "s", "action": "command", "program": "/bin/echo", "args": [which] }],
                "incoming": [{ "name": "a", "provider": "github" }, { "name": format!("b-{which}"), "provider": "gitlab" }] })
        })
        .collect();
    json!({ "project": "shared", "pipelines": pipelines })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_apply_to_one_project_at_once() {
    let Ok(base) = std::env::var(POSTGRES_ENV) else {
        skip(&format!(
            "{POSTGRES_ENV} is not set, so this PostgreSQL test did not run"
        ));
        return;
    };
    let schema = format!("hookgate_apply_{}", rand::random::<u32>());
    let admin = sqlx::PgPool::connect(&base).await.expect("connect");
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&admin)
        .await
        .unwrap();
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
    let key = hookgate::crypto::MasterKey::generate().to_base64();
    let outcome = race(&url, &key).await;
    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(&admin)
        .await
        .unwrap();
    outcome.unwrap_or_else(|e| panic!("{e}"));
}

async fn race(url: &str, key: &str) -> Result<(), String> {
    let (one, two) = (serve(url, key).await, serve(url, key).await);
    let out = command(url, key, &["token", "create", "--admin", "--name", "race"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let token = stdout.lines().last().unwrap_or_default().trim().to_string();
    let client = reqwest::Client::new();
    let post = |base: &str, body: Value| {
        client
            .post(format!("{base}/api/v1/apply?prune=true"))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    for round in 0..3 {
        let (a, b) = tokio::join!(post(&one.base, file("a")), post(&two.base, file("b")));
        for r in [a, b] {
            let r = r.map_err(|e| e.to_string())?;
            let status = r.status().as_u16();
            let body: Value = r.json().await.unwrap_or_default();
            if status != 200 && !(status == 409 && body["error"] == "conflict") {
                return Err(format!("round {round}: {status} {body}"));
            }
        }
        // Whichever came last, the project is one whole file: every step says the same, and
        // each pipeline has exactly that file's hooks.
        let exported: Value = client
            .get(format!("{}/api/v1/projects/shared/export", one.base))
            .bearer_auth(&token)
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        let pipelines = exported["pipelines"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if pipelines.len() != 30 {
            return Err(format!("round {round}: {} pipelines", pipelines.len()));
        }
        let winner = pipelines[0]["steps"][0]["args"][0].clone();
        for p in &pipelines {
            let mut hooks: Vec<&str> = p["incoming"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|h| h["name"].as_str())
                .collect();
            hooks.sort_unstable();
            let w = winner.as_str().unwrap_or_default();
            let b_hook = format!("b-{w}");
            if p["steps"][0]["args"][0] != winner || hooks != ["a", b_hook.as_str()] {
                return Err(format!("round {round}: half-applied: {p}"));
            }
        }
    }
    Ok(())
}
