//! What the approval and outgoing-form tests share: a local receiver that records what
//! reaches it (the one the notify tests use), and bounded waits on run states.

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::TestApp;

pub(crate) use crate::outgoing::notify::Receiver;

/// A receiver on 127.0.0.1:0 that answers 200 to everything and keeps every request.
pub(crate) async fn receiver() -> Receiver {
    crate::outgoing::notify::receiver(Vec::new(), false).await
}

/// Polls a run (bounded) until its status is `want`; returns it.
pub async fn wait_status(app: &TestApp, run_id: &str, want: &str) -> Value {
    let mut last = Value::Null;
    for _ in 0..600 {
        let (s, run) = app
            .get(&format!("/api/v1/runs/{run_id}"), &app.admin_token)
            .await;
        assert_eq!(s, 200, "{run}");
        if run["status"] == want {
            return run;
        }
        last = run;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("run {run_id} never reached {want}: {last}");
}

/// Starts a manual run; returns its id.
pub async fn start_run(app: &TestApp, pipeline: &str, token: &str) -> String {
    let (s, b) = app
        .post(
            &format!("/api/v1/pipelines/{pipeline}/runs"),
            token,
            json!({}),
        )
        .await;
    assert_eq!(s, 202, "{b}");
    b["run_id"].as_str().unwrap().to_string()
}

/// The fields a 422's `details` name.
pub fn error_fields(body: &Value) -> Vec<String> {
    body["details"]
        .as_array()
        .map(|d| {
            d.iter()
                .filter_map(|e| e["field"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Creates an outgoing hook on `pipeline` from `body` (any form); asserts 201, returns the answer.
pub async fn create_outgoing(app: &TestApp, pipeline: &str, token: &str, body: Value) -> Value {
    let (s, b) = app
        .post(
            &format!("/api/v1/pipelines/{pipeline}/hooks/outgoing"),
            token,
            body,
        )
        .await;
    assert_eq!(s, 201, "{b}");
    b
}
