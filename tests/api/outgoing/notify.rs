//! Outgoing hooks through the API: signed, ordered, retried, durable notifications to local
//! receivers; Slack and payload templates; validation.
//!
//! The test settings use a tiny retry schedule (`HOOKGATE_NOTIFY_BACKOFF_SECS` =
//! 0.1,0.2,0.3,0.4,0.5), so retries take fractions of a second.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hookgate::domain::concurrency::ConcurrencyPolicy;
use hookgate::domain::ids::RunId;
use hookgate::domain::run_status::RunStatus;
use hookgate::domain::time::now_ms;
use hookgate::signature::{sign, verify, Provider, VerifyConfig};
use hookgate::startup::Application;
use reqwest::Method;
use secrecy::ExposeSecret;
use serde_json::{json, Value};

use crate::helpers::{fresh_database, start_on, test_settings, Backend, TestApp};

crate::on_both_backends!(
    signed_push_notifies_queued_started_succeeded_in_order,
    failures_are_retried_with_the_configured_spacing_until_delivered,
    gone_disables_the_hook,
    a_hanging_receiver_is_a_timeout,
    templates_render_and_slack_gets_text,
    outgoing_hooks_crud_shares_the_hooks_routes,
    bad_hooks_are_refused_with_422,
);

/// One request a receiver got.
#[derive(Debug, Clone)]
pub(crate) struct Hit {
    pub(crate) path: String,
    pub(crate) at_ms: i64,
    pub(crate) headers: HashMap<String, String>,
    pub(crate) body: Vec<u8>,
}

impl Hit {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
}

pub(crate) struct Receiver {
    pub(crate) url: String,
    hits: Arc<Mutex<Vec<Hit>>>,
}

