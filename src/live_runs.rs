//! The runs this process follows live (`GET /runs/{run}/logs?follow=true`): one poller per
//! followed run, reading the run's progress ([`Store::run_progress`]: statuses and log
//! lengths) every [`POLL`] and only the new tail of a log that grew. Every follower shares it
//! through a `watch` channel. The HTTP side (Server-Sent Events) is `api/run_stream.rs`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

use crate::domain::run_status::RunStatus;
use crate::store::{RunProgress, Store, StoreError};

/// How often a followed run's progress is read.
pub const POLL: Duration = Duration::from_millis(250);
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
    /// The run is final or gone: nothing more will come.
    pub fn is_final(&self) -> bool {
        self.gone || RunStatus::parse(&self.status).is_some_and(RunStatus::is_final)
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
            Ok(Some(progress)) => match update(store.as_ref(), &run_id, &feed, progress).await {
                Ok(next) if next != feed => {
                    feed = next;
                    tx.send_replace(Arc::new(feed.clone()));
                }
                Ok(_) => {}
                // Nothing of this read is published: a feed whose run is final but whose log
                // tail is missing would end every follower's stream without that tail.
                Err(e) => {
                    tracing::debug!(run_id = %run_id, error = %crate::telemetry::chain(&e), "reading a followed run's log failed; retrying")
                }
            },
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

/// The feed after a fresh progress read of `run_id`, reading only the new tails of logs that
/// grew since `feed`. Fails, rather than answer a feed with a log cut short, when a tail
/// cannot be read.
async fn update(
    store: &dyn Store,
    run_id: &str,
    feed: &Feed,
    p: RunProgress,
) -> Result<Feed, StoreError> {
    let mut steps = Vec::with_capacity(p.steps.len());
    for s in p.steps {
        let prev = feed.steps.iter().find(|f| f.idx == s.idx);
        let (text, chars) = match prev {
            Some(f) if f.chars == s.log_chars => (f.text.clone(), f.chars),
            Some(f) if f.chars < s.log_chars => {
                match store.step_log_tail(run_id, s.idx, f.chars).await? {
                    Some(tail) => (
                        Arc::from(format!("{}{tail}", f.text)),
                        f.chars + tail.chars().count() as i64,
                    ),
                    None => (f.text.clone(), f.chars),
                }
            }
            // New, or shorter (a new attempt rewrote it): read it whole.
            _ => match store.step_log_tail(run_id, s.idx, 0).await? {
                Some(all) => {
                    let n = all.chars().count() as i64;
                    (Arc::from(all), n)
                }
                None => (Arc::from(""), 0),
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
    Ok(Feed {
        status: p.status,
        reason: p.reason,
        attempt: p.attempt,
        steps,
        gone: false,
    })
}
