//! The console's page times with a big request log: one hook with 10,000 deliveries and 10,000
//! runs (SQLite; PostgreSQL too when `HOOKGATE_TEST_POSTGRES_URL` is set). Prints p50/p99 of
//! each page over loopback HTTP: the server's render plus a loopback round trip, from a signed-in
//! session. The aim (issue 15) is under 50 ms a page with cursor paging.
//!
//! `cargo bench --bench console`

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use hookgate::domain::ids::{new_id, IdKind};
use hookgate::domain::role::Role;
use hookgate::startup::Application;
use hookgate::store::{DeliveryRow, IngestWrite, RunRow, Store};
use secrecy::ExposeSecret;
use serde_json::{json, Value};

const DELIVERIES: usize = 10_000;
/// Requests timed per page.
const SAMPLES: usize = 200;

async fn api(client: &reqwest::Client, url: String, token: &str, body: Value) -> Value {
    let resp = client
        .post(url)
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    resp.json().await.unwrap()
}

/// 10,000 deliveries on `hook`, each accepted with its run, but one in ten ignored by a filter
/// (no run) and then 1,000 manual runs to make 10,000 runs. Written in batches through the store.
async fn seed(store: &dyn Store, prj: &str, pl: &str, hook: &str) {
    let body =
        br#"{"ref":"refs/heads/main","head_commit":{"id":"59b20b8d","message":"deploy"}}"#.to_vec();
    let t0 = hookgate::domain::time::now_ms() - DELIVERIES as i64 * 1000;
    let run = |id: &str, delivery: Option<&str>, at: i64, status: &str| RunRow {
        id: id.to_string(),
        pipeline_id: pl.to_string(),
        project_id: prj.to_string(),
        hook_id: delivery.map(|_| hook.to_string()),
        delivery_id: delivery.map(str::to_string),
        status: status.parse().expect("a run status"),
        reason: None,
        variables: json!({ "ref": "refs/heads/main" }).to_string(),
        triggered_by: format!("hook:{hook}"),
        concurrency_key: None,
        attempt: 0,
        lease_expires_at: None,
        created_at: at,
        started_at: None,
        finished_at: None,
        worker_id: None,
        cancel_requested: false,
        max_attempts: 1,
        concurrency_policy: None,
        concurrency_max: None,
    };
    let mut batch = Vec::new();
    let mut runs = 0;
    for i in 0..DELIVERIES {
        let at = t0 + i as i64 * 1000;
        let id = new_id(IdKind::Delivery);
        let ignored = i % 10 == 0;
        let run_id = new_id(IdKind::Run);
        let delivery = DeliveryRow {
            id: id.clone(),
            hook_id: hook.to_string(),
            project_id: prj.to_string(),
            received_at: at,
            status_code: if ignored { 200 } else { 202 },
            outcome: if ignored { "ignored" } else { "accepted" }.into(),
            error: None,
            verification: json!({ "result": "verified", "secret": "current" }).to_string(),
            filter_reason: ignored.then(|| "filter 0: ref does not match".to_string()),
            variables: Some(json!({ "ref": "refs/heads/main" }).to_string()),
            problems: None,
            run_id: (!ignored).then(|| run_id.clone()),
            provider_delivery_id: None,
            event: Some("push".into()),
            content_type: Some("application/json".into()),
            query: None,
            headers: json!({ "content-type": "application/json", "x-github-event": "push" })
                .to_string(),
            body: body.clone(),
            body_size: body.len() as i64,
            body_truncated: false,
            replay_of: None,
            body_encoding: None,
        };
        let run = (!ignored).then(|| run(&run_id, Some(&id), at, "queued"));
        runs += usize::from(run.is_some());
        batch.push(IngestWrite {
            delivery,
            run,
            dedup_key: None,
        });
        if batch.len() == 500 {
            let full = std::mem::replace(&mut batch, Vec::with_capacity(500));
            store
                .commit_ingest(std::sync::Arc::new(full))
                .await
                .expect("seed deliveries");
        }
    }
    if !batch.is_empty() {
        store
            .commit_ingest(std::sync::Arc::new(batch))
            .await
            .expect("seed deliveries");
    }
    for i in runs..DELIVERIES {
        let at = t0 + i as i64 * 1000 + 500;
        store
            .insert_run(&run(&new_id(IdKind::Run), None, at, "succeeded"))
            .await
            .expect("seed runs");
    }
}

