//! No value a sender controls can wedge ingest (SPEC §7, issue #11): a 3 KB branch name as a
//! concurrency key used to fail PostgreSQL's `runs_key_status` index, so every delivery got a
//! 503 forever and a manual run a 500. Keys are stored hashed past 256 bytes (and when they
//! hold a NUL, which PostgreSQL's text refuses), the same on both databases.

use serde_json::{json, Value};

use crate::execution::runs::{manual, wait_final};
use crate::helpers::TestApp;
use crate::ingest_support::{assert_accepted, create_hook, random_id, send_signed};

async fn keyed_pipeline(app: &TestApp) -> String {
    crate::execution::runs::pipeline(
        app,
        json!({ "name": "keyed", "variables": [{ "name": "ref" }],
            "concurrency": { "key": "${ref}", "max": 1, "policy": "queue" },
            "steps": [{ "name": "echo", "action": "command", "program": "/bin/echo", "args": ["ok"] }] }),
    )
    .await
}

async fn run(app: &TestApp, run_id: &str) -> Value {
    let run = wait_final(app, run_id).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    run
}

async fn long_and_nul_keys_run_from_manual_runs(app: TestApp) {
    let pl = keyed_pipeline(&app).await;
    let long = "r".repeat(3072);
    let first = run(&app, &manual(&app, &pl, json!({ "ref": long })).await).await;
    let key = first["concurrency_key"]
        .as_str()
        .expect("a key")
        .to_string();
    assert!(key.starts_with("sha256:") && key.len() == 71, "{key}");
    let again = run(&app, &manual(&app, &pl, json!({ "ref": long })).await).await;
    assert_eq!(
        again["concurrency_key"],
        json!(key),
        "the same key, the same slot"
    );

    let huge = "é".repeat(32 * 1024); // 64 KiB
    let other = run(&app, &manual(&app, &pl, json!({ "ref": huge })).await).await;
    assert_ne!(other["concurrency_key"], json!(key));

    // Accepted and run; its command cannot take a NUL in its environment, and says so.
    let nul = wait_final(&app, &manual(&app, &pl, json!({ "ref": "a\u{0}b" })).await).await;
    assert!(nul["concurrency_key"]
        .as_str()
        .unwrap()
        .starts_with("sha256:"));
    assert!(
        nul["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("nul byte"),
        "{nul}"
    );

    let short = run(
        &app,
        &manual(&app, &pl, json!({ "ref": "refs/heads/main" })).await,
    )
    .await;
    assert_eq!(short["concurrency_key"], "refs/heads/main");
}

async fn a_long_branch_name_is_accepted_by_ingest(app: TestApp) {
    let pl = keyed_pipeline(&app).await;
    let hook = create_hook(
        &app,
        &pl,
        json!({ "provider": "github", "settings": {
            "variables": [ { "name": "ref", "path": "ref" } ] } }),
    )
    .await;
    let branch = format!("refs/heads/{}", "b".repeat(3072));
    let body = serde_json::to_vec(&json!({ "ref": branch })).unwrap();
    let answer = send_signed(&app, &hook, &body, Some(&random_id()), Some("push")).await;
    let run_id = assert_accepted(&app, &answer, "a 3 KB branch").await;
    let done = run(&app, &run_id).await;
    assert!(done["concurrency_key"]
        .as_str()
        .unwrap()
        .starts_with("sha256:"));
    assert_eq!(
        done["variables"]["ref"],
        json!(branch),
        "the variable keeps its value"
    );
}

/// A step printing a NUL: PostgreSQL's text refuses it, so the log could never be written.
async fn a_step_log_with_a_nul_is_written(app: TestApp) {
    let pl = crate::execution::runs::pipeline(
        &app,
        json!({ "name": "nul", "steps": [{ "name": "print", "action": "command",
            "program": "/usr/bin/printf", "args": ["a\\0b"] }] }),
    )
    .await;
    let run_id = manual(&app, &pl, json!({})).await;
    run(&app, &run_id).await;
    let (s, logs) = app
        .get(&format!("/api/v1/runs/{run_id}/logs"), &app.admin_token)
        .await;
    assert_eq!(s, 200, "{logs}");
    assert_eq!(logs["steps"][0]["status"], "succeeded", "{logs}");
    assert!(
        logs["steps"][0]["log"]
            .as_str()
            .unwrap()
            .starts_with("a\u{fffd}b"),
        "{logs}"
    );
}

crate::on_both_backends!(
    a_step_log_with_a_nul_is_written,
    long_and_nul_keys_run_from_manual_runs,
    a_long_branch_name_is_accepted_by_ingest
);
