//! `hookgate send`: sign a payload the way a provider would and post it to a hook URL.

use anyhow::{bail, Context};

/// Signs `file` as `provider` would and POSTs it; prints the status and the answer, and
/// returns the answer's body.
pub(super) async fn send(
    url: &str,
    provider: &str,
    secret: &str,
    event: Option<&str>,
    delivery_id: Option<String>,
    file: &std::path::Path,
) -> anyhow::Result<String> {
    use crate::ingest::signature::{sign, Provider, VerifyConfig};
    let Some(provider) = Provider::parse(provider) else {
        bail!("unknown provider {provider:?}")
    };
    let body = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let delivery_id = delivery_id
        .unwrap_or_else(|| crate::domain::ids::new_id(crate::domain::ids::IdKind::Event));
    let now = crate::domain::time::now_ms() / 1000;
    let mut request = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json");
    for (name, value) in sign(
        &VerifyConfig::new(provider),
        secret,
        &body,
        now,
        Some(&delivery_id),
        event,
    ) {
        request = request.header(name, value);
    }
    let response = request
        .body(body)
        .send()
        .await
        .with_context(|| format!("sending to {url}"))?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    println!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    );
    println!("{text}");
    if !status.is_success() {
        bail!("the hook answered {}", status.as_u16());
    }
    Ok(text)
}
