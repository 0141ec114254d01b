//! `GET /metrics` from a process without workers: the queue gauges from the periodic snapshot,
//! the optional token, and the route's OpenAPI entry.

use std::time::{Duration, Instant};

use hookgate::config::Settings;
use hookgate::domain::role::Role;
use hookgate::startup::Application;
use reqwest::Method;
use secrecy::ExposeSecret;
use serde_json::json;

use crate::helpers::{fresh_database, test_settings, Backend, TestApp};
use crate::on_both_backends;
use crate::operations::metrics::{scrape, scrape_text, value};

on_both_backends!(queue_gauges_come_from_the_snapshot);

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
    assert_eq!(metrics["security"], json!([]), "{metrics}");
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
