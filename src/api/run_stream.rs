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

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse};
use serde_json::json;
use tokio::sync::watch;

use super::runs::is_final;
use crate::error::ApiError;
use crate::store::{RunProgress, Store};

/// How often a followed run's progress is read.
pub const POLL: Duration = Duration::from_millis(250);
/// A comment line this often keeps proxies from closing a quiet stream.
const KEEPALIVE: Duration = Duration::from_secs(15);
/// Most bytes of log text in one `log` event.
const CHUNK: usize = 32 * 1024;

/// The runs this process follows, each with its one poller.
#[derive(Clone, Default)]
pub struct LiveRuns {
    feeds: Arc<Mutex<HashMap<String, watch::Sender<Arc<Feed>>>>>,
}

/// What a poller knows of a run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Feed {
    pub status: String,
    pub reason: Option<String>,
    pub attempt: i64,
    pub steps: Vec<StepFeed>,
    /// The run was deleted.
    pub gone: bool,
}

/// A step as followers see it: its stored log so far.
#[derive(Debug, Clone, PartialEq)]
pub struct StepFeed {
    pub idx: i64,
    pub name: String,
    pub status: String,
    pub exit_code: Option<i64>,
    pub text: Arc<str>,
    /// `text`'s length in characters (how the databases count).
    pub chars: i64,
}

impl Feed {
    fn is_final(&self) -> bool {
        self.gone || is_final(&self.status)
    }
}

impl LiveRuns {
    fn feeds(&self) -> std::sync::MutexGuard<'_, HashMap<String, watch::Sender<Arc<Feed>>>> {
        self.feeds.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Follows `run_id`: joins its poller, starting one when none runs.
    pub fn subscribe(&self, store: Arc<dyn Store>, run_id: &str) -> watch::Receiver<Arc<Feed>> {
        let mut feeds = self.feeds();
        if let Some(tx) = feeds.get(run_id) {
            return tx.subscribe();
        }
        let (tx, rx) = watch::channel(Arc::new(Feed::default()));
        feeds.insert(run_id.to_string(), tx.clone());
        tokio::spawn(poll(store, run_id.to_string(), tx, self.clone()));
        rx
    }

    /// Ends `tx`'s poller if it is final or nobody follows; under the lock that `subscribe`
    /// takes, so no follower can join a poller that is going away.
    fn leave(&self, run_id: &str, tx: &watch::Sender<Arc<Feed>>, is_final: bool) -> bool {
        let mut feeds = self.feeds();
        if is_final || tx.receiver_count() == 0 {
            if feeds.get(run_id).is_some_and(|t| t.same_channel(tx)) {
                feeds.remove(run_id);
            }
            return true;
        }
        false
    }
}

async fn poll(store: Arc<dyn Store>, run_id: String, tx: watch::Sender<Arc<Feed>>, live: LiveRuns) {
    let mut feed = Feed::default();
    loop {
        match store.run_progress(&run_id).await {
            Ok(Some(progress)) => {
                if update(store.as_ref(), &run_id, &mut feed, progress).await {
                    tx.send_replace(Arc::new(feed.clone()));
                }
            }
            Ok(None) => {
                feed.gone = true;
                tx.send_replace(Arc::new(feed.clone()));
            }
            Err(e) => {
                tracing::debug!(run_id = %run_id, error = %crate::telemetry::chain(&e), "reading a followed run failed; retrying")
            }
        }
        if live.leave(&run_id, &tx, feed.is_final()) {
            return;
        }
        tokio::time::sleep(POLL).await;
        if live.leave(&run_id, &tx, false) {
            return;
        }
    }
}

/// Folds a fresh progress read into `feed`, reading only the new tails of logs that grew.
/// Returns whether anything changed.
async fn update(store: &dyn Store, run_id: &str, feed: &mut Feed, p: RunProgress) -> bool {
    let mut steps = Vec::with_capacity(p.steps.len());
    for s in p.steps {
        let prev = feed.steps.iter().find(|f| f.idx == s.idx);
        let (text, chars) = match prev {
            Some(f) if f.chars == s.log_chars => (f.text.clone(), f.chars),
            Some(f) if f.chars < s.log_chars => {
                match store.step_log_tail(run_id, s.idx, f.chars).await {
                    Ok(Some(tail)) => (
                        Arc::from(format!("{}{tail}", f.text)),
                        f.chars + tail.chars().count() as i64,
                    ),
                    _ => (f.text.clone(), f.chars),
                }
            }
            // New, or shorter (a new attempt rewrote it): read it whole.
            _ => match store.step_log_tail(run_id, s.idx, 0).await {
                Ok(Some(all)) => {
                    let n = all.chars().count() as i64;
                    (Arc::from(all), n)
                }
                _ => (Arc::from(""), 0),
            },
        };
        steps.push(StepFeed {
            idx: s.idx,
            name: s.name,
            status: s.status,
            exit_code: s.exit_code,
            text,
            chars,
        });
    }
    let next = Feed {
        status: p.status,
        reason: p.reason,
        attempt: p.attempt,
        steps,
        gone: false,
    };
    let changed = next != *feed;
    *feed = next;
    changed
}

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
