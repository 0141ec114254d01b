//! A run as outgoing events see it, pure: the snapshot stored with each event (JSON), the
//! events an outgoing hook may subscribe to, and the order a run's events reach a hook in.
//! The store builds a [`RunSnapshot`] from its rows; notify renders what was stored.

use serde_json::{json, Map, Value};

use super::time::rfc3339;

/// The events a hook that names no triggers gets: a run's life, as before approvals existed.
pub const DEFAULT_TRIGGERS: &[&str] = &[
    "run.queued",
    "run.started",
    "run.succeeded",
    "run.failed",
    "run.cancelled",
    "run.timed_out",
    "run.superseded",
];

/// Every event an outgoing hook may subscribe to.
pub const EVENTS: &[&str] = &[
    "run.queued",
    "run.started",
    "run.succeeded",
    "run.failed",
    "run.cancelled",
    "run.timed_out",
    "run.superseded",
    "run.approval_requested",
    "run.rejected",
    "pipeline.created",
    "pipeline.updated",
    "pipeline.deleted",
    "delivery.rejected",
    "delivery.ignored",
];

/// A run's events reach a hook in this order: queued, started (or waiting for approval), then
/// the final one. Pipeline events: created, updated, then deleted. Delivery events have no
/// order among themselves.
pub fn event_ordinal(event: &str) -> i64 {
    match event {
        "run.queued" | "pipeline.created" => 0,
        "run.started" | "run.approval_requested" | "pipeline.updated" => 1,
        // The final events of a run, `pipeline.deleted` and the delivery events.
        _ => 2,
    }
}

/// The run at the moment of an event, as stored with the event.
#[derive(Debug, Clone, Copy)]
pub struct RunSnapshot<'a> {
    pub run_id: &'a str,
    pub status: &'a str,
    pub reason: Option<&'a str>,
    /// The run's variables as stored (a JSON object's text).
    pub variables: &'a str,
    pub triggered_by: &'a str,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub pipeline_id: &'a str,
    pub pipeline_name: &'a str,
    pub project_id: &'a str,
    pub project_name: &'a str,
}

/// The run's approval at an approval event: who was asked what, and who decided.
#[derive(Debug, Clone)]
pub struct ApprovalSnapshot<'a> {
    pub step: &'a str,
    pub message: Option<&'a str>,
    pub approvers: Vec<String>,
    pub requested_at: i64,
    pub deadline: i64,
    pub decision: Option<&'a str>,
    pub decided_by: Option<&'a str>,
    pub decided_at: Option<i64>,
    pub comment: Option<&'a str>,
}

impl RunSnapshot<'_> {
    /// The snapshot as stored with the event (JSON text).
    pub fn to_json(&self) -> String {
        self.value().to_string()
    }

    /// [`RunSnapshot::to_json`] with the run's approval.
    pub fn with_approval(&self, approval: &ApprovalSnapshot<'_>) -> String {
        let mut snap = self.value();
        snap["approval"] = json!({
            "step": approval.step,
            "message": approval.message,
            "approvers": approval.approvers,
            "requested_at": rfc3339(approval.requested_at),
            "expires_at": rfc3339(approval.deadline),
            "decision": approval.decision,
            "decided_by": approval.decided_by,
            "decided_at": approval.decided_at.map(rfc3339),
            "comment": approval.comment,
        });
        snap.to_string()
    }

    fn value(&self) -> Value {
        let variables: Value =
            serde_json::from_str(self.variables).unwrap_or_else(|_| Value::Object(Map::new()));
        json!({
            "run_id": self.run_id,
            "status": self.status,
            "reason": self.reason,
            "variables": variables,
            "triggered_by": self.triggered_by,
            "created_at": self.created_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "pipeline_id": self.pipeline_id,
            "pipeline_name": self.pipeline_name,
            "project_id": self.project_id,
            "project_name": self.project_name,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::run_status::RunStatus;

    #[test]
    fn a_runs_events_come_in_the_order_of_its_life() {
        for status in RunStatus::ALL {
            let Some(event) = status.event() else {
                continue;
            };
            assert!(EVENTS.contains(&event), "{event} is not subscribable");
            let want = match status {
                RunStatus::Queued => 0,
                RunStatus::Running | RunStatus::WaitingApproval => 1,
                _ => 2,
            };
            assert_eq!(event_ordinal(event), want, "{event}");
        }
        assert!(event_ordinal("pipeline.created") < event_ordinal("pipeline.updated"));
        assert!(event_ordinal("pipeline.updated") < event_ordinal("pipeline.deleted"));
    }

    #[test]
    fn a_snapshot_keeps_the_variables_as_an_object() {
        let snap = RunSnapshot {
            run_id: "run_1",
            status: "queued",
            reason: None,
            variables: r#"{"ref":"main"}"#,
            triggered_by: "hook:hk_1",
            created_at: 0,
            started_at: None,
            finished_at: None,
            pipeline_id: "pl_1",
            pipeline_name: "deploy",
            project_id: "prj_1",
            project_name: "web",
        };
        let v: Value = serde_json::from_str(&snap.to_json()).unwrap();
        assert_eq!(v["variables"]["ref"], "main");
        assert_eq!(v["pipeline_name"], "deploy");
        let approval = ApprovalSnapshot {
            step: "gate",
            message: None,
            approvers: vec!["owner".into()],
            requested_at: 0,
            deadline: 1000,
            decision: Some("approved"),
            decided_by: Some("tok_1"),
            decided_at: Some(500),
            comment: None,
        };
        let v: Value = serde_json::from_str(&snap.with_approval(&approval)).unwrap();
        assert_eq!(v["approval"]["decision"], "approved");
        assert_eq!(v["approval"]["approvers"][0], "owner");
    }
}