impl Receiver {
    pub(crate) fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }

    /// Waits (bounded) until at least `n` requests arrived.
    pub(crate) async fn wait_for(&self, n: usize) -> Vec<Hit> {
        for _ in 0..400 {
            let hits = self.hits();
            if hits.len() >= n {
                return hits;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the receiver got {} requests, not {n}", self.hits().len());
    }
}

/// A receiver on 127.0.0.1:0 that answers `answers` in turn, then 200; with `hang`, it never
/// answers.
pub(crate) async fn receiver(answers: Vec<u16>, hang: bool) -> Receiver {
    let hits: Arc<Mutex<Vec<Hit>>> = Arc::default();
    let script = Arc::new(Mutex::new(answers.into_iter()));
    let sink = hits.clone();
    let server = actix_web::HttpServer::new(move || {
        let sink = sink.clone();
        let script = script.clone();
        actix_web::App::new().default_service(actix_web::web::to(
            move |req: actix_web::HttpRequest, body: actix_web::web::Bytes| {
                let sink = sink.clone();
                let script = script.clone();
                async move {
                    let headers = req
                        .headers()
                        .iter()
                        .map(|(k, v)| {
                            (
                                k.as_str().to_string(),
                                v.to_str().unwrap_or_default().to_string(),
                            )
                        })
                        .collect();
                    sink.lock().unwrap().push(Hit {
                        path: req.path().to_string(),
                        at_ms: now_ms(),
                        headers,
                        body: body.to_vec(),
                    });
                    if hang {
                        std::future::pending::<()>().await;
                    }
                    let code = script.lock().unwrap().next().unwrap_or(200);
                    actix_web::HttpResponse::build(
                        actix_web::http::StatusCode::from_u16(code).unwrap(),
                    )
                    .finish()
                }
            },
        ))
    })
    .workers(1)
    .bind("127.0.0.1:0")
    .unwrap();
    let port = server.addrs()[0].port();
    tokio::spawn(server.run());
    Receiver {
        url: format!("http://127.0.0.1:{port}"),
        hits,
    }
}

async fn project_pipeline(app: &TestApp, vars: &[&str]) -> String {
    let prj = app.project(&format!("p{}", rand::random::<u32>())).await;
    app.pipeline(&prj, &app.admin_token, vars).await
}

async fn outgoing(app: &TestApp, pl: &str, body: Value) -> Value {
    let (s, b) = app
        .post(
            &format!("/api/v1/pipelines/{pl}/hooks/outgoing"),
            &app.admin_token,
            body,
        )
        .await;
    assert_eq!(s, 201, "{b}");
    b
}

async fn manual(app: &TestApp, pl: &str, vars: Value) -> String {
    let (s, b) = app
        .post(
            &format!("/api/v1/pipelines/{pl}/runs"),
            &app.admin_token,
            json!({ "variables": vars }),
        )
        .await;
    assert_eq!(s, 202, "{b}");
    b["run_id"].as_str().unwrap().to_string()
}

/// Polls the hook's events until the first one is no longer pending (bounded).
async fn wait_event_done(app: &TestApp, oh: &str) -> Value {
    for _ in 0..400 {
        let (s, b) = app
            .get(&format!("/api/v1/hooks/{oh}/events"), &app.admin_token)
            .await;
        assert_eq!(s, 200, "{b}");
        if let Some(e) = b["items"].as_array().and_then(|i| i.first()) {
            if e["status"] != "pending" {
                return e.clone();
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the event of {oh} stayed pending");
}

async fn attempts(app: &TestApp, oh: &str) -> Vec<Value> {
    let (s, b) = app
        .get(&format!("/api/v1/hooks/{oh}/attempts"), &app.admin_token)
        .await;
    assert_eq!(s, 200, "{b}");
    b["items"].as_array().unwrap().clone()
}

fn verify_hit(hit: &Hit, secret: &str) {
    let lookup = |n: &str| hit.headers.get(n).cloned();
    let r = verify(
        &VerifyConfig::new(Provider::StandardWebhooks),
        &[secret],
        &lookup,
        &hit.body,
        now_ms() / 1000,
    );
    assert_eq!(r, Ok(0), "signature of {:?}", hit.headers);
}

async fn signed_push_notifies_queued_started_succeeded_in_order(app: TestApp) {
    let rx = receiver(vec![], false).await;
    let pl = project_pipeline(&app, &[]).await;
    let oh = outgoing(&app, &pl, json!({ "name": "tell", "channel": "webhook", "url": format!("{}/notify", rx.url),
        "headers": { "X-Env": "prod" }, "triggers": ["run.queued", "run.started", "run.succeeded"] }))
    .await;
    let secret = oh["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_"), "{oh}");
    assert!(oh["id"].as_str().unwrap().starts_with("oh_"));
    let (s, hook) = app
        .post(
            &format!("/api/v1/pipelines/{pl}/hooks/incoming"),
            &app.admin_token,
            json!({ "name": "gh", "provider": "github" }),
        )
        .await;
    assert_eq!(s, 201, "{hook}");
    let body = serde_json::to_vec(&json!({ "ref": "refs/heads/main" })).unwrap();
    let mut req = app
        .client
        .post(hook["url"].as_str().unwrap())
        .header("content-type", "application/json");
    for (k, v) in sign(
        &VerifyConfig::new(Provider::Github),
        hook["secret"].as_str().unwrap(),
        &body,
        now_ms() / 1000,
        Some("push-1"),
        Some("push"),
    ) {
        req = req.header(k, v);
    }
    let resp = req.body(body).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 202);
    let run_id = resp.json::<Value>().await.unwrap()["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    let hits = rx.wait_for(3).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.hits().len(), 3, "exactly the three subscribed events");
    let events: Vec<Value> = hits.iter().map(|h| h.json()["event"].clone()).collect();
    assert_eq!(
        events,
        vec![
            json!("run.queued"),
            json!("run.started"),
            json!("run.succeeded")
        ]
    );
    for hit in &hits {
        verify_hit(hit, &secret);
        let b = hit.json();
        assert_eq!(hit.path, "/notify");
        assert_eq!(hit.headers["webhook-id"], b["event_id"].as_str().unwrap());
        assert!(b["event_id"].as_str().unwrap().starts_with("evt_"));
        assert_eq!(hit.headers["x-env"], "prod");
        assert_eq!(hit.headers["content-type"], "application/json");
        assert_eq!(b["run"]["id"], run_id.as_str());
        assert_eq!(b["pipeline"]["id"], pl.as_str());
        assert!(b["project"]["name"].is_string(), "{b}");
    }
    assert_eq!(hits[0].json()["run"]["status"], "queued");
    assert_eq!(hits[2].json()["run"]["status"], "succeeded");
    assert!(hits[2].json()["run"]["finished_at"].is_string());
    // A wrong secret does not verify.
    let wrong = Provider::StandardWebhooks.generate_secret();
    let lookup = |n: &str| hits[0].headers.get(n).cloned();
    assert!(verify(
        &VerifyConfig::new(Provider::StandardWebhooks),
        &[&wrong],
        &lookup,
        &hits[0].body,
        now_ms() / 1000
    )
    .is_err());
}

async fn failures_are_retried_with_the_configured_spacing_until_delivered(app: TestApp) {
    let rx = receiver(vec![500, 500, 500, 500], false).await;
    let pl = project_pipeline(&app, &[]).await;
    let oh = outgoing(
        &app,
        &pl,
        json!({ "name": "flaky", "url": rx.url, "triggers": ["run.succeeded"] }),
    )
    .await;
    let oh = oh["id"].as_str().unwrap();
    manual(&app, &pl, json!({})).await;
    let event = wait_event_done(&app, oh).await;
    assert_eq!(event["status"], "delivered", "{event}");
    assert_eq!(event["attempts"], 5);
    let mut list = attempts(&app, oh).await;
    assert_eq!(list.len(), 5, "{list:?}");
    assert_eq!(list[0]["attempt"], 5, "newest first");
    list.reverse();
    let codes: Vec<i64> = list
        .iter()
        .map(|a| a["status_code"].as_i64().unwrap())
        .collect();
    assert_eq!(codes, vec![500, 500, 500, 500, 200]);
    assert_eq!(list[0]["error"], "answered 500");
    assert!(list[4]["error"].is_null());
    for a in &list {
        assert_eq!(a["event"], "run.succeeded");
        assert_eq!(a["event_id"], event["id"]);
        assert!(a["latency_ms"].as_i64().unwrap() >= 0);
    }
    // The schedule in the test settings: 0.1 s, 0.2 s, 0.3 s, 0.4 s between attempts, at least.
    for (i, min_ms) in [100, 200, 300, 400].into_iter().enumerate() {
        let gap = list[i + 1]["at_ms"].as_i64().unwrap() - list[i]["at_ms"].as_i64().unwrap();
        assert!(
            gap >= min_ms,
            "attempt {} came {gap} ms after the one before, under {min_ms} ms",
            i + 2
        );
    }
    let hits = rx.hits();
    assert_eq!(hits.len(), 5);
    let ids: Vec<&String> = hits.iter().map(|h| &h.headers["webhook-id"]).collect();
    assert!(
        ids.iter().all(|i| *i == ids[0]),
        "one event id across retries"
    );
    for (i, min_ms) in [100, 200, 300, 400].into_iter().enumerate() {
        let gap = hits[i + 1].at_ms - hits[i].at_ms;
        assert!(
            gap >= min_ms,
            "request {} arrived {gap} ms after the one before",
            i + 2
        );
    }
}

async fn gone_disables_the_hook(app: TestApp) {
    let rx = receiver(vec![410], false).await;
    let pl = project_pipeline(&app, &[]).await;
    let oh = outgoing(
        &app,
        &pl,
        json!({ "name": "gone", "url": rx.url, "triggers": ["run.succeeded"] }),
    )
    .await;
    let oh = oh["id"].as_str().unwrap();
    manual(&app, &pl, json!({})).await;
    let event = wait_event_done(&app, oh).await;
    assert_eq!(event["status"], "failed", "{event}");
    let (s, hook) = app
        .get(&format!("/api/v1/hooks/{oh}"), &app.admin_token)
        .await;
    assert_eq!(s, 200, "{hook}");
    assert_eq!(hook["is_active"], false, "{hook}");
    assert!(
        hook["disabled_reason"].as_str().unwrap().contains("410"),
        "{hook}"
    );
    assert_eq!(attempts(&app, oh).await.len(), 1, "no retry after 410");
    // A disabled hook gets no new events; switching it on again clears the reason.
    manual(&app, &pl, json!({})).await;
    let (s, hook) = app
        .call(
            Method::PATCH,
            &format!("/api/v1/hooks/{oh}"),
            Some(&app.admin_token),
            Some(json!({ "is_active": true })),
        )
        .await;
    assert_eq!(s, 200, "{hook}");
    assert!(hook.get("disabled_reason").is_none(), "{hook}");
}

async fn a_hanging_receiver_is_a_timeout(app: TestApp) {
    let rx = receiver(vec![], true).await;
    let pl = project_pipeline(&app, &[]).await;
    let oh = outgoing(
        &app,
        &pl,
        json!({ "name": "slow", "url": rx.url, "triggers": ["run.succeeded"], "timeout_secs": 1 }),
    )
    .await;
    let oh = oh["id"].as_str().unwrap();
    manual(&app, &pl, json!({})).await;
    for _ in 0..200 {
        let list = attempts(&app, oh).await;
        if let Some(first) = list.last() {
            assert!(first["status_code"].is_null(), "{first}");
            assert!(
                first["error"].as_str().unwrap().contains("timeout"),
                "{first}"
            );
            assert!(first["latency_ms"].as_i64().unwrap() >= 900, "{first}");
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no attempt was recorded");
}

async fn templates_render_and_slack_gets_text(app: TestApp) {
    let rx = receiver(vec![], false).await;
    let pl = project_pipeline(&app, &["git_ref"]).await;
    outgoing(&app, &pl, json!({ "name": "humanitec", "url": format!("{}/humanitec", rx.url), "triggers": ["run.succeeded"],
        "payload": { "application": "${pipeline_name}", "deployment": "${run_id}", "status": "${status}" } }))
    .await;
    outgoing(&app, &pl, json!({ "name": "slack", "channel": "slack", "url": format!("{}/slack", rx.url),
        "triggers": ["run.succeeded"], "text": "${pipeline_name} ${event}: ${status} on ${git_ref}" }))
    .await;
    let run = manual(&app, &pl, json!({ "git_ref": "main" })).await;
    let hits = rx.wait_for(2).await;
    let (_, pipeline) = app
        .get(&format!("/api/v1/pipelines/{pl}"), &app.admin_token)
        .await;
    let name = pipeline["name"].as_str().unwrap();
    let humanitec = hits.iter().find(|h| h.path == "/humanitec").unwrap();
    assert_eq!(
        String::from_utf8(humanitec.body.clone()).unwrap(),
        format!(r#"{{"application":"{name}","deployment":"{run}","status":"succeeded"}}"#)
    );
    let slack = hits.iter().find(|h| h.path == "/slack").unwrap();
    assert_eq!(
        slack.json(),
        json!({ "text": format!("{name} run.succeeded: succeeded on main") })
    );
    assert!(slack.headers.contains_key("webhook-signature"));
}

async fn outgoing_hooks_crud_shares_the_hooks_routes(app: TestApp) {
    let pl = project_pipeline(&app, &[]).await;
    let created = outgoing(
        &app,
        &pl,
        json!({ "name": "crm", "url": "https://example.com/hook", "is_active": false }),
    )
    .await;
    let oh = created["id"].as_str().unwrap();
    let secret = created["secret"].as_str().unwrap();
    assert_eq!(created["channel"], "webhook");
    assert_eq!(created["timeout_secs"], 10);
    assert_eq!(created["is_active"], false);
    assert_eq!(
        created["triggers"].as_array().unwrap().len(),
        7,
        "all events by default"
    );
    let (s, incoming) = app
        .post(
            &format!("/api/v1/pipelines/{pl}/hooks/incoming"),
            &app.admin_token,
            json!({ "name": "gh", "provider": "github" }),
        )
        .await;
    assert_eq!(s, 201);
    let hk = incoming["id"].as_str().unwrap();

    let (s, read) = app
        .get(&format!("/api/v1/hooks/{oh}"), &app.admin_token)
        .await;
    assert_eq!(s, 200, "{read}");
    assert_eq!(
        read["secret"],
        format!("••••{}", &secret[secret.len() - 4..])
    );
    let (s, read_in) = app
        .get(&format!("/api/v1/hooks/{hk}"), &app.admin_token)
        .await;
    assert_eq!(s, 200);
    assert_eq!(read_in["provider"], "github");

    let (s, listed) = app
        .get(&format!("/api/v1/pipelines/{pl}/hooks"), &app.admin_token)
        .await;
    assert_eq!(s, 200);
    assert_eq!(listed["incoming"][0]["id"], hk);
    assert_eq!(listed["outgoing"][0]["id"], oh);
    assert!(!listed.to_string().contains(secret), "secrets stay masked");

    let (s, patched) = app
        .call(
            Method::PATCH,
            &format!("/api/v1/hooks/{oh}"),
            Some(&app.admin_token),
            Some(json!({ "is_active": true, "headers": { "Authorization": "Bearer x" }, "triggers": ["run.failed"] })),
        )
        .await;
    assert_eq!(s, 200, "{patched}");
    assert_eq!(patched["is_active"], true);
    assert_eq!(patched["triggers"], json!(["run.failed"]));
    assert_eq!(patched["headers"]["Authorization"], "Bearer x");
    let (s, bad) = app
        .call(
            Method::PATCH,
            &format!("/api/v1/hooks/{oh}"),
            Some(&app.admin_token),
            Some(json!({ "provider": "github" })),
        )
        .await;
    assert_eq!(
        s, 422,
        "an incoming field is unknown to an outgoing hook: {bad}"
    );
    let (s, _) = app
        .call(
            Method::PATCH,
            &format!("/api/v1/hooks/{hk}"),
            Some(&app.admin_token),
            Some(json!({ "is_active": false })),
        )
        .await;
    assert_eq!(s, 200, "incoming hooks still patch");

    let (s, rotated) = app
        .post(
            &format!("/api/v1/hooks/{oh}/rotate-secret"),
            &app.admin_token,
            json!({}),
        )
        .await;
    assert_eq!(s, 200, "{rotated}");
    let new_secret = rotated["secret"].as_str().unwrap();
    assert!(new_secret.starts_with("whsec_") && new_secret != secret);
    assert!(
        rotated["previous_secret_expires_at"].is_string(),
        "{rotated}"
    );
    let (s, rotated) = app
        .post(
            &format!("/api/v1/hooks/{oh}/rotate-secret"),
            &app.admin_token,
            json!({ "grace_period_secs": 0 }),
        )
        .await;
    assert_eq!(s, 200, "{rotated}");
    assert!(
        rotated.get("previous_secret_expires_at").is_none(),
        "{rotated}"
    );
    let (s, _) = app
        .post(
            &format!("/api/v1/hooks/{oh}/rotate-secret"),
            &app.admin_token,
            json!({ "secret": "not-whsec" }),
        )
        .await;
    assert_eq!(s, 422);

    let (s, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/hooks/{oh}"),
            Some(&app.admin_token),
            None,
        )
        .await;
    assert_eq!(s, 204);
    let (s, _) = app
        .get(&format!("/api/v1/hooks/{oh}"), &app.admin_token)
        .await;
    assert_eq!(s, 404);
    let (s, _) = app
        .get(&format!("/api/v1/hooks/{oh}/attempts"), &app.admin_token)
        .await;
    assert_eq!(s, 404);
    let (s, _) = app
        .get(&format!("/api/v1/hooks/{hk}"), &app.admin_token)
        .await;
    assert_eq!(s, 200, "the incoming hook is untouched");
}

fn fields(body: &Value) -> Vec<String> {
    body["details"]
        .as_array()
        .map(|d| {
            d.iter()
                .map(|e| e["field"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

async fn bad_hooks_are_refused_with_422(app: TestApp) {
    let pl = project_pipeline(&app, &["git_ref"]).await;
    let path = format!("/api/v1/pipelines/{pl}/hooks/outgoing");
    let cases = [
        (
            json!({ "name": "a", "url": "https://example.com", "payload": { "x": "${nope}" } }),
            "payload",
        ),
        (
            json!({ "name": "a", "url": "https://example.com", "payload": { "x": "${secrets.T}" } }),
            "payload",
        ),
        (
            json!({ "name": "a", "channel": "slack", "url": "https://example.com", "text": "${git_ref} ${who}" }),
            "text",
        ),
        (
            json!({ "name": "a", "url": "https://example.com", "triggers": ["run.exploded"] }),
            "triggers",
        ),
        (
            json!({ "name": "a", "url": "https://example.com", "triggers": [] }),
            "triggers",
        ),
        (
            json!({ "name": "a", "url": "https://example.com", "timeout_secs": 61 }),
            "timeout_secs",
        ),
        (
            json!({ "name": "a", "url": "https://example.com", "channel": "sms" }),
            "channel",
        ),
        (json!({ "name": "a", "url": "ftp://example.com" }), "url"),
        (
            json!({ "name": "a", "url": "https://example.com", "headers": { "webhook-signature": "x" } }),
            "headers.webhook-signature",
        ),
    ];
    for (body, field) in cases {
        let (s, b) = app.post(&path, &app.admin_token, body.clone()).await;
        assert_eq!(s, 422, "{body} → {b}");
        assert!(fields(&b).contains(&field.to_string()), "{body} → {b}");
    }
    // Known names pass: built-ins, the pipeline's variables.
    outgoing(&app, &pl, json!({ "name": "ok", "url": "https://example.com",
        "payload": { "e": "${event}", "id": "${event_id}", "r": "${git_ref}", "c": "${comment}", "t": "${triggered_at}" } }))
    .await;

    // With private targets not allowed (the default outside tests), the guard refuses at save time.
    let mut settings = test_settings(&app.database_url, &app.master_key);
    settings.allow_private_targets = false;
    let strict = Application::build(settings, false).await.expect("build");
    let address = format!("http://127.0.0.1:{}", strict.port());
    tokio::spawn(strict.run_until_stopped());
    for url in [
        "https://127.0.0.1/hook",
        "https://169.254.169.254/latest",
        "http://example.com/hook",
    ] {
        let resp = app
            .client
            .post(format!("{address}{path}"))
            .bearer_auth(&app.admin_token)
            .json(&json!({ "name": "private", "url": url }))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 422, "{url}");
        let b: Value = resp.json().await.unwrap();
        assert_eq!(fields(&b), vec!["url".to_string()], "{b}");
    }
}

/// Events are committed with the run state change: a run queued while no deliverer runs is
/// notified by the next process that starts with workers on the same database.
async fn events_survive_a_restart(backend: Backend) {
    let Some((url, dir)) = fresh_database(backend).await else {
        return;
    };
    let key = hookgate::crypto::MasterKey::generate().to_base64();
    let first = Application::build(test_settings(&url, &key), false)
        .await
        .expect("build without workers");
    let address = format!("http://127.0.0.1:{}", first.port());
    let store = first.store();
    tokio::spawn(first.run_until_stopped());
    let (_, token) = hookgate::accounts::create_token(
        store.as_ref(),
        None,
        hookgate::domain::role::Role::Admin,
        "admin",
    )
    .await
    .unwrap();
    let a = TestApp {
        address,
        client: reqwest::Client::new(),
        admin_token: token.expose_secret().to_string(),
        store,
        database_url: url.clone(),
        master_key: key.clone(),
        _dir: None,
    };
    let rx = receiver(vec![], false).await;
    let pl = project_pipeline(&a, &[]).await;
    let oh = outgoing(&a, &pl, json!({ "name": "durable", "url": rx.url })).await;
    let oh = oh["id"].as_str().unwrap();
    let run = manual(&a, &pl, json!({})).await;
    let (_, events) = a
        .get(&format!("/api/v1/hooks/{oh}/events"), &a.admin_token)
        .await;
    let items = events["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{events}");
    assert_eq!(items[0]["event"], "run.queued");
    assert_eq!(items[0]["status"], "pending");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(rx.hits().is_empty(), "nothing delivers without workers");

    let _second = start_on(&url, &key).await;
    let hits = rx.wait_for(3).await;
    let first = hits[0].json();
    assert_eq!(first["event"], "run.queued");
    assert_eq!(first["event_id"], items[0]["id"]);
    assert_eq!(first["run"]["id"], run.as_str());
    assert_eq!(hits[2].json()["event"], "run.succeeded");
    drop(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_events_survive_a_restart() {
    events_survive_a_restart(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_events_survive_a_restart() {
    events_survive_a_restart(Backend::Postgres).await;
}

/// Every run state change inserts its events in its own transaction, and only when it happened:
/// cancel of a queued run, supersede, claim, a fenced finish, recovery of a lost run.
async fn state_changes_enqueue_their_events(backend: Backend) {
    use hookgate::store::{OutgoingHookRow, PipelineRow, ProjectRow, RunRow};
    let Some((url, _dir)) = fresh_database(backend).await else {
        return;
    };
    let key = hookgate::crypto::MasterKey::generate().to_base64();
    let store = hookgate::store::connect(&test_settings(&url, &key))
        .await
        .unwrap();
    let now = now_ms();
    store
        .insert_project(&ProjectRow {
            id: "prj_t".into(),
            name: "t".into(),
            created_at: now,
        })
        .await
        .unwrap();
    store
        .insert_pipeline(&PipelineRow {
            id: "pl_t".into(),
            project_id: "prj_t".into(),
            name: "deploy".into(),
            spec: "{}".into(),
            created_at: now,
            updated_at: now,
        })
        .await
        .unwrap();
    let hook = |id: &str, triggers: &str, active: bool| OutgoingHookRow {
        id: id.into(),
        pipeline_id: "pl_t".into(),
        project_id: "prj_t".into(),
        name: id.into(),
        channel: "webhook".into(),
        url: "https://example.com".into(),
        headers: "{}".into(),
        triggers: triggers.into(),
        payload: None,
        text_template: None,
        timeout_secs: 10,
        is_active: active,
        disabled_reason: None,
        secret_ct: vec![0],
        secret_last4: "abcd".into(),
        prev_secret_ct: None,
        prev_secret_expires_at: None,
        created_at: now,
        updated_at: now,
        email_to: None,
        subject_template: None,
        payload_template: None,
        secret_header: None,
        request_form: None,
        request_doc: None,
    };
    let all = serde_json::to_string(&hookgate::notify::render::EVENTS).unwrap();
    store
        .insert_outgoing_hook(&hook("oh_all", &all, true))
        .await
        .unwrap();
    store
        .insert_outgoing_hook(&hook("oh_final", r#"["run.failed"]"#, true))
        .await
        .unwrap();
    store
        .insert_outgoing_hook(&hook("oh_off", &all, false))
        .await
        .unwrap();
    let run = |id: &str, at: i64, key: Option<&str>| RunRow {
        id: id.into(),
        pipeline_id: "pl_t".into(),
        project_id: "prj_t".into(),
        hook_id: None,
        delivery_id: None,
        status: hookgate::domain::run_status::RunStatus::Queued,
        reason: None,
        variables: r#"{"git_ref":"main"}"#.into(),
        triggered_by: "manual:tok_t".into(),
        concurrency_key: key.map(str::to_string),
        attempt: 0,
        lease_expires_at: None,
        created_at: at,
        started_at: None,
        finished_at: None,
        worker_id: None,
        cancel_requested: false,
        max_attempts: 1,
        concurrency_policy: key.map(|_| ConcurrencyPolicy::Supersede),
        concurrency_max: key.map(|_| 1),
    };
    let events_of = |hook: &'static str| {
        let store = store.clone();
        async move {
            let mut list: Vec<(String, String)> = store
                .list_events(hook, 100)
                .await
                .unwrap()
                .into_iter()
                .map(|e| (e.run_id, e.event))
                .collect();
            list.sort();
            list
        }
    };
    let pair = |r: &str, e: &str| (r.to_string(), e.to_string());

    // Cancel a queued run.
    store.insert_run(&run("run_a", now, None)).await.unwrap();
    assert_eq!(
        store.request_cancel("run_a", now).await.unwrap(),
        Some(RunStatus::Cancelled)
    );
    // A second cancel changes nothing and enqueues nothing.
    store.request_cancel("run_a", now).await.unwrap();
    // Supersede: the older of two queued runs of one key is superseded, the newer starts.
    store
        .insert_run(&run("run_b", now + 1, Some("main")))
        .await
        .unwrap();
    store
        .insert_run(&run("run_c", now + 2, Some("main")))
        .await
        .unwrap();
    let claimed = store.claim_run("wrk_t", 1, now + 3).await.unwrap().unwrap();
    assert_eq!(claimed.id, "run_c");
    // A finish by a stale attempt is fenced off: no event.
    assert!(!store
        .finish_run(
            &RunId::from("run_c"),
            99,
            hookgate::domain::run_status::RunStatus::Succeeded,
            None,
            now + 4
        )
        .await
        .unwrap());
    // The lease (1 ms) expires: recovery fails the run with worker_lost.
    let recovered = store.recover_expired(now + 10).await.unwrap();
    assert_eq!(recovered, vec![(RunId::from("run_c"), RunStatus::Failed)]);

    assert_eq!(
        events_of("oh_all").await,
        vec![
            pair("run_a", "run.cancelled"),
            pair("run_a", "run.queued"),
            pair("run_b", "run.queued"),
            pair("run_b", "run.superseded"),
            pair("run_c", "run.failed"),
            pair("run_c", "run.queued"),
            pair("run_c", "run.started"),
        ]
    );
    assert_eq!(
        events_of("oh_final").await,
        vec![pair("run_c", "run.failed")]
    );
    assert!(
        events_of("oh_off").await.is_empty(),
        "inactive hooks get nothing"
    );
    let failed = store.list_events("oh_final", 1).await.unwrap().remove(0);
    let snapshot: Value = serde_json::from_str(&failed.snapshot).unwrap();
    assert_eq!(snapshot["status"], "failed");
    assert_eq!(snapshot["reason"], "worker_lost");
    assert_eq!(snapshot["variables"]["git_ref"], "main");
    assert_eq!(snapshot["project_name"], "t");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_state_changes_enqueue_their_events() {
    state_changes_enqueue_their_events(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_state_changes_enqueue_their_events() {
    state_changes_enqueue_their_events(Backend::Postgres).await;
}
