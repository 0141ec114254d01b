//! `POST /hooks/{hk}` after verification: dedup, filters, variables, body forms, and the
//! answers that come before it (404, 403, 413). SPEC §3 and §4.

use std::collections::HashSet;

use futures_util::future::join_all;
use hookgate::signature::Provider;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::TestApp;
use crate::ingest_support::*;

crate::on_both_backends!(
    concurrent_copies_of_one_delivery_make_one_run,
    filter_miss_is_ignored_and_recorded,
    missing_or_mistyped_variable_is_422_naming_it,
    github_push_payload_becomes_typed_variables,
    github_form_mode_and_content_types,
    unknown_inactive_and_oversized,
    hook_changes_reach_every_process,
    slack_url_check_is_committed_before_its_answer
);

async fn concurrent_copies_of_one_delivery_make_one_run(app: TestApp) {
    let pl = pipeline(&app).await;
    let hook = simple_hook(&app, &pl, Provider::Github).await;
    let body = fixture("gitea/push.json");
    let headers = hook.sign(&body, Some(&random_id()), Some("push"));
    let sends = (0..50).map(|_| {
        send(
            &app,
            &hook.id,
            &headers,
            Some("application/json"),
            body.clone(),
        )
    });
    let answers = join_all(sends).await;

    let accepted: Vec<&Answer> = answers.iter().filter(|a| a.status == 202).collect();
    assert_eq!(accepted.len(), 1, "exactly one 202 among {}", answers.len());
    let run_id = accepted[0].json["run_id"].as_str().unwrap();
    let mut delivery_ids = HashSet::new();
    for a in &answers {
        delivery_ids.insert(
            a.json["delivery_id"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
        if a.status == 202 {
            continue;
        }
        assert_eq!(a.status, 200, "{a}");
        assert_eq!(a.json["duplicate"], true, "{a}");
        assert_eq!(a.json["run_id"], run_id, "{a}");
    }
    assert_eq!(app.store.count_runs(&pl).await.unwrap(), 1);
    assert!(app.store.get_run(run_id).await.unwrap().is_some());
    assert_eq!(delivery_ids.len(), 50, "every request is its own delivery");

    // Later redelivery, one by one: still the same run.
    let again = send(&app, &hook.id, &headers, Some("application/json"), body).await;
    assert_eq!(
        (again.status, &again.json["run_id"]),
        (200, &json!(run_id)),
        "{again}"
    );
    assert_eq!(app.store.count_runs(&pl).await.unwrap(), 1);
}

async fn filter_miss_is_ignored_and_recorded(app: TestApp) {
    let pl = pipeline(&app).await;
    let hook = create_hook(
        &app,
        &pl,
        json!({ "provider": "github", "settings": {
            "variables": [ { "name": "ref", "path": "ref" } ],
            "filters": [ { "variable": "ref", "matches": "^refs/heads/release/.*$" } ] } }),
    )
    .await;
    let body = fixture("gitea/push.json"); // refs/heads/main
    let answer = send_signed(&app, &hook, &body, Some(&random_id()), Some("push")).await;
    assert_eq!(
        (answer.status, &answer.json["ignored"]),
        (200, &json!(true)),
        "{answer}"
    );
    let reason = answer.json["reason"].as_str().expect("a reason");
    assert!(!reason.is_empty());
    assert!(answer.json.get("run_id").is_none(), "{answer}");
    assert_eq!(app.store.count_runs(&pl).await.unwrap(), 0);

    let rows = app
        .store
        .list_deliveries(&hook.id, None, 100)
        .await
        .unwrap();
    assert_eq!(
        rows.len(),
        1,
        "the 200 is answered after the record is committed"
    );
    assert_eq!(rows[0].outcome, "ignored");
    assert_eq!(rows[0].status_code, 200);
    assert_eq!(rows[0].filter_reason.as_deref(), Some(reason));
    assert!(rows[0].run_id.is_none());

    // The same hook passes a release branch.
    let release =
        String::from_utf8(body)
            .unwrap()
            .replacen("refs/heads/main", "refs/heads/release/1.2", 1);
    let answer = send_signed(
        &app,
        &hook,
        release.as_bytes(),
        Some(&random_id()),
        Some("push"),
    )
    .await;
    assert_accepted(&app, &answer, "release branch").await;
}

async fn missing_or_mistyped_variable_is_422_naming_it(app: TestApp) {
    let pl = pipeline(&app).await;
    let hook = create_hook(
        &app,
        &pl,
        json!({ "provider": "github", "settings": { "variables": [
            { "name": "pull_request_id", "path": "$.pull_request.number", "type": "integer", "required": true },
            { "name": "after", "path": "after", "type": "integer" } ] } }),
    )
    .await;
    let answer = send_signed(
        &app,
        &hook,
        &fixture("gitea/push.json"),
        Some(&random_id()),
        Some("push"),
    )
    .await;
    assert_error(
        &answer,
        422,
        "invalid_variables",
        "push without a pull request",
    );
    let details = answer.json["details"].as_array().expect("details");
    let named = |name: &str| details.iter().find(|d| d["name"] == name).cloned();
    let missing = named("pull_request_id").unwrap_or_else(|| panic!("{answer}"));
    assert_eq!(missing["path"], "$.pull_request.number");
    assert!(missing["problem"].as_str().is_some_and(|p| !p.is_empty()));
    let mistyped =
        named("after").unwrap_or_else(|| panic!("every bad variable is named: {answer}"));
    assert_eq!(mistyped["path"], "after");
    assert_eq!(app.store.count_runs(&pl).await.unwrap(), 0);
    let row = wait_for_delivery(&app, &hook.id, |d| d.status_code == 422).await;
    assert_eq!(
        row.expect("422 recorded").error.as_deref(),
        Some("invalid_variables")
    );
}

async fn github_push_payload_becomes_typed_variables(app: TestApp) {
    let Some(body) = github_push_payload() else {
        return;
    };
    let payload: Value = serde_json::from_slice(&body).unwrap();
    let pl = pipeline(&app).await;
    let hook = create_hook(
        &app,
        &pl,
        json!({ "provider": "github", "action_type": "deploy", "settings": { "variables": [
            { "name": "ref", "path": "ref" },
            { "name": "after", "path": "$.after", "type": "string" },
            { "name": "repo", "path": "repository.full_name" },
            { "name": "pusher", "path": "pusher.name" },
            { "name": "commit_count", "path": "commits", "count": true },
            { "name": "event", "source": "header", "path": "X-GitHub-Event", "required": true } ] } }),
    )
    .await;
    let delivery = random_id();
    let answer = send_signed(&app, &hook, &body, Some(&delivery), Some("push")).await;
    let run_id = assert_accepted(&app, &answer, "github push").await;
    let run = app.store.get_run(&run_id).await.unwrap().unwrap();
    let vars: Value = serde_json::from_str(&run.variables).unwrap();

    assert_eq!(vars["ref"], payload["ref"], "{vars}");
    assert_eq!(vars["after"], payload["after"], "{vars}");
    assert_eq!(vars["repo"], payload["repository"]["full_name"], "{vars}");
    assert_eq!(vars["pusher"], payload["pusher"]["name"], "{vars}");
    let commits = payload["commits"].as_array().unwrap().len() as u64;
    assert!(
        vars["commit_count"].is_u64(),
        "an integer, not {}",
        vars["commit_count"]
    );
    assert_eq!(vars["commit_count"].as_u64(), Some(commits));
    assert_eq!(vars["event"], "push");
    assert_eq!(vars["hook_id"], hook.id.as_str());
    assert_eq!(vars["delivery_id"], answer.json["delivery_id"]);
    assert_eq!(vars["action_type"], "deploy");
    let received_at = vars["received_at"].as_str().expect("received_at");
    assert!(
        received_at.len() >= 20 && received_at.contains('T'),
        "{received_at}"
    );

    let row = app
        .store
        .get_delivery(answer.json["delivery_id"].as_str().unwrap())
        .await;
    let row = row.unwrap().unwrap();
    assert_eq!(row.provider_delivery_id.as_deref(), Some(delivery.as_str()));
    assert_eq!(row.event.as_deref(), Some("push"));
    assert_eq!(row.body, body, "a verified body is kept whole");
}

async fn github_form_mode_and_content_types(app: TestApp) {
    let pl = pipeline(&app).await;
    let hook = create_hook(
        &app,
        &pl,
        json!({ "provider": "github", "settings": { "variables": [ { "name": "ref", "path": "ref" } ] } }),
    )
    .await;
    let json_body = fixture("gitea/push.json");
    let form =
        serde_urlencoded::to_string([("payload", String::from_utf8(json_body.clone()).unwrap())])
            .unwrap()
            .into_bytes();
    let form_ct = Some("application/x-www-form-urlencoded");
    let headers = hook.sign(&form, Some(&random_id()), Some("push"));
    let answer = send(&app, &hook.id, &headers, form_ct, form.clone()).await;
    let run_id = assert_accepted(&app, &answer, "form mode").await;
    let run = app.store.get_run(&run_id).await.unwrap().unwrap();
    let vars: Value = serde_json::from_str(&run.variables).unwrap();
    assert_eq!(vars["ref"], "refs/heads/main");

    // Signed over the JSON, sent as the form: the MAC covers the raw bytes, so 401.
    let headers = hook.sign(&json_body, Some(&random_id()), Some("push"));
    let answer = send(&app, &hook.id, &headers, form_ct, form).await;
    assert_error(&answer, 401, "invalid_signature", "signed over other bytes");

    for (ct, body, status, code) in [
        (
            Some("text/plain"),
            json_body.clone(),
            415,
            "unsupported_media_type",
        ),
        (
            Some("application/xml"),
            b"<a/>".to_vec(),
            415,
            "unsupported_media_type",
        ),
        (form_ct, b"ref=main".to_vec(), 415, "unsupported_media_type"),
        (
            form_ct,
            b"payload=%7Bnot-json".to_vec(),
            400,
            "invalid_body",
        ),
        (Some("application/json"), Vec::new(), 400, "invalid_body"),
        (None, Vec::new(), 400, "invalid_body"),
    ] {
        let headers = hook.sign(&body, Some(&random_id()), Some("push"));
        let answer = send(&app, &hook.id, &headers, ct, body.clone()).await;
        assert_error(
            &answer,
            status,
            code,
            &format!("{ct:?} {:?}", String::from_utf8_lossy(&body)),
        );
    }
    assert_eq!(app.store.count_runs(&pl).await.unwrap(), 1);
}

async fn unknown_inactive_and_oversized(app: TestApp) {
    let pl = pipeline(&app).await;
    let hook = simple_hook(&app, &pl, Provider::Github).await;
    let body = fixture("gitea/push.json");
    let headers = hook.sign(&body, Some(&random_id()), Some("push"));

    // Unknown: well-formed but unknown id, malformed id, deleted hook.
    let mut unknown = hook.id.clone();
    unknown.replace_range(5..6, if &unknown[5..6] == "A" { "B" } else { "A" });
    let deleted = simple_hook(&app, &pl, Provider::Github).await;
    let (s, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/hooks/{}", deleted.id),
            Some(&app.admin_token),
            None,
        )
        .await;
    assert_eq!(s, 204);
    for id in [unknown.as_str(), "nope", deleted.id.as_str()] {
        let answer = send(&app, id, &headers, Some("application/json"), body.clone()).await;
        assert_error(&answer, 404, "hook_not_found", id);
    }

    // Over 5 MiB by one byte: 413, and the hook still works afterwards.
    let big = vec![b' '; 5 * 1024 * 1024 + 1];
    let big_headers = hook.sign(&big, Some(&random_id()), Some("push"));
    let answer = send(&app, &hook.id, &big_headers, Some("application/json"), big).await;
    assert_error(&answer, 413, "body_too_large", "5 MiB + 1");
    let answer = send(
        &app,
        &hook.id,
        &headers,
        Some("application/json"),
        body.clone(),
    )
    .await;
    assert_accepted(&app, &answer, "after a 413").await;

    // Inactive, then active again.
    for (active, status) in [(false, 403), (true, 200)] {
        let (s, b) = app
            .call(
                Method::PATCH,
                &format!("/api/v1/hooks/{}", hook.id),
                Some(&app.admin_token),
                Some(json!({ "is_active": active })),
            )
            .await;
        assert_eq!(s, 200, "{b}");
        let answer = send(
            &app,
            &hook.id,
            &headers,
            Some("application/json"),
            body.clone(),
        )
        .await;
        if active {
            assert_eq!(
                (answer.status, &answer.json["duplicate"]),
                (status, &json!(true)),
                "{answer}"
            );
        } else {
            assert_error(&answer, status, "hook_inactive", "inactive");
        }
    }
    assert_eq!(app.store.count_runs(&pl).await.unwrap(), 1);
}

/// Ingest keeps compiled hooks in memory. A change made through this process's API is seen by
/// its next delivery; another process on the same database sees it within the cache's
/// freshness limit (at once on PostgreSQL, by NOTIFY). Each step is checked by its answer.
async fn hook_changes_reach_every_process(app: TestApp) {
    let pl = pipeline(&app).await;
    let hook = simple_hook(&app, &pl, Provider::Github).await;
    let other = crate::helpers::start_on(&app.database_url, &app.master_key).await;
    let body = fixture("gitea/push.json");
    // Both processes have the hook cached as active.
    let first = deliver_push(&app, &hook, &body).await;
    assert_accepted(&app, &first, "first process").await;
    let second = deliver_push(&other, &hook, &body).await;
    assert_accepted(&other, &second, "second process").await;

    let (s, b) = app
        .call(
            Method::PATCH,
            &format!("/api/v1/hooks/{}", hook.id),
            Some(&app.admin_token),
            Some(json!({ "is_active": false })),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let answer = deliver_push(&app, &hook, &body).await;
    assert_error(&answer, 403, "hook_inactive", "same process, at once");
    assert!(
        answer_turns(&other, &hook, &body, 202, 403).await,
        "the other process still accepts deliveries for the deactivated hook"
    );

    // A deleted hook is unknown everywhere.
    let (s, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/hooks/{}", hook.id),
            Some(&app.admin_token),
            None,
        )
        .await;
    assert_eq!(s, 204);
    let answer = deliver_push(&app, &hook, &body).await;
    assert_error(&answer, 404, "hook_not_found", "deleted, same process");
    assert!(
        answer_turns(&other, &hook, &body, 403, 404).await,
        "the other process still knows the deleted hook"
    );
}

/// A signed push with a fresh delivery id, sent to `to`.
async fn deliver_push(to: &TestApp, hook: &Hook, body: &[u8]) -> Answer {
    let headers = hook.sign(body, Some(&random_id()), Some("push"));
    send(
        to,
        &hook.id,
        &headers,
        Some("application/json"),
        body.to_vec(),
    )
    .await
}

/// Delivers to `to` until it answers `after`, at most 100 times 100 ms apart (the cache's
/// freshness limit is 1 s); every answer before that must be `before`.
async fn answer_turns(to: &TestApp, hook: &Hook, body: &[u8], before: u16, after: u16) -> bool {
    for _ in 0..100 {
        let answer = deliver_push(to, hook, body).await;
        if answer.status == after {
            return true;
        }
        assert_eq!(answer.status, before, "{answer}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    false
}

/// Slack's URL check answers its challenge with a 200 and starts no run; like every 2xx, the
/// answer comes after its delivery is committed, so the request log has it at once.
async fn slack_url_check_is_committed_before_its_answer(app: TestApp) {
    let pl = pipeline(&app).await;
    let hook = simple_hook(&app, &pl, Provider::Slack).await;
    let body = br#"{"token":"t","challenge":"c-3eZbrw1aBm","type":"url_verification"}"#;
    let answer = send_signed(&app, &hook, body, None, None).await;
    assert_eq!(answer.status, 200, "{answer}");
    assert_eq!(answer.json["challenge"], "c-3eZbrw1aBm", "{answer}");
    // No waiting: a 200 means the delivery is already stored.
    let rows = app.store.list_deliveries(&hook.id, None, 10).await.unwrap();
    assert_eq!(
        rows.len(),
        1,
        "the url check was not committed before its 200"
    );
    assert_eq!(
        (
            rows[0].outcome.as_str(),
            rows[0].status_code,
            rows[0].run_id.as_deref()
        ),
        ("ignored", 200, None)
    );
    assert_eq!(app.store.count_runs(&pl).await.unwrap(), 0);
}
