//! Live step logs: `GET /runs/{run}/logs?follow=true` (Server-Sent Events) from a process that
//! does not run the worker, resuming from `Last-Event-ID`, redacted like the stored log; and
//! the CLI's `hookgate logs RUN --follow` and `hookgate send --wait`.
//!
//! The step waits for a file the test creates, so "the output arrived while the run was still
//! running" is shown by order, not by timing.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hookgate::cli::logs::{SseEvent, SseReader};
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::TestApp;
use crate::on_both_backends;
use crate::operations::metrics_snapshot::start_without_workers;

on_both_backends!(
    a_run_streams_live_from_another_process,
    a_stream_resumes_from_its_last_event_id,
    following_refuses_what_it_must,
    the_cli_follows_and_waits,
);

const SECRET: &str = "s3cret-live-value-9876";
const BIN: &str = env!("CARGO_BIN_EXE_hookgate");
/// Longest wait for any one event (the step itself waits for the test, bounded by its timeout).
const EVENT_WAIT: Duration = Duration::from_secs(30);

/// A pipeline whose first step prints a line with a secret, waits for `go` to exist, then
/// prints another; a second step prints `done`. `fail` makes the second step exit 3.
async fn waiting_pipeline(app: &TestApp, go: &Path, fail: bool) -> (String, String) {
    let prj = app
        .project(&format!("live-{}", rand::random::<u32>()))
        .await;
    let last = if fail {
        "echo done; exit 3"
    } else {
        "echo done"
    };
    let (s, b) = app
        .post(
            &format!("/api/v1/projects/{prj}/pipelines"),
            &app.admin_token,
            json!({ "name": "talkative", "steps": [
                { "name": "talk", "action": "command", "program": "/bin/sh",
                  "args": ["-c", "echo one ${secrets.TOKEN}; while [ ! -e \"$GO\" ]; do sleep 0.05; done; echo two"],
                  "env": { "GO": go.display().to_string() }, "timeout_secs": 60 },
                { "name": "after", "action": "command", "program": "/bin/sh", "args": ["-c", last] }
            ] }),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let pl = b["id"].as_str().unwrap().to_string();
    let (s, b) = app
        .call(
            Method::PUT,
            &format!("/api/v1/pipelines/{pl}/secrets/TOKEN"),
            Some(&app.admin_token),
            Some(json!({ "value": SECRET })),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    (prj, pl)
}

async fn manual_run(app: &TestApp, pl: &str) -> String {
    let (s, b) = app
        .post(
            &format!("/api/v1/pipelines/{pl}/runs"),
            &app.admin_token,
            json!({ "variables": {} }),
        )
        .await;
    assert_eq!(s, 202, "{b}");
    b["run_id"].as_str().unwrap().to_string()
}

/// An open event stream.
struct Follow {
    response: reqwest::Response,
    reader: SseReader,
    pending: VecDeque<SseEvent>,
}

impl Follow {
    async fn open(app: &TestApp, run: &str, last_id: Option<&str>) -> Self {
        let mut req = app
            .client
            .get(format!(
                "{}/api/v1/runs/{run}/logs?follow=true",
                app.address
            ))
            .bearer_auth(&app.admin_token);
        if let Some(id) = last_id {
            req = req.header("last-event-id", id);
        }
        let response = req.send().await.expect("follow");
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        Self {
            response,
            reader: SseReader::default(),
            pending: VecDeque::new(),
        }
    }

    /// The next event; panics when none comes within `EVENT_WAIT` or the stream ends.
    async fn next(&mut self) -> SseEvent {
        loop {
            if let Some(e) = self.pending.pop_front() {
                return e;
            }
            let chunk = tokio::time::timeout(EVENT_WAIT, self.response.chunk())
                .await
                .expect("an event in time")
                .expect("the stream reads")
                .expect("the stream is still open");
            self.pending.extend(self.reader.push(&chunk));
        }
    }

    /// Events up to and including `end`; the stream closes after it.
    async fn until_end(&mut self, seen: &mut Vec<SseEvent>) {
        loop {
            let e = self.next().await;
            let end = e.event == "end";
            seen.push(e);
            if end {
                break;
            }
        }
        let rest = tokio::time::timeout(EVENT_WAIT, self.response.chunk())
            .await
            .expect("closes");
        assert!(
            matches!(rest, Ok(None)),
            "the stream goes on after end: {rest:?}"
        );
    }
}

fn data(e: &SseEvent) -> Value {
    serde_json::from_str(&e.data).expect("event data is JSON")
}

/// Each step's streamed text, concatenated from `log` events.
fn streamed_logs(events: &[SseEvent]) -> Vec<String> {
    let mut logs: Vec<String> = Vec::new();
    for e in events.iter().filter(|e| e.event == "log") {
        let d = data(e);
        let idx = d["idx"].as_u64().unwrap() as usize;
        if logs.len() <= idx {
            logs.resize(idx + 1, String::new());
        }
        logs[idx].push_str(d["text"].as_str().unwrap());
    }
    logs
}

async fn stored_logs(app: &TestApp, run: &str) -> Vec<String> {
    let (s, b) = app
        .get(&format!("/api/v1/runs/{run}/logs"), &app.admin_token)
        .await;
    assert_eq!(s, 200, "{b}");
    b["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["log"].as_str().unwrap().to_string())
        .collect()
}

/// Reads events until a `log` event's text contains `what`.
async fn until_log(follow: &mut Follow, what: &str, seen: &mut Vec<SseEvent>) {
    loop {
        let e = follow.next().await;
        let found = e.event == "log" && data(&e)["text"].as_str().unwrap().contains(what);
        seen.push(e);
        if found {
            return;
        }
    }
}

fn go_file() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let go = dir.path().join("go");
    (dir, go)
}

async fn a_run_streams_live_from_another_process(app: TestApp) {
    // `app` runs the worker; `watcher` is another process on the same database without one.
    let watcher = start_without_workers(&app.database_url, &app.master_key, |_| {}).await;
    let watcher = TestApp {
        admin_token: app.admin_token.clone(),
        ..watcher
    };
    let (_dir, go) = go_file();
    let (_, pl) = waiting_pipeline(&app, &go, false).await;
    let run = manual_run(&app, &pl).await;

    let mut follow = Follow::open(&watcher, &run, None).await;
    let mut seen = Vec::new();
    until_log(&mut follow, "one", &mut seen).await;
    // The step is still waiting for `go`: what came so far came live.
    let (s, b) = app
        .get(&format!("/api/v1/runs/{run}"), &app.admin_token)
        .await;
    assert_eq!((s, b["status"].as_str()), (200, Some("running")), "{b}");
    assert_eq!(seen[0].event, "step");
    assert_eq!(data(&seen[0])["status"], "running");
    std::fs::write(&go, b"").unwrap();
    follow.until_end(&mut seen).await;

    let end = data(seen.last().unwrap());
    assert_eq!(end["status"], "succeeded", "{end}");
    let steps: Vec<(String, String)> = seen
        .iter()
        .filter(|e| e.event == "step")
        .map(|e| {
            let d = data(e);
            (
                d["name"].as_str().unwrap().into(),
                d["status"].as_str().unwrap().into(),
            )
        })
        .collect();
    let expect = [
        ("talk", "running"),
        ("talk", "succeeded"),
        ("after", "running"),
        ("after", "succeeded"),
    ];
    // `after` is quick: it may be seen running, or only once it succeeded.
    assert!(
        steps
            .iter()
            .map(|(n, s)| (n.as_str(), s.as_str()))
            .all(|p| expect.contains(&p))
            && steps.last().map(|(n, s)| (n.as_str(), s.as_str())) == Some(("after", "succeeded")),
        "{steps:?}"
    );
    let streamed = streamed_logs(&seen);
    assert_eq!(
        streamed,
        stored_logs(&app, &run).await,
        "the stream is the stored log"
    );
    assert!(
        streamed[0].contains("one [redacted]\n") && streamed[0].contains("two"),
        "{streamed:?}"
    );
    assert!(
        seen.iter().all(|e| !e.data.contains(SECRET)),
        "the secret leaked"
    );
}

async fn a_stream_resumes_from_its_last_event_id(app: TestApp) {
    let (_dir, go) = go_file();
    let (_, pl) = waiting_pipeline(&app, &go, false).await;
    let run = manual_run(&app, &pl).await;
    let mut first = Vec::new();
    let mut follow = Follow::open(&app, &run, None).await;
    until_log(&mut follow, "one", &mut first).await;
    let last_id = first.last().unwrap().id.clone().expect("events carry ids");
    drop(follow);
    std::fs::write(&go, b"").unwrap();

    let mut second = Vec::new();
    Follow::open(&app, &run, Some(&last_id))
        .await
        .until_end(&mut second)
        .await;
    assert!(second
        .iter()
        .all(|e| !(e.event == "log" && data(e)["text"].as_str().unwrap().contains("one ["))));
    let mut all = first.clone();
    all.extend(second);
    assert_eq!(
        streamed_logs(&all),
        stored_logs(&app, &run).await,
        "nothing lost, nothing twice"
    );

    // Following a finished run replays it and ends.
    let mut again = Vec::new();
    Follow::open(&app, &run, None)
        .await
        .until_end(&mut again)
        .await;
    assert_eq!(streamed_logs(&again), stored_logs(&app, &run).await);
}

async fn following_refuses_what_it_must(app: TestApp) {
    let (_dir, go) = go_file();
    std::fs::write(&go, b"").unwrap();
    let (_, pl) = waiting_pipeline(&app, &go, false).await;
    let run = manual_run(&app, &pl).await;
    let url = format!("{}/api/v1/runs/{run}/logs?follow=true", app.address);
    let r = app.client.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let other = app.project("other").await;
    let viewer = app.token(&other, "viewer").await;
    let r = app
        .client
        .get(&url)
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    for bad in ["nonsense", "1.0.x.running", "1.0.0.Running"] {
        let r = app
            .client
            .get(&url)
            .bearer_auth(&app.admin_token)
            .header("last-event-id", bad)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{bad}");
        let b: Value = r.json().await.unwrap();
        assert_eq!(b["error"], "invalid_last_event_id");
    }
    let r = app
        .client
        .get(format!(
            "{}/api/v1/runs/run_{}/logs?follow=true",
            app.address,
            "x".repeat(22)
        ))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

async fn hookgate(app: &TestApp, args: &[&str]) -> std::process::Output {
    tokio::process::Command::new(BIN)
        .args(args)
        .env("HOOKGATE_SERVER", &app.address)
        .env("HOOKGATE_TOKEN", &app.admin_token)
        .env_remove("HOOKGATE_LOG_FORMAT")
        .kill_on_drop(true)
        .output()
        .await
        .expect("run hookgate")
}

async fn the_cli_follows_and_waits(app: TestApp) {
    let (dir, go) = go_file();
    std::fs::write(&go, b"").unwrap();
    let (_, pl) = waiting_pipeline(&app, &go, false).await;
    let run = manual_run(&app, &pl).await;
    let out = hookgate(&app, &["logs", &run, "--follow"]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The step may already be over when the CLI connects: then no `running` line.
    assert!(stdout.contains("one [redacted]\ntwo\n"), "{stdout}");
    assert!(
        stdout.contains("── step talk: succeeded (exit code 0)\n"),
        "{stdout}"
    );
    assert!(
        stdout.ends_with("── run succeeded\n") && !stdout.contains(SECRET),
        "{stdout}"
    );

    // send --wait: a delivery to a hook of a pipeline whose last step fails.
    let (_, failing) = waiting_pipeline(&app, &go, true).await;
    let (s, hook) = app
        .post(
            &format!("/api/v1/pipelines/{failing}/hooks/incoming"),
            &app.admin_token,
            json!({ "name": "gh", "provider": "github" }),
        )
        .await;
    assert_eq!(s, 201, "{hook}");
    let payload = dir.path().join("push.json");
    std::fs::write(&payload, br#"{"ref":"refs/heads/main"}"#).unwrap();
    let url = hook["url"].as_str().unwrap();
    let secret = hook["secret"].as_str().unwrap();
    let payload = payload.display().to_string();
    let args = [
        "send", "--url", url, "--secret", secret, "--event", "push", "--wait", &payload,
    ];
    let out = hookgate(&app, &args).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "a failed run exits non-zero: {stdout}"
    );
    assert!(stdout.starts_with("202 Accepted\n"), "{stdout}");
    assert!(
        stdout.contains("── step after: failed (exit code 3)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("── run failed: step after failed"),
        "{stdout}"
    );
    assert!(stderr.contains("the run ended failed"), "{stderr}");
}
