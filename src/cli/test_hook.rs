//! `hookgate test-hook HK FILE.json --event push`: what the server's ingest would do with this
//! payload on that hook (`POST /api/v1/hooks/{hk}/test`), with nothing stored and nothing run.

use anyhow::{bail, Context};
use serde_json::{json, Map, Value};

use super::send::provider_headers;
use crate::signature::Provider;

/// What `test-hook` was asked.
pub(super) struct TestHook<'a> {
    pub server: &'a str,
    pub token: &'a str,
    pub hook: &'a str,
    pub file: &'a std::path::Path,
    pub event: Option<&'a str>,
    /// Sign like the provider, so the signature check runs too; otherwise it is skipped.
    pub secret: Option<&'a str>,
    pub query: Option<&'a str>,
}

/// Prints the test's answer; fails when the server refuses the test itself.
pub(super) async fn test_hook(t: TestHook<'_>) -> anyhow::Result<()> {
    let base = t.server.trim_end_matches('/');
    let client = reqwest::Client::new();
    let hook: Value = api(
        client.get(format!("{base}/api/v1/hooks/{}", t.hook)),
        t.token,
    )
    .await?;
    let provider = hook["provider"]
        .as_str()
        .and_then(Provider::parse)
        .unwrap_or(Provider::Generic);
    let body = std::fs::read(t.file).with_context(|| format!("reading {}", t.file.display()))?;
    let Ok(text) = String::from_utf8(body.clone()) else {
        bail!("{} is not UTF-8 text", t.file.display())
    };
    let secret = t.secret.filter(|s| !s.trim().is_empty());
    let delivery_id = crate::domain::ids::new_id(crate::domain::ids::IdKind::Event);
    let mut headers: Map<String, Value> =
        provider_headers(provider, secret, &body, t.event, &delivery_id)
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect();
    headers.insert("content-type".into(), "application/json".into());
    let request = json!({
        "headers": headers,
        "body": text,
        "query": t.query,
        "skip_signature": secret.is_none(),
    });
    let answer: Value = api(
        client
            .post(format!("{base}/api/v1/hooks/{}/test", t.hook))
            .json(&request),
        t.token,
    )
    .await?;
    println!(
        "would {} ({})",
        answer["would"].as_str().unwrap_or("?"),
        answer["status"]
    );
    if secret.is_none() {
        println!("(signature not checked: give --secret to check it too)");
    }
    println!("{}", serde_json::to_string_pretty(&answer)?);
    Ok(())
}

/// Sends an API request with the token; the JSON answer, or an error carrying the server's.
async fn api(request: reqwest::RequestBuilder, token: &str) -> anyhow::Result<Value> {
    let response = request
        .bearer_auth(token)
        .send()
        .await
        .context("reaching the server (--server or HOOKGATE_SERVER)")?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    if !status.is_success() {
        bail!("the server answered {}: {text}", status.as_u16());
    }
    serde_json::from_str(&text).context("the server's answer is not JSON")
}
