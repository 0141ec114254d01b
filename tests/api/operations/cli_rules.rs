//! `hookgate test-hook`, and `hookgate send` refusing an empty secret (`--unsigned` instead).

use std::process::{Command, Output, Stdio};

use serde_json::json;

use crate::helpers::TestApp;
use crate::ingest_support::create_hook;
use crate::on_both_backends;

on_both_backends!(
    test_hook_shows_what_the_server_would_do,
    send_refuses_an_empty_secret
);

fn hookgate(app: &TestApp, env: &[(&str, &str)], args: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hookgate"));
    cmd.current_dir(dir.path())
        .args(args)
        .env_remove("HOOKGATE_SEND_SECRET")
        .env("HOOKGATE_SERVER", &app.address)
        .env("HOOKGATE_TOKEN", &app.admin_token);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.stdin(Stdio::null()).output().expect("run hookgate")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

async fn test_hook_shows_what_the_server_would_do(app: TestApp) {
    let prj = app.project(&format!("cli-{}", rand::random::<u32>())).await;
    let pl = app.pipeline(&prj, &app.admin_token, &[]).await;
    let hook = create_hook(
        &app,
        &pl,
        json!({ "provider": "github", "settings": {
            "variables": [{ "name": "ref", "path": "ref" }],
            "filters": [{ "variable": "event", "equals": "push" }] } }),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("push.json");
    std::fs::write(&file, br#"{"ref":"refs/heads/main"}"#).unwrap();
    let file = file.to_str().unwrap();
    let out = hookgate(&app, &[], &["test-hook", &hook.id, file, "--event", "push"]);
    assert!(out.status.success(), "{}", text(&out));
    let shown = text(&out);
    assert!(shown.starts_with("would run (202)"), "{shown}");
    assert!(shown.contains("\"refs/heads/main\""), "{shown}");
    assert!(shown.contains("signature not checked"), "{shown}");
    // With the secret the signature is checked too; a ping is ignored.
    let out = hookgate(
        &app,
        &[("HOOKGATE_SEND_SECRET", &hook.secret)],
        &["test-hook", &hook.id, file, "--event", "ping"],
    );
    let shown = text(&out);
    assert!(shown.starts_with("would ignore (200)"), "{shown}");
    assert!(shown.contains("\"verified\""), "{shown}");
    // Nothing was stored.
    let (_, runs) = app
        .get(&format!("/api/v1/pipelines/{pl}/runs"), &app.admin_token)
        .await;
    assert_eq!(runs["items"], json!([]), "{runs}");
    // A wrong token is the server's 401, said plainly.
    let out = hookgate(
        &app,
        &[("HOOKGATE_TOKEN", "hg_wrong")],
        &["test-hook", &hook.id, file],
    );
    assert!(!out.status.success());
    assert!(text(&out).contains("401"), "{}", text(&out));
}

async fn send_refuses_an_empty_secret(app: TestApp) {
    let prj = app.project(&format!("cli-{}", rand::random::<u32>())).await;
    let pl = app.pipeline(&prj, &app.admin_token, &[]).await;
    let open = create_hook(
        &app,
        &pl,
        json!({ "provider": "github", "requires_secret": false }),
    )
    .await;
    let url = format!("{}/hooks/{}", app.address, open.id);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("push.json");
    std::fs::write(&file, br#"{"ref":"refs/heads/main"}"#).unwrap();
    let file = file.to_str().unwrap();
    for env in [vec![], vec![("HOOKGATE_SEND_SECRET", "")]] {
        let out = hookgate(&app, &env, &["send", "--url", &url, file]);
        assert!(!out.status.success(), "{}", text(&out));
        assert!(text(&out).contains("the secret is empty"), "{}", text(&out));
        assert!(text(&out).contains("--unsigned"), "{}", text(&out));
    }
    let out = hookgate(
        &app,
        &[],
        &["send", "--url", &url, "--unsigned", "--event", "push", file],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).starts_with("202"), "{}", text(&out));
    let out = hookgate(
        &app,
        &[],
        &["send", "--url", &url, "--unsigned", "--secret", "s", file],
    );
    assert!(!out.status.success(), "{}", text(&out));
}
