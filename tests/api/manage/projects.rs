use reqwest::Method;
use serde_json::json;

use crate::helpers::TestApp;

crate::on_both_backends!(
    admin_creates_and_lists_projects,
    tokens_are_shown_once_then_masked,
    missing_or_bad_tokens_get_401
);

async fn admin_creates_and_lists_projects(app: TestApp) {
    let (s, b) = app
        .post(
            "/api/v1/projects",
            &app.admin_token,
            json!({ "name": "web" }),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let id = b["id"].as_str().unwrap();
    assert!(id.starts_with("prj_") && id.len() == 26, "{id}");
    let (s, b) = app
        .post(
            "/api/v1/projects",
            &app.admin_token,
            json!({ "name": "web" }),
        )
        .await;
    assert_eq!((s, b["error"].as_str()), (409, Some("conflict")), "{b}");
    let (s, b) = app
        .post("/api/v1/projects", &app.admin_token, json!({ "name": "" }))
        .await;
    assert_eq!(s, 422);
    assert_eq!(b["details"][0]["field"], "name");
    let (s, b) = app
        .post("/api/v1/projects", &app.admin_token, json!({ "nom": "x" }))
        .await;
    assert_eq!(s, 422, "{b}");
    let (s, b) = app.get("/api/v1/projects", &app.admin_token).await;
    assert_eq!(s, 200);
    assert_eq!(b.as_array().unwrap().len(), 1);
    let (s, b) = app
        .get(&format!("/api/v1/projects/{id}"), &app.admin_token)
        .await;
    assert_eq!((s, b["name"].as_str()), (200, Some("web")));
}

async fn tokens_are_shown_once_then_masked(app: TestApp) {
    let prj = app.project("p").await;
    let (s, b) = app
        .post(
            &format!("/api/v1/projects/{prj}/tokens"),
            &app.admin_token,
            json!({ "name": "ci", "role": "member" }),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let token = b["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("hg_"));
    assert!(b["id"].as_str().unwrap().starts_with("tok_"));
    let (s, list) = app
        .get(&format!("/api/v1/projects/{prj}/tokens"), &app.admin_token)
        .await;
    assert_eq!(s, 200);
    let text = list.to_string();
    assert!(!text.contains(&token), "a listed token must be masked");
    assert_eq!(
        list[0]["token_masked"],
        format!("••••{}", &token[token.len() - 4..])
    );
    assert!(list[0].get("token").is_none());
    // The new token works, and is gone once deleted.
    let (s, _) = app
        .get(&format!("/api/v1/projects/{prj}/pipelines"), &token)
        .await;
    assert_eq!(s, 200);
    let (s, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/tokens/{}", b["id"].as_str().unwrap()),
            Some(&app.admin_token),
            None,
        )
        .await;
    assert_eq!(s, 204);
    let (s, _) = app
        .get(&format!("/api/v1/projects/{prj}/pipelines"), &token)
        .await;
    assert_eq!(s, 401);
    let (s, b) = app
        .post(
            &format!("/api/v1/projects/{prj}/tokens"),
            &app.admin_token,
            json!({ "name": "x", "role": "admin" }),
        )
        .await;
    assert_eq!((s, b["details"][0]["field"].as_str()), (422, Some("role")));
}

async fn missing_or_bad_tokens_get_401(app: TestApp) {
    for token in [None, Some("hg_not-a-real-token"), Some("garbage")] {
        let (s, b) = app.call(Method::GET, "/api/v1/projects", token, None).await;
        assert_eq!(
            (s, b["error"].as_str()),
            (401, Some("unauthorized")),
            "{token:?}"
        );
    }
    let resp = app
        .client
        .get(format!("{}/api/v1/projects", app.address))
        .header("authorization", "Basic eDp5")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    let (s, _) = app.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(s, 200);
    let (s, b) = app.call(Method::GET, "/readyz", None, None).await;
    assert_eq!((s, b["status"].as_str()), (200, Some("ready")));
}
