//! Approval gates (SPEC §5): a run waits at an approval step with no lease and no worker slot,
//! resumes on approve, ends on reject or timeout, keeps its concurrency key, and two
//! processes racing to decide it get one 200 and one 409.

use reqwest::Method;
use serde_json::{json, Value};

use crate::approval_support::{create_outgoing, error_fields, receiver, start_run, wait_status};
use crate::helpers::{start_on, TestApp};

crate::on_both_backends!(
    a_pipeline_changed_while_its_run_waits_never_reruns_the_steps_before,
    approve_resumes_at_the_next_step_and_records_who_decided,
    waiting_runs_hold_no_worker_slot,
    reject_ends_the_run_and_tells_outgoing_hooks,
    nobody_deciding_times_out_once_across_processes,
    two_processes_racing_to_decide_get_one_winner_and_one_409,
    the_concurrency_key_stays_held_while_a_run_waits,
    a_waiting_run_can_be_cancelled_and_then_not_decided,
    bad_approval_steps_are_refused_at_save,
);

/// A project with member, viewer and owner tokens.
struct Team {
    project: String,
    member: String,
    viewer: String,
    owner: String,
}

async fn team(app: &TestApp) -> Team {
    let project = app.project(&format!("p{}", rand::random::<u32>())).await;
    Team {
        member: app.token(&project, "member").await,
        viewer: app.token(&project, "viewer").await,
        owner: app.token(&project, "owner").await,
        project,
    }
}

/// A pipeline: `before`, an approval step, `after`; plus `extra` fields.
async fn gated(app: &TestApp, t: &Team, approvers: Value, timeout: u64, extra: Value) -> String {
    let mut body = json!({
        "name": format!("deploy-{}", rand::random::<u32>()),
        "variables": [{ "name": "ref", "default_value": "main" }],
        "steps": [
            { "name": "before", "action": "command", "program": "echo", "args": ["before"] },
            { "name": "approve", "action": "approval", "approvers": approvers,
              "timeout_secs": timeout, "message": "Deploy ${ref} to production?" },
            { "name": "after", "action": "command", "program": "echo", "args": ["after ${ref}"] }
        ]
    });
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    let (s, b) = app
        .post(
            &format!("/api/v1/projects/{}/pipelines", t.project),
            &t.member,
            body,
        )
        .await;
    assert_eq!(s, 201, "{b}");
    b["id"].as_str().unwrap().to_string()
}

async fn decide(app: &TestApp, run: &str, what: &str, token: &str, body: Value) -> (u16, Value) {
    app.call(
        Method::POST,
        &format!("/api/v1/runs/{run}/{what}"),
        Some(token),
        Some(body),
    )
    .await
}

async fn approve_resumes_at_the_next_step_and_records_who_decided(app: TestApp) {
    let t = team(&app).await;
    let pl = gated(&app, &t, json!(["member"]), 3600, json!({})).await;
    let run = start_run(&app, &pl, &t.member).await;
    let waiting = wait_status(&app, &run, "waiting_approval").await;
    assert_eq!(waiting["steps"][0]["status"], "succeeded", "{waiting}");
    assert_eq!(
        waiting["steps"][1]["status"], "waiting_approval",
        "{waiting}"
    );
    assert_eq!(waiting["steps"].as_array().unwrap().len(), 2, "{waiting}");
    assert_eq!(waiting["approval"]["message"], "Deploy main to production?");
    assert_eq!(waiting["approval"]["approvers"], json!(["member"]));
    assert!(waiting["approval"].get("decision").is_none(), "{waiting}");
    // No lease, no worker while it waits.
    let row = app.store.get_run(&run).await.unwrap().unwrap();
    assert_eq!(row.lease_expires_at, None);
    assert_eq!(row.worker_id, None);

    let (s, b) = decide(&app, &run, "approve", &t.viewer, json!({})).await;
    assert_eq!(s, 403, "a viewer never decides: {b}");
    let (s, b) = decide(
        &app,
        &run,
        "approve",
        &t.member,
        json!({"comment": "ship it", "extra": 1}),
    )
    .await;
    assert_eq!(s, 422, "unknown fields are refused: {b}");
    let (s, b) = decide(
        &app,
        &run,
        "approve",
        &t.member,
        json!({"comment": "ship it"}),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["approval"]["decision"], "approved");
    assert_eq!(b["approval"]["comment"], "ship it");
    assert!(b["approval"]["decided_by"]
        .as_str()
        .unwrap()
        .starts_with("tok_"));
    let (s, b) = decide(&app, &run, "approve", &t.owner, json!({})).await;
    assert_eq!(s, 409, "already decided: {b}");

    let done = wait_status(&app, &run, "succeeded").await;
    let steps: Vec<(&str, &str)> = done["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap(), s["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        steps,
        vec![
            ("before", "succeeded"),
            ("approve", "succeeded"),
            ("after", "succeeded")
        ]
    );
    assert_eq!(done["approval"]["comment"], "ship it");
    // The step before the approval ran once: the run resumed after it.
    let (_, logs) = app
        .get(&format!("/api/v1/runs/{run}/logs"), &t.viewer)
        .await;
    assert_eq!(
        logs["steps"][0]["log"]
            .as_str()
            .unwrap()
            .matches("before")
            .count(),
        1,
        "{logs}"
    );
    assert!(
        logs["steps"][2]["log"]
            .as_str()
            .unwrap()
            .contains("after main"),
        "{logs}"
    );
}

