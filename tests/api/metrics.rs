//! `GET /metrics` through HTTP: counters per outcome, bounded series, histogram buckets, the
//! optional token and the queue snapshot. The scrape is read with a Prometheus text-format
//! parser (`prometheus-parse`).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use hookgate::config::Settings;
use hookgate::domain::role::Role;
use hookgate::ingest::signature::Provider;
use hookgate::startup::Application;
use prometheus_parse::{Scrape, Value as Sampled};
use reqwest::Method;
use secrecy::ExposeSecret;
use serde_json::json;

use crate::helpers::{fresh_database, test_settings, Backend, TestApp};
use crate::ingest_support::{
    create_hook, pipeline, random_id, send, send_signed, simple_hook, tamper, Hook,
};
use crate::on_both_backends;

on_both_backends!(
    each_outcome_counts_what_was_answered,
    a_thousand_delivery_ids_add_no_series,
    histograms_have_their_buckets,
    queue_gauges_come_from_the_snapshot,
);

/// Deliveries of each outcome, N of each.
const N: usize = 3;

pub async fn scrape_text(address: &str, token: Option<&str>) -> (u16, String) {
    let mut req = reqwest::Client::new().get(format!("{address}/metrics"));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.expect("scrape");
    (
        resp.status().as_u16(),
        resp.text().await.expect("scrape body"),
    )
}

pub async fn scrape(address: &str) -> Scrape {
    let (status, text) = scrape_text(address, None).await;
    assert_eq!(status, 200, "{text}");
    Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).expect("a valid exposition")
}

/// The value of the sample `name` whose labels include `labels`.
pub fn value(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape
        .samples
        .iter()
        .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(v)))
        .map(|s| match &s.value {
            Sampled::Counter(v) | Sampled::Gauge(v) | Sampled::Untyped(v) => *v,
            other => panic!("{name} is not a number: {other:?}"),
        })
}

fn deliveries(scrape: &Scrape, hook: &str, outcome: &str) -> f64 {
    value(
        scrape,
        "hookgate_deliveries_total",
        &[("hook", hook), ("outcome", outcome)],
    )
    .unwrap_or(0.0)
}

async fn signed(app: &TestApp, hook: &Hook, id: &str) -> u16 {
    send_signed(
        app,
        hook,
        br#"{"ref":"refs/heads/main"}"#,
        Some(id),
        Some("push"),
    )
    .await
    .status
}

