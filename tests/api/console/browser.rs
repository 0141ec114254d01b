//! The console in a real browser (Debian's chromium through chromedriver): sign in, open a
//! GitHub hook, send a test delivery from the panel and watch its run go queued → running →
//! succeeded with its log appearing while it runs; open a failed delivery, read its reason,
//! replay it; sign in as a viewer and find no write controls; sign out and find the old cookie
//! refused. Every page gets axe-core (0 serious or critical violations) and a keyboard walk
//! (every control reachable with Tab), and screenshots at 1280x800 and 390x844 under
//! `$CARGO_TARGET_DIR/console-screenshots` (or `target/console-screenshots`).
//!
//! Without chromium and chromium-driver the test prints that it skipped and records it in
//! `$HOOKGATE_TEST_SKIP_FILE`. The runs wait on gate files the test creates, so every state is
//! seen without depending on timing.

use std::path::{Path, PathBuf};

use reqwest::header::COOKIE;
use reqwest::Method;
use serde_json::{json, Value};

use crate::console_webdriver::{binaries, Browser};
use crate::helpers::{skip, TestApp};

crate::on_both_backends!(console_in_a_browser);

fn shots_dir() -> PathBuf {
    let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
    let dir = Path::new(&target).join("console-screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot folder");
    dir
}

fn axe_source() -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/browser/node_modules/axe-core/axe.min.js"
    );
    std::fs::read_to_string(path)
        .unwrap_or_else(|_| panic!("{path} is missing: run `npm ci` in tests/browser"))
}

/// axe-core on the page: the ids of serious and critical violations.
async fn axe(b: &Browser, axe_src: &str) -> Vec<String> {
    let script = format!(
        "{axe_src}\n;return axe.run(document, {{ resultTypes: ['violations'] }}).then(function (r) {{ \
           return r.violations.filter(function (v) {{ return v.impact === 'serious' || v.impact === 'critical'; }}) \
           .map(function (v) {{ return v.id + ': ' + v.nodes.map(function (n) {{ return n.target.join(' '); }}).join(', '); }}); }});"
    );
    let v = b.script(&script, json!([])).await;
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Tabs through the page; returns the visible controls Tab never reached.
async fn unreachable_by_keyboard(b: &Browser) -> Vec<String> {
    let count = b
        .script(
            "var n = 0; document.querySelectorAll('a[href], button, input, select, textarea').forEach(function (e) { \
               var r = e.getBoundingClientRect(); \
               if (!e.disabled && e.type !== 'hidden' && !e.hidden && (r.width > 0 || r.height > 0)) { e.dataset.kb = String(n++); } }); \
             document.activeElement && document.activeElement.blur(); return n;",
            json!([]),
        )
        .await
        .as_u64()
        .unwrap_or(0) as usize;
    let mut reached = std::collections::BTreeSet::new();
    for _ in 0..(count + 5) {
        b.tab().await;
        let at = b
            .script("var a = document.activeElement; return a && a.dataset ? (a.dataset.kb || null) : null;", json!([]))
            .await;
        if let Some(i) = at.as_str() {
            reached.insert(i.to_string());
        }
    }
    let missing = b
        .script(
            "return Array.prototype.map.call(document.querySelectorAll('[data-kb]'), function (e) { return e.dataset.kb + ' ' + e.outerHTML.slice(0, 80); });",
            json!([]),
        )
        .await;
    missing
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .filter(|s| !reached.contains(s.split(' ').next().unwrap()))
        .map(str::to_string)
        .collect()
}

/// axe, the keyboard walk and both screenshots of the current page, named `name`.
async fn check_page(b: &Browser, axe_src: &str, name: &str, backend: &str) {
    let serious = axe(b, axe_src).await;
    assert!(serious.is_empty(), "{name}: axe found {serious:?}");
    let missing = unreachable_by_keyboard(b).await;
    assert!(
        missing.is_empty(),
        "{name}: not reachable by keyboard: {missing:?}"
    );
    let dir = shots_dir();
    b.screenshot(&dir.join(format!("{backend}-{name}-1280x800.png")))
        .await;
    b.resize(390, 844).await;
    let overflow = b
        .script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth;",
            json!([]),
        )
        .await;
    assert!(
        overflow.as_i64().unwrap_or(0) <= 0,
        "{name}: the page is wider than a 390 px phone"
    );
    b.screenshot(&dir.join(format!("{backend}-{name}-390x844.png")))
        .await;
    b.resize(1280, 800).await;
}

