//! `hookgate logs RUN [--follow]`, and the waiting half of `hookgate send --wait`: read a run's
//! step logs, or follow them live (`GET /api/v1/runs/{run}/logs?follow=true`, Server-Sent
//! Events), printing each step's output as it comes and the run's outcome at the end.

use std::io::Write;
use std::time::Duration;

use anyhow::{bail, Context};
use serde_json::Value;

/// Reconnects after a dropped stream, resuming from the last event, before giving up.
const RECONNECTS: u32 = 10;

/// Where the API is and the token to call it with.
pub struct ApiTarget {
    /// e.g. `http://127.0.0.1:8080`, without a trailing slash.
    pub server: String,
    pub token: String,
}

impl ApiTarget {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.trim_end_matches('/'))
    }
}

/// One Server-Sent Event.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SseEvent {
    pub id: Option<String>,
    pub event: String,
    pub data: String,
}

/// Splits a byte stream into events (the `text/event-stream` framing; comments skipped).
#[derive(Debug, Default)]
pub struct SseReader {
    buf: Vec<u8>,
}

impl SseReader {
    /// Adds `bytes`; returns the events they complete.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<SseEvent> {
        self.buf.extend_from_slice(bytes);
        let mut events = Vec::new();
        while let Some(end) = self.buf.windows(2).position(|w| w == b"\n\n") {
            let block: Vec<u8> = self.buf.drain(..end + 2).collect();
            let text = String::from_utf8_lossy(&block);
            let mut event = SseEvent {
                event: "message".into(),
                ..SseEvent::default()
            };
            let mut data = Vec::new();
            let mut any = false;
            for line in text.lines() {
                let (field, value) = line.split_once(':').unwrap_or((line, ""));
                let value = value.strip_prefix(' ').unwrap_or(value);
                match field {
                    "id" => event.id = Some(value.to_string()),
                    "event" => event.event = value.to_string(),
                    "data" => data.push(value.to_string()),
                    _ => continue,
                }
                any = true;
            }
            if any {
                event.data = data.join("\n");
                events.push(event);
            }
        }
        events
    }
}

/// `hookgate logs RUN`: prints the stored logs, or with `follow` streams them until the run
/// ends. Fails when a followed run did not succeed.
pub async fn logs(api: &ApiTarget, run_id: &str, follow: bool) -> anyhow::Result<()> {
    if follow {
        let outcome = follow_run(api, run_id, &mut std::io::stdout()).await?;
        return outcome.into_result();
    }
    let response = client(api)?
        .get(api.url(&format!("/api/v1/runs/{run_id}/logs")))
        .send()
        .await
        .with_context(|| format!("reading the logs of {run_id} from {}", api.server))?;
    let body = answer_json(response).await?;
    let mut out = std::io::stdout();
    for step in body["steps"].as_array().into_iter().flatten() {
        let name = step["name"].as_str().unwrap_or("?");
        let status = step["status"].as_str().unwrap_or("?");
        writeln!(out, "── step {name}: {status}")?;
        let log = step["log"].as_str().unwrap_or("");
        write!(out, "{log}")?;
        if !log.is_empty() && !log.ends_with('\n') {
            writeln!(out)?;
        }
    }
    Ok(())
}

/// `hookgate send --wait`: follows the run that `answer` (the hook's 2xx body) names.
pub async fn wait_for_answer(api: &ApiTarget, answer: &str) -> anyhow::Result<()> {
    let body: Value = serde_json::from_str(answer).unwrap_or(Value::Null);
    let Some(run_id) = body["run_id"].as_str() else {
        let reason = body["reason"].as_str().unwrap_or("the answer names no run");
        bail!("no run to wait for: {reason}");
    };
    eprintln!("following {run_id}");
    follow_run(api, run_id, &mut std::io::stdout())
        .await?
        .into_result()
}

/// How a followed run ended.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOutcome {
    pub status: String,
    pub reason: Option<String>,
}

impl RunOutcome {
    /// `Ok` when the run succeeded.
    pub fn into_result(self) -> anyhow::Result<()> {
        if self.status == "succeeded" {
            return Ok(());
        }
        match self.reason {
            Some(r) => bail!("the run ended {}: {r}", self.status),
            None => bail!("the run ended {}", self.status),
        }
    }
}

