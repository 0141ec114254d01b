//! Shared helpers for the ingest tests: creating hooks, signing like a provider, sending raw
//! requests to `POST /hooks/{hk}` and waiting for asynchronously recorded deliveries.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hookgate::signature::{sign, Provider, VerifyConfig};
use hookgate::store::DeliveryRow;
use reqwest::header::HeaderMap;
use serde_json::{json, Value};

use crate::helpers::TestApp;

/// The project's own fixture for each preset (relative to `fixtures/`), and the event it is.
/// GitHub has none of its own: its real payloads live in `../shared/fixtures/` (see
/// [`github_push_payload`]); the Gitea push has the same shape and stands in for it.
pub const PRESETS: &[(Provider, &str, Option<&str>)] = &[
    (Provider::Generic, "generic/deploy.json", None),
    (Provider::Github, "gitea/push.json", Some("push")),
    (Provider::Gitlab, "gitlab/push.json", Some("Push Hook")),
    (
        Provider::Bitbucket,
        "bitbucket/repo_push.json",
        Some("repo:push"),
    ),
    (Provider::Gitea, "gitea/push.json", Some("push")),
    (
        Provider::Stripe,
        "stripe/payment_intent.succeeded.json",
        None,
    ),
    (
        Provider::Shopify,
        "shopify/orders_create.json",
        Some("orders/create"),
    ),
    (Provider::Slack, "slack/event_callback.json", None),
    (Provider::Paddle, "paddle/transaction.completed.json", None),
    (
        Provider::StandardWebhooks,
        "standard-webhooks/invoice.paid.json",
        None,
    ),
];

/// Presets whose scheme signs a timestamp.
pub const TIMESTAMPED: &[Provider] = &[
    Provider::Stripe,
    Provider::Slack,
    Provider::StandardWebhooks,
    Provider::Paddle,
];

/// A file of the project's own `fixtures/` folder, byte for byte.
pub fn fixture(rel: &str) -> Vec<u8> {
    let path = format!("{}/fixtures/{rel}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

/// The real GitHub push payload from `../shared/fixtures/`, or `None` (saying so) when absent.
pub fn github_push_payload() -> Option<Vec<u8>> {
    shared_fixture("github/push/payload.json")
}

/// A file of `../shared/fixtures/` (or of `$HOOKGATE_TEST_SHARED_DIR/fixtures/`, for a
/// checkout that is not beside `shared/`), or `None` (saying so) when it is absent.
pub fn shared_fixture(rel: &str) -> Option<Vec<u8>> {
    let shared = std::env::var("HOOKGATE_TEST_SHARED_DIR")
        .unwrap_or_else(|_| format!("{}/../shared", env!("CARGO_MANIFEST_DIR")));
    let path = format!("{shared}/fixtures/{rel}");
    match std::fs::read(&path) {
        Ok(bytes) => Some(bytes),
        Err(_) => {
            crate::helpers::skip(&format!("{path} is absent (no shared/ folder)"));
            None
        }
    }
}

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A random provider delivery id.
pub fn random_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// An incoming hook as created: id, provider and the secret shown once.
pub struct Hook {
    pub id: String,
    pub provider: Provider,
    pub secret: String,
    pub pipeline_id: String,
}

impl Hook {
    /// Headers signing `body` as the hook's provider would, with the hook's current secret.
    pub fn sign(&self, body: &[u8], delivery_id: Option<&str>, event: Option<&str>) -> Headers {
        self.sign_with(&self.secret, body, now(), delivery_id, event)
    }

    pub fn sign_with(
        &self,
        secret: &str,
        body: &[u8],
        now_unix: i64,
        delivery_id: Option<&str>,
        event: Option<&str>,
    ) -> Headers {
        sign(
            &VerifyConfig::new(self.provider),
            secret,
            body,
            now_unix,
            delivery_id,
            event,
        )
    }

    /// The header carrying the signature (or GitLab's token).
    pub fn signature_header(&self) -> &'static str {
        if self.gitlab_token_mode() {
            "x-gitlab-token"
        } else if self.provider == Provider::Gitlab {
            "webhook-signature"
        } else {
            self.provider.signature_headers()[0]
        }
    }

    /// GitLab with a plain secret token: the token is sent as is, nothing signs the body.
    pub fn gitlab_token_mode(&self) -> bool {
        self.provider == Provider::Gitlab && !self.secret.starts_with("whsec_")
    }
}

pub type Headers = Vec<(String, String)>;

/// A project and a pipeline to hang hooks on; returns the pipeline id.
pub async fn pipeline(app: &TestApp) -> String {
    let prj = app
        .project(&format!("ingest-{}", rand::random::<u32>()))
        .await;
    app.pipeline(&prj, &app.admin_token, &[]).await
}

/// Creates an incoming hook on `pipeline_id` from `body` (its `provider` field names the
/// preset; `name` is filled in when absent).
pub async fn create_hook(app: &TestApp, pipeline_id: &str, mut body: Value) -> Hook {
    if body.get("name").is_none() {
        body["name"] = json!(format!("hook-{}", rand::random::<u32>()));
    }
    let (s, b) = app
        .post(
            &format!("/api/v1/pipelines/{pipeline_id}/hooks/incoming"),
            &app.admin_token,
            body,
        )
        .await;
    assert_eq!(s, 201, "create hook: {b}");
    let provider = Provider::parse(b["provider"].as_str().unwrap()).expect("provider");
    Hook {
        id: b["id"].as_str().unwrap().to_string(),
        provider,
        secret: b["secret"].as_str().unwrap_or_default().to_string(),
        pipeline_id: pipeline_id.to_string(),
    }
}

/// Creates a hook of `provider` with default settings and a generated secret.
pub async fn simple_hook(app: &TestApp, pipeline_id: &str, provider: Provider) -> Hook {
    create_hook(app, pipeline_id, json!({ "provider": provider.as_str() })).await
}

/// An answer from the ingest route.
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
    pub json: Value,
}

