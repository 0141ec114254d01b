//! Issue 10: hook rules that fail closed, explain themselves, and take what users bring from
//! Jenkins GWT. The issue's four scenarios are the first four tests.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::TestApp;
use crate::ingest_support::{create_hook, fixture, send_signed, Hook};
use crate::on_both_backends;

on_both_backends!(
    a_pipeline_default_never_satisfies_a_hook_filter,
    a_typo_in_a_hook_body_is_refused_naming_the_field,
    variables_the_hook_leaves_unset_are_warned_about_and_required_ones_refused,
    the_github_recipe_answers_its_ping_200_ignored,
    jenkins_gwt_rules_are_accepted_and_bad_paths_explained,
    presets_read_back_without_the_generic_fields,
    the_openapi_document_describes_the_new_fields_and_route,
);

/// A project, a member token and a pipeline made from `spec` (`name` filled in).
pub async fn pipeline(app: &TestApp, mut spec: Value) -> (String, String) {
    let prj = app
        .project(&format!("rules-{}", rand::random::<u32>()))
        .await;
    let token = app.token(&prj, "member").await;
    spec["name"] = json!(format!("deploy-{}", rand::random::<u32>()));
    let (s, b) = app
        .post(&format!("/api/v1/projects/{prj}/pipelines"), &token, spec)
        .await;
    assert_eq!(s, 201, "{b}");
    (b["id"].as_str().unwrap().to_string(), token)
}

/// The README's pipeline: `ref` defaults to `refs/heads/main`.
pub fn readme_pipeline() -> Value {
    json!({
        "variables": [{ "name": "ref", "default_value": "refs/heads/main" }],
        "steps": [{ "name": "deploy", "action": "command", "program": "echo", "args": ["${ref}"] }]
    })
}

pub async fn runs_of(app: &TestApp, pipeline_id: &str) -> usize {
    let (s, b) = app
        .get(
            &format!("/api/v1/pipelines/{pipeline_id}/runs"),
            &app.admin_token,
        )
        .await;
    assert_eq!(s, 200, "{b}");
    b["items"].as_array().map_or(0, Vec::len)
}

async fn a_pipeline_default_never_satisfies_a_hook_filter(app: TestApp) {
    let (pl, _) = pipeline(&app, readme_pipeline()).await;
    // The Gitea recipe: `ref` not required, filter `ref equals refs/heads/main`.
    let hook = create_hook(
        &app,
        &pl,
        json!({ "provider": "gitea", "settings": {
            "variables": [{ "name": "ref", "path": "ref", "type": "string" }],
            "filters": [{ "variable": "ref", "equals": "refs/heads/main" }] } }),
    )
    .await;
    let pr = br#"{"action": "opened", "number": 7, "pull_request": {"id": 1}}"#;
    let a = send_signed(&app, &hook, pr, None, Some("pull_request")).await;
    assert_eq!(a.status, 200, "{a}");
    assert_eq!(a.json["ignored"], true, "{a}");
    assert!(
        a.json["reason"].as_str().unwrap().contains("ref is absent"),
        "{a}"
    );
    assert_eq!(runs_of(&app, &pl).await, 0);
    // The push it was meant for still runs, and a hook default still counts.
    let push = fixture("gitea/push.json");
    let a = send_signed(&app, &hook, &push, None, Some("push")).await;
    assert_eq!(a.status, 202, "{a}");
    // not_equals passes on an absent variable.
    let hook = create_hook(
        &app,
        &pl,
        json!({ "provider": "gitea", "settings": {
            "variables": [{ "name": "ref", "path": "ref", "type": "string" }],
            "filters": [{ "variable": "ref", "not_equals": "refs/heads/prod" }] } }),
    )
    .await;
    let a = send_signed(&app, &hook, pr, None, Some("pull_request")).await;
    assert_eq!(a.status, 202, "{a}");
}

async fn a_typo_in_a_hook_body_is_refused_naming_the_field(app: TestApp) {
    let (pl, token) = pipeline(&app, readme_pipeline()).await;
    let url = format!("/api/v1/pipelines/{pl}/hooks/incoming");
    for (body, field, closest) in [
        (
            json!({ "name": "x", "provider": "github", "settings": { "filter": [] } }),
            "settings.filter",
            "filters",
        ),
        (
            json!({ "name": "x", "provider": "github", "setting": {} }),
            "setting",
            "settings",
        ),
        (
            json!({ "name": "x", "settings": { "filters": [{ "variable": "event", "equal": "push" }] } }),
            "settings.filters[0].equal",
            "equals",
        ),
        (
            json!({ "name": "x", "settings": { "variables": [{ "name": "a", "path": "a", "requried": true }] } }),
            "settings.variables[0].requried",
            "required",
        ),
    ] {
        let (s, b) = app.post(&url, &token, body).await;
        assert_eq!(s, 422, "{b}");
        assert_eq!(b["details"][0]["field"], field, "{b}");
        let problem = b["details"][0]["problem"].as_str().unwrap();
        assert!(
            problem.contains(&format!("did you mean \"{closest}\"")),
            "{b}"
        );
    }
    let (_, list) = app
        .get(&format!("/api/v1/pipelines/{pl}/hooks"), &token)
        .await;
    assert_eq!(list["incoming"].as_array().unwrap().len(), 0, "{list}");
    // Type errors name the field, not `body`.
    let (s, b) = app
        .post(
            &url,
            &token,
            json!({ "name": "x", "rate_limit_per_minute": "ten" }),
        )
        .await;
    assert_eq!(s, 422, "{b}");
    assert_eq!(b["details"][0]["field"], "rate_limit_per_minute", "{b}");
}