/// Streams a run's events to `out` until its `end` event, reconnecting (resuming after the
/// last event seen) when the stream drops.
pub async fn follow_run(
    api: &ApiTarget,
    run_id: &str,
    out: &mut impl Write,
) -> anyhow::Result<RunOutcome> {
    let client = client(api)?;
    let url = api.url(&format!("/api/v1/runs/{run_id}/logs?follow=true"));
    let mut last_id: Option<String> = None;
    let mut failures = 0;
    loop {
        let mut request = client.get(&url).header("accept", "text/event-stream");
        if let Some(id) = &last_id {
            request = request.header("last-event-id", id);
        }
        let mut response = match request.send().await {
            Ok(r) if r.status().is_success() => r,
            Ok(r) => {
                answer_json(r).await?;
                unreachable!("answer_json fails on an error status");
            }
            Err(e) if failures < RECONNECTS => {
                failures += 1;
                eprintln!("connection lost ({e}); reconnecting");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            Err(e) => return Err(e).context("following the run"),
        };
        let mut reader = SseReader::default();
        loop {
            let chunk = match response.chunk().await {
                Ok(Some(c)) => c,
                Ok(None) | Err(_) => break,
            };
            failures = 0;
            for event in reader.push(&chunk) {
                if event.id.is_some() {
                    last_id = event.id.clone();
                }
                if let Some(outcome) = print_event(&event, out)? {
                    return Ok(outcome);
                }
            }
        }
        failures += 1;
        if failures > RECONNECTS {
            bail!("the stream kept closing before the run ended");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Prints one event; the run's outcome when it is the `end`.
fn print_event(event: &SseEvent, out: &mut impl Write) -> anyhow::Result<Option<RunOutcome>> {
    let data: Value = serde_json::from_str(&event.data).unwrap_or(Value::Null);
    let text = |k: &str| data[k].as_str().unwrap_or("").to_string();
    match event.event.as_str() {
        "log" => write!(out, "{}", text("text"))?,
        "step" => {
            let code = data["exit_code"]
                .as_i64()
                .map(|c| format!(" (exit code {c})"))
                .unwrap_or_default();
            writeln!(out, "── step {}: {}{code}", text("name"), text("status"))?;
        }
        "end" => {
            let reason = data["reason"].as_str().map(str::to_string);
            match &reason {
                Some(r) => writeln!(out, "── run {}: {r}", text("status"))?,
                None => writeln!(out, "── run {}", text("status"))?,
            }
            out.flush()?;
            return Ok(Some(RunOutcome {
                status: text("status"),
                reason,
            }));
        }
        _ => {}
    }
    out.flush()?;
    Ok(None)
}

fn client(api: &ApiTarget) -> anyhow::Result<reqwest::Client> {
    let mut headers = reqwest::header::HeaderMap::new();
    let mut auth = reqwest::header::HeaderValue::from_str(&format!("Bearer {}", api.token))
        .context("the token holds characters a header cannot carry")?;
    auth.set_sensitive(true);
    headers.insert(reqwest::header::AUTHORIZATION, auth);
    Ok(reqwest::Client::builder()
        .default_headers(headers)
        .connect_timeout(Duration::from_secs(10))
        .build()?)
}

/// The JSON body of a 2xx, or an error naming the server's `error` and `message`.
async fn answer_json(response: reqwest::Response) -> anyhow::Result<Value> {
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        let code = body["error"].as_str().unwrap_or("error");
        let message = body["message"].as_str().unwrap_or("");
        bail!("the server answered {}: {code}: {message}", status.as_u16());
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_across_chunks_are_joined() {
        let mut r = SseReader::default();
        assert!(r.push(b"id: 1.0.3.running\nevent: log\nda").is_empty());
        let events = r.push(b"ta: {\"text\":\"hi\"}\n\n: keepalive\n\nevent: end\ndata: {}\n\n");
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].id.as_deref(), Some("1.0.3.running"));
        assert_eq!(events[0].event, "log");
        assert_eq!(events[0].data, "{\"text\":\"hi\"}");
        assert_eq!(events[1].event, "end");
    }

    #[test]
    fn the_end_event_gives_the_outcome() {
        let mut out = Vec::new();
        let end = SseEvent {
            id: None,
            event: "end".into(),
            data: r#"{"status":"failed","reason":"step a failed"}"#.into(),
        };
        let outcome = print_event(&end, &mut out).unwrap().unwrap();
        assert_eq!(outcome.status, "failed");
        assert!(outcome.into_result().is_err());
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "── run failed: step a failed\n"
        );
    }
}
