//! `GET /api/v1/runs/{run}/logs?follow=true`: a run's step logs live, as Server-Sent Events.
//!
//! - `step`: a step's status changed (`{ idx, name, status, exit_code? }`);
//! - `log`: a chunk of a step's output (`{ idx, step, text }`), redacted: it is the stored log,
//!   which the worker writes while the step runs (worker/live_log.rs);
//! - `end`: the run is final (`{ status, reason? }`); the stream then closes.
//!
//! It works whichever process runs the worker: each followed run has one poller per process,
//! reading the run's progress ([`Store::run_progress`]: statuses and log lengths) every
//! [`POLL`] and only the new tail of a log that grew. Every follower of that run shares it
//! through a `watch` channel, so 200 followers cost one small query a poll, and a slow follower
//! skips to the latest state instead of queueing events. Each event's id is the follower's
//! position (`attempt.step.offset.status`); a reconnect with `Last-Event-ID` resumes after it.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse};
use serde_json::json;
use tokio::sync::watch;

use crate::error::ApiError;
use crate::store::Store;

pub use crate::live_runs::{Feed, LiveRuns};

/// A comment line this often keeps proxies from closing a quiet stream.
const KEEPALIVE: Duration = Duration::from_secs(15);
/// Most bytes of log text in one `log` event.
const CHUNK: usize = 32 * 1024;

/// Where a follower is: everything before step `idx` was sent, `offset` bytes of step `idx`'s
/// log, and its status `status` (empty: none yet). Written as the SSE event id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cursor {
    pub attempt: i64,
    pub idx: i64,
    pub offset: usize,
    pub status: String,
}

impl Cursor {
    pub fn id(&self) -> String {
        format!(
            "{}.{}.{}.{}",
            self.attempt, self.idx, self.offset, self.status
        )
    }

    /// Reads a `Last-Event-ID` this module wrote.
    pub fn parse(s: &str) -> Option<Self> {
        let mut parts = s.splitn(4, '.');
        let cursor = Cursor {
            attempt: parts.next()?.parse().ok()?,
            idx: parts.next()?.parse().ok()?,
            offset: parts.next()?.parse().ok()?,
            status: parts.next()?.to_string(),
        };
        let status_ok = cursor
            .status
            .chars()
            .all(|c| c.is_ascii_lowercase() || c == '_');
        (cursor.attempt >= 0 && cursor.idx >= 0 && status_ok).then_some(cursor)
    }
}

/// One Server-Sent Event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub id: String,
    pub name: &'static str,
    pub data: serde_json::Value,
}

impl Event {
    fn encode(&self) -> Bytes {
        Bytes::from(format!(
            "id: {}\nevent: {}\ndata: {}\n\n",
            self.id, self.name, self.data
        ))
    }
}

/// The events that bring a follower at `cur` up to `feed`, moving `cur` along.
pub fn diff(feed: &Feed, cur: &mut Cursor) -> Vec<Event> {
    let mut out = Vec::new();
    if feed.attempt > cur.attempt {
        // A new attempt runs the steps again from the first.
        *cur = Cursor {
            attempt: feed.attempt,
            ..Cursor::default()
        };
    }
    for step in &feed.steps {
        if step.idx < cur.idx {
            continue;
        }
        if step.idx > cur.idx {
            cur.idx = step.idx;
            cur.offset = 0;
            cur.status.clear();
        }
        let text: &str = &step.text;
        if cur.offset > text.len() || !text.is_char_boundary(cur.offset) {
            cur.offset = 0;
            cur.status.clear();
        }
        let step_event = |cur: &mut Cursor, out: &mut Vec<Event>| {
            cur.status = step.status.clone();
            let mut data = json!({ "idx": step.idx, "name": step.name, "status": step.status });
            if let Some(code) = step.exit_code {
                data["exit_code"] = code.into();
            }
            out.push(Event {
                id: cur.id(),
                name: "step",
                data,
            });
        };
        if cur.status.is_empty() && step.status == "running" {
            step_event(cur, &mut out);
        }
        while cur.offset < text.len() {
            let mut end = (cur.offset + CHUNK).min(text.len());
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            let chunk = &text[cur.offset..end];
            cur.offset = end;
            out.push(Event {
                id: cur.id(),
                name: "log",
                data: json!({ "idx": step.idx, "step": step.name, "text": chunk }),
            });
        }
        if step.status != cur.status {
            step_event(cur, &mut out);
        }
    }
    if feed.is_final() {
        let status = if feed.gone { "deleted" } else { &feed.status };
        let mut data = json!({ "status": status });
        if let Some(reason) = &feed.reason {
            data["reason"] = reason.clone().into();
        }
        out.push(Event {
            id: cur.id(),
            name: "end",
            data,
        });
    }
    out
}

struct Follower {
    rx: watch::Receiver<Arc<Feed>>,
    cursor: Cursor,
    queue: VecDeque<Bytes>,
    done: bool,
}

/// Answers the stream for `run_id`, resuming after the request's `Last-Event-ID` if any.
pub fn follow(
    live: &LiveRuns,
    store: Arc<dyn Store>,
    run_id: &str,
    req: &HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let cursor = match req.headers().get("last-event-id") {
        None => Cursor::default(),
        Some(v) => v.to_str().ok().and_then(Cursor::parse).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_last_event_id",
                "Last-Event-ID is not an id this stream sent; reconnect without it to start over",
            )
        })?,
    };
    let follower = Follower {
        rx: live.subscribe(store, run_id),
        cursor,
        queue: VecDeque::new(),
        done: false,
    };
    let stream = futures_util::stream::unfold(follower, |mut f| async move {
        loop {
            if let Some(bytes) = f.queue.pop_front() {
                return Some((Ok::<_, actix_web::Error>(bytes), f));
            }
            if f.done {
                return None;
            }
            let feed = f.rx.borrow_and_update().clone();
            f.queue
                .extend(diff(&feed, &mut f.cursor).iter().map(Event::encode));
            if feed.is_final() {
                f.done = true;
                continue;
            }
            if !f.queue.is_empty() {
                continue;
            }
            match tokio::time::timeout(KEEPALIVE, f.rx.changed()).await {
                Ok(Ok(())) => {}
                // The poller stopped without a final state: nothing more will come.
                Ok(Err(_)) => f.done = true,
                Err(_) => f.queue.push_back(Bytes::from_static(b": keepalive\n\n")),
            }
        }
    });
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("cache-control", "no-cache"))
        .insert_header(("x-accel-buffering", "no"))
        .streaming(stream))
}

#[cfg(test)]
mod tests;
