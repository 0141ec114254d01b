//! The events that are not about one run (SPEC §6): `pipeline.created|updated|deleted`, sent
//! to the project's subscribed hooks, and `delivery.rejected`, coalesced per hook and minute.

use reqwest::Method;
use serde_json::{json, Value};

use crate::approval_support::{create_outgoing, receiver};
use crate::helpers::{start_on, TestApp};

crate::on_both_backends!(
    pipeline_changes_are_events_to_the_project_hooks,
    rejected_deliveries_are_one_event_per_hook_and_minute,
    filtered_out_deliveries_are_coalesced_too,
);

async fn pipeline_changes_are_events_to_the_project_hooks(app: TestApp) {
    let project = app.project(&format!("p{}", rand::random::<u32>())).await;
    let member = app.token(&project, "member").await;
    let home = app.pipeline(&project, &member, &[]).await;
    let rx = receiver().await;
    create_outgoing(
        &app,
        &home,
        &member,
        json!({ "name": "pipelines", "url": rx.url,
                "triggers": ["pipeline.created", "pipeline.updated", "pipeline.deleted"] }),
    )
    .await;
    // Humanitec's form: environment created → pipeline.created, with its own ${event} names.
    let humanitec = receiver().await;
    create_outgoing(
        &app,
        &home,
        &member,
        json!({ "id": "envs", "url": humanitec.url, "headers": {},
                "payload": { "event": "${event}", "env": "${env_id}", "name": "${name}", "app": "${app_id}" },
                "triggers": [{ "scope": "environment", "type": "created" }] }),
    )
    .await;
    let spec = json!({ "name": "staging", "steps": [{ "name": "a", "action": "command", "program": "true" }] });
    let (s, b) = app
        .post(
            &format!("/api/v1/projects/{project}/pipelines"),
            &member,
            spec.clone(),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let pl = b["id"].as_str().unwrap().to_string();
    let mut renamed = spec.clone();
    renamed["name"] = json!("staging-2");
    let (s, b) = app
        .call(
            Method::PUT,
            &format!("/api/v1/pipelines/{pl}"),
            Some(&member),
            Some(renamed),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let (s, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/pipelines/{pl}"),
            Some(&member),
            None,
        )
        .await;
    assert_eq!(s, 204);

    let hits = rx.wait_for(3).await;
    let bodies: Vec<Value> = hits.iter().map(|h| h.json()).collect();
    let events: Vec<&str> = bodies
        .iter()
        .map(|b| b["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        events,
        ["pipeline.created", "pipeline.updated", "pipeline.deleted"]
    );
    assert_eq!(
        bodies[0]["pipeline"],
        json!({ "id": pl, "name": "staging" })
    );
    assert_eq!(bodies[1]["pipeline"]["name"], "staging-2");
    assert!(bodies[0].get("run").is_none(), "{}", bodies[0]);
    assert_eq!(bodies[0]["project"]["id"], project);

    let hits = humanitec.wait_for(1).await;
    assert_eq!(
        hits[0].json(),
        json!({ "event": "environment.created", "env": pl, "name": "staging", "app": project })
    );
}

/// An incoming hook made from `incoming` on a new pipeline, and an outgoing hook of that
/// pipeline, made from `outgoing` (its `url` set to a new receiver). Returns the incoming
/// hook's id and the receiver.
async fn alert_setup(
    app: &TestApp,
    incoming: Value,
    mut outgoing: Value,
) -> (String, crate::outgoing::notify::Receiver) {
    let project = app.project(&format!("p{}", rand::random::<u32>())).await;
    let pl = app.pipeline(&project, &app.admin_token, &[]).await;
    let (s, hook) = app
        .post(
            &format!("/api/v1/pipelines/{pl}/hooks/incoming"),
            &app.admin_token,
            incoming,
        )
        .await;
    assert_eq!(s, 201, "{hook}");
    let rx = receiver().await;
    outgoing["url"] = json!(rx.url);
    create_outgoing(app, &pl, &app.admin_token, outgoing).await;
    (hook["id"].as_str().unwrap().to_string(), rx)
}

async fn rejected_deliveries_are_one_event_per_hook_and_minute(app: TestApp) {
    let (hk, rx) = alert_setup(
        &app,
        json!({ "name": "gh", "provider": "github" }),
        json!({ "name": "alerts", "triggers": ["delivery.rejected"],
                "payload": { "hook": "${hook_id}", "count": "${count}", "reason": "${reason}" } }),
    )
    .await;
    for _ in 0..3 {
        let resp = app
            .client
            .post(format!("{}/hooks/{hk}", app.address))
            .header("x-hub-signature-256", "sha256=00")
            .header("x-github-event", "push")
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401);
    }
    // Refusals are recorded without waiting: wait (bounded) until all three are.
    for _ in 0..200 {
        let (_, list) = app
            .get(&format!("/api/v1/hooks/{hk}/deliveries"), &app.admin_token)
            .await;
        if list["items"].as_array().map_or(0, Vec::len) >= 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    // Nothing is sent while the minute is still on; once it is over, one event, once, even
    // with two processes sweeping.
    let now = hookgate::domain::time::now_ms();
    assert_eq!(app.store.emit_due_alerts(now - 60_000).await.unwrap(), 0);
    let other = start_on(&app.database_url, &app.master_key).await;
    let later = now + 61_000;
    let (a, b) = tokio::join!(
        app.store.emit_due_alerts(later),
        other.store.emit_due_alerts(later)
    );
    assert_eq!(a.unwrap() + b.unwrap(), 1);
    let hits = rx.wait_for(1).await;
    assert_eq!(
        hits[0].json(),
        json!({ "hook": hk, "count": 3, "reason": "invalid_signature" })
    );
    assert_eq!(app.store.emit_due_alerts(later).await.unwrap(), 0);
}

async fn filtered_out_deliveries_are_coalesced_too(app: TestApp) {
    let (hk, rx) = alert_setup(
        &app,
        json!({ "name": "open", "provider": "generic", "requires_secret": false, "settings": {
            "variables": [{ "name": "ref", "path": "ref" }],
            "filters": [{ "variable": "ref", "matches": "^release/" }] } }),
        json!({ "name": "alerts", "triggers": ["delivery.ignored"] }),
    )
    .await;
    for r in ["main", "dev"] {
        let (s, b) = app
            .call(
                Method::POST,
                &format!("/hooks/{hk}"),
                None,
                Some(json!({ "ref": r })),
            )
            .await;
        assert_eq!((s, &b["ignored"]), (200, &json!(true)), "{b}");
    }
    let later = hookgate::domain::time::now_ms() + 61_000;
    assert_eq!(app.store.emit_due_alerts(later).await.unwrap(), 1);
    let hits = rx.wait_for(1).await;
    let body = hits[0].json();
    assert_eq!(body["event"], "delivery.ignored");
    assert_eq!(body["deliveries"]["count"], 2, "{body}");
    assert_eq!(body["deliveries"]["hook_id"], hk);
    assert!(
        body["deliveries"]["last_reason"]
            .as_str()
            .is_some_and(|r| !r.is_empty()),
        "{body}"
    );
    assert!(body.get("run").is_none(), "{body}");
}
