//! Readiness and 503s for an unavailable database (SPEC §7, issue #11):
//!
//! - a read-only SQLite database: `/readyz` is 503 (it was 200 while every write failed), a
//!   manual run and ingest answer 503 + `Retry-After` (a manual run was a 500);
//! - PostgreSQL unreachable at start (a cut proxy): `serve` starts (it exited 1), answers 503 +
//!   `Retry-After` on every route but `/healthz`, migrates and becomes ready when the database
//!   returns, and its workers run runs;
//! - PostgreSQL cut while serving, 8 concurrent senders: every answer is a 503 with
//!   `Retry-After`, none as slow as GitHub's 10 s give-up (several were, before), whether
//!   the database refuses connections or accepts them and never answers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hookgate::domain::ids::{new_id, IdKind};
use hookgate::startup::Application;
use reqwest::StatusCode;
use serde_json::json;
use tokio::task::JoinSet;

use crate::execution::runs::{manual, wait_final};
use crate::helpers::{fresh_database, spawn_app, start_with, test_settings, Backend};
use crate::ingest_support::{random_id, simple_hook};
use crate::outage_support::Proxy;
use hookgate::signature::Provider;

/// Starts an app without touching its database; returns its address.
async fn build_only(settings: hookgate::config::Settings) -> String {
    let application = Application::build(settings, true)
        .await
        .expect("hookgate starts");
    let address = format!("http://127.0.0.1:{}", application.port());
    tokio::spawn(application.run_until_stopped());
    address
}

