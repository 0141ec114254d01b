//! `POST /api/v1/apply` (SPEC §8): converge, idempotence, prune, secrets, bad input, export.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::TestApp;

crate::on_both_backends!(
    apply_creates_once_and_then_changes_nothing,
    prune_deletes_only_what_apply_made,
    secrets_are_compared_and_never_shown,
    bad_documents_apply_nothing,
    export_applies_back_unchanged,
    concurrent_applies_never_interleave,
    a_stale_plan_writes_nothing,
);

pub fn doc(project: &str) -> Value {
    json!({ "project": project, "pipelines": [{
        "name": "deploy-site",
        "variables": [{ "name": "ref", "default_value": "refs/heads/main" }],
        "concurrency": { "key": "${ref}", "max": 1, "policy": "queue" },
        "steps": [{ "name": "deploy", "action": "command", "program": "/bin/echo", "args": ["--ref", "${ref}", "${after}"] }],
        "secrets": { "DEPLOY_TOKEN": "token-one" },
        "incoming": [{ "name": "github-main", "provider": "github",
            "settings": { "variables": [{ "name": "after", "path": "after" }],
                          "filters": [{ "variable": "event", "equals": "push" }] } }],
        "outgoing": [{ "name": "tell-slack", "channel": "slack", "url": "https://127.0.0.1:9/slack",
            "triggers": ["run.failed"], "text": "deploy of ${ref} failed: ${run_id}" }]
    }]})
}

pub async fn apply(app: &TestApp, token: &str, body: Value, query: &str) -> (u16, Value) {
    app.call(
        Method::POST,
        &format!("/api/v1/apply{query}"),
        Some(token),
        Some(body),
    )
    .await
}

fn summary(out: &Value) -> (u64, u64, u64) {
    let s = &out["summary"];
    (
        s["create"].as_u64().unwrap(),
        s["update"].as_u64().unwrap(),
        s["delete"].as_u64().unwrap(),
    )
}

fn change<'a>(out: &'a Value, kind: &str, name: &str) -> &'a Value {
    out["projects"][0]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == kind && c["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} in {out}"))
}

async fn apply_creates_once_and_then_changes_nothing(app: TestApp) {
    // A plan writes nothing.
    let (s, plan) = apply(&app, &app.admin_token, doc("web"), "?dry_run=true").await;
    assert_eq!(s, 200, "{plan}");
    assert_eq!(summary(&plan), (5, 0, 0), "{plan}");
    assert!(plan["generated_secrets"].is_null(), "{plan}");
    let (s, projects) = app.get("/api/v1/projects", &app.admin_token).await;
    assert_eq!(s, 200);
    assert_eq!(projects.as_array().unwrap().len(), 0, "{projects}");

    let (s, out) = apply(&app, &app.admin_token, doc("web"), "").await;
    assert_eq!(s, 200, "{out}");
    assert_eq!(out["message"], "5 to create, 0 to change, 0 to delete");
    let hook = change(&out, "incoming_hook", "github-main");
    let (hook_id, url) = (hook["id"].as_str().unwrap(), hook["url"].as_str().unwrap());
    assert!(url.ends_with(&format!("/hooks/{hook_id}")));
    // The generated secrets are shown once, beside the hook's URL.
    let shown = out["generated_secrets"].as_array().unwrap();
    assert_eq!(shown.len(), 2, "{out}");
    assert_eq!(shown[0]["url"], url);
    assert!(shown[0]["secret"].as_str().unwrap().len() >= 32);

    let (s, again) = apply(&app, &app.admin_token, doc("web"), "").await;
    assert_eq!(s, 200, "{again}");
    assert_eq!(again["message"], "0 to create, 0 to change, 0 to delete");
    assert_eq!(
        change(&again, "incoming_hook", "github-main")["id"],
        hook_id
    );
    assert!(again["generated_secrets"].is_null());

    // The hook works at once, and a change through apply reaches ingest at once.
    let mut off = doc("web");
    off["pipelines"][0]["incoming"][0]["is_active"] = json!(false);
    let (s, out) = apply(&app, &app.admin_token, off, "").await;
    assert_eq!(s, 200, "{out}");
    let c = change(&out, "incoming_hook", "github-main");
    assert_eq!(
        (c["action"].as_str(), c["fields"].clone()),
        (Some("update"), json!(["is_active"]))
    );
    let (s, body) = app
        .call(
            Method::POST,
            &format!("/hooks/{hook_id}"),
            None,
            Some(json!({})),
        )
        .await;
    assert_eq!(
        (s, body["error"].as_str()),
        (403, Some("hook_inactive")),
        "{body}"
    );
    // The pipeline reads back with its hook, which ingest reads as the API made it.
    let (s, hooks) = app
        .get(&format!("/api/v1/hooks/{hook_id}"), &app.admin_token)
        .await;
    assert_eq!(s, 200, "{hooks}");
    assert_eq!(hooks["settings"]["filters"][0]["equals"], "push");
}

