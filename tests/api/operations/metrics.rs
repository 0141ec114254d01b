//! `GET /metrics` through HTTP: counters per outcome, bounded series, histogram buckets, the
//! optional token and the queue snapshot. The scrape is read with a Prometheus text-format
//! parser (`prometheus-parse`).

use std::collections::BTreeSet;

use hookgate::signature::Provider;
use prometheus_parse::{Scrape, Value as Sampled};
use reqwest::Method;
use serde_json::json;

use crate::helpers::TestApp;
use crate::ingest_support::{
    create_hook, pipeline, random_id, send, send_signed, simple_hook, tamper, Hook,
};
use crate::on_both_backends;

on_both_backends!(
    each_outcome_counts_what_was_answered,
    a_thousand_delivery_ids_add_no_series,
    histograms_have_their_buckets,
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
