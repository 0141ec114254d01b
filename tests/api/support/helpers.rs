//! Test harness: the real server on port 0, with a fresh database per test.
//!
//! SQLite tests use a temporary file. PostgreSQL tests run when `HOOKGATE_TEST_POSTGRES_URL`
//! names a server; each gets its own schema. Without it they print that they skipped.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use hookgate::config::Settings;
use hookgate::domain::role::Role;
use hookgate::startup::Application;
use hookgate::store::Store;
use reqwest::{Method, Response};
use secrecy::ExposeSecret;
use serde_json::Value;

pub const POSTGRES_ENV: &str = "HOOKGATE_TEST_POSTGRES_URL";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A running hookgate and what a test needs to talk to it.
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub admin_token: String,
    pub store: Arc<dyn Store>,
    pub database_url: String,
    pub master_key: String,
    /// Keeps the SQLite file's folder alive for the test's duration.
    pub _dir: Option<tempfile::TempDir>,
}

/// The database URL for a fresh test database, or `None` when PostgreSQL is not configured.
pub async fn fresh_database(backend: Backend) -> Option<(String, Option<tempfile::TempDir>)> {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().expect("temp dir");
            let url = format!("sqlite://{}", dir.path().join("hookgate.db").display());
            Some((url, Some(dir)))
        }
        Backend::Postgres => {
            let Ok(base) = std::env::var(POSTGRES_ENV) else {
                skip(&format!(
                    "{POSTGRES_ENV} is not set, so the PostgreSQL half of this test did not run"
                ));
                return None;
            };
            let schema = format!(
                "t_{}",
                hookgate::domain::ids::base62_u128(rand::random::<u128>()).to_lowercase()
            );
            let pool = sqlx::PgPool::connect(&base)
                .await
                .expect("connect to the test PostgreSQL");
            sqlx::query(&format!("CREATE SCHEMA {schema}"))
                .execute(&pool)
                .await
                .expect("create schema");
            pool.close().await;
            let sep = if base.contains('?') { '&' } else { '?' };
            Some((
                format!("{base}{sep}options=-c%20search_path%3D{schema}"),
                None,
            ))
        }
    }
}

/// The environment variable naming a file where skipped tests are listed (set by scripts/test).
pub const SKIP_FILE_ENV: &str = "HOOKGATE_TEST_SKIP_FILE";

/// Says that the current test skipped its work, and why; scripts/test counts these.
///
/// The test's name (its thread's name) goes to `$HOOKGATE_TEST_SKIP_FILE`, once per test.
pub fn skip(reason: &str) {
    eprintln!("skipped: {reason}");
    let Ok(path) = std::env::var(SKIP_FILE_ENV) else {
        return;
    };
    let name = std::thread::current()
        .name()
        .unwrap_or("unnamed test")
        .to_string();
    use std::io::Write;
    if let Ok(mut file) = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
    {
        let _ = writeln!(file, "api::{name}");
    }
}

/// Settings for a test app on port 0 with the given database.
pub fn test_settings(database_url: &str, master_key: &str) -> Settings {
    let env: HashMap<String, String> = [
        ("HOOKGATE_LISTEN", "127.0.0.1:0"),
        ("HOOKGATE_DATABASE_URL", database_url),
        ("HOOKGATE_MASTER_KEY", master_key),
        ("HOOKGATE_WORKERS", "4"),
        ("HOOKGATE_LEASE_SECS", "3"),
        ("HOOKGATE_SHUTDOWN_GRACE_SECS", "5"),
        ("HOOKGATE_ALLOW_PRIVATE_TARGETS", "true"),
        // Outgoing hooks retry within fractions of a second in tests.
        ("HOOKGATE_NOTIFY_BACKOFF_SECS", "0.1,0.2,0.3,0.4,0.5"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    Settings::from_sources(Some(&PathBuf::from("/dev/null")), &env).expect("test settings")
}

/// Starts an app on a fresh database; `None` when the backend is not available (skipped).
pub async fn spawn_app(backend: Backend) -> Option<TestApp> {
    let (url, dir) = fresh_database(backend).await?;
    let key = hookgate::crypto::MasterKey::generate().to_base64();
    let mut app = start_on(&url, &key).await;
    app._dir = dir;
    Some(app)
}

/// Starts another app process-equivalent on an existing database (scale-out tests).
pub async fn start_on(database_url: &str, master_key: &str) -> TestApp {
    start_with(test_settings(database_url, master_key)).await
}

/// Starts an app with these settings (made by `test_settings`, then changed by the test).
pub async fn start_with(settings: Settings) -> TestApp {
    let database_url = settings.database_url.clone();
    let master_key = settings
        .master_key
        .as_ref()
        .map(|k| k.expose_secret().to_string())
        .unwrap_or_default();
    let database_url = database_url.as_str();
    let master_key = master_key.as_str();
    let application = Application::build(settings, true).await.expect("build app");
    let address = format!("http://127.0.0.1:{}", application.port());
    let store = application.store();
    tokio::spawn(application.run_until_stopped());
    let (_, token) =
        hookgate::accounts::create_token(store.as_ref(), None, Role::Admin, "test admin")
            .await
            .expect("admin token");
    TestApp {
        address,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        admin_token: token.expose_secret().to_string(),
        store,
        database_url: database_url.to_string(),
        master_key: master_key.to_string(),
        _dir: None,
    }
}

impl TestApp {
    /// Sends a JSON request with a bearer token; returns the status and the parsed body (Null if empty).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let resp = self.raw(method, path, token, body).await;
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        let json = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, json)
    }

    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Response {
        let mut req = self
            .client
            .request(method, format!("{}{}", self.address, path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.expect("request")
    }

    pub async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    /// Creates a project as admin; returns its id.
    pub async fn project(&self, name: &str) -> String {
        let (s, b) = self
            .post(
                "/api/v1/projects",
                &self.admin_token,
                serde_json::json!({ "name": name }),
            )
            .await;
        assert_eq!(s, 201, "{b}");
        b["id"].as_str().unwrap().to_string()
    }

    /// Creates a token of `role` in `project` as admin; returns the plain token.
    pub async fn token(&self, project: &str, role: &str) -> String {
        let (s, b) = self
            .post(
                &format!("/api/v1/projects/{project}/tokens"),
                &self.admin_token,
                serde_json::json!({ "name": format!("{role} token"), "role": role }),
            )
            .await;
        assert_eq!(s, 201, "{b}");
        b["token"].as_str().unwrap().to_string()
    }

    /// Creates a simple pipeline declaring `vars`; returns its id.
    pub async fn pipeline(&self, project: &str, token: &str, vars: &[&str]) -> String {
        let variables: Vec<Value> = vars
            .iter()
            .map(|v| serde_json::json!({ "name": v }))
            .collect();
        let (s, b) = self
            .post(
                &format!("/api/v1/projects/{project}/pipelines"),
                token,
                serde_json::json!({ "name": format!("deploy-{}", rand::random::<u32>()), "variables": variables,
                    "steps": [{ "name": "echo", "action": "command", "program": "echo", "args": ["hello"] }] }),
            )
            .await;
        assert_eq!(s, 201, "{b}");
        b["id"].as_str().unwrap().to_string()
    }
}

/// Generates one `#[tokio::test]` per backend for each named async test function taking a `TestApp`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let app = $crate::helpers::spawn_app($crate::helpers::Backend::Sqlite).await.expect("sqlite");
                    super::$name(app).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(app) = $crate::helpers::spawn_app($crate::helpers::Backend::Postgres).await {
                        super::$name(app).await;
                    }
                }
            )*
        }
    };
}
