//! Signing in to the web console from a test, and reading what its pages carry.

use reqwest::header::{COOKIE, SET_COOKIE};
use reqwest::Response;

use crate::helpers::TestApp;

/// A signed-in console session: its cookie and CSRF token.
pub struct ConsoleSession {
    pub cookie: String,
    pub csrf: String,
    /// The `Set-Cookie` line the sign-in answered with.
    pub set_cookie: String,
}

/// The value of `name` in a response's `Set-Cookie` lines, with the whole line.
pub fn set_cookie(resp: &Response, name: &str) -> Option<(String, String)> {
    resp.headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|line| line.starts_with(&format!("{name}=")))
        .map(|line| {
            let value = line[name.len() + 1..]
                .split(';')
                .next()
                .unwrap_or("")
                .to_string();
            (value, line.to_string())
        })
}

/// The `content` of `<meta name="csrf-token">` or the `value` of the sign-in form's `csrf` field.
pub fn csrf_in(html: &str, marker: &str) -> String {
    let at = html.find(marker).expect("the page carries a CSRF token");
    let rest = &html[at + marker.len()..];
    rest[..rest.find('"').expect("a closing quote")].to_string()
}

/// Opens the sign-in form; returns its CSRF cookie and form token.
pub async fn sign_in_form(app: &TestApp) -> (String, String) {
    let resp = app
        .client
        .get(format!("{}/console/sign-in", app.address))
        .send()
        .await
        .expect("sign-in page");
    assert_eq!(resp.status(), 200);
    let (pre, _) = set_cookie(&resp, "hg_console_signin").expect("the form's CSRF cookie");
    let html = resp.text().await.unwrap();
    (pre, csrf_in(&html, "name=\"csrf\" value=\""))
}

/// Posts the sign-in form with `token`; returns the response.
pub async fn post_sign_in(app: &TestApp, pre: &str, csrf: &str, token: &str) -> Response {
    app.client
        .post(format!("{}/console/sign-in", app.address))
        .header(COOKIE, format!("hg_console_signin={pre}"))
        .form(&[("token", token), ("csrf", csrf)])
        .send()
        .await
        .expect("sign in")
}

/// Signs in with `token`; panics unless it works.
pub async fn sign_in(app: &TestApp, token: &str) -> ConsoleSession {
    let (pre, csrf) = sign_in_form(app).await;
    let resp = post_sign_in(app, &pre, &csrf, token).await;
    assert_eq!(resp.status(), 303, "sign-in answers with a redirect");
    let (cookie, line) = set_cookie(&resp, "hg_console").expect("a session cookie");
    let (status, html) = page(app, &cookie, "/console/").await;
    assert_eq!(status, 200, "{html}");
    ConsoleSession {
        csrf: csrf_in(&html, "<meta name=\"csrf-token\" content=\""),
        cookie,
        set_cookie: line,
    }
}

/// GETs a console path with the session cookie; returns the status and body.
pub async fn page(app: &TestApp, cookie: &str, path: &str) -> (u16, String) {
    let resp = app
        .client
        .get(format!("{}{}", app.address, path))
        .header(COOKIE, format!("hg_console={cookie}"))
        .send()
        .await
        .expect("page");
    (resp.status().as_u16(), resp.text().await.unwrap())
}

/// A request to the console's API with the session cookie and, when given, a CSRF token.
pub async fn bridge(
    app: &TestApp,
    cookie: &str,
    method: reqwest::Method,
    path: &str,
    csrf: Option<&str>,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let mut req = app
        .client
        .request(method, format!("{}/console/api/v1{}", app.address, path))
        .header(COOKIE, format!("hg_console={cookie}"));
    if let Some(t) = csrf {
        req = req.header("X-CSRF-Token", t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
    )
}
