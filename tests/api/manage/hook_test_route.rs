//! `POST /api/v1/hooks/{hk}/test`: what ingest would do with a request, with nothing stored.

use serde_json::{json, Value};

use crate::helpers::TestApp;
use crate::ingest_support::{create_hook, fixture, send, send_signed};
use crate::manage::hook_rules::{pipeline, readme_pipeline, runs_of};
use crate::on_both_backends;

on_both_backends!(the_test_route_shows_what_ingest_would_do_and_stores_nothing);

async fn the_test_route_shows_what_ingest_would_do_and_stores_nothing(app: TestApp) {
    let (pl, token) = pipeline(&app, readme_pipeline()).await;
    let hook = create_hook(
        &app,
        &pl,
        json!({ "provider": "gitea", "settings": {
            "variables": [{ "name": "ref", "path": "ref" }],
            "filters": [{ "variable": "event", "equals": "push" },
                        { "variable": "ref", "matches": "^refs/heads/main$" }] } }),
    )
    .await;
    let body = String::from_utf8(fixture("gitea/push.json")).unwrap();
    let headers: serde_json::Map<String, Value> = hook
        .sign(body.as_bytes(), Some("d-1"), Some("push"))
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    let test_url = format!("/api/v1/hooks/{}/test", hook.id);
    let (s, t) = app
        .post(
            &test_url,
            &token,
            json!({ "headers": headers, "body": body }),
        )
        .await;
    assert_eq!(s, 200, "{t}");
    assert_eq!(t["status"], 202, "{t}");
    assert_eq!(t["would"], "run", "{t}");
    assert_eq!(t["verification"]["result"], "verified", "{t}");
    assert_eq!(t["variables"]["ref"], "refs/heads/main", "{t}");
    assert_eq!(t["filters"].as_array().unwrap().len(), 2, "{t}");
    // A wrong signature is a refusal, with the problem and no expected value.
    let mut bad = headers.clone();
    bad.insert("x-gitea-signature".into(), json!("00"));
    let (_, t) = app
        .post(&test_url, &token, json!({ "headers": bad, "body": body }))
        .await;
    assert_eq!(
        (t["status"].as_u64(), t["would"].as_str()),
        (Some(401), Some("refuse")),
        "{t}"
    );
    assert!(t["verification"]["problem"].is_string(), "{t}");
    // Rules alone: a filter verdict per filter.
    let (_, t) = app
        .post(
            &test_url,
            &token,
            json!({ "body": {"ref": "refs/heads/dev"}, "skip_signature": true,
            "headers": {"X-Gitea-Event": "push"} }),
        )
        .await;
    assert_eq!(t["would"], "ignore", "{t}");
    assert_eq!(t["filters"][0]["passed"], true, "{t}");
    assert_eq!(t["filters"][1]["passed"], false, "{t}");
    // Nothing was stored, and the same delivery id still runs at ingest (no dedup claim).
    let (_, log) = app
        .get(&format!("/api/v1/hooks/{}/deliveries", hook.id), &token)
        .await;
    assert_eq!(log["items"].as_array().unwrap().len(), 0, "{log}");
    assert_eq!(runs_of(&app, &pl).await, 0);
    let a = send_signed(&app, &hook, body.as_bytes(), Some("d-1"), Some("push")).await;
    assert_eq!(a.status, 202, "{a}");
    // A viewer may not test; an unknown field is named.
    let prj = app
        .store
        .get_pipeline(&pl)
        .await
        .unwrap()
        .unwrap()
        .project_id;
    let viewer = app.token(&prj, "viewer").await;
    let (s, _) = app.post(&test_url, &viewer, json!({ "body": {} })).await;
    assert_eq!(s, 403);
    let (s, b) = app
        .post(
            &test_url,
            &token,
            json!({ "body": {}, "skip_signatures": true }),
        )
        .await;
    assert_eq!(s, 422, "{b}");
    assert!(b.to_string().contains("skip_signature"), "{b}");
    let a = send(&app, &hook.id, &[], None, Vec::new()).await;
    assert_eq!(a.status, 401, "{a}");
}
