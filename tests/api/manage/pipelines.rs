use reqwest::Method;
use serde_json::json;

use crate::helpers::TestApp;

crate::on_both_backends!(
    pipeline_crud_and_validation,
    secrets_are_write_only_and_encrypted,
    openapi_lists_the_api
);

async fn pipeline_crud_and_validation(app: TestApp) {
    let prj = app.project("p").await;
    let spec = json!({ "name": "deploy-api",
        "variables": [{"name": "source_ref", "default_value": "main"}, {"name": "pull_request_id"}],
        "concurrency": { "key": "${source_ref}", "max": 1, "policy": "queue" },
        "steps": [
            { "name": "deploy", "action": "command", "program": "/opt/deploy.sh",
              "args": ["--ref", "${source_ref}"], "env": { "PR": "${pull_request_id}" }, "timeout_secs": 600 },
            { "name": "dispatch", "action": "http", "method": "POST",
              "url": "https://api.github.com/repos/o/r/actions/workflows/ci.yml/dispatches",
              "headers": { "Authorization": "Bearer ${secrets.GITHUB_TOKEN}" },
              "body": { "ref": "${source_ref}", "inputs": { "pr": "${pull_request_id}" } }, "timeout_secs": 30 } ] });
    let (s, b) = app
        .post(
            &format!("/api/v1/projects/{prj}/pipelines"),
            &app.admin_token,
            spec.clone(),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let id = b["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("pl_"));
    assert_eq!(b["steps"][1]["body"]["inputs"]["pr"], "${pull_request_id}");
    assert_eq!(b["concurrency"]["policy"], "queue");

    let (s, b) = app
        .get(&format!("/api/v1/pipelines/{id}"), &app.admin_token)
        .await;
    assert_eq!((s, b["name"].as_str()), (200, Some("deploy-api")));
    let (s, b) = app
        .get(
            &format!("/api/v1/projects/{prj}/pipelines"),
            &app.admin_token,
        )
        .await;
    assert_eq!((s, b.as_array().unwrap().len()), (200, 1));

    // An unknown ${var} is a 422 naming the field; every bad field is named.
    let mut bad = spec.clone();
    bad["steps"][0]["args"][1] = json!("${nope}");
    bad["steps"][1]["method"] = json!("BREW");
    let (s, b) = app
        .call(
            Method::PUT,
            &format!("/api/v1/pipelines/{id}"),
            Some(&app.admin_token),
            Some(bad),
        )
        .await;
    assert_eq!(s, 422, "{b}");
    let fields: Vec<&str> = b["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, vec!["steps[0].args[1]", "steps[1].method"]);
    assert!(b["details"][0]["problem"]
        .as_str()
        .unwrap()
        .contains("${nope}"));

    let mut renamed = spec.clone();
    renamed["name"] = json!("deploy-web");
    let (s, b) = app
        .call(
            Method::PUT,
            &format!("/api/v1/pipelines/{id}"),
            Some(&app.admin_token),
            Some(renamed),
        )
        .await;
    assert_eq!((s, b["name"].as_str()), (200, Some("deploy-web")), "{b}");
    let (s, _) = app
        .post(
            &format!("/api/v1/projects/{prj}/pipelines"),
            &app.admin_token,
            spec.clone(),
        )
        .await;
    assert_eq!(s, 201, "the old name is free again");
    let (s, b) = app
        .post(
            &format!("/api/v1/projects/{prj}/pipelines"),
            &app.admin_token,
            spec,
        )
        .await;
    assert_eq!((s, b["error"].as_str()), (409, Some("conflict")));

    let (s, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/pipelines/{id}"),
            Some(&app.admin_token),
            None,
        )
        .await;
    assert_eq!(s, 204);
    let (s, b) = app
        .get(&format!("/api/v1/pipelines/{id}"), &app.admin_token)
        .await;
    assert_eq!((s, b["error"].as_str()), (404, Some("not_found")));
}

async fn secrets_are_write_only_and_encrypted(app: TestApp) {
    let prj = app.project("p").await;
    let pl = app.pipeline(&prj, &app.admin_token, &[]).await;
    let value = "ghp_SuperSecretValue1234567890wxyz";
    let (s, b) = app
        .call(
            Method::PUT,
            &format!("/api/v1/pipelines/{pl}/secrets/GITHUB_TOKEN"),
            Some(&app.admin_token),
            Some(json!({ "value": value })),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["value"], "••••wxyz");
    let (s, b) = app
        .get(&format!("/api/v1/pipelines/{pl}/secrets"), &app.admin_token)
        .await;
    assert_eq!(s, 200);
    assert_eq!(b[0]["name"], "GITHUB_TOKEN");
    assert!(!b.to_string().contains(value));
    let rows = app.store.list_secrets(&pl).await.unwrap();
    assert!(
        !String::from_utf8_lossy(&rows[0].ciphertext).contains(value),
        "stored encrypted"
    );
    let (s, _) = app
        .call(
            Method::PUT,
            &format!("/api/v1/pipelines/{pl}/secrets/bad-name"),
            Some(&app.admin_token),
            Some(json!({ "value": "x" })),
        )
        .await;
    assert_eq!(s, 422);
    let (s, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/pipelines/{pl}/secrets/GITHUB_TOKEN"),
            Some(&app.admin_token),
            None,
        )
        .await;
    assert_eq!(s, 204);
    let (s, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/pipelines/{pl}/secrets/GITHUB_TOKEN"),
            Some(&app.admin_token),
            None,
        )
        .await;
    assert_eq!(s, 404);
}

async fn openapi_lists_the_api(app: TestApp) {
    let (s, doc) = app.call(Method::GET, "/api/openapi.json", None, None).await;
    assert_eq!(s, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for p in [
        "/api/v1/projects",
        "/api/v1/projects/{prj}/tokens",
        "/api/v1/pipelines/{pl}",
        "/api/v1/pipelines/{pl}/secrets/{name}",
    ] {
        assert!(
            paths.contains_key(p),
            "{p} missing from the OpenAPI document"
        );
    }
}