async fn sign_in(b: &Browser, app: &TestApp, token: &str) {
    b.goto(&format!("{}/console/sign-in", app.address)).await;
    b.type_into("#token", token).await;
    b.click("form[action='/console/sign-in'] button[type=submit]")
        .await;
    b.wait_for(".signout").await;
}

async fn console_in_a_browser(app: TestApp) {
    let (chromium, driver) = match binaries() {
        Ok(found) => found,
        Err(why) => return skip(&format!("console browser test: {why}")),
    };
    let backend = if app.database_url.starts_with("postgres") {
        "postgres"
    } else {
        "sqlite"
    };
    let axe_src = axe_source();
    let gates = tempfile::tempdir().unwrap();
    let gate = |name: &str| gates.path().join(name);

    // Seed through the API. One run at a time (queue), so a blocker run keeps ours queued; each
    // step waits for its gate file.
    let prj = app.project("web").await;
    let member = app.token(&prj, "member").await;
    let viewer = app.token(&prj, "viewer").await;
    let script = format!(
        "echo started ${{gate}}; while [ ! -e {}/${{gate}} ]; do sleep 0.05; done; echo finished ${{gate}}",
        gates.path().display()
    );
    let (s, pl) = app
        .post(
            &format!("/api/v1/projects/{prj}/pipelines"),
            &member,
            json!({ "name": "deploy-site",
                    "variables": [{ "name": "gate", "default_value": "x" }, { "name": "ref", "default_value": "x" }],
                    "concurrency": { "key": "one", "max": 1, "policy": "queue" },
                    "steps": [{ "name": "deploy", "action": "command", "program": "/bin/sh", "args": ["-c", script] }] }),
        )
        .await;
    assert_eq!(s, 201, "{pl}");
    let pl = pl["id"].as_str().unwrap().to_string();
    let (s, hook) = app
        .post(
            &format!("/api/v1/pipelines/{pl}/hooks/incoming"),
            &member,
            json!({ "name": "github-main", "provider": "github",
                    "settings": { "variables": [{ "name": "ref", "path": "ref" }, { "name": "gate", "path": "head_commit.id" }],
                                  "filters": [{ "variable": "ref", "matches": "^refs/heads/main$" }] } }),
        )
        .await;
    assert_eq!(s, 201, "{hook}");
    let hk = hook["id"].as_str().unwrap().to_string();
    let (s, blocker) = app
        .post(
            &format!("/api/v1/pipelines/{pl}/runs"),
            &member,
            json!({ "variables": { "gate": "blocker" } }),
        )
        .await;
    assert_eq!(s, 202, "{blocker}");

    let b = Browser::start(&chromium, &driver).await;
    sign_in(&b, &app, &member).await;
    check_page(&b, &axe_src, "projects", backend).await;

    // Open the GitHub hook from its pipeline.
    b.goto(&format!("{}/console/pipelines/{pl}", app.address))
        .await;
    b.wait_for(&format!("a[href='/console/hooks/{hk}']")).await;
    check_page(&b, &axe_src, "pipeline", backend).await;
    b.click(&format!("a[href='/console/hooks/{hk}/test']"))
        .await;

    // The test panel: the provider's sample, what it would do, then sent signed for real.
    b.click("#use-sample").await;
    b.click("#run-test").await;
    b.wait_text("#test-result", |t| t.contains("Would run"))
        .await;
    check_page(&b, &axe_src, "hook-test", backend).await;
    b.click("#send-real").await;
    b.wait_text("#test-result", |t| t.contains("answered 202"))
        .await;
    b.click("#sent-run").await;
    // Queued behind the blocker.
    b.wait_text("#run-status", |t| t == "queued").await;
    check_page(&b, &axe_src, "run-queued", backend).await;
    std::fs::write(gate("blocker"), "").unwrap();
    // Running, with the log appearing while it runs (its gate is still closed).
    b.wait_text("#run-status", |t| t == "running").await;
    b.wait_text("[data-log]", |t| t.contains("started 59b20b8d"))
        .await;
    let log = b.text("[data-log]").await;
    assert!(!log.contains("finished"), "the run is still waiting: {log}");
    let dir = shots_dir();
    b.screenshot(&dir.join(format!("{backend}-run-running-1280x800.png")))
        .await;
    std::fs::write(gate("59b20b8d5c6ff8d09518454d4dd8b7b30f095ab5"), "").unwrap();
    b.wait_text("#run-status", |t| t == "succeeded").await;
    b.wait_text("[data-log]", |t| t.contains("finished 59b20b8d"))
        .await;
    check_page(&b, &axe_src, "run-succeeded", backend).await;

    // A delivery the filter turns away, sent from the panel; its reason; replayed.
    b.goto(&format!("{}/console/hooks/{hk}/test", app.address))
        .await;
    b.type_into(
        "#payload",
        r#"{"ref":"refs/heads/dev","head_commit":{"id":"dev"}}"#,
    )
    .await;
    b.click("#send-real").await;
    b.wait_text("#test-result", |t| t.contains("answered 200"))
        .await;
    b.goto(&format!(
        "{}/console/hooks/{hk}?outcome=ignored",
        app.address
    ))
    .await;
    check_page(&b, &axe_src, "request-log", backend).await;
    b.click("tbody tr a[href^='/console/deliveries/']").await;
    let reason = b.text(".facts").await;
    assert!(reason.contains("ignored because"), "{reason}");
    check_page(&b, &axe_src, "delivery", backend).await;
    let original = b.url().await.rsplit('/').next().unwrap().to_string();
    b.click("button[data-action$='/replay']").await;
    b.wait_text("#flash", |t| !t.is_empty()).await;
    let (_, log) = app
        .get(&format!("/api/v1/hooks/{hk}/deliveries"), &member)
        .await;
    let replays: Vec<&Value> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["replay_of"] == original.as_str())
        .collect();
    assert_eq!(replays.len(), 1, "the replay is recorded: {log}");

    // Sign out; the old cookie is refused afterwards.
    let old = b.cookie("hg_console").await.expect("a session cookie");
    b.click(".signout button").await;
    b.wait_for("#token").await;
    let resp = app
        .client
        .get(format!("{}/console/", app.address))
        .header(COOKIE, format!("hg_console={old}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303, "the old session cookie no longer works");

    // A viewer: every page, no write controls.
    sign_in(&b, &app, &viewer).await;
    let run_id = {
        let (_, runs) = app
            .get(
                &format!("/api/v1/pipelines/{pl}/runs?status=succeeded"),
                &viewer,
            )
            .await;
        runs["items"][0]["id"].as_str().unwrap().to_string()
    };
    for (name, path) in [
        ("viewer-pipeline", format!("/console/pipelines/{pl}")),
        ("viewer-request-log", format!("/console/hooks/{hk}")),
        ("viewer-delivery", format!("/console/deliveries/{original}")),
        ("viewer-run", format!("/console/runs/{run_id}")),
        ("viewer-runs", format!("/console/pipelines/{pl}/runs")),
    ] {
        b.goto(&format!("{}{}", app.address, path)).await;
        b.wait_for("main h1").await;
        let writes = b
            .script("return document.querySelectorAll('[data-action], [data-toggle-active], #send-real').length;", json!([]))
            .await;
        assert_eq!(
            writes.as_u64(),
            Some(0),
            "{name} shows write controls to a viewer"
        );
        check_page(&b, &axe_src, name, backend).await;
    }
    b.quit().await;

    let _ = app.call(Method::GET, "/healthz", None, None).await;
}