/// Asserts a 503 `unavailable` with `Retry-After`.
async fn assert_503(resp: reqwest::Response, what: &str) {
    let status = resp.status();
    let retry = resp.headers().get("retry-after").cloned();
    let body = resp.text().await.unwrap_or_default();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{what}: {body}");
    assert!(retry.is_some(), "{what}: no Retry-After");
    assert!(body.contains("\"unavailable\""), "{what}: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_sqlite_database_is_not_ready_and_answers_503() {
    let app = spawn_app(Backend::Sqlite).await.expect("sqlite");
    let prj = app.project("ro").await;
    let pl = app.pipeline(&prj, &app.admin_token, &[]).await;
    let hook = simple_hook(&app, &pl, Provider::Generic).await;
    let (s, _) = app.get("/readyz", &app.admin_token).await;
    assert_eq!(s, 200);

    let ro = build_only(test_settings(
        &format!("{}?mode=ro", app.database_url),
        &app.master_key,
    ))
    .await;
    let client = reqwest::Client::new();
    let get = |path: &str| client.get(format!("{ro}{path}")).send();
    assert_503(get("/readyz").await.unwrap(), "/readyz").await;
    let (s, _) = app.get("/readyz", &app.admin_token).await;
    assert_eq!(s, 200, "the writable process stays ready");
    // Reads still work.
    let projects = client
        .get(format!("{ro}/api/v1/projects"))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(projects.status(), StatusCode::OK);
    let run = client
        .post(format!("{ro}/api/v1/pipelines/{pl}/runs"))
        .bearer_auth(&app.admin_token)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_503(run, "a manual run").await;
    let mut ingest = client
        .post(format!("{ro}/hooks/{}", hook.id))
        .header("content-type", "application/json")
        .body(BODY);
    for (name, value) in hook.sign(BODY, Some(&random_id()), None) {
        ingest = ingest.header(name, value);
    }
    assert_503(ingest.send().await.unwrap(), "ingest").await;
}

/// A request: method, path, extra headers.
type Req = (reqwest::Method, String, Vec<(String, String)>);

const BODY: &[u8] = br#"{"ref":"refs/heads/main"}"#;

/// Sends what a sender and an API client would, `rounds` times from each of 8 tasks; returns
/// every answer as (what, status, took, has Retry-After).
async fn eight_senders(
    address: &str,
    paths: Arc<Vec<Req>>,
    rounds: usize,
) -> Vec<(String, u16, Duration, bool)> {
    let mut tasks = JoinSet::new();
    for _ in 0..8 {
        let (address, paths) = (address.to_string(), paths.clone());
        tasks.spawn(async move {
            let client = reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap();
            let mut seen = Vec::new();
            for _ in 0..rounds {
                for (method, path, headers) in paths.iter() {
                    let started = Instant::now();
                    let mut req = client
                        .request(method.clone(), format!("{address}{path}"))
                        .bearer_auth("hg_not_a_real_token")
                        .header("content-type", "application/json")
                        .body(BODY);
                    for (name, value) in headers {
                        req = req.header(name, value);
                    }
                    let resp = req.send().await.expect("an answer");
                    let retry = resp.headers().contains_key("retry-after");
                    seen.push((
                        format!("{method} {path}"),
                        resp.status().as_u16(),
                        started.elapsed(),
                        retry,
                    ));
                }
            }
            seen
        });
    }
    let mut all = Vec::new();
    while let Some(seen) = tasks.join_next().await {
        all.extend(seen.expect("sender task"));
    }
    all
}

fn assert_all_503(answers: &[(String, u16, Duration, bool)], what: &str) -> Duration {
    for (route, status, took, retry) in answers {
        assert_eq!(*status, 503, "{what}: {route}");
        assert!(*retry, "{what}: {route} without Retry-After");
        assert!(
            *took < Duration::from_secs(10),
            "{what}: {route} took {took:?}, past GitHub's 10 s"
        );
    }
    answers.iter().map(|a| a.2).max().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_down_at_start_then_cut_while_serving() {
    let Some((url, _)) = fresh_database(Backend::Postgres).await else {
        return;
    };
    let mut parsed = reqwest::Url::parse(&url).unwrap();
    let upstream = tokio::net::lookup_host((
        parsed.host_str().unwrap().to_string(),
        parsed.port().unwrap_or(5432),
    ))
    .await
    .unwrap()
    .next()
    .unwrap();
    let proxy = Proxy::start(upstream).await;
    parsed.set_port(Some(proxy.addr.port())).unwrap();
    parsed.set_host(Some("127.0.0.1")).unwrap();
    let app_url = parsed.to_string();
    let key = hookgate::crypto::MasterKey::generate().to_base64();

    // Down at start: hookgate starts anyway, and answers 503 everywhere but /healthz.
    proxy.cut();
    let address = build_only(test_settings(&app_url, &key)).await;
    let client = reqwest::Client::new();
    let healthz = client.get(format!("{address}/healthz")).send().await;
    assert_eq!(healthz.unwrap().status(), StatusCode::OK);
    let hook = new_id(IdKind::IncomingHook);
    let routes = Arc::new(vec![
        (reqwest::Method::GET, "/readyz".to_string(), vec![]),
        (reqwest::Method::POST, format!("/hooks/{hook}"), vec![]),
        (reqwest::Method::GET, "/api/v1/projects".to_string(), vec![]),
        (
            reqwest::Method::POST,
            format!("/api/v1/pipelines/{}/runs", new_id(IdKind::Pipeline)),
            vec![],
        ),
    ]);
    let answers = eight_senders(&address, routes, 2).await;
    let slowest_at_start = assert_all_503(&answers, "down at start");
    let answers_at_start = answers.len();

    // Back: migrated and ready, without a restart.
    proxy.restore();
    let mut ready = false;
    for _ in 0..300 {
        let r = client
            .get(format!("{address}/readyz"))
            .send()
            .await
            .unwrap();
        if r.status() == StatusCode::OK {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "ready once PostgreSQL is back");
    // The same database through a second app (not cut) to set things up; the first one's
    // workers run the run.
    let mut settings = test_settings(&url, &key);
    settings.workers = 0;
    let setup = start_with(settings).await;
    let prj = setup.project("back").await;
    let pl = setup.pipeline(&prj, &setup.admin_token, &[]).await;
    let hook = simple_hook(&setup, &pl, Provider::Github).await;
    let run = wait_final(&setup, &manual(&setup, &pl, json!({})).await).await;
    assert_eq!(run["status"], "succeeded", "{run}");

    // Cut while serving: 8 senders to a real hook and the API get 503s, none slow.
    proxy.cut();
    let signed = hook.sign(BODY, Some(&random_id()), Some("push"));
    let routes = Arc::new(vec![
        (reqwest::Method::POST, format!("/hooks/{}", hook.id), signed),
        (reqwest::Method::GET, "/readyz".to_string(), vec![]),
        (reqwest::Method::GET, "/api/v1/projects".to_string(), vec![]),
    ]);
    let answers = eight_senders(&address, routes.clone(), 3).await;
    let slowest = assert_all_503(&answers, "cut while serving");
    // A database that accepts connections and never answers: the pool's acquire timeout and
    // the committer's failure path bound every answer.
    proxy.hang();
    let hung = eight_senders(&address, routes, 3).await;
    proxy.restore();
    let slowest_hung = assert_all_503(&hung, "hung while serving");
    eprintln!(
        "readiness postgres: down at start: answers={} slowest={slowest_at_start:?}; \
         refused while serving: answers={} slowest={slowest:?}; hung while serving: answers={} slowest={slowest_hung:?}",
        answers_at_start,
        answers.len(),
        hung.len(),
    );
}

/// A SQLite path that cannot be opened is a setting to fix, not an outage to wait out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_file_that_cannot_be_opened_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/no/such/dir/hookgate.db", dir.path().display());
    let key = hookgate::crypto::MasterKey::generate().to_base64();
    let built = Application::build(test_settings(&url, &key), true).await;
    let err = built.err().expect("the start fails");
    assert!(format!("{err:#}").contains("migrating"), "{err:#}");
}