async fn variables_the_hook_leaves_unset_are_warned_about_and_required_ones_refused(app: TestApp) {
    let (pl, token) = pipeline(
        &app,
        json!({
            "variables": [{ "name": "after", "required": true }, { "name": "pusher" }],
            "steps": [{ "name": "deploy", "action": "command", "program": "echo",
                        "args": ["${after}", "${pusher}"] }]
        }),
    )
    .await;
    let (s, b) = app
        .post(
            &format!("/api/v1/pipelines/{pl}/hooks/incoming"),
            &token,
            json!({ "name": "x", "provider": "gitea", "settings": { "variables": [
                { "name": "pusher", "path": "pusher.nmae", "type": "string" } ] } }),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let warnings: Vec<&str> = b["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        warnings
            .iter()
            .any(|w| w
                .starts_with("${after} is used by step deploy but this hook does not declare it")),
        "{b}"
    );
    let hook = Hook {
        id: b["id"].as_str().unwrap().into(),
        provider: hookgate::signature::Provider::Gitea,
        secret: b["secret"].as_str().unwrap().into(),
        pipeline_id: pl.clone(),
    };
    // `after` is required by the pipeline and nothing supplies it: 422 naming it, no run.
    let a = send_signed(&app, &hook, &fixture("gitea/push.json"), None, Some("push")).await;
    assert_eq!(a.status, 422, "{a}");
    assert_eq!(a.json["error"], "invalid_variables", "{a}");
    assert_eq!(a.json["details"][0]["name"], "after", "{a}");
    assert_eq!(runs_of(&app, &pl).await, 0);
    // The typo shows up in the test route.
    let (s, t) = app
        .post(
            &format!("/api/v1/hooks/{}/test", hook.id),
            &token,
            json!({ "body": {"pusher": {"name": "ana"}}, "skip_signature": true }),
        )
        .await;
    assert_eq!(s, 200, "{t}");
    assert_eq!(t["unmatched_paths"], json!(["pusher.nmae"]), "{t}");
    assert_eq!(t["would"], "refuse", "{t}");
    // A manual run without it is refused too.
    let (s, b) = app
        .post(
            &format!("/api/v1/pipelines/{pl}/runs"),
            &token,
            json!({ "variables": {} }),
        )
        .await;
    assert_eq!(s, 422, "{b}");
    assert_eq!(b["details"][0]["field"], "variables.after", "{b}");
    let (s, b) = app
        .post(
            &format!("/api/v1/pipelines/{pl}/runs"),
            &token,
            json!({ "variables": { "aftr": "x" } }),
        )
        .await;
    assert_eq!(s, 422, "{b}");
    assert_eq!(b["details"][0]["field"], "variables.aftr", "{b}");
    let problem = b["details"][0]["problem"].as_str().unwrap();
    assert!(problem.contains("did you mean \"after\"?"), "{b}");
}

async fn the_github_recipe_answers_its_ping_200_ignored(app: TestApp) {
    let Some(ping) = crate::ingest_support::shared_fixture("github/ping/payload.json") else {
        return;
    };
    let (pl, _) = pipeline(&app, readme_pipeline()).await;
    let recipe = crate::receive::provider_recipes::recipe("github");
    let hook = create_hook(&app, &pl, recipe).await;
    let a = send_signed(&app, &hook, &ping, None, Some("ping")).await;
    assert_eq!(a.status, 200, "{a}");
    assert_eq!(a.json["ignored"], true, "{a}");
    assert_eq!(runs_of(&app, &pl).await, 0);
}

async fn jenkins_gwt_rules_are_accepted_and_bad_paths_explained(app: TestApp) {
    let (pl, token) = pipeline(&app, readme_pipeline()).await;
    let url = format!("/api/v1/pipelines/{pl}/hooks/incoming");
    let hook = create_hook(
        &app,
        &pl,
        json!({ "provider": "gitea", "settings": {
            "variables": [
                { "name": "ref", "path": "$.ref" },
                { "name": "before", "path": "$.before" },
                { "name": "after", "path": "$.after" },
                { "name": "changed", "path": "$.commits[*].['modified','added','removed'][*]", "type": "json" }
            ],
            "filters": [
                { "text": "push ${before} ${after}", "matches": "^push\\s(?!0{40}).{40}\\s(?!0{40}).{40}$" },
                { "text": "${ref} ${event}", "matches": "^refs/heads/main ((?!jenkins))" }
            ] } }),
    )
    .await;
    let a = send_signed(&app, &hook, &fixture("gitea/push.json"), None, Some("push")).await;
    assert_eq!(a.status, 202, "{a}");
    // A branch deletion (after = 40 zeros) is ignored by the lookahead.
    let mut push: Value = serde_json::from_slice(&fixture("gitea/push.json")).unwrap();
    push["after"] = json!("0".repeat(40));
    let a = send_signed(
        &app,
        &hook,
        &serde_json::to_vec(&push).unwrap(),
        None,
        Some("push"),
    )
    .await;
    assert_eq!(a.status, 200, "{a}");
    assert!(
        a.json["reason"].as_str().unwrap().starts_with("filter 0:"),
        "{a}"
    );
    // A catastrophic pattern fails closed, with the reason recorded.
    let hook = create_hook(
        &app,
        &pl,
        json!({ "provider": "gitea", "settings": {
            "variables": [{ "name": "msg", "path": "head_commit.message" }],
            "filters": [{ "variable": "msg", "not_matches": "^(a|aa)+\\1b" }] } }),
    )
    .await;
    push["head_commit"]["message"] = json!("a".repeat(10_000));
    let a = send_signed(
        &app,
        &hook,
        &serde_json::to_vec(&push).unwrap(),
        None,
        Some("push"),
    )
    .await;
    assert_eq!(a.status, 200, "{a}");
    assert!(
        a.json["reason"]
            .as_str()
            .unwrap()
            .contains("regex budget exceeded"),
        "{a}"
    );
    // Bad paths point at the fix; bad patterns are refused at save time.
    let (s, b) = app
        .post(
            &url,
            &token,
            json!({ "name": "x", "settings": { "variables": [
            { "name": "id", "path": "commits[0.id" }] } }),
        )
        .await;
    assert_eq!(s, 422, "{b}");
    assert_eq!(
        b["details"][0]["field"], "settings.variables[0].path",
        "{b}"
    );
    let problem = b["details"][0]["problem"].as_str().unwrap();
    assert!(problem.contains("did you mean \"commits[0].id\""), "{b}");
    assert!(!problem.contains("Rule"), "{b}");
    let (s, b) = app
        .post(
            &url,
            &token,
            json!({ "name": "x", "settings": {
            "filters": [{ "variable": "evnt", "matches": "(?<=a" }] } }),
        )
        .await;
    assert_eq!(s, 422, "{b}");
    let text = b.to_string();
    assert!(text.contains("did you mean \\\"event\\\""), "{b}");
    assert!(text.contains("settings.filters[0].matches"), "{b}");
}

async fn presets_read_back_without_the_generic_fields(app: TestApp) {
    let (pl, token) = pipeline(&app, readme_pipeline()).await;
    let github = create_hook(&app, &pl, json!({ "provider": "github" })).await;
    let generic = create_hook(&app, &pl, json!({ "provider": "generic" })).await;
    let (_, g) = app
        .call(
            Method::GET,
            &format!("/api/v1/hooks/{}", github.id),
            Some(&token),
            None,
        )
        .await;
    assert!(g.get("secret_header_name").is_none(), "{g}");
    assert!(g.get("secret_algorithm").is_none(), "{g}");
    let (_, g) = app
        .get(&format!("/api/v1/hooks/{}", generic.id), &token)
        .await;
    assert_eq!(g["secret_header_name"], "x-hub-signature-256", "{g}");
    assert_eq!(g["secret_algorithm"], "sha256", "{g}");
}

async fn the_openapi_document_describes_the_new_fields_and_route(app: TestApp) {
    let doc: Value = app
        .client
        .get(format!("{}/api/openapi.json", app.address))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let test = &doc["paths"]["/api/v1/hooks/{hk}/test"]["post"];
    for status in ["200", "400", "401", "403", "404", "422", "503"] {
        assert!(test["responses"][status].is_object(), "{status}: {test}");
    }
    let schemas = &doc["components"]["schemas"];
    assert!(schemas["HookIn"]["properties"]["allowed_ips"].is_object());
    for op in ["not_equals", "not_in", "not_matches"] {
        assert!(schemas["FilterSpec"]["properties"][op].is_object(), "{op}");
    }
    assert!(schemas["HookTestOut"]["properties"]["unmatched_paths"].is_object());
}