async fn bench(backend: &str, database_url: &str) {
    let key = hookgate::crypto::MasterKey::generate().to_base64();
    let env: HashMap<String, String> = [
        ("HOOKGATE_LISTEN", "127.0.0.1:0"),
        ("HOOKGATE_DATABASE_URL", database_url),
        ("HOOKGATE_MASTER_KEY", key.as_str()),
        ("HOOKGATE_WORKERS", "0"),
        ("HOOKGATE_LOG", "warn"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let settings =
        hookgate::config::Settings::from_sources(Some(&PathBuf::from("/dev/null")), &env).unwrap();
    let app = Application::build(settings, false).await.expect("build");
    let base = format!("http://127.0.0.1:{}", app.port());
    let store = app.store();
    tokio::spawn(app.run_until_stopped());
    let (_, admin) = hookgate::accounts::create_token(store.as_ref(), None, Role::Admin, "bench")
        .await
        .unwrap();
    let admin = admin.expose_secret().to_string();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let prj = api(
        &client,
        format!("{base}/api/v1/projects"),
        &admin,
        json!({ "name": "web" }),
    )
    .await;
    let prj = prj["id"].as_str().unwrap().to_string();
    let pl = api(
        &client,
        format!("{base}/api/v1/projects/{prj}/pipelines"),
        &admin,
        json!({ "name": "deploy", "variables": [{ "name": "ref" }],
                "steps": [{ "name": "deploy", "action": "command", "program": "true" }] }),
    )
    .await;
    let pl = pl["id"].as_str().unwrap().to_string();
    let hk = api(
        &client,
        format!("{base}/api/v1/pipelines/{pl}/hooks/incoming"),
        &admin,
        json!({ "name": "github-main", "provider": "github",
                "settings": { "variables": [{ "name": "ref", "path": "ref" }] } }),
    )
    .await;
    let hk = hk["id"].as_str().unwrap().to_string();
    let started = Instant::now();
    seed(store.as_ref(), &prj, &pl, &hk).await;
    println!(
        "{backend:<8} seeded {DELIVERIES} deliveries and {DELIVERIES} runs in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // Sign in as the console does.
    let form = client
        .get(format!("{base}/console/sign-in"))
        .send()
        .await
        .unwrap();
    let pre = form
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|l| l.strip_prefix("hg_console_signin="))
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let html = form.text().await.unwrap();
    let at = html.find("name=\"csrf\" value=\"").unwrap() + 19;
    let csrf = html[at..at + html[at..].find('"').unwrap()].to_string();
    let resp = client
        .post(format!("{base}/console/sign-in"))
        .header("cookie", format!("hg_console_signin={pre}"))
        .form(&[("token", admin.as_str()), ("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    let cookie = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|l| l.strip_prefix("hg_console="))
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();

    let (_, deliveries) = get(
        &client,
        &format!("{base}/api/v1/hooks/{hk}/deliveries?limit=100"),
        &admin,
    )
    .await;
    let dlv = deliveries["items"][1]["id"].as_str().unwrap().to_string();
    let cursor = deliveries["next_cursor"].as_str().unwrap().to_string();
    let (_, runs) = get(
        &client,
        &format!("{base}/api/v1/pipelines/{pl}/runs?limit=100"),
        &admin,
    )
    .await;
    let run = runs["items"][0]["id"].as_str().unwrap().to_string();
    let run_cursor = runs["next_cursor"].as_str().unwrap().to_string();
    let pages = [
        ("projects", "/console/".to_string()),
        ("pipeline", format!("/console/pipelines/{pl}")),
        ("request log, newest 50", format!("/console/hooks/{hk}")),
        (
            "request log, a later page",
            format!("/console/hooks/{hk}?cursor={cursor}"),
        ),
        (
            "request log, ignored only",
            format!("/console/hooks/{hk}?outcome=ignored"),
        ),
        ("delivery", format!("/console/deliveries/{dlv}")),
        ("hook test panel", format!("/console/hooks/{hk}/test")),
        ("runs, newest 50", format!("/console/pipelines/{pl}/runs")),
        (
            "runs, a later page",
            format!("/console/pipelines/{pl}/runs?cursor={run_cursor}"),
        ),
        (
            "runs, succeeded only",
            format!("/console/pipelines/{pl}/runs?status=succeeded"),
        ),
        ("run", format!("/console/runs/{run}")),
    ];
    for (name, path) in pages {
        let mut times = Vec::with_capacity(SAMPLES);
        for _ in 0..SAMPLES {
            let t = Instant::now();
            let resp = client
                .get(format!("{base}{path}"))
                .header("cookie", format!("hg_console={cookie}"))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 200, "{path}");
            let _ = resp.bytes().await.unwrap();
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        times.sort_by(|a, b| a.total_cmp(b));
        let p = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
        println!(
            "{backend:<8} {name:<28} p50 {:>6.2} ms   p99 {:>6.2} ms",
            p(0.50),
            p(0.99)
        );
    }
}

async fn get(client: &reqwest::Client, url: &str, token: &str) -> (u16, Value) {
    let resp = client.get(url).bearer_auth(token).send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let sqlite = format!("sqlite://{}", dir.path().join("bench.db").display());
        bench("sqlite", &sqlite).await;
        let Ok(base) = std::env::var("HOOKGATE_TEST_POSTGRES_URL") else {
            println!("postgres skipped: set HOOKGATE_TEST_POSTGRES_URL");
            return;
        };
        let schema = format!("hookgate_console_bench_{}", rand::random::<u32>());
        let pool = sqlx::PgPool::connect(&base).await.expect("postgres");
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&pool)
            .await
            .unwrap();
        let sep = if base.contains('?') { '&' } else { '?' };
        bench(
            "postgres",
            &format!("{base}{sep}options=-c%20search_path%3D{schema}"),
        )
        .await;
        sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
            .execute(&pool)
            .await
            .unwrap();
    });
}
