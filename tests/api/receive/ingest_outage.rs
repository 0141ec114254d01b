//! Database outage on PostgreSQL: ingest answers 503 `unavailable` with Retry-After (never a
//! 2xx), then recovers on its own once the database accepts connections again (SPEC §4, §7).

use std::time::{Duration, Instant};

use hookgate::signature::Provider;
use sqlx::{Executor, PgPool};

use crate::helpers::{start_on, POSTGRES_ENV};
use crate::ingest_support::*;

/// `base` with its database name replaced by `name` (query parameters kept).
fn with_database(base: &str, name: &str) -> String {
    let (url, query) = match base.split_once('?') {
        Some((u, q)) => (u, format!("?{q}")),
        None => (base, String::new()),
    };
    let (server, _) = url.rsplit_once('/').expect("a database URL with a path");
    format!("{server}/{name}{query}")
}

async fn set_connections(admin: &PgPool, db: &str, allow: bool) {
    admin
        .execute(format!("ALTER DATABASE {db} ALLOW_CONNECTIONS {allow}").as_str())
        .await
        .expect("alter database");
    if !allow {
        admin
            .execute(
                format!(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                     WHERE datname = '{db}' AND pid <> pg_backend_pid()"
                )
                .as_str(),
            )
            .await
            .expect("terminate backends");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outage_is_503_then_recovers_without_restart() {
    let Ok(base) = std::env::var(POSTGRES_ENV) else {
        crate::helpers::skip(&format!(
            "{POSTGRES_ENV} is not set, so the PostgreSQL outage test did not run"
        ));
        return;
    };
    let db = format!("hg_outage_{:016x}", rand::random::<u64>());
    let admin = PgPool::connect(&base)
        .await
        .expect("connect to the base database");
    admin
        .execute(format!("CREATE DATABASE {db}").as_str())
        .await
        .expect("create database");

    let key = hookgate::crypto::MasterKey::generate().to_base64();
    let app = start_on(&with_database(&base, &db), &key).await;
    let pl = pipeline(&app).await;
    let hook = simple_hook(&app, &pl, Provider::Github).await;
    let body = fixture("gitea/push.json");
    let answer = send_signed(&app, &hook, &body, Some(&random_id()), Some("push")).await;
    assert_accepted(&app, &answer, "before the outage").await;

    set_connections(&admin, &db, false).await;
    for i in 0..3 {
        let answer = send_signed(&app, &hook, &body, Some(&random_id()), Some("push")).await;
        assert_error(&answer, 503, "unavailable", &format!("outage, request {i}"));
        let retry = answer
            .headers
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_string());
        assert!(
            retry.as_deref().is_some_and(|r| r.parse::<u32>().is_ok()),
            "Retry-After in seconds: {retry:?}"
        );
    }
    let health = app
        .client
        .get(format!("{}/healthz", app.address))
        .send()
        .await;
    assert_eq!(health.expect("the process stays up").status(), 200);

    set_connections(&admin, &db, true).await;
    let started = Instant::now();
    let recovered = loop {
        let answer = send_signed(&app, &hook, &body, Some(&random_id()), Some("push")).await;
        assert!(
            answer.status == 202 || answer.status == 503,
            "while recovering: {answer}"
        );
        if answer.status == 202 {
            break Some(answer);
        }
        if started.elapsed() > Duration::from_secs(15) {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let recovered = recovered.expect("a 202 within 15 s of the database coming back");
    assert_accepted(&app, &recovered, "after the outage").await;
    assert_eq!(
        app.store.count_runs(&pl).await.unwrap(),
        2,
        "no 503 made a run"
    );

    drop(app);
    admin
        .execute(format!("DROP DATABASE {db} WITH (FORCE)").as_str())
        .await
        .expect("drop database");
}