async fn a_pipeline_changed_while_its_run_waits_never_reruns_the_steps_before(app: TestApp) {
    let t = team(&app).await;
    let pl = gated(&app, &t, json!(["member"]), 3600, json!({})).await;
    let run = start_run(&app, &pl, &t.member).await;
    wait_status(&app, &run, "waiting_approval").await;
    // The gate is taken out of the pipeline while the run waits at it.
    let (s, b) = app
        .call(
            Method::PUT,
            &format!("/api/v1/pipelines/{pl}"),
            Some(&t.member),
            Some(json!({
                "name": format!("deploy-{}", rand::random::<u32>()),
                "variables": [{ "name": "ref", "default_value": "main" }],
                "steps": [
                    { "name": "before", "action": "command", "program": "echo", "args": ["before"] },
                    { "name": "after", "action": "command", "program": "echo", "args": ["after"] }
                ]
            })),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = decide(&app, &run, "approve", &t.member, json!({})).await;
    assert_eq!(s, 200, "{b}");
    let done = wait_status(&app, &run, "failed").await;
    assert!(
        done["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("the pipeline changed while the run waited"),
        "{done}"
    );
    let (_, logs) = app
        .get(&format!("/api/v1/runs/{run}/logs"), &t.viewer)
        .await;
    let before = logs["steps"][0]["log"].as_str().unwrap_or_default();
    assert_eq!(before.matches("before").count(), 1, "ran once: {logs}");
}

async fn waiting_runs_hold_no_worker_slot(app: TestApp) {
    // The test app has 4 worker slots: 6 runs can only all reach the approval if waiting
    // runs hold none.
    let t = team(&app).await;
    let pl = gated(&app, &t, json!(["owner"]), 3600, json!({})).await;
    let mut runs = Vec::new();
    for _ in 0..6 {
        runs.push(start_run(&app, &pl, &t.member).await);
    }
    for run in &runs {
        wait_status(&app, run, "waiting_approval").await;
    }
    // And a run of another pipeline still gets a slot.
    let other = app.pipeline(&t.project, &t.member, &[]).await;
    let plain = start_run(&app, &other, &t.member).await;
    wait_status(&app, &plain, "succeeded").await;
    // `owner` only: members may not decide, owners may.
    let (s, b) = decide(&app, &runs[0], "approve", &t.member, json!({})).await;
    assert_eq!(s, 403, "{b}");
    let (s, b) = decide(&app, &runs[0], "reject", &t.owner, json!({})).await;
    assert_eq!(s, 200, "{b}");
}

async fn reject_ends_the_run_and_tells_outgoing_hooks(app: TestApp) {
    let t = team(&app).await;
    let pl = gated(&app, &t, json!(["member"]), 3600, json!({})).await;
    let receiver = receiver().await;
    create_outgoing(&app, &pl, &t.member, json!({ "name": "approvers", "url": receiver.url,
                    "triggers": ["run.approval_requested", "run.rejected"],
                    "payload": { "event": "${event}", "message": "${message}", "comment": "${comment}",
                                 "by": "${decided_by}", "status": "${status}" } })).await;
    let run = start_run(&app, &pl, &t.member).await;
    wait_status(&app, &run, "waiting_approval").await;
    let (s, b) = decide(
        &app,
        &run,
        "reject",
        &t.owner,
        json!({"comment": "not on a Friday"}),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["status"], "rejected");
    assert_eq!(b["steps"][1]["status"], "rejected");
    assert_eq!(
        b["steps"].as_array().unwrap().len(),
        2,
        "the step after never ran: {b}"
    );
    let (s, _) = decide(&app, &run, "approve", &t.owner, json!({})).await;
    assert_eq!(s, 409);

    let hits = receiver.wait_for(2).await;
    let bodies: Vec<Value> = hits.iter().map(|h| h.json()).collect();
    assert_eq!(bodies[0]["event"], "run.approval_requested", "{bodies:?}");
    assert_eq!(bodies[0]["message"], "Deploy main to production?");
    assert_eq!(bodies[0]["status"], "waiting_approval");
    assert_eq!(bodies[1]["event"], "run.rejected", "{bodies:?}");
    assert_eq!(bodies[1]["comment"], "not on a Friday");
    assert!(bodies[1]["by"].as_str().unwrap().starts_with("tok_"));
    assert_eq!(bodies[1]["status"], "rejected");
}

async fn nobody_deciding_times_out_once_across_processes(app: TestApp) {
    // A second process on the same database sweeps deadlines too.
    let other = start_on(&app.database_url, &app.master_key).await;
    let t = team(&app).await;
    let pl = gated(&app, &t, json!(["member"]), 1, json!({})).await;
    let receiver = receiver().await;
    let b = create_outgoing(
        &app,
        &pl,
        &t.member,
        json!({ "name": "timeouts", "url": receiver.url, "triggers": ["run.timed_out"] }),
    )
    .await;
    let hook = b["id"].as_str().unwrap().to_string();
    let runs = [
        start_run(&app, &pl, &t.member).await,
        start_run(&other, &pl, &t.member).await,
    ];
    for run in &runs {
        let done = wait_status(&app, run, "timed_out").await;
        assert_eq!(done["reason"], "approval timed out", "{done}");
        assert_eq!(done["approval"]["decision"], "timed_out");
        assert_eq!(done["steps"][1]["status"], "timed_out");
    }
    receiver.wait_for(2).await;
    let (_, events) = app
        .get(&format!("/api/v1/hooks/{hook}/events"), &t.viewer)
        .await;
    let timed_out: Vec<&Value> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"] == "run.timed_out")
        .collect();
    assert_eq!(timed_out.len(), 2, "one event per run: {events}");
    let (s, _) = decide(&app, &runs[0], "approve", &t.member, json!({})).await;
    assert_eq!(s, 409);
}

async fn two_processes_racing_to_decide_get_one_winner_and_one_409(app: TestApp) {
    let other = start_on(&app.database_url, &app.master_key).await;
    let t = team(&app).await;
    let pl = gated(&app, &t, json!(["member"]), 3600, json!({})).await;
    let mut runs = Vec::new();
    for _ in 0..5 {
        runs.push(start_run(&app, &pl, &t.member).await);
    }
    for run in &runs {
        wait_status(&app, run, "waiting_approval").await;
    }
    for run in &runs {
        let (a, b) = tokio::join!(
            decide(&app, run, "approve", &t.member, json!({"comment": "a"})),
            decide(&other, run, "reject", &t.owner, json!({"comment": "b"})),
        );
        let mut codes = [a.0, b.0];
        codes.sort();
        assert_eq!(codes, [200, 409], "{a:?} {b:?}");
        let winner = if a.0 == 200 { "approved" } else { "rejected" };
        let (_, now) = app.get(&format!("/api/v1/runs/{run}"), &t.viewer).await;
        assert_eq!(now["approval"]["decision"], winner, "{now}");
    }
}

async fn the_concurrency_key_stays_held_while_a_run_waits(app: TestApp) {
    let t = team(&app).await;
    let pl = gated(
        &app,
        &t,
        json!(["member"]),
        3600,
        json!({ "concurrency": { "key": "prod-${ref}", "max": 1, "policy": "queue" } }),
    )
    .await;
    let first = start_run(&app, &pl, &t.member).await;
    wait_status(&app, &first, "waiting_approval").await;
    let second = start_run(&app, &pl, &t.member).await;
    // Longer than the claim loop's 1 s fallback poll: the second run stays queued.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let (_, b) = app.get(&format!("/api/v1/runs/{second}"), &t.viewer).await;
    assert_eq!(
        b["status"], "queued",
        "the key is held by the waiting run: {b}"
    );
    let (s, b) = decide(&app, &first, "approve", &t.member, json!({})).await;
    assert_eq!(s, 200, "{b}");
    wait_status(&app, &first, "succeeded").await;
    wait_status(&app, &second, "waiting_approval").await;
}

async fn a_waiting_run_can_be_cancelled_and_then_not_decided(app: TestApp) {
    let t = team(&app).await;
    let pl = gated(&app, &t, json!(["member"]), 3600, json!({})).await;
    let run = start_run(&app, &pl, &t.member).await;
    wait_status(&app, &run, "waiting_approval").await;
    let (s, b) = app
        .post(&format!("/api/v1/runs/{run}/cancel"), &t.member, json!({}))
        .await;
    assert_eq!(s, 202, "{b}");
    assert_eq!(b["status"], "cancelled");
    let (s, b) = decide(&app, &run, "approve", &t.member, json!({})).await;
    assert_eq!(s, 409, "{b}");
    let (s, _) = decide(&app, "run_doesnotexist", "approve", &t.member, json!({})).await;
    assert_eq!(s, 404);
    // A run that never reached an approval step.
    let plain = app.pipeline(&t.project, &t.member, &[]).await;
    let done = start_run(&app, &plain, &t.member).await;
    wait_status(&app, &done, "succeeded").await;
    let (s, _) = decide(&app, &done, "reject", &t.member, json!({})).await;
    assert_eq!(s, 409);
}

async fn bad_approval_steps_are_refused_at_save(app: TestApp) {
    let t = team(&app).await;
    let (s, b) = app
        .post(
            &format!("/api/v1/projects/{}/pipelines", t.project),
            &t.member,
            json!({ "name": "bad", "steps": [
                { "name": "a", "action": "approval", "approvers": ["viewer", "boss"],
                  "message": "token ${secrets.TOKEN}", "program": "echo" },
                { "name": "b", "action": "approval" },
                { "name": "c", "action": "command", "program": "echo", "approvers": ["member"] }
            ] }),
        )
        .await;
    assert_eq!(s, 422, "{b}");
    let fields = error_fields(&b);
    for f in [
        "steps[0].approvers[0]",
        "steps[0].approvers[1]",
        "steps[0].message",
        "steps[0].program",
        "steps[1].approvers",
        "steps[2].approvers",
    ] {
        assert!(fields.iter().any(|x| x == f), "{f} not in {fields:?}");
    }
}

/// The Mix flow: a run that waits for approval mails its approvers, who approve in the API.
async fn mix_flow_mails_the_approvers(backend: crate::helpers::Backend) {
    let smtp = crate::smtp_sink::SmtpSink::start().await;
    let Some(app) = crate::outgoing::outgoing_seeds::app_with_smtp(backend, &smtp.url).await else {
        return;
    };
    let t = team(&app).await;
    let pl = gated(&app, &t, json!(["owner"]), 3600, json!({})).await;
    create_outgoing(
        &app,
        &pl,
        &t.member,
        json!({ "name": "approvers", "channel": "email", "to": ["release-owners@example.com"],
                "triggers": ["run.approval_requested"], "subject": "${pipeline_name}: ${event}" }),
    )
    .await;
    let run = start_run(&app, &pl, &t.member).await;
    wait_status(&app, &run, "waiting_approval").await;
    let mails = smtp.wait_for(1).await;
    assert_eq!(mails[0].to, vec!["release-owners@example.com"]);
    assert!(
        mails[0].data.contains("run.approval_requested"),
        "{}",
        mails[0].data
    );
    assert!(
        mails[0].data.contains("Deploy main to production?"),
        "{}",
        mails[0].data
    );
    assert!(
        mails[0]
            .data
            .contains(&format!("POST /api/v1/runs/{run}/approve")),
        "{}",
        mails[0].data
    );
    let (s, b) = decide(&app, &run, "approve", &t.owner, json!({ "comment": "go" })).await;
    assert_eq!(s, 200, "{b}");
    wait_status(&app, &run, "succeeded").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mix_flow_mails_the_approvers_sqlite() {
    mix_flow_mails_the_approvers(crate::helpers::Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mix_flow_mails_the_approvers_postgres() {
    mix_flow_mails_the_approvers(crate::helpers::Backend::Postgres).await;
}
