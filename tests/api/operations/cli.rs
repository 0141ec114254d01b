//! The binary itself: CLI commands, `serve` on defaults, bad settings, SIGTERM, secret-free logs.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::{fresh_database, Backend};

const BIN: &str = env!("CARGO_BIN_EXE_hookgate");

fn hookgate(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir)
        .args(args)
        .env_remove("HOOKGATE_DATABASE_URL")
        .env_remove("HOOKGATE_MASTER_KEY");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.stdin(Stdio::null()).output().expect("run hookgate")
}

fn last_line(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .to_string()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn cli_commands(backend: Backend) {
    let Some((url, _dir)) = fresh_database(backend).await else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let env = [("HOOKGATE_DATABASE_URL", url.as_str())];
    let out = hookgate(work.path(), &env, &["migrate"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = hookgate(work.path(), &env, &["project", "create", "web"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let project = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        project.starts_with("prj_") && !project.contains('\n'),
        "{project}"
    );
    for args in [
        vec![
            "token",
            "create",
            "--project",
            "web",
            "--role",
            "owner",
            "--name",
            "ci",
        ],
        vec![
            "token",
            "create",
            "--project",
            project.as_str(),
            "--role",
            "viewer",
            "--name",
            "dash",
        ],
        vec!["token", "create", "--admin", "--name", "root"],
    ] {
        let out = hookgate(work.path(), &env, &args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let token = last_line(&out);
        assert!(
            token.starts_with("hg_") && token.len() > 40,
            "{args:?}: {token}"
        );
    }
    for args in [
        vec![
            "token",
            "create",
            "--project",
            "nope",
            "--role",
            "owner",
            "--name",
            "x",
        ],
        vec![
            "token",
            "create",
            "--project",
            "web",
            "--role",
            "admin",
            "--name",
            "x",
        ],
        vec![
            "token",
            "create",
            "--admin",
            "--project",
            "web",
            "--name",
            "x",
        ],
    ] {
        let out = hookgate(work.path(), &env, &args);
        assert!(!out.status.success(), "{args:?} should fail");
    }
}

#[tokio::test]
async fn cli_commands_sqlite() {
    cli_commands(Backend::Sqlite).await;
}

#[tokio::test]
async fn cli_commands_postgres() {
    cli_commands(Backend::Postgres).await;
}

#[test]
fn a_bad_setting_stops_hookgate_with_one_line_naming_it() {
    let work = tempfile::tempdir().unwrap();
    for (name, value) in [
        ("HOOKGATE_LISTEN", "not-an-address"),
        ("HOOKGATE_DATABASE_URL", "mysql://x"),
        ("HOOKGATE_MASTER_KEY", "c2hvcnQ="),
        ("HOOKGATE_WORKERS", "many"),
        ("HOOKGATE_LOG_FORMAT", "xml"),
    ] {
        let out = hookgate(work.path(), &[(name, value)], &["serve"]);
        assert_eq!(out.status.code(), Some(2), "{name}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.trim().lines().count(), 1, "{name}: {stderr}");
        assert!(stderr.contains(name), "{name}: {stderr}");
    }
    std::fs::write(work.path().join("hookgate.toml"), "listen = 5\n").unwrap();
    let out = hookgate(work.path(), &[], &["serve"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("hookgate.toml"));
}

/// Starts `hookgate serve`, waits for readiness, runs `body`, sends `signal`, checks the shutdown is graceful, returns stderr.
async fn with_server(
    work: &Path,
    env: &[(&str, &str)],
    signal: &str,
    body: impl AsyncFnOnce(&str),
) -> String {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let log_path = work.join("serve.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut cmd = Command::new(BIN);
    cmd.current_dir(work).arg("serve").env("HOOKGATE_LISTEN", &listen).env("HOOKGATE_LOG", "trace,actix_http=trace,actix_server=trace,sqlx=trace,h2=trace,hyper=trace,rustls=trace");
    cmd.env_remove("HOOKGATE_DATABASE_URL")
        .env_remove("HOOKGATE_MASTER_KEY");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let base = format!("http://{listen}");
    let client = reqwest::Client::new();
    let started = Instant::now();
    loop {
        if let Ok(r) = client.get(format!("{base}/readyz")).send().await {
            if r.status().is_success() {
                break;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "serve did not become ready: {}",
            std::fs::read_to_string(&log_path).unwrap()
        );
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "serve exited with {status}: {}",
                std::fs::read_to_string(&log_path).unwrap()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    body(&base).await;
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(40);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "serve did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        status.success(),
        "graceful shutdown on {signal} exits 0, got {status}"
    );
    let logs = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        logs.contains("shutdown requested"),
        "{signal} starts a graceful shutdown"
    );
    logs
}

/// Everything secret that one walkthrough produces: tokens and hook/pipeline secrets.
async fn walkthrough(base: &str, admin: &str) -> Vec<String> {
    let c = reqwest::Client::new();
    let post = |path: &str, token: &str, body: serde_json::Value| {
        c.post(format!("{base}{path}"))
            .bearer_auth(token)
            .json(&body)
            .send()
    };
    let prj: serde_json::Value = post("/api/v1/projects", admin, json!({ "name": "web" }))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let prj = prj["id"].as_str().unwrap();
    let owner: serde_json::Value = post(
        &format!("/api/v1/projects/{prj}/tokens"),
        admin,
        json!({ "name": "o", "role": "owner" }),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let owner = owner["token"].as_str().unwrap().to_string();
    let pl: serde_json::Value = post(
        &format!("/api/v1/projects/{prj}/pipelines"),
        &owner,
        json!({ "name": "d", "steps": [{ "name": "s", "action": "command", "program": "true" }] }),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let pl = pl["id"].as_str().unwrap();
    let pipeline_secret = "PipelineSecretValue-9f8e7d6c5b4a";
    let r = c
        .put(format!("{base}/api/v1/pipelines/{pl}/secrets/TOKEN"))
        .bearer_auth(&owner)
        .json(&json!({ "value": pipeline_secret }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let supplied = "whsec_SuppliedProviderSecret-0a1b2c3d";
    let hook: serde_json::Value = post(
        &format!("/api/v1/pipelines/{pl}/hooks/incoming"),
        &owner,
        json!({ "name": "s", "provider": "stripe", "secret": supplied }),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let hk = hook["id"].as_str().unwrap().to_string();
    let generated: serde_json::Value = post(
        &format!("/api/v1/pipelines/{pl}/hooks/incoming"),
        &owner,
        json!({ "name": "g", "provider": "github" }),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let rotated: serde_json::Value = post(
        &format!("/api/v1/hooks/{hk}/rotate-secret"),
        &owner,
        json!({}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    // An outgoing hook whose deliveries fail (the .invalid domain never resolves), fed by a run:
    // neither its secret, shown at creation and at rotation, nor anything of it reaches the logs.
    let outgoing: serde_json::Value = post(
        &format!("/api/v1/pipelines/{pl}/hooks/outgoing"),
        &owner,
        json!({ "name": "notify", "channel": "webhook", "url": "https://hooks.example.invalid/deploys",
                "triggers": ["run.queued", "run.started", "run.succeeded"] }),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let oh = outgoing["id"]
        .as_str()
        .expect("outgoing hook created")
        .to_string();
    let outgoing_rotated: serde_json::Value = post(
        &format!("/api/v1/hooks/{oh}/rotate-secret"),
        &owner,
        json!({ "grace_period_secs": 60 }),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let run: serde_json::Value = post(&format!("/api/v1/pipelines/{pl}/runs"), &owner, json!({}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let run_id = run["run_id"].as_str().expect("manual run").to_string();
    let mut attempted = false;
    for _ in 0..200 {
        let attempts: serde_json::Value = c
            .get(format!("{base}/api/v1/hooks/{oh}/attempts"))
            .bearer_auth(&owner)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if attempts["items"].as_array().is_some_and(|a| !a.is_empty()) {
            attempted = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        attempted,
        "the run's events were tried against the outgoing hook (run {run_id})"
    );
    // A failing call with a wrong token must not log the token either.
    let _ = c
        .get(format!("{base}/api/v1/projects?token=hg_querystringtoken"))
        .bearer_auth("hg_wrongtoken-abcdef")
        .send()
        .await;
    vec![
        admin.to_string(),
        owner,
        pipeline_secret.to_string(),
        supplied.to_string(),
        generated["secret"].as_str().unwrap().to_string(),
        rotated["secret"].as_str().unwrap().to_string(),
        outgoing["secret"].as_str().unwrap().to_string(),
        outgoing_rotated["secret"].as_str().unwrap().to_string(),
        "hg_wrongtoken-abcdef".to_string(),
        "hg_querystringtoken".to_string(),
    ]
}

/// The README's first command on a fresh folder: SQLite, defaults, nothing else running.
/// Logs at trace level hold none of the secrets or tokens used.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_on_defaults_then_sigterm_and_no_secret_in_logs() {
    let work = tempfile::tempdir().unwrap();
    let out = hookgate(
        work.path(),
        &[],
        &["token", "create", "--admin", "--name", "root"],
    );
    assert!(out.status.success());
    let admin = last_line(&out);
    let mut secrets = Vec::new();
    let logs = with_server(work.path(), &[], "-TERM", async |base: &str| {
        secrets = walkthrough(base, &admin).await;
        secrets.push(send_a_push(work.path(), base, &admin).await);
    })
    .await;
    assert!(
        work.path().join("hookgate.db").exists(),
        "default database ./hookgate.db"
    );
    let key = work.path().join("hookgate.db.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    assert!(
        logs.contains("master key"),
        "the log says a key file was created"
    );
    assert!(
        logs.contains("TRACE") && logs.contains("answered"),
        "trace logging took effect"
    );
    for s in &secrets {
        assert!(
            !logs.contains(s.as_str()),
            "a secret reached the logs: {}…",
            &s[..6]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_on_postgres_logs_no_secret() {
    let Some((url, _)) = fresh_database(Backend::Postgres).await else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let key = hookgate::crypto::MasterKey::generate().to_base64();
    let out = hookgate(work.path(), &[("HOOKGATE_DATABASE_URL", &url)], &["serve"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "PostgreSQL without a master key refuses to start"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("HOOKGATE_MASTER_KEY"));
    let env = [
        ("HOOKGATE_DATABASE_URL", url.as_str()),
        ("HOOKGATE_MASTER_KEY", key.as_str()),
    ];
    let admin = last_line(&hookgate(
        work.path(),
        &env,
        &["token", "create", "--admin", "--name", "root"],
    ));
    let mut secrets = Vec::new();
    // Ctrl-C (SIGINT) is as graceful as SIGTERM.
    let logs = with_server(
        work.path(),
        &[env[0], env[1], ("HOOKGATE_LOG_FORMAT", "json")],
        "-INT",
        async |base: &str| {
            secrets = walkthrough(base, &admin).await;
        },
    )
    .await;
    assert!(
        logs.lines().next().unwrap().starts_with('{'),
        "JSON log lines"
    );
    for s in secrets.iter().chain([&key]) {
        assert!(
            !logs.contains(s.as_str()),
            "a secret reached the logs: {}…",
            &s[..6]
        );
    }
}

/// `hookgate send` signs a payload like GitHub and the hook accepts it; returns the hook secret.
async fn send_a_push(work: &Path, base: &str, admin: &str) -> String {
    let c = reqwest::Client::new();
    let prj: serde_json::Value = c
        .post(format!("{base}/api/v1/projects"))
        .bearer_auth(admin)
        .json(&json!({ "name": "send" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let pl: serde_json::Value = c
        .post(format!("{base}/api/v1/projects/{}/pipelines", prj["id"].as_str().unwrap()))
        .bearer_auth(admin)
        .json(&json!({ "name": "d", "steps": [{ "name": "s", "action": "command", "program": "true" }] }))
        .send().await.unwrap().json().await.unwrap();
    let hook: serde_json::Value = c
        .post(format!("{base}/api/v1/pipelines/{}/hooks/incoming", pl["id"].as_str().unwrap()))
        .bearer_auth(admin)
        .json(&json!({ "name": "gh", "provider": "github", "settings": { "variables": [{ "name": "git_ref", "path": "ref", "required": true }] } }))
        .send().await.unwrap().json().await.unwrap();
    let (url, secret) = (
        hook["url"].as_str().unwrap(),
        hook["secret"].as_str().unwrap().to_string(),
    );
    let file = work.join("push.json");
    std::fs::write(&file, br#"{"ref":"refs/heads/main","after":"abc"}"#).unwrap();
    let file = file.to_str().unwrap();
    let out = hookgate(
        work,
        &[("HOOKGATE_SEND_SECRET", &secret)],
        &[
            "send",
            "--url",
            url,
            "--provider",
            "github",
            "--event",
            "push",
            file,
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.starts_with("202"),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("run_id"));
    let out = hookgate(
        work,
        &[],
        &["send", "--url", url, "--secret", "wrong", file],
    );
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stdout).starts_with("401"));
    secret
}
