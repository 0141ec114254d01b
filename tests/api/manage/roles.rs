//! The role matrix: viewer reads, member writes, owner manages tokens, other projects see 404.

use reqwest::Method;
use serde_json::json;

use crate::helpers::TestApp;

crate::on_both_backends!(role_matrix);

async fn role_matrix(app: TestApp) {
    let prj = app.project("a").await;
    let other = app.project("b").await;
    let owner = app.token(&prj, "owner").await;
    let member = app.token(&prj, "member").await;
    let viewer = app.token(&prj, "viewer").await;
    let stranger = app.token(&other, "owner").await;
    let pl = app.pipeline(&prj, &member, &["ref"]).await;
    let pipeline_body =
        json!({ "name": "x", "steps": [{ "name": "s", "action": "command", "program": "true" }] });
    let secret = json!({ "value": "s3cret-value" });
    let hook = json!({ "name": "h", "provider": "github" });

    // (who, token, method, path, body, expected status)
    type Case<'a> = (
        &'a str,
        &'a str,
        Method,
        String,
        Option<serde_json::Value>,
        u16,
    );
    let cases: Vec<Case> = vec![
        // viewer: reads, never writes
        (
            "viewer",
            &viewer,
            Method::GET,
            format!("/api/v1/projects/{prj}/pipelines"),
            None,
            200,
        ),
        (
            "viewer",
            &viewer,
            Method::GET,
            format!("/api/v1/pipelines/{pl}"),
            None,
            200,
        ),
        (
            "viewer",
            &viewer,
            Method::GET,
            format!("/api/v1/pipelines/{pl}/secrets"),
            None,
            200,
        ),
        (
            "viewer",
            &viewer,
            Method::GET,
            format!("/api/v1/pipelines/{pl}/hooks"),
            None,
            200,
        ),
        (
            "viewer",
            &viewer,
            Method::GET,
            format!("/api/v1/projects/{prj}/tokens"),
            None,
            200,
        ),
        (
            "viewer",
            &viewer,
            Method::POST,
            format!("/api/v1/projects/{prj}/pipelines"),
            Some(pipeline_body.clone()),
            403,
        ),
        (
            "viewer",
            &viewer,
            Method::PUT,
            format!("/api/v1/pipelines/{pl}/secrets/T"),
            Some(secret.clone()),
            403,
        ),
        (
            "viewer",
            &viewer,
            Method::POST,
            format!("/api/v1/pipelines/{pl}/hooks/incoming"),
            Some(hook.clone()),
            403,
        ),
        (
            "viewer",
            &viewer,
            Method::DELETE,
            format!("/api/v1/pipelines/{pl}"),
            None,
            403,
        ),
        (
            "viewer",
            &viewer,
            Method::POST,
            format!("/api/v1/projects/{prj}/tokens"),
            Some(json!({"name": "n", "role": "viewer"})),
            403,
        ),
        // member: writes pipelines, hooks and secrets; not tokens
        (
            "member",
            &member,
            Method::POST,
            format!("/api/v1/projects/{prj}/pipelines"),
            Some(pipeline_body.clone()),
            201,
        ),
        (
            "member",
            &member,
            Method::PUT,
            format!("/api/v1/pipelines/{pl}/secrets/T"),
            Some(secret.clone()),
            200,
        ),
        (
            "member",
            &member,
            Method::POST,
            format!("/api/v1/pipelines/{pl}/hooks/incoming"),
            Some(hook.clone()),
            201,
        ),
        (
            "member",
            &member,
            Method::POST,
            format!("/api/v1/projects/{prj}/tokens"),
            Some(json!({"name": "n", "role": "viewer"})),
            403,
        ),
        (
            "member",
            &member,
            Method::GET,
            "/api/v1/projects".to_string(),
            None,
            403,
        ),
        // owner: also tokens
        (
            "owner",
            &owner,
            Method::POST,
            format!("/api/v1/projects/{prj}/tokens"),
            Some(json!({"name": "n", "role": "member"})),
            201,
        ),
        (
            "owner",
            &owner,
            Method::POST,
            "/api/v1/projects".to_string(),
            Some(json!({"name": "c"})),
            403,
        ),
        // another project's token: 404 for every id of this project
        (
            "stranger",
            &stranger,
            Method::GET,
            format!("/api/v1/projects/{prj}"),
            None,
            404,
        ),
        (
            "stranger",
            &stranger,
            Method::GET,
            format!("/api/v1/projects/{prj}/pipelines"),
            None,
            404,
        ),
        (
            "stranger",
            &stranger,
            Method::GET,
            format!("/api/v1/pipelines/{pl}"),
            None,
            404,
        ),
        (
            "stranger",
            &stranger,
            Method::GET,
            format!("/api/v1/pipelines/{pl}/secrets"),
            None,
            404,
        ),
        (
            "stranger",
            &stranger,
            Method::GET,
            format!("/api/v1/pipelines/{pl}/hooks"),
            None,
            404,
        ),
        (
            "stranger",
            &stranger,
            Method::PUT,
            format!("/api/v1/pipelines/{pl}/secrets/T"),
            Some(secret.clone()),
            404,
        ),
        (
            "stranger",
            &stranger,
            Method::POST,
            format!("/api/v1/pipelines/{pl}/hooks/incoming"),
            Some(hook.clone()),
            404,
        ),
        (
            "stranger",
            &stranger,
            Method::DELETE,
            format!("/api/v1/pipelines/{pl}"),
            None,
            404,
        ),
        (
            "stranger",
            &stranger,
            Method::POST,
            format!("/api/v1/projects/{prj}/tokens"),
            Some(json!({"name": "n", "role": "owner"})),
            404,
        ),
    ];
    for (who, token, method, path, body, want) in cases {
        let (got, b) = app.call(method.clone(), &path, Some(token), body).await;
        assert_eq!(got, want, "{who} {method} {path}: {b}");
        if want == 404 {
            assert_eq!(b["error"], "not_found");
        }
    }

    // Hook and token ids of this project are 404 to the stranger as well.
    let (_, hooks) = app
        .get(&format!("/api/v1/pipelines/{pl}/hooks"), &viewer)
        .await;
    let hk = hooks["incoming"][0]["id"]
        .as_str()
        .expect("member created a hook")
        .to_string();
    for (method, path) in [
        (Method::GET, format!("/api/v1/hooks/{hk}")),
        (Method::PATCH, format!("/api/v1/hooks/{hk}")),
        (Method::DELETE, format!("/api/v1/hooks/{hk}")),
        (Method::POST, format!("/api/v1/hooks/{hk}/rotate-secret")),
    ] {
        let (got, b) = app
            .call(method.clone(), &path, Some(&stranger), Some(json!({})))
            .await;
        assert_eq!(got, 404, "stranger {method} {path}: {b}");
    }
    let (got, _) = app
        .call(
            Method::PATCH,
            &format!("/api/v1/hooks/{hk}"),
            Some(&viewer),
            Some(json!({"is_active": false})),
        )
        .await;
    assert_eq!(got, 403);
    let (_, toks) = app
        .get(&format!("/api/v1/projects/{prj}/tokens"), &owner)
        .await;
    let member_tok = toks
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["role"] == "member")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    for (who, token, want) in [
        ("stranger", &stranger, 404),
        ("member", &member, 403),
        ("owner", &owner, 204),
    ] {
        let (got, _) = app
            .call(
                Method::DELETE,
                &format!("/api/v1/tokens/{member_tok}"),
                Some(token),
                None,
            )
            .await;
        assert_eq!(got, want, "{who} deletes a member token");
    }
}
