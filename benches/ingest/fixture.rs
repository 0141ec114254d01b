//! What a run needs before the load: a database with an admin token, a GitHub hook with 5
//! variables registered through the API, the 7 KB push and its signature.

use std::sync::Arc;

use hmac::{Hmac, Mac};
use hookgate::domain::role::Role;
use hookgate::store::Store;
use secrecy::ExposeSecret;
use serde_json::{json, Value};

use crate::load::Target;

/// A database ready for `hookgate serve`, and the environment the server gets.
pub struct Fixture {
    pub store: Arc<dyn Store>,
    pub admin: String,
    pub env: Vec<(&'static str, String)>,
}

/// Migrates `database` (through the library, as the server would) and creates an admin token.
pub async fn prepare(database: &str, master_key: &str, workers: usize) -> Fixture {
    let env = vec![
        ("HOOKGATE_DATABASE_URL", database.to_string()),
        ("HOOKGATE_MASTER_KEY", master_key.to_string()),
        ("HOOKGATE_WORKERS", workers.to_string()),
    ];
    let settings = hookgate::config::Settings::from_sources(
        Some(std::path::Path::new("/dev/null")),
        &env.iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
    )
    .expect("the bench's settings");
    let store = hookgate::store::connect(&settings).await.expect("database");
    let (_, admin) = hookgate::accounts::create_token(store.as_ref(), None, Role::Admin, "bench")
        .await
        .expect("an admin token");
    Fixture {
        store,
        admin: admin.expose_secret().to_string(),
        env,
    }
}

/// A hook registered through the API.
pub struct Hook {
    /// `/hooks/hk_…`
    pub path: String,
    /// `hk_…`
    pub hk: String,
    pub secret: String,
    pub pipeline_id: String,
}

impl Hook {
    /// Durable ingest of `body`, correctly signed, on the server at `port`.
    pub fn ingest(&self, port: u16, body: &[u8]) -> Target {
        Target {
            port,
            path: self.path.clone(),
            signature: github_signature(&self.secret, body),
            body: body.to_vec(),
            expect: 202,
        }
    }
}

/// Creates a project, a pipeline with one step and its GitHub hook with 5 variables (`ref`,
/// `after`, `repository.full_name`, `pusher.name`, `head_commit.id`).
pub async fn register_hook(base: &str, admin: &str, project: &str) -> Hook {
    let client = reqwest::Client::new();
    let post = |path: String, body: Value| {
        let request = client
            .post(format!("{base}{path}"))
            .bearer_auth(admin)
            .json(&body);
        async move {
            let answer = request.send().await.expect("the API answers");
            assert!(
                answer.status().is_success(),
                "POST {path}: {}",
                answer.status()
            );
            answer.json::<Value>().await.expect("a JSON answer")
        }
    };
    let prj = post("/api/v1/projects".into(), json!({ "name": project })).await;
    let steps = json!([{ "name": "noop", "action": "command", "program": "true" }]);
    let pl = post(
        format!("/api/v1/projects/{}/pipelines", prj["id"].as_str().unwrap()),
        json!({ "name": "deploy", "steps": steps }),
    )
    .await;
    let variables = json!([
        { "name": "git_ref", "path": "ref", "required": true },
        { "name": "after", "path": "after" },
        { "name": "repo", "path": "repository.full_name" },
        { "name": "pusher", "path": "pusher.name" },
        { "name": "head", "path": "head_commit.id", "default_value": "none" } ]);
    let pipeline_id = pl["id"].as_str().unwrap().to_string();
    let hook = post(
        format!("/api/v1/pipelines/{pipeline_id}/hooks/incoming"),
        json!({ "name": "gh", "provider": "github", "settings": { "variables": variables } }),
    )
    .await;
    let url = hook["url"].as_str().expect("hook url");
    let path = url[url.find("/hooks/").expect("a /hooks/ URL")..].to_string();
    Hook {
        hk: path.trim_start_matches("/hooks/").to_string(),
        path,
        secret: hook["secret"].as_str().unwrap().to_string(),
        pipeline_id,
    }
}

/// A 7 KB GitHub push: the real one from `shared/fixtures` beside the checkout or one of its
/// parents (a worktree sits deeper than the main checkout), else one of the same shape.
pub fn payload() -> Vec<u8> {
    let real = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .skip(1)
        .find_map(|dir| std::fs::read(dir.join("shared/fixtures/github/push/payload.json")).ok());
    if let Some(bytes) = real {
        return bytes;
    }
    let commit = |i: usize| {
        json!({ "id": format!("{i:040x}"), "message": "x".repeat(300),
            "author": { "name": "dev", "email": "dev@example.com" } })
    };
    let push = json!({ "ref": "refs/heads/main", "before": "0".repeat(40),
        "after": "1".repeat(40), "repository": { "full_name": "acme/api", "id": 1 },
        "pusher": { "name": "dev" }, "head_commit": { "id": "1".repeat(40) },
        "commits": (0..12).map(commit).collect::<Vec<_>>() });
    serde_json::to_vec(&push).unwrap()
}

/// GitHub's `X-Hub-Signature-256` of `body`. Computed here rather than through hookgate's own
/// signing code, so that the bench checks the server against the provider's definition.
pub fn github_signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("any key");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// A well-formed signature that no secret produced: what a forged flood sends.
pub fn forged_signature() -> String {
    format!("sha256={}", "0".repeat(64))
}