async fn each_outcome_counts_what_was_answered(app: TestApp) {
    let pl = pipeline(&app).await;
    let hook = simple_hook(&app, &pl, Provider::Github).await;
    let mut sent = 0;
    let ids: Vec<String> = (0..N).map(|_| random_id()).collect();
    for id in &ids {
        assert_eq!(signed(&app, &hook, id).await, 202);
    }
    for id in &ids {
        assert_eq!(signed(&app, &hook, id).await, 200, "a duplicate");
    }
    for _ in 0..N {
        let mut headers = hook.sign(b"{}", Some(&random_id()), Some("push"));
        for (name, v) in headers.iter_mut() {
            if name == hook.signature_header() {
                *v = tamper(v);
            }
        }
        let a = send(
            &app,
            &hook.id,
            &headers,
            Some("application/json"),
            b"{}".to_vec(),
        )
        .await;
        assert_eq!(a.status, 401, "{a}");
    }
    for _ in 0..N {
        let body = b"{not json".to_vec();
        let headers = hook.sign(&body, Some(&random_id()), Some("push"));
        let a = send(&app, &hook.id, &headers, Some("application/json"), body).await;
        assert_eq!(a.status, 400, "{a}");
    }
    for _ in 0..N {
        let body = vec![b' '; 5 * 1024 * 1024 + 1];
        let a = send(&app, &hook.id, &[], Some("application/json"), body).await;
        assert_eq!(a.status, 413, "{a}");
    }
    let unknown = format!("hk_{}", random_id());
    for _ in 0..N {
        let a = send(
            &app,
            &unknown,
            &[],
            Some("application/json"),
            b"{}".to_vec(),
        )
        .await;
        assert_eq!(a.status, 404, "{a}");
    }
    sent += 6 * N;

    let filtered = create_hook(
        &app,
        &pl,
        json!({ "provider": "github", "settings": { "filters": [{ "variable": "event", "equals": "release" }] } }),
    )
    .await;
    let required = create_hook(
        &app,
        &pl,
        json!({ "provider": "github", "settings": { "variables": [{ "name": "missing", "path": "nope", "required": true }] } }),
    )
    .await;
    let stripe = simple_hook(&app, &pl, Provider::Stripe).await;
    let inactive = simple_hook(&app, &pl, Provider::Github).await;
    let limited = simple_hook(&app, &pl, Provider::Github).await;
    for (id, patch) in [
        (&inactive.id, json!({ "is_active": false })),
        (&limited.id, json!({ "rate_limit_per_minute": 1 })),
    ] {
        let (s, b) = app
            .call(
                Method::PATCH,
                &format!("/api/v1/hooks/{id}"),
                Some(&app.admin_token),
                Some(patch),
            )
            .await;
        assert_eq!(s, 200, "{b}");
    }
    for _ in 0..N {
        assert_eq!(signed(&app, &filtered, &random_id()).await, 200);
        assert_eq!(signed(&app, &required, &random_id()).await, 422);
        assert_eq!(signed(&app, &inactive, &random_id()).await, 403);
        let body = br#"{"id":"evt_1","type":"charge.succeeded"}"#;
        let headers = stripe.sign_with(
            &stripe.secret,
            body,
            crate::ingest_support::now() - 3600,
            None,
            None,
        );
        let a = send(
            &app,
            &stripe.id,
            &headers,
            Some("application/json"),
            body.to_vec(),
        )
        .await;
        assert_eq!(a.status, 401, "{a}");
    }
    // A limit of one a minute: whatever minute boundary falls in between, the counter must
    // read exactly the 429s that were answered.
    let mut limited_answers = 0;
    for _ in 0..N + 1 {
        if signed(&app, &limited, &random_id()).await == 429 {
            limited_answers += 1;
        }
    }
    sent += 4 * N + N + 1;
    assert!(limited_answers >= N - 1);

    let m = scrape(&app.address).await;
    let n = N as f64;
    for (hook_id, outcome, want) in [
        (hook.id.as_str(), "accepted", n),
        (&hook.id, "duplicate", n),
        (&hook.id, "invalid_signature", n),
        (&hook.id, "invalid_body", n),
        (&hook.id, "too_large", n),
        ("unknown", "hook_not_found", n),
        (&filtered.id, "ignored", n),
        (&required.id, "invalid_variables", n),
        (&stripe.id, "stale_timestamp", n),
        (&inactive.id, "inactive", n),
        (&limited.id, "rate_limited", limited_answers as f64),
    ] {
        assert_eq!(
            deliveries(&m, hook_id, outcome),
            want,
            "{outcome} on {hook_id}"
        );
    }
    assert_eq!(
        value(
            &m,
            "hookgate_deliveries_total",
            &[("hook", &stripe.id), ("provider", "stripe")]
        ),
        Some(n)
    );
    assert_eq!(
        value(&m, "hookgate_ingest_duration_seconds_count", &[]),
        Some(sent as f64)
    );
    assert!(
        !m.samples
            .iter()
            .any(|s| s.labels.get("hook") == Some(unknown.as_str())),
        "an unknown hook id became a label"
    );
}

/// Every series, as `name{labels}`, leaving out the families that follow runs rather than
/// deliveries (their series come and go with run states, bounded by pipelines).
fn series(scrape: &Scrape) -> BTreeSet<String> {
    scrape
        .samples
        .iter()
        .filter(|s| {
            !s.metric.starts_with("hookgate_run") && !s.metric.starts_with("hookgate_oldest")
        })
        .map(|s| {
            let mut labels: Vec<String> =
                s.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            labels.sort();
            format!("{}{{{}}}", s.metric, labels.join(","))
        })
        .collect()
}

