//! The states of a run (SPEC §5), in one place.

use serde::{Deserialize, Serialize};

/// Where a run stands. Stored and shown as its snake_case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Queued,
    Running,
    /// Stopped at an approval step: no worker slot, no lease, until approve, reject or the
    /// step's timeout.
    WaitingApproval,
    Succeeded,
    Failed,
    Cancelled,
    TimedOut,
    Superseded,
    /// An approver said no.
    Rejected,
}

named_enum!(RunStatus {
    Queued = "queued",
    Running = "running",
    WaitingApproval = "waiting_approval",
    Succeeded = "succeeded",
    Failed = "failed",
    Cancelled = "cancelled",
    TimedOut = "timed_out",
    Superseded = "superseded",
    Rejected = "rejected",
});

impl RunStatus {
    /// A final state: nothing changes the run any more (a retry is a new run).
    pub fn is_final(self) -> bool {
        !matches!(
            self,
            RunStatus::Queued | RunStatus::Running | RunStatus::WaitingApproval
        )
    }

    /// The outgoing event a change to this state emits (`run.<state>`), if any.
    pub fn event(self) -> Option<&'static str> {
        match self {
            RunStatus::Queued => Some("run.queued"),
            RunStatus::Running => Some("run.started"),
            RunStatus::WaitingApproval => Some("run.approval_requested"),
            RunStatus::Succeeded => Some("run.succeeded"),
            RunStatus::Failed => Some("run.failed"),
            RunStatus::Cancelled => Some("run.cancelled"),
            RunStatus::TimedOut => Some("run.timed_out"),
            RunStatus::Superseded => Some("run.superseded"),
            RunStatus::Rejected => Some("run.rejected"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_match_serde() {
        for s in RunStatus::ALL {
            assert_eq!(RunStatus::parse(s.as_str()), Some(s));
            assert_eq!(
                serde_json::to_value(s).unwrap(),
                serde_json::Value::String(s.as_str().into())
            );
        }
        assert_eq!(RunStatus::parse("Running"), None);
    }

    #[test]
    fn waiting_is_not_final_and_rejected_is() {
        assert!(!RunStatus::WaitingApproval.is_final());
        assert!(RunStatus::Rejected.is_final());
        assert!(!RunStatus::Queued.is_final());
    }
}