async fn prune_deletes_only_what_apply_made(app: TestApp) {
    let (s, out) = apply(&app, &app.admin_token, doc("web"), "").await;
    assert_eq!(s, 200, "{out}");
    let project = out["projects"][0]["changes"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let by_hand = app.pipeline(&project, &app.admin_token, &[]).await;
    let owner = app.token(&project, "owner").await;
    let mut smaller = doc("web");
    smaller["pipelines"][0]["incoming"] = json!([]);
    smaller["pipelines"][0]["steps"][0]["args"] = json!(["--ref", "${ref}"]);
    let (s, kept) = apply(&app, &owner, smaller.clone(), "").await;
    assert_eq!(s, 200, "{kept}");
    assert_eq!(summary(&kept), (0, 1, 0), "{kept}");
    assert_eq!(
        change(&kept, "incoming_hook", "github-main")["action"],
        "kept"
    );
    assert_eq!(
        change(&kept, "pipeline", "deploy-site")["fields"],
        json!(["steps"])
    );

    let (s, pruned) = apply(&app, &owner, smaller, "?prune=true").await;
    assert_eq!(s, 200, "{pruned}");
    assert_eq!(summary(&pruned), (0, 0, 1), "{pruned}");
    assert_eq!(
        change(&pruned, "incoming_hook", "github-main")["action"],
        "delete"
    );
    let (_, hand) = app
        .get(&format!("/api/v1/pipelines/{by_hand}"), &owner)
        .await;
    let hand_name = hand["name"].as_str().unwrap();
    let c = change(&pruned, "pipeline", hand_name);
    assert_eq!(c["action"], "kept", "{pruned}");
    assert!(c["note"].as_str().unwrap().contains("outside apply"));
    let (s, _) = app
        .get(&format!("/api/v1/pipelines/{by_hand}"), &owner)
        .await;
    assert_eq!(s, 200);

    // A file without the pipeline prunes it, with its hooks.
    let (s, gone) = apply(&app, &owner, json!({ "project": "web" }), "?prune=true").await;
    assert_eq!(s, 200, "{gone}");
    assert_eq!(change(&gone, "pipeline", "deploy-site")["action"], "delete");
    let (s, _) = app
        .get(&format!("/api/v1/pipelines/{by_hand}"), &owner)
        .await;
    assert_eq!(s, 200);
}

async fn secrets_are_compared_and_never_shown(app: TestApp) {
    let mut d = doc("web");
    d["pipelines"][0]["incoming"][0]["secret"] = json!("hook-secret-value-1");
    let (s, out) = apply(&app, &app.admin_token, d.clone(), "").await;
    assert_eq!(s, 200, "{out}");
    assert_eq!(
        change(&out, "incoming_hook", "github-main")["secret"],
        "(set)"
    );
    assert_eq!(change(&out, "secret", "DEPLOY_TOKEN")["secret"], "(set)");
    let (_, again) = apply(&app, &app.admin_token, d.clone(), "").await;
    assert_eq!(
        change(&again, "incoming_hook", "github-main")["secret"],
        "(unchanged)"
    );
    assert_eq!(
        change(&again, "secret", "DEPLOY_TOKEN")["secret"],
        "(unchanged)"
    );
    // Leaving the hook's secret out keeps it.
    d["pipelines"][0]["incoming"][0]
        .as_object_mut()
        .unwrap()
        .remove("secret");
    let (_, kept) = apply(&app, &app.admin_token, d.clone(), "").await;
    assert_eq!(kept["message"], "0 to create, 0 to change, 0 to delete");
    d["pipelines"][0]["incoming"][0]["secret"] = json!("hook-secret-value-2");
    d["pipelines"][0]["secrets"]["DEPLOY_TOKEN"] = json!("token-two");
    let (s, changed) = apply(&app, &app.admin_token, d, "?dry_run=true").await;
    assert_eq!(s, 200, "{changed}");
    assert_eq!(
        change(&changed, "incoming_hook", "github-main")["secret"],
        "(changed)"
    );
    assert_eq!(
        change(&changed, "secret", "DEPLOY_TOKEN")["secret"],
        "(changed)"
    );
    let text = changed.to_string();
    for secret in ["hook-secret-value", "token-one", "token-two"] {
        assert!(!text.contains(secret), "{secret} shown in {text}");
    }
}

async fn bad_documents_apply_nothing(app: TestApp) {
    let project = app.project("web").await;
    let other = app.project("other").await;
    let other_owner = app.token(&other, "owner").await;
    let member = app.token(&project, "member").await;
    let mut unknown = doc("web");
    unknown["pipelines"][0]["incoming"][0]["settings"]["filter"] = json!([]);
    let mut wrong_type = doc("web");
    wrong_type["pipelines"][0]["retries"] = json!("three");
    let mut bad_path = doc("web");
    bad_path["pipelines"][0]["incoming"][0]["settings"]["variables"][0]["path"] =
        json!("commits[0.id");
    let mut duplicate = doc("web");
    let twin = duplicate["pipelines"][0].clone();
    duplicate["pipelines"].as_array_mut().unwrap().push(twin);
    let mut twin_hooks = doc("web");
    let hook = twin_hooks["pipelines"][0]["incoming"][0].clone();
    twin_hooks["pipelines"][0]["incoming"]
        .as_array_mut()
        .unwrap()
        .push(hook);
    let missing = json!({ "project": "web", "pipelines": [{ "name": "nowhere",
        "incoming": [{ "name": "h", "provider": "github" }] }] });
    let cases = [
        (
            unknown,
            &app.admin_token,
            422,
            "pipelines[0].incoming[0].settings.filter",
        ),
        (wrong_type, &app.admin_token, 422, "pipelines[0].retries"),
        (
            bad_path,
            &app.admin_token,
            422,
            "pipelines[0].incoming[0].settings.variables[0].path",
        ),
        (duplicate, &app.admin_token, 422, "pipelines[1].name"),
        (
            twin_hooks,
            &app.admin_token,
            422,
            "pipelines[0].incoming[1].name",
        ),
        (missing, &app.admin_token, 422, "pipelines[0].name"),
        (doc("web"), &other_owner, 404, ""),
        (doc("web"), &member, 403, ""),
        (doc("brand-new"), &other_owner, 404, "project"),
    ];
    for (body, token, status, field) in cases {
        let (s, out) = apply(&app, token, body, "").await;
        assert_eq!(s, status, "{field}: {out}");
        if !field.is_empty() {
            let fields: Vec<&str> = out["details"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|d| d["field"].as_str())
                .collect();
            assert!(fields.contains(&field), "{field} not in {out}");
        }
        let (_, pipelines) = app
            .get(
                &format!("/api/v1/projects/{project}/pipelines"),
                &app.admin_token,
            )
            .await;
        assert_eq!(pipelines, json!([]), "something was applied: {field}");
    }
    let (_, projects) = app.get("/api/v1/projects", &app.admin_token).await;
    assert_eq!(projects.as_array().unwrap().len(), 2);
}

/// Replaces each `${env:NAME}` placeholder of an export by `values[NAME]`.
pub fn fill(v: &mut Value, values: &dyn Fn(&str) -> Option<String>) {
    match v {
        Value::String(s) => {
            if let Some(name) = s.strip_prefix("${env:").and_then(|r| r.strip_suffix('}')) {
                *s = values(name).unwrap_or_else(|| panic!("no value for {name}"));
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| fill(x, values)),
        Value::Object(m) => m.values_mut().for_each(|x| fill(x, values)),
        _ => {}
    }
}

async fn export_applies_back_unchanged(app: TestApp) {
    let mut d = doc("web");
    d["pipelines"][0]["incoming"][0]["secret"] = json!("hook-secret-value-1");
    let (s, out) = apply(&app, &app.admin_token, d, "").await;
    assert_eq!(s, 200, "{out}");
    let (s, mut exported) = app
        .get("/api/v1/projects/web/export", &app.admin_token)
        .await;
    assert_eq!(s, 200, "{exported}");
    assert_eq!(
        exported["pipelines"][0]["secrets"]["DEPLOY_TOKEN"],
        "${env:HOOKGATE_SECRET_DEPLOY_SITE_DEPLOY_TOKEN}"
    );
    fill(&mut exported, &|name| match name {
        "HOOKGATE_SECRET_DEPLOY_SITE_DEPLOY_TOKEN" => Some("token-one".into()),
        "HOOKGATE_SECRET_DEPLOY_SITE_GITHUB_MAIN_HOOK" => Some("hook-secret-value-1".into()),
        _ => None,
    });
    let (s, again) = apply(&app, &app.admin_token, exported, "").await;
    assert_eq!(s, 200, "{again}");
    assert_eq!(
        again["message"], "0 to create, 0 to change, 0 to delete",
        "{again}"
    );
    let (s, schema) = app
        .call(Method::GET, "/api/v1/schema/apply.json", None, None)
        .await;
    assert_eq!(s, 200);
    assert_eq!(schema["title"], "hookgate apply document");
}

/// Two applies of different files to one project at once, in one process (the two-process
/// PostgreSQL case is `apply_processes`): each answers 200 or 409, and the project is one
/// whole file afterwards.
async fn concurrent_applies_never_interleave(app: TestApp) {
    let file = |arg: &str| {
        let pipelines: Vec<Value> = (0..20)
            .map(|i| json!({ "name": format!("p{i}"),
                "steps": [{ "name": "s", "action": "command", "program": "/bin/echo", "args": [arg] }],
                "incoming": [{ "name": format!("h-{arg}"), "provider": "gitea" }] }))
            .collect();
        json!({ "project": "race", "pipelines": pipelines })
    };
    for _ in 0..3 {
        let (a, b) = tokio::join!(
            apply(&app, &app.admin_token, file("a"), "?prune=true"),
            apply(&app, &app.admin_token, file("b"), "?prune=true")
        );
        for (s, out) in [a, b] {
            assert!(
                s == 200 || (s == 409 && out["error"] == "conflict"),
                "{s} {out}"
            );
        }
        let (_, state) = app
            .get("/api/v1/projects/race/export", &app.admin_token)
            .await;
        let winner = state["pipelines"][0]["steps"][0]["args"][0]
            .as_str()
            .unwrap()
            .to_string();
        for p in state["pipelines"].as_array().unwrap() {
            assert_eq!(
                p["steps"][0]["args"][0],
                winner.as_str(),
                "half-applied: {state}"
            );
            assert_eq!(p["incoming"].as_array().unwrap().len(), 1, "{state}");
            assert_eq!(p["incoming"][0]["name"], format!("h-{winner}"), "{state}");
        }
    }
}

/// The lock's check: a batch planned on a state that changed before it was written is refused
/// whole, and the server plans again.
async fn a_stale_plan_writes_nothing(app: TestApp) {
    use hookgate::store::apply::{ApplyBatch, ApplyCommit};
    let (s, out) = apply(&app, &app.admin_token, doc("web"), "").await;
    assert_eq!(s, 200, "{out}");
    let store = app.store.apply_store();
    let state = store.project_state("web").await.unwrap().unwrap();
    let batch = |planned_on| ApplyBatch {
        project_name: "web".into(),
        planned_on,
        delete_pipelines: vec![state.pipelines[0].id.clone()],
        ..ApplyBatch::default()
    };
    // Someone changes the project after the plan was made.
    app.pipeline(&state.project.id, &app.admin_token, &[]).await;
    let outcome = store
        .apply_batches(&[batch(Some(state.fingerprint()))])
        .await
        .unwrap();
    assert_eq!(
        outcome,
        ApplyCommit::Stale {
            project: "web".into()
        }
    );
    let (s, _) = app
        .get(
            &format!("/api/v1/pipelines/{}", state.pipelines[0].id),
            &app.admin_token,
        )
        .await;
    assert_eq!(s, 200, "a stale batch deleted the pipeline");
    // Planned on the current state, the same batch is written.
    let now = store.project_state("web").await.unwrap().unwrap();
    let outcome = store
        .apply_batches(&[batch(Some(now.fingerprint()))])
        .await
        .unwrap();
    assert_eq!(outcome, ApplyCommit::Done);
    let (s, _) = app
        .get(
            &format!("/api/v1/pipelines/{}", state.pipelines[0].id),
            &app.admin_token,
        )
        .await;
    assert_eq!(s, 404);
}