async fn a_thousand_delivery_ids_add_no_series(app: TestApp) {
    let pl = pipeline(&app).await;
    let hook = simple_hook(&app, &pl, Provider::Github).await;
    // Warm-up: one of each kind, so that every series these requests can touch exists.
    assert_eq!(signed(&app, &hook, &random_id()).await, 202);
    let a = send(&app, &format!("hk_{}", random_id()), &[], None, vec![]).await;
    assert_eq!(a.status, 404);
    let before = series(&scrape(&app.address).await);

    let ids: Vec<String> = (0..1000).map(|_| random_id()).collect();
    let mut tasks = tokio::task::JoinSet::new();
    for chunk in ids.chunks(125) {
        let chunk = chunk.to_vec();
        let (client, address, hook_id) = (app.client.clone(), app.address.clone(), hook.id.clone());
        let headers: Vec<_> = chunk
            .iter()
            .map(|id| hook.sign(br#"{"ref":"refs/heads/main"}"#, Some(id), Some("push")))
            .collect();
        tasks.spawn(async move {
            for h in headers {
                let body = br#"{"ref":"refs/heads/main"}"#.to_vec();
                let a = crate::ingest_support::send_to(
                    &client,
                    &address,
                    &hook_id,
                    &h,
                    Some("application/json"),
                    body,
                )
                .await;
                assert_eq!(a.status, 202, "{a}");
                let unknown = format!("hk_{}", random_id());
                let a =
                    crate::ingest_support::send_to(&client, &address, &unknown, &[], None, vec![])
                        .await;
                assert_eq!(a.status, 404, "{a}");
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("sender task");
    }
    let scraped = scrape(&app.address).await;
    assert_eq!(deliveries(&scraped, &hook.id, "accepted"), 1001.0);
    assert_eq!(deliveries(&scraped, "unknown", "hook_not_found"), 1001.0);
    let after = series(&scraped);
    assert_eq!(
        after.difference(&before).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "new series after 1,000 delivery ids"
    );
    for s in &scraped.samples {
        for (_, v) in s.labels.iter() {
            assert!(
                !(v.starts_with("dlv_") || v.starts_with("run_") || ids.iter().any(|id| id == v)),
                "{} carries the id {v}",
                s.metric
            );
        }
    }
}

async fn histograms_have_their_buckets(app: TestApp) {
    let pl = pipeline(&app).await;
    let hook = simple_hook(&app, &pl, Provider::Github).await;
    assert_eq!(signed(&app, &hook, &random_id()).await, 202);
    let m = scrape(&app.address).await;
    let buckets = |name: &str| -> Vec<f64> {
        let sample = m
            .samples
            .iter()
            .find(|s| s.metric == name)
            .unwrap_or_else(|| panic!("no {name}"));
        match &sample.value {
            Sampled::Histogram(b) => b.iter().map(|b| b.less_than).collect(),
            other => panic!("{name} is not a histogram: {other:?}"),
        }
    };
    let ingest = buckets("hookgate_ingest_duration_seconds");
    assert_eq!(ingest.first(), Some(&0.0005), "{ingest:?}");
    assert!(
        ingest.contains(&10.0) && ingest.last() == Some(&f64::INFINITY),
        "{ingest:?}"
    );
    assert!(ingest.windows(2).all(|w| w[0] < w[1]));
    let batch = buckets("hookgate_commit_batch_size");
    assert_eq!(
        (batch[0], batch[batch.len() - 2]),
        (1.0, 256.0),
        "{batch:?}"
    );
    assert_eq!(buckets("hookgate_commit_duration_seconds"), ingest);
    assert_eq!(
        value(
            &m,
            "hookgate_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        Some(1.0)
    );
    for process in [
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
        "process_open_fds",
    ] {
        assert!(
            value(&m, process, &[]).is_some_and(|v| v > 0.0),
            "{process}"
        );
    }
}

/// A process on `url` without workers, with `tweak` applied to its settings; returns the app
/// and an admin token.
pub async fn start_without_workers(
    url: &str,
    key: &str,
    tweak: impl FnOnce(&mut Settings),
) -> TestApp {
    let mut settings = test_settings(url, key);
    tweak(&mut settings);
    let app = Application::build(settings, false)
        .await
        .expect("build app");
    let address = format!("http://127.0.0.1:{}", app.port());
    let store = app.store();
    tokio::spawn(app.run_until_stopped());
    let (_, token) = hookgate::accounts::create_token(store.as_ref(), None, Role::Admin, "admin")
        .await
        .expect("admin token");
    TestApp {
        address,
        client: reqwest::Client::new(),
        admin_token: token.expose_secret().to_string(),
        store,
        database_url: url.to_string(),
        master_key: key.to_string(),
        _dir: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metrics_token_guards_the_scrape() {
    let (url, _dir) = fresh_database(Backend::Sqlite).await.unwrap();
    let key = hookgate::crypto::MasterKey::generate().to_base64();
    let token = "metrics-token-0123456789";
    let app = start_without_workers(&url, &key, |s| {
        s.metrics_token = Some(token.to_string().into());
    })
    .await;
    assert_eq!(scrape_text(&app.address, None).await.0, 401);
    assert_eq!(
        scrape_text(&app.address, Some("metrics-token-012345678"))
            .await
            .0,
        401
    );
    assert_eq!(
        scrape_text(&app.address, Some(&app.admin_token)).await.0,
        401
    );
    let (status, text) = scrape_text(&app.address, Some(token)).await;
    assert_eq!(status, 200);
    assert!(!text.contains(token));

    // The OpenAPI document: /metrics needs no API token and lists its 401; the logs route
    // lists `follow` and every status it answers.
    let (s, doc) = app.call(Method::GET, "/api/openapi.json", None, None).await;
    assert_eq!(s, 200);
    let metrics = &doc["paths"]["/metrics"]["get"];
    assert_eq!(metrics["security"], json!([{}]), "{metrics}");
    for status in ["200", "401"] {
        assert!(
            metrics["responses"][status].is_object(),
            "/metrics {status}: {metrics}"
        );
    }
    let logs = &doc["paths"]["/api/v1/runs/{run}/logs"]["get"];
    assert!(
        logs["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "follow"),
        "{logs}"
    );
    for status in ["200", "400", "401", "404", "503"] {
        assert!(
            logs["responses"][status].is_object(),
            "logs {status}: {logs}"
        );
    }
}

async fn queue_gauges_come_from_the_snapshot(app: TestApp) {
    // A second process on a fresh database of the same backend, without workers, so that
    // runs stay queued.
    let backend = if app.database_url.starts_with("postgres") {
        Backend::Postgres
    } else {
        Backend::Sqlite
    };
    let (url, _dir) = fresh_database(backend).await.unwrap();
    let queue = start_without_workers(&url, &app.master_key, |_| {}).await;
    let prj = queue.project("queue").await;
    let pl = queue.pipeline(&prj, &queue.admin_token, &[]).await;
    for _ in 0..3 {
        let (s, b) = queue
            .post(
                &format!("/api/v1/pipelines/{pl}/runs"),
                &queue.admin_token,
                json!({ "variables": {} }),
            )
            .await;
        assert_eq!(s, 202, "{b}");
    }
    // The snapshot runs every 5 s: wait for one taken after the runs exist (bounded).
    let started = Instant::now();
    loop {
        let m = scrape(&queue.address).await;
        let queued = value(
            &m,
            "hookgate_runs",
            &[("pipeline", &pl), ("status", "queued")],
        );
        if queued == Some(3.0) {
            let age = value(&m, "hookgate_oldest_queued_run_age_seconds", &[]).unwrap();
            assert!(age > 0.0, "oldest queued run age {age}");
            assert_eq!(value(&m, "hookgate_outgoing_pending", &[]), Some(0.0));
            assert_eq!(value(&m, "hookgate_queue_snapshot_capped", &[]), Some(0.0));
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no snapshot showed the queue: {queued:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
