//! The request log, run reads and replay, through the real routes.

use hookgate::domain::time::now_ms;
use hookgate::signature::{sign, Provider, VerifyConfig};
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::TestApp;

crate::on_both_backends!(
    request_log_run_and_replay,
    deliveries_paginate_and_expire,
    rate_limited_hooks_answer_429
);

/// Creates a GitHub hook declaring `ref`; returns (hook id, secret).
async fn github_hook(app: &TestApp) -> (String, String) {
    let prj = app.project("p").await;
    let pl = app.pipeline(&prj, &app.admin_token, &[]).await;
    let (s, b) = app
        .post(
            &format!("/api/v1/pipelines/{pl}/hooks/incoming"),
            &app.admin_token,
            json!({ "name": "gh", "provider": "github",
                    "settings": { "variables": [{ "name": "git_ref", "path": "ref", "required": true }] } }),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    (
        b["id"].as_str().unwrap().to_string(),
        b["secret"].as_str().unwrap().to_string(),
    )
}

async fn send(
    app: &TestApp,
    hook: &str,
    secret: &str,
    body: &Value,
    delivery: &str,
    tamper: bool,
) -> (u16, Value) {
    let bytes = serde_json::to_vec(body).unwrap();
    let mut req = app
        .client
        .post(format!("{}/hooks/{hook}", app.address))
        .header("content-type", "application/json");
    for (k, v) in sign(
        &VerifyConfig::new(Provider::Github),
        secret,
        &bytes,
        now_ms() / 1000,
        Some(delivery),
        Some("push"),
    ) {
        let v = if tamper && k == "x-hub-signature-256" {
            v.replace('a', "b").replace('1', "2")
        } else {
            v
        };
        req = req.header(k, v);
    }
    let resp = req.body(bytes).send().await.unwrap();
    (
        resp.status().as_u16(),
        resp.json().await.unwrap_or(Value::Null),
    )
}

async fn request_log_run_and_replay(app: TestApp) {
    let (hk, secret) = github_hook(&app).await;
    let (s, accepted) = send(
        &app,
        &hk,
        &secret,
        &json!({ "ref": "refs/heads/main" }),
        "d-1",
        false,
    )
    .await;
    assert_eq!(s, 202, "{accepted}");
    let run_id = accepted["run_id"].as_str().unwrap().to_string();
    let dlv = accepted["delivery_id"].as_str().unwrap().to_string();
    assert_eq!(
        accepted["status_url"],
        format!("{}/api/v1/runs/{run_id}", app.address)
    );

    let (s, run) = app
        .get(&format!("/api/v1/runs/{run_id}"), &app.admin_token)
        .await;
    assert_eq!(s, 200, "{run}");
    assert!(
        ["queued", "running", "succeeded"].contains(&run["status"].as_str().unwrap()),
        "{run}"
    );
    assert_eq!(run["variables"]["git_ref"], "refs/heads/main");
    assert_eq!(run["variables"]["event"], "push");
    assert_eq!(run["variables"]["delivery_id"], dlv.as_str());

    let (s, d) = app
        .get(&format!("/api/v1/deliveries/{dlv}"), &app.admin_token)
        .await;
    assert_eq!(s, 200, "{d}");
    assert_eq!(
        (d["outcome"].as_str(), d["status_code"].as_i64()),
        (Some("accepted"), Some(202))
    );
    assert_eq!(
        d["verification"],
        json!({ "result": "verified", "secret": "current" })
    );
    assert_eq!(d["headers"]["x-hub-signature-256"], "[redacted]");
    assert_eq!(d["headers"]["x-github-delivery"], "d-1");
    assert_eq!(d["provider_delivery_id"], "d-1");
    assert_eq!(d["run_id"], run_id.as_str());
    assert_eq!(
        serde_json::from_str::<Value>(d["body"].as_str().unwrap()).unwrap(),
        json!({ "ref": "refs/heads/main" })
    );
    assert!(!d.to_string().contains(&secret));

    // Replay makes a new run from the stored request, even though its delivery id was seen.
    let (s, r) = app
        .post(
            &format!("/api/v1/deliveries/{dlv}/replay"),
            &app.admin_token,
            json!({}),
        )
        .await;
    assert_eq!(s, 202, "{r}");
    assert_ne!(r["run_id"], run_id.as_str());
    let (_, replayed) = app
        .get(
            &format!("/api/v1/deliveries/{}", r["delivery_id"].as_str().unwrap()),
            &app.admin_token,
        )
        .await;
    assert_eq!(replayed["replay_of"], dlv.as_str());
    let (_, run2) = app
        .get(
            &format!("/api/v1/runs/{}", r["run_id"].as_str().unwrap()),
            &app.admin_token,
        )
        .await;
    assert_eq!(run2["triggered_by"], format!("replay:{dlv}"));

    // A request that failed verification is logged (asynchronously) but cannot be replayed.
    let (s, bad) = send(&app, &hk, &secret, &json!({ "ref": "x" }), "d-2", true).await;
    assert_eq!((s, bad["error"].as_str()), (401, Some("invalid_signature")));
    let mut failed = None;
    for _ in 0..100 {
        let rows = app.store.list_deliveries(&hk, None, 10).await.unwrap();
        if let Some(row) = rows.into_iter().find(|d| d.status_code == 401) {
            failed = Some(row);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let failed = failed.expect("the 401 is recorded");
    assert!(failed.verification.contains("failed"));
    let (s, b) = app
        .post(
            &format!("/api/v1/deliveries/{}/replay", failed.id),
            &app.admin_token,
            json!({}),
        )
        .await;
    assert_eq!((s, b["error"].as_str()), (409, Some("cannot_replay")));

    // Another project's token sees none of it.
    let other = app.project("other").await;
    let stranger = app.token(&other, "owner").await;
    for path in [
        format!("/api/v1/deliveries/{dlv}"),
        format!("/api/v1/hooks/{hk}/deliveries"),
        format!("/api/v1/runs/{run_id}"),
    ] {
        let (s, _) = app.get(&path, &stranger).await;
        assert_eq!(s, 404, "{path}");
    }
    let (s, _) = app
        .call(
            Method::POST,
            &format!("/api/v1/deliveries/{dlv}/replay"),
            Some(&stranger),
            None,
        )
        .await;
    assert_eq!(s, 404);
}

async fn deliveries_paginate_and_expire(app: TestApp) {
    let (hk, secret) = github_hook(&app).await;
    for i in 0..5 {
        let (s, b) = send(
            &app,
            &hk,
            &secret,
            &json!({ "ref": format!("refs/heads/b{i}") }),
            &format!("p-{i}"),
            false,
        )
        .await;
        assert_eq!(s, 202, "{b}");
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/hooks/{hk}/deliveries?limit=2&cursor={c}"),
            None => format!("/api/v1/hooks/{hk}/deliveries?limit=2"),
        };
        let (s, page) = app.get(&path, &app.admin_token).await;
        assert_eq!(s, 200, "{page}");
        for item in page["items"].as_array().unwrap() {
            assert!(
                item.get("body").is_none() && item.get("headers").is_none(),
                "lists stay small"
            );
            seen.push(item["id"].as_str().unwrap().to_string());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        (seen.len(), unique.len()),
        (5, 5),
        "every delivery once, across pages"
    );
    let (s, _) = app
        .get(
            &format!("/api/v1/hooks/{hk}/deliveries?cursor=garbage"),
            &app.admin_token,
        )
        .await;
    assert_eq!(s, 400);

    // Retention: everything received before the cut goes, and the dedup ids with it.
    let gone = app.store.purge(now_ms() + 1, now_ms() + 1).await.unwrap();
    assert_eq!(gone, 5);
    let (s, b) = send(
        &app,
        &hk,
        &secret,
        &json!({ "ref": "refs/heads/b0" }),
        "p-0",
        false,
    )
    .await;
    assert_eq!(
        s, 202,
        "a delivery id past the dedup window is new again: {b}"
    );
}

async fn rate_limited_hooks_answer_429(app: TestApp) {
    let (hk, secret) = github_hook(&app).await;
    let (s, b) = app
        .call(
            Method::PATCH,
            &format!("/api/v1/hooks/{hk}"),
            Some(&app.admin_token),
            Some(json!({ "rate_limit_per_minute": 1 })),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    // With a limit of 1 a minute, three quick sends see at most one minute boundary: one is refused.
    let mut limited = 0;
    for i in 0..3 {
        let bytes = serde_json::to_vec(&json!({ "ref": "refs/heads/main" })).unwrap();
        let mut req = app
            .client
            .post(format!("{}/hooks/{hk}", app.address))
            .header("content-type", "application/json");
        for (k, v) in sign(
            &VerifyConfig::new(Provider::Github),
            &secret,
            &bytes,
            now_ms() / 1000,
            Some(&format!("r-{i}")),
            None,
        ) {
            req = req.header(k, v);
        }
        let resp = req.body(bytes).send().await.unwrap();
        if resp.status().as_u16() == 429 {
            limited += 1;
            let retry: u32 = resp.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!((1..=60).contains(&retry));
            let body: Value = resp.json().await.unwrap();
            assert_eq!(body["error"], "rate_limited");
        } else {
            assert_eq!(resp.status().as_u16(), 202);
        }
    }
    assert!(limited >= 1, "the limit was enforced");
    let (s, _) = app
        .call(
            Method::PATCH,
            &format!("/api/v1/hooks/{hk}"),
            Some(&app.admin_token),
            Some(json!({ "rate_limit_per_minute": 0 })),
        )
        .await;
    assert_eq!(s, 422);
}