impl std::fmt::Display for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown: String = self.text.chars().take(500).collect();
        write!(f, "{} {shown}", self.status)
    }
}

/// Sends `body` to `POST /hooks/{hook_id}` with `headers` and a content type (none when `None`).
pub async fn send(
    app: &TestApp,
    hook_id: &str,
    headers: &[(String, String)],
    content_type: Option<&str>,
    body: Vec<u8>,
) -> Answer {
    send_to(
        &app.client,
        &app.address,
        hook_id,
        headers,
        content_type,
        body,
    )
    .await
}

pub async fn send_to(
    client: &reqwest::Client,
    address: &str,
    hook_id: &str,
    headers: &[(String, String)],
    content_type: Option<&str>,
    body: Vec<u8>,
) -> Answer {
    let mut req = client.post(format!("{address}/hooks/{hook_id}")).body(body);
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    for (name, value) in headers {
        req = req.header(name.as_str(), value.as_str());
    }
    let resp = req.send().await.expect("send to the ingest route");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.expect("answer body");
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        text,
        json,
    }
}

/// Sends `body` as JSON, signed by the hook's current secret.
pub async fn send_signed(
    app: &TestApp,
    hook: &Hook,
    body: &[u8],
    delivery_id: Option<&str>,
    event: Option<&str>,
) -> Answer {
    let headers = hook.sign(body, delivery_id, event);
    send(
        app,
        &hook.id,
        &headers,
        Some("application/json"),
        body.to_vec(),
    )
    .await
}

/// Asserts a 202 with the documented fields and that the run row exists; returns the run id.
pub async fn assert_accepted(app: &TestApp, answer: &Answer, what: &str) -> String {
    assert_eq!(answer.status, 202, "{what}: {answer}");
    let run_id = answer.json["run_id"].as_str().expect("run_id").to_string();
    assert!(answer.json["delivery_id"].is_string(), "{what}: {answer}");
    assert!(
        answer.json["status_url"]
            .as_str()
            .is_some_and(|u| u.ends_with(&format!("/api/v1/runs/{run_id}"))),
        "{what}: {answer}"
    );
    let run = app.store.get_run(&run_id).await.expect("get_run");
    assert!(
        run.is_some(),
        "{what}: the run {run_id} is not in the database after a 202"
    );
    run_id
}

/// Asserts an error answer `{error, message}` with this status and code.
pub fn assert_error(answer: &Answer, status: u16, code: &str, what: &str) {
    assert_eq!(
        (answer.status, answer.json["error"].as_str()),
        (status, Some(code)),
        "{what}: {answer}"
    );
    assert!(answer.json["message"].is_string(), "{what}: {answer}");
}

/// Polls the hook's deliveries (up to about 2 s) until `pred` holds for one; returns it.
pub async fn wait_for_delivery(
    app: &TestApp,
    hook_id: &str,
    pred: impl Fn(&DeliveryRow) -> bool,
) -> Option<DeliveryRow> {
    for _ in 0..40 {
        let rows = app
            .store
            .list_deliveries(hook_id, None, 100)
            .await
            .expect("list_deliveries");
        if let Some(row) = rows.into_iter().find(|r| pred(r)) {
            return Some(row);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

/// The longest run of the value between `,` `;` `=` separators: the MAC itself.
pub fn mac_core(value: &str) -> &str {
    value
        .split([',', ';', '='])
        .max_by_key(|p| p.len())
        .unwrap_or(value)
}

/// `value` with one character of its MAC changed (to another valid character of the encoding).
pub fn tamper(value: &str) -> String {
    let mut chars: Vec<char> = value.chars().collect();
    let mut i = chars.len().saturating_sub(10);
    while !chars[i].is_ascii_alphanumeric() {
        i -= 1;
    }
    chars[i] = if chars[i] == 'a' { 'b' } else { 'a' };
    chars.into_iter().collect()
}
