//! A hook's `allowed_ips`: 403 `ip_not_allowed` before the signature is checked, recorded like
//! other unauthenticated failures; `X-Forwarded-For` / `Forwarded` believed only from
//! `HOOKGATE_TRUSTED_PROXIES`. The test client is the peer 127.0.0.1.

use serde_json::json;

use crate::helpers::{fresh_database, start_with, test_settings, Backend, TestApp};
use crate::ingest_support::{create_hook, fixture, send, wait_for_delivery, Hook};

async fn app_trusting(backend: Backend, proxies: &str) -> Option<TestApp> {
    let (url, dir) = fresh_database(backend).await?;
    let key = hookgate::crypto::MasterKey::generate().to_base64();
    let mut settings = test_settings(&url, &key);
    settings.trusted_proxies = hookgate::config::parse_proxies(proxies).unwrap();
    let mut app = start_with(settings).await;
    app._dir = dir;
    Some(app)
}

async fn hook_allowing(app: &TestApp, nets: serde_json::Value) -> Hook {
    let prj = app.project(&format!("ips-{}", rand::random::<u32>())).await;
    let pl = app.pipeline(&prj, &app.admin_token, &[]).await;
    create_hook(
        app,
        &pl,
        json!({ "provider": "gitea", "allowed_ips": nets }),
    )
    .await
}

/// Sends the Gitea push, signed, with `extra` headers.
async fn push(app: &TestApp, hook: &Hook, extra: &[(&str, &str)]) -> crate::ingest_support::Answer {
    let body = fixture("gitea/push.json");
    let mut headers = hook.sign(&body, None, Some("push"));
    headers.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    send(app, &hook.id, &headers, Some("application/json"), body).await
}

async fn untrusted_peers_are_judged_by_their_own_address(backend: Backend) {
    let Some(app) = app_trusting(backend, "").await else {
        return;
    };
    let github_only = hook_allowing(&app, json!(["192.30.252.0/22", "2001:db8::/32"])).await;
    // A forged header from an untrusted peer changes nothing.
    for forged in [
        vec![],
        vec![("x-forwarded-for", "192.30.252.1")],
        vec![("forwarded", "for=192.30.252.1")],
    ] {
        let a = push(&app, &github_only, &forged).await;
        assert_eq!(a.status, 403, "{forged:?}: {a}");
        assert_eq!(a.json["error"], "ip_not_allowed", "{a}");
    }
    // Refused before the signature is looked at: an unsigned request gets the same answer.
    let a = send(
        &app,
        &github_only.id,
        &[],
        Some("application/json"),
        b"{}".to_vec(),
    )
    .await;
    assert_eq!(a.status, 403, "{a}");
    let d = wait_for_delivery(&app, &github_only.id, |d| {
        d.error.as_deref() == Some("ip_not_allowed")
    })
    .await
    .expect("the refusal is recorded");
    assert_eq!(d.status_code, 403);
    assert!(d.variables.is_none());

    let local = hook_allowing(&app, json!(["127.0.0.0/8", "::1"])).await;
    let a = push(&app, &local, &[]).await;
    assert_eq!(a.status, 202, "{a}");

    // A bad network is a 422 naming the entry.
    let (s, b) = app
        .post(
            &format!("/api/v1/pipelines/{}/hooks/incoming", local.pipeline_id),
            &app.admin_token,
            json!({ "name": "x", "allowed_ips": ["10.0.0.0/8", "10.0.0.0/33"] }),
        )
        .await;
    assert_eq!(s, 422, "{b}");
    assert_eq!(b["details"][0]["field"], "allowed_ips[1]", "{b}");
}

async fn a_trusted_proxy_forwards_the_client_address(backend: Backend) {
    let Some(app) = app_trusting(backend, "127.0.0.1/32, ::1").await else {
        return;
    };
    let hook = hook_allowing(&app, json!(["192.30.252.0/22", "2001:db8::/32"])).await;
    let a = push(
        &app,
        &hook,
        &[("x-forwarded-for", "198.51.100.7, 192.30.252.1")],
    )
    .await;
    assert_eq!(a.status, 202, "{a}");
    let a = push(
        &app,
        &hook,
        &[("forwarded", r#"for="[2001:db8::9]:4711";proto=https"#)],
    )
    .await;
    assert_eq!(a.status, 202, "{a}");
    // The right-most untrusted address decides: a client cannot prepend an allowed one.
    let a = push(
        &app,
        &hook,
        &[("x-forwarded-for", "192.30.252.1, 198.51.100.7")],
    )
    .await;
    assert_eq!(a.status, 403, "{a}");
    // No header: the proxy itself is the client, and it is not allowed.
    let a = push(&app, &hook, &[]).await;
    assert_eq!(a.status, 403, "{a}");
}

macro_rules! both {
    ($($name:ident),*) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(crate::helpers::Backend::Sqlite).await }
            )*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(crate::helpers::Backend::Postgres).await }
            )*
        }
    };
}

both!(
    untrusted_peers_are_judged_by_their_own_address,
    a_trusted_proxy_forwards_the_client_address
);
