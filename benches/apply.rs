//! How long `POST /api/v1/apply` takes for 200 pipelines × 3 incoming hooks, on SQLite and (when
//! `HOOKGATE_TEST_POSTGRES_URL` names a server) on PostgreSQL. A program that prints figures,
//! not a timed test:
//!
//!   cargo bench --bench apply                 # release build
//!   cargo bench --profile dev --bench apply   # debug build, no release compile
//!
//! The PostgreSQL run uses a schema of its own (`hookgate_apply_bench_…`), dropped at the end.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use hookgate::domain::role::Role;
use hookgate::startup::Application;
use secrecy::ExposeSecret;
use serde_json::{json, Value};

const PIPELINES: usize = 200;

fn document(arg: &str) -> Value {
    let pipelines: Vec<Value> = (0..PIPELINES)
        .map(|i| {
            json!({ "name": format!("pipeline-{i:03}"),
                "variables": [{ "name": "ref", "default_value": "main" }],
                "concurrency": { "key": "${ref}", "max": 1, "policy": "queue" },
                "steps": [{ "name": "deploy", "action": "command", "program": "/opt/deploy.sh", "args": [arg, "${ref}"] }],
                "secrets": { "DEPLOY_TOKEN": format!("deploy-token-{i}") },
                "incoming": [
                    { "name": "github", "provider": "github",
                      "settings": { "variables": [{ "name": "ref", "path": "ref" }],
                                    "filters": [{ "variable": "ref", "matches": "^refs/heads/(main|release/.*)$" }] } },
                    { "name": "gitlab", "provider": "gitlab",
                      "settings": { "variables": [{ "name": "ref", "path": "ref" }] } },
                    { "name": "generic", "secret": format!("generic-secret-{i}-0123456789abcdef"),
                      "settings": { "variables": [{ "name": "ref", "path": "$.ref", "default_value": "main" }] } }
                ] })
        })
        .collect();
    json!({ "project": "bench", "pipelines": pipelines })
}

async fn timed(client: &reqwest::Client, url: &str, token: &str, body: &Value) -> (f64, String) {
    let started = Instant::now();
    let r = client
        .post(url)
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .expect("apply");
    let status = r.status();
    let answer: Value = r.json().await.unwrap_or_default();
    assert!(status.is_success(), "{status} {answer}");
    (
        started.elapsed().as_secs_f64(),
        answer["message"].as_str().unwrap_or_default().to_string(),
    )
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
    let base = format!("http://127.0.0.1:{}/api/v1/apply", app.port());
    let store = app.store();
    tokio::spawn(app.run_until_stopped());
    let (_, token) = hookgate::accounts::create_token(store.as_ref(), None, Role::Admin, "bench")
        .await
        .unwrap();
    let token = token.expose_secret().to_string();
    let client = reqwest::Client::new();
    let (a, b) = (document("--first"), document("--second"));
    let steps = [
        ("create", base.clone(), &a),
        ("again, no change", base.clone(), &a),
        (
            "plan (dry run) of a change to every pipeline",
            format!("{base}?dry_run=true"),
            &b,
        ),
        ("change every pipeline", base.clone(), &b),
    ];
    for (what, url, body) in steps {
        let (secs, message) = timed(&client, &url, &token, body).await;
        println!(
            "{backend:<8} {PIPELINES} pipelines × 3 hooks, {what:<46} {secs:>6.3} s  ({message})"
        );
    }
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
        let schema = format!("hookgate_apply_bench_{}", rand::random::<u32>());
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
