//! The web console over plain HTTP: sessions, cookie flags, CSRF, roles, other projects, sign-out,
//! the sign-in rate limit, the CSP, cached assets and bad input.

use reqwest::header::{CACHE_CONTROL, COOKIE, ETAG, IF_NONE_MATCH};
use reqwest::Method;
use serde_json::json;

use crate::console_support::{bridge, page, post_sign_in, sign_in, sign_in_form};
use crate::helpers::TestApp;

crate::on_both_backends!(
    console_sessions_and_roles,
    console_sign_in_is_guarded,
    console_pages_and_assets
);

async fn hook(app: &TestApp, token: &str, pl: &str) -> String {
    let (s, b) = app
        .post(
            &format!("/api/v1/pipelines/{pl}/hooks/incoming"),
            token,
            json!({ "name": "github-main", "provider": "github" }),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    b["id"].as_str().unwrap().to_string()
}

async fn console_sessions_and_roles(app: TestApp) {
    let prj = app.project("web").await;
    let other = app.project("other").await;
    let member = app.token(&prj, "member").await;
    let viewer = app.token(&prj, "viewer").await;
    let stranger = app.token(&other, "member").await;
    let pl = app.pipeline(&prj, &member, &["ref"]).await;
    let other_pl = app.pipeline(&other, &stranger, &["ref"]).await;
    let hk = hook(&app, &member, &pl).await;

    let m = sign_in(&app, &member).await;
    // Cookie flags: HttpOnly, SameSite=Strict, scoped; not Secure on an http public URL.
    assert!(m.set_cookie.contains("HttpOnly"), "{}", m.set_cookie);
    assert!(m.set_cookie.contains("SameSite=Strict"), "{}", m.set_cookie);
    assert!(m.set_cookie.contains("Path=/console"), "{}", m.set_cookie);
    assert!(!m.set_cookie.contains("Secure"), "{}", m.set_cookie);
    // The API token is not what the browser keeps.
    assert!(!m.set_cookie.contains(&member));

    // A write without the CSRF token, or with a wrong one: 403, and nothing happens.
    let run_path = format!("/pipelines/{pl}/runs");
    let (s, b) = bridge(
        &app,
        &m.cookie,
        Method::POST,
        &run_path,
        None,
        Some(json!({})),
    )
    .await;
    assert_eq!(s, 403, "{b}");
    assert_eq!(b["error"], "csrf_token_invalid");
    let (s, _) = bridge(
        &app,
        &m.cookie,
        Method::POST,
        &run_path,
        Some("0123"),
        Some(json!({})),
    )
    .await;
    assert_eq!(s, 403);
    let (_, runs) = app
        .get(&format!("/api/v1/pipelines/{pl}/runs"), &member)
        .await;
    assert_eq!(
        runs["items"].as_array().unwrap().len(),
        0,
        "no run was made"
    );
    // With it: the API's own answer (a manual run, 202).
    let (s, b) = bridge(
        &app,
        &m.cookie,
        Method::POST,
        &run_path,
        Some(&m.csrf),
        Some(json!({})),
    )
    .await;
    assert_eq!(s, 202, "{b}");
    let run = b["run_id"].as_str().unwrap().to_string();
    let (s, html) = page(&app, &m.cookie, &format!("/console/runs/{run}")).await;
    assert_eq!(s, 200);
    assert!(html.contains(&run));

    // Another project's objects: 404 on pages and on the API alike.
    let (s, _) = page(&app, &m.cookie, &format!("/console/pipelines/{other_pl}")).await;
    assert_eq!(s, 404);
    let (s, _) = page(
        &app,
        &m.cookie,
        &format!("/console/pipelines/{other_pl}/runs"),
    )
    .await;
    assert_eq!(s, 404);
    let (s, _) = bridge(
        &app,
        &m.cookie,
        Method::GET,
        &format!("/pipelines/{other_pl}"),
        None,
        None,
    )
    .await;
    assert_eq!(s, 404);

    // A viewer sees the pages without write controls, and a forged POST (with its own valid CSRF
    // token) is a 403 from the API's role check.
    let v = sign_in(&app, &viewer).await;
    let (s, html) = page(&app, &v.cookie, &format!("/console/pipelines/{pl}")).await;
    assert_eq!(s, 200);
    assert!(html.contains("github-main"));
    assert!(
        !html.contains("data-action"),
        "no write controls for a viewer"
    );
    assert!(!html.contains("Rotate secret"));
    let (s, html) = page(&app, &m.cookie, &format!("/console/pipelines/{pl}")).await;
    assert_eq!(s, 200);
    assert!(
        html.contains("Rotate secret"),
        "a member has the write controls"
    );
    let (s, html) = page(&app, &v.cookie, &format!("/console/runs/{run}")).await;
    assert_eq!(s, 200);
    assert!(!html.contains("data-action"));
    let (s, b) = bridge(
        &app,
        &v.cookie,
        Method::POST,
        &run_path,
        Some(&v.csrf),
        Some(json!({})),
    )
    .await;
    assert_eq!(s, 403, "{b}");
    let (s, _) = bridge(
        &app,
        &v.cookie,
        Method::POST,
        &format!("/hooks/{hk}/rotate-secret"),
        Some(&v.csrf),
        Some(json!({})),
    )
    .await;
    assert_eq!(s, 403);
    // One session's CSRF token does not work for another session.
    let (s, _) = bridge(
        &app,
        &m.cookie,
        Method::POST,
        &run_path,
        Some(&v.csrf),
        Some(json!({})),
    )
    .await;
    assert_eq!(s, 403);

    // Sign-out ends the session on the server: the old cookie is refused afterwards.
    let resp = app
        .client
        .post(format!("{}/console/sign-out", app.address))
        .header(COOKIE, format!("hg_console={}", m.cookie))
        .form(&[("csrf", m.csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    let (s, _) = page(&app, &m.cookie, "/console/").await;
    assert_eq!(s, 303, "the old cookie leads to the sign-in page");
    let (s, _) = bridge(
        &app,
        &m.cookie,
        Method::GET,
        &format!("/pipelines/{pl}"),
        None,
        None,
    )
    .await;
    assert_eq!(s, 401);
    // A sign-out without the CSRF token is refused and ends nothing.
    let resp = app
        .client
        .post(format!("{}/console/sign-out", app.address))
        .header(COOKIE, format!("hg_console={}", v.cookie))
        .form(&[("csrf", "nope")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    let (s, _) = page(&app, &v.cookie, "/console/").await;
    assert_eq!(s, 200);

    // Deleting the token ends its sessions too.
    let (_, toks) = app
        .get(&format!("/api/v1/projects/{prj}/tokens"), &app.admin_token)
        .await;
    let viewer_id = toks["items"]
        .as_array()
        .or(toks.as_array())
        .unwrap()
        .iter()
        .find(|t| t["role"] == "viewer")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (s, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/tokens/{viewer_id}"),
            Some(&app.admin_token),
            None,
        )
        .await;
    assert_eq!(s, 204);
    let (s, _) = page(&app, &v.cookie, "/console/").await;
    assert_eq!(s, 303);
}

async fn console_sign_in_is_guarded(app: TestApp) {
    let prj = app.project("web").await;
    let member = app.token(&prj, "member").await;
    // A wrong token: 401, no session cookie.
    let (pre, csrf) = sign_in_form(&app).await;
    let resp = post_sign_in(&app, &pre, &csrf, "hg_not-a-token").await;
    assert_eq!(resp.status(), 401);
    assert!(crate::console_support::set_cookie(&resp, "hg_console").is_none());
    // The form's CSRF token must match its cookie.
    let resp = post_sign_in(&app, &pre, "another", &member).await;
    assert_eq!(resp.status(), 403);
    // Bad input is a 4xx.
    let resp = app
        .client
        .post(format!("{}/console/sign-in", app.address))
        .header(COOKIE, format!("hg_console_signin={pre}"))
        .body("%%%")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    // Ten attempts a minute per address; then 429, even with the right token.
    let limit = 10;
    let mut statuses = Vec::new();
    for _ in 0..limit {
        let (pre, csrf) = sign_in_form(&app).await;
        statuses.push(
            post_sign_in(&app, &pre, &csrf, "hg_wrong")
                .await
                .status()
                .as_u16(),
        );
    }
    assert!(statuses.contains(&429), "{statuses:?}");
    let (pre, csrf) = sign_in_form(&app).await;
    let resp = post_sign_in(&app, &pre, &csrf, &member).await;
    assert_eq!(resp.status(), 429);
    assert!(resp.headers().get("retry-after").is_some());
}

async fn console_pages_and_assets(app: TestApp) {
    let prj = app.project("web").await;
    let member = app.token(&prj, "member").await;
    let pl = app.pipeline(&prj, &member, &["ref"]).await;
    let hk = hook(&app, &member, &pl).await;
    let m = sign_in(&app, &member).await;

    // Without a session, pages lead to the sign-in page.
    let resp = app
        .client
        .get(format!("{}/console/", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    assert_eq!(resp.headers()["location"], "/console/sign-in");

    // Every page answers with the CSP: scripts from this origin only, nothing inline.
    for path in [
        "/console/".to_string(),
        format!("/console/projects/{prj}"),
        format!("/console/pipelines/{pl}"),
        format!("/console/pipelines/{pl}/runs"),
        format!("/console/hooks/{hk}"),
        format!("/console/hooks/{hk}/test"),
    ] {
        let resp = app
            .client
            .get(format!("{}{}", app.address, path))
            .header(COOKIE, format!("hg_console={}", m.cookie))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        let csp = resp.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(csp.contains("script-src 'self'"), "{csp}");
        assert!(csp.contains("default-src 'none'"), "{csp}");
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        let html = resp.text().await.unwrap();
        assert!(!html.contains("<script>"), "{path}: no inline script");
        assert!(
            !html.contains("http://") || html.contains(&app.address),
            "{path}"
        );
    }

    // Bad input: an unknown outcome or status, a cursor this console did not give.
    for path in [
        format!("/console/hooks/{hk}?outcome=everything"),
        format!("/console/hooks/{hk}?cursor=garbage"),
        format!("/console/pipelines/{pl}/runs?status=bogus"),
    ] {
        let (s, _) = page(&app, &m.cookie, &path).await;
        assert_eq!(s, 400, "{path}");
    }
    let (s, _) = page(&app, &m.cookie, "/console/deliveries/dlv_nope").await;
    assert_eq!(s, 404);

    // Static files: content-hashed names, cached for a year, 304 on a matching ETag.
    let (_, html) = page(&app, &m.cookie, "/console/").await;
    let js = crate::console_support::csrf_in(&html, "<script src=\"");
    let js = js.replace("&#x2f;", "/");
    let resp = app
        .client
        .get(format!("{}{}", app.address, js))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{js}");
    assert!(resp.headers()[CACHE_CONTROL]
        .to_str()
        .unwrap()
        .contains("immutable"));
    let etag = resp.headers()[ETAG].clone();
    let resp = app
        .client
        .get(format!("{}{}", app.address, js))
        .header(IF_NONE_MATCH, etag)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 304);
    let resp = app
        .client
        .get(format!(
            "{}/console/static/console.000000000000.js",
            app.address
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
}
