//! The states of a run's step, in one place. Stored as text (`run_steps.status`).

use serde::{Deserialize, Serialize};

/// Where a step stands. Stored and shown as its snake_case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    Running,
    /// An approval step waiting for its decision.
    WaitingApproval,
    Succeeded,
    Failed,
    TimedOut,
    Cancelled,
    /// An approval step an approver said no to.
    Rejected,
}

named_enum!(StepStatus {
    Running = "running",
    WaitingApproval = "waiting_approval",
    Succeeded = "succeeded",
    Failed = "failed",
    TimedOut = "timed_out",
    Cancelled = "cancelled",
    Rejected = "rejected",
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_match_serde() {
        for s in StepStatus::ALL {
            assert_eq!(s.as_str().parse(), Ok(s));
            assert_eq!(
                serde_json::to_value(s).unwrap(),
                serde_json::Value::String(s.as_str().into())
            );
        }
        assert!("Running".parse::<StepStatus>().is_err());
    }
}
