//! The runner through the API: a signed push runs to the end; policies; manual runs, retry,
//! cancel; secrets stay out of logs and answers; http steps.

use std::time::Duration;

use hookgate::domain::time::now_ms;
use hookgate::signature::{sign, Provider, VerifyConfig};
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::TestApp;

crate::on_both_backends!(
    signed_push_runs_to_success_with_variables_in_argv_and_env,
    supersede_burst_leaves_the_newest,
    manual_runs_retry_and_cancel,
    secrets_are_redacted_from_logs_and_answers,
    http_steps_send_typed_bodies,
);

const FINAL: &[&str] = &[
    "succeeded",
    "failed",
    "cancelled",
    "timed_out",
    "superseded",
];

/// Polls a run until it reaches a final state (bounded), and returns it.
pub async fn wait_final(app: &TestApp, run_id: &str) -> Value {
    for _ in 0..600 {
        let (s, run) = app
            .get(&format!("/api/v1/runs/{run_id}"), &app.admin_token)
            .await;
        assert_eq!(s, 200, "{run}");
        if FINAL.contains(&run["status"].as_str().unwrap_or_default()) {
            return run;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("run {run_id} did not finish");
}

/// Polls a run until it is running (bounded).
async fn wait_running(app: &TestApp, run_id: &str) {
    for _ in 0..600 {
        let (_, run) = app
            .get(&format!("/api/v1/runs/{run_id}"), &app.admin_token)
            .await;
        if run["status"] == "running" {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("run {run_id} did not start");
}

pub async fn pipeline(app: &TestApp, body: Value) -> String {
    let prj = app.project(&format!("p{}", rand::random::<u32>())).await;
    let (s, b) = app
        .post(
            &format!("/api/v1/projects/{prj}/pipelines"),
            &app.admin_token,
            body,
        )
        .await;
    assert_eq!(s, 201, "{b}");
    b["id"].as_str().unwrap().to_string()
}

pub async fn manual(app: &TestApp, pl: &str, vars: Value) -> String {
    let (s, b) = app
        .post(
            &format!("/api/v1/pipelines/{pl}/runs"),
            &app.admin_token,
            json!({ "variables": vars }),
        )
        .await;
    assert_eq!(s, 202, "{b}");
    b["run_id"].as_str().unwrap().to_string()
}

async fn signed_push_runs_to_success_with_variables_in_argv_and_env(app: TestApp) {
    let pl = pipeline(&app, json!({ "name": "deploy", "variables": [{ "name": "git_ref" }, { "name": "commit_count" }],
        "steps": [
            { "name": "argv", "action": "command", "program": "/bin/echo", "args": ["deploying", "${git_ref}", "with", "${commit_count}", "commits; rm -rf /"] },
            { "name": "env", "action": "command", "program": "/usr/bin/env" } ] }))
    .await;
    let (s, hook) = app
        .post(
            &format!("/api/v1/pipelines/{pl}/hooks/incoming"),
            &app.admin_token,
            json!({ "name": "gh", "provider": "github",
            "settings": { "variables": [
                { "name": "git_ref", "path": "ref", "required": true },
                { "name": "commit_count", "path": "commits", "count": true } ] } }),
        )
        .await;
    assert_eq!(s, 201, "{hook}");
    let body = serde_json::to_vec(
        &json!({ "ref": "refs/heads/main", "commits": [{ "id": "a" }, { "id": "b" }] }),
    )
    .unwrap();
    let mut req = app
        .client
        .post(hook["url"].as_str().unwrap())
        .header("content-type", "application/json");
    for (k, v) in sign(
        &VerifyConfig::new(Provider::Github),
        hook["secret"].as_str().unwrap(),
        &body,
        now_ms() / 1000,
        Some("e2e-1"),
        Some("push"),
    ) {
        req = req.header(k, v);
    }
    let resp = req.body(body).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 202);
    let accepted: Value = resp.json().await.unwrap();
    let run = wait_final(&app, accepted["run_id"].as_str().unwrap()).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["steps"].as_array().unwrap().len(), 2);
    assert_eq!(run["steps"][0]["exit_code"], 0);
    let (_, logs) = app
        .get(
            &format!("/api/v1/runs/{}/logs", run["id"].as_str().unwrap()),
            &app.admin_token,
        )
        .await;
    let argv = logs["steps"][0]["log"].as_str().unwrap();
    assert!(
        argv.contains("deploying refs/heads/main with 2 commits; rm -rf /"),
        "argv, never a shell: {argv}"
    );
    let env = logs["steps"][1]["log"].as_str().unwrap();
    assert!(
        env.contains("HOOKGATE_VAR_GIT_REF=refs/heads/main"),
        "{env}"
    );
    assert!(env.contains("HOOKGATE_VAR_COMMIT_COUNT=2"));
    assert!(env.contains("HOOKGATE_VAR_EVENT=push"));
    assert!(env.contains(&format!(
        "HOOKGATE_VAR_RUN_ID={}",
        run["id"].as_str().unwrap()
    )));
    assert!(
        !env.contains("HOOKGATE_MASTER_KEY") && !env.contains("HOOKGATE_DATABASE_URL"),
        "settings are not inherited"
    );
}

async fn supersede_burst_leaves_the_newest(app: TestApp) {
    // Each run's step waits for `go`, which appears once the whole burst is queued: the
    // blocker holds the key however slowly the burst arrives.
    let dir = tempfile::tempdir().unwrap();
    let go = dir.path().join("go");
    let pl = pipeline(
        &app,
        json!({ "name": "s", "variables": [{ "name": "target" }, { "name": "n" }],
        "concurrency": { "key": "${target}", "policy": "supersede", "max": 1 },
        "steps": [{ "name": "work", "action": "command", "program": "/bin/sh",
            "args": ["-c", "while [ ! -e \"$GO\" ]; do sleep 0.05; done"],
            "env": { "GO": go.display().to_string() }, "timeout_secs": 60 }] }),
    )
    .await;
    let blocker = manual(&app, &pl, json!({ "target": "prod", "n": 0 })).await;
    wait_running(&app, &blocker).await;
    let mut burst = Vec::new();
    for n in 1..=10 {
        burst.push(manual(&app, &pl, json!({ "target": "prod", "n": n })).await);
    }
    let other = manual(&app, &pl, json!({ "target": "staging", "n": 99 })).await;
    std::fs::write(&go, b"").unwrap();
    assert_eq!(wait_final(&app, &blocker).await["status"], "succeeded");
    assert_eq!(
        wait_final(&app, &other).await["status"],
        "succeeded",
        "other keys are not affected"
    );
    let mut statuses = Vec::new();
    for id in &burst {
        statuses.push(
            wait_final(&app, id).await["status"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let newest = statuses.pop().unwrap();
    assert_eq!(newest, "succeeded", "the newest run of the burst runs");
    assert!(
        statuses.iter().all(|s| s == "superseded"),
        "the rest are superseded: {statuses:?}"
    );
    let (_, run) = app
        .get(&format!("/api/v1/runs/{}", burst[0]), &app.admin_token)
        .await;
    assert!(run["reason"]
        .as_str()
        .unwrap()
        .starts_with("superseded by run_"));
}

async fn manual_runs_retry_and_cancel(app: TestApp) {
    let pl = pipeline(&app, json!({ "name": "m", "variables": [{ "name": "v", "default_value": "dflt" }],
        "steps": [{ "name": "echo", "action": "command", "program": "/bin/echo", "args": ["v=${v}"] }] }))
    .await;
    let (s, b) = app
        .post(
            &format!("/api/v1/pipelines/{pl}/runs"),
            &app.admin_token,
            json!({ "variables": { "nope": 1 } }),
        )
        .await;
    assert_eq!(
        (s, b["details"][0]["field"].as_str()),
        (422, Some("variables.nope"))
    );
    let run = manual(&app, &pl, json!({})).await;
    let done = wait_final(&app, &run).await;
    assert_eq!(done["status"], "succeeded");
    assert_eq!(done["variables"]["v"], "dflt", "pipeline defaults apply");
    assert_eq!(done["variables"]["event"], "manual");
    assert!(done["triggered_by"]
        .as_str()
        .unwrap()
        .starts_with("manual:tok_"));

    let (s, r) = app
        .post(
            &format!("/api/v1/runs/{run}/retry"),
            &app.admin_token,
            json!({}),
        )
        .await;
    assert_eq!(s, 202, "{r}");
    let again = wait_final(&app, r["run_id"].as_str().unwrap()).await;
    assert_eq!(
        (again["status"].as_str(), again["triggered_by"].as_str()),
        (Some("succeeded"), Some(format!("retry:{run}").as_str()))
    );
    assert_eq!(again["variables"]["v"], "dflt");
    let (s, b) = app
        .post(
            &format!("/api/v1/runs/{run}/cancel"),
            &app.admin_token,
            json!({}),
        )
        .await;
    assert_eq!((s, b["error"].as_str()), (409, Some("run_finished")));

    // A long command is stopped by cancel.
    let slow = pipeline(&app, json!({ "name": "slow", "steps": [{ "name": "sleep", "action": "command", "program": "/bin/sleep", "args": ["300"] }] })).await;
    let run = manual(&app, &slow, json!({})).await;
    wait_running(&app, &run).await;
    let (s, b) = app
        .post(
            &format!("/api/v1/runs/{run}/cancel"),
            &app.admin_token,
            json!({}),
        )
        .await;
    assert_eq!(s, 202, "{b}");
    let (s, b) = app
        .post(
            &format!("/api/v1/runs/{run}/retry"),
            &app.admin_token,
            json!({}),
        )
        .await;
    assert!(s == 409 || s == 202, "{b}");
    let done = wait_final(&app, &run).await;
    assert_eq!(done["status"], "cancelled", "{done}");
    assert_eq!(done["steps"][0]["status"], "cancelled");

    let (s, page) = app
        .get(
            &format!("/api/v1/pipelines/{pl}/runs?status=succeeded&limit=1"),
            &app.admin_token,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    let (_, page2) = app
        .get(
            &format!(
                "/api/v1/pipelines/{pl}/runs?status=succeeded&limit=1&cursor={}",
                page["next_cursor"].as_str().unwrap()
            ),
            &app.admin_token,
        )
        .await;
    assert_eq!(page2["items"].as_array().unwrap().len(), 1);
    assert_ne!(page["items"][0]["id"], page2["items"][0]["id"]);
    let (s, _) = app
        .get(
            &format!("/api/v1/pipelines/{pl}/runs?since=yesterday"),
            &app.admin_token,
        )
        .await;
    assert_eq!(s, 422);
}

async fn secrets_are_redacted_from_logs_and_answers(app: TestApp) {
    let secret = "s3cr3t-Value-That-Must-Not-Leak-42";
    let pl = pipeline(&app, json!({ "name": "sec",
        "steps": [
            { "name": "leak", "action": "command", "program": "/bin/echo", "args": ["token=${secrets.TOKEN}"] },
            { "name": "missing", "action": "command", "program": "/bin/echo", "args": ["${secrets.NOT_SET}"] } ] }))
    .await;
    let (s, _) = app
        .call(
            Method::PUT,
            &format!("/api/v1/pipelines/{pl}/secrets/TOKEN"),
            Some(&app.admin_token),
            Some(json!({ "value": secret })),
        )
        .await;
    assert_eq!(s, 200);
    let run = manual(&app, &pl, json!({})).await;
    let done = wait_final(&app, &run).await;
    assert_eq!(
        done["status"], "failed",
        "the second step names an unset secret"
    );
    assert!(done["reason"].as_str().unwrap().contains("NOT_SET"));
    let (_, logs) = app
        .get(&format!("/api/v1/runs/{run}/logs"), &app.admin_token)
        .await;
    assert!(
        logs["steps"][0]["log"]
            .as_str()
            .unwrap()
            .contains("token=[redacted]"),
        "{logs}"
    );
    for text in [logs.to_string(), done.to_string()] {
        assert!(!text.contains(secret), "a secret reached an API answer");
    }
}

async fn http_steps_send_typed_bodies(app: TestApp) {
    use std::sync::{Arc, Mutex};
    let received: Arc<Mutex<Vec<Value>>> = Arc::default();
    let sink = received.clone();
    let server = actix_web::HttpServer::new(move || {
        let sink = sink.clone();
        actix_web::App::new().route(
            "/dispatch",
            actix_web::web::post().to(move |body: actix_web::web::Json<Value>| {
                let sink = sink.clone();
                async move {
                    sink.lock().unwrap().push(body.into_inner());
                    actix_web::HttpResponse::NoContent().finish()
                }
            }),
        )
    })
    .workers(1)
    .bind("127.0.0.1:0")
    .unwrap();
    let port = server.addrs()[0].port();
    tokio::spawn(server.run());
    let pl = pipeline(&app, json!({ "name": "h", "variables": [{ "name": "pr" }, { "name": "git_ref" }],
        "steps": [{ "name": "dispatch", "action": "http", "method": "POST", "url": format!("http://127.0.0.1:{port}/dispatch"),
            "headers": { "Authorization": "Bearer ${secrets.T}" }, "expect_status": 204,
            "body": { "ref": "${git_ref}", "inputs": { "pr": "${pr}", "label": "PR #${pr}" } } }] }))
    .await;
    let (s, _) = app
        .call(
            Method::PUT,
            &format!("/api/v1/pipelines/{pl}/secrets/T"),
            Some(&app.admin_token),
            Some(json!({ "value": "tok-123456" })),
        )
        .await;
    assert_eq!(s, 200);
    let run = manual(&app, &pl, json!({ "pr": 42, "git_ref": "main" })).await;
    let done = wait_final(&app, &run).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(
        received.lock().unwrap()[0],
        json!({ "ref": "main", "inputs": { "pr": 42, "label": "PR #42" } })
    );
    let (_, logs) = app
        .get(&format!("/api/v1/runs/{run}/logs"), &app.admin_token)
        .await;
    assert!(
        logs["steps"][0]["log"].as_str().unwrap().contains("204"),
        "{logs}"
    );
}
