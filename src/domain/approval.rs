//! Approval steps (SPEC §5, the Mix use case): who may decide, and the rules checked when a
//! pipeline with one is saved.

use super::pipeline::Step;
use super::role::Role;
use super::run_status::RunStatus;
use super::step_status::StepStatus;
use super::FieldError;

/// How long an approval waits when its step gives no `timeout_secs`: a day.
pub const DEFAULT_TIMEOUT_SECS: u64 = 86_400;
/// The longest comment kept with a decision, in characters.
pub const MAX_COMMENT_CHARS: usize = 2_000;

/// What an approver decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Approved,
    Rejected,
    /// Nobody decided before the step's timeout.
    TimedOut,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Approved => "approved",
            Decision::Rejected => "rejected",
            Decision::TimedOut => "timed_out",
        }
    }

    /// What the decision makes of the waiting run and of its approval step: approved queues the
    /// run again (it resumes after the step); rejected and timed out end it.
    pub fn states(self) -> (RunStatus, StepStatus) {
        match self {
            Decision::Approved => (RunStatus::Queued, StepStatus::Succeeded),
            Decision::Rejected => (RunStatus::Rejected, StepStatus::Rejected),
            Decision::TimedOut => (RunStatus::TimedOut, StepStatus::TimedOut),
        }
    }
}

/// True when a token of `role` may decide an approval whose step names `approvers`.
///
/// Roles are ordered (member < owner), so naming `member` lets owners decide too, and naming
/// only `owner` keeps members out. A viewer never decides; the instance admin always may.
pub fn may_decide(approvers: &[String], role: Role) -> bool {
    if role == Role::Admin {
        return true;
    }
    let lowest = approvers
        .iter()
        .filter_map(|a| Role::parse(a))
        .filter(|r| matches!(r, Role::Member | Role::Owner))
        .min();
    match lowest {
        Some(needed) => role != Role::Viewer && role.allows(needed),
        None => false,
    }
}

/// The fields of other actions, which an approval step must not carry.
fn foreign_fields(step: &Step) -> Vec<&'static str> {
    [
        ("program", step.program.is_some()),
        ("args", !step.args.is_empty()),
        ("env", !step.env.is_empty()),
        ("working_dir", step.working_dir.is_some()),
        ("url", step.url.is_some()),
        ("method", step.method.is_some()),
        ("headers", !step.headers.is_empty()),
        ("body", step.body.is_some()),
        ("expect_status", step.expect_status.is_some()),
    ]
    .into_iter()
    .filter_map(|(f, set)| set.then_some(f))
    .collect()
}

/// Checks an `approval` step. `at` names a field of this step; `check` checks a template.
pub fn check_step(
    step: &Step,
    at: &dyn Fn(&str) -> String,
    check: &mut dyn FnMut(String, &str),
    errors: &mut Vec<FieldError>,
) {
    if step.approvers.is_empty() {
        errors.push(FieldError::new(
            at("approvers"),
            "name the roles that may decide: member, owner",
        ));
    }
    for (i, a) in step.approvers.iter().enumerate() {
        match a.as_str() {
            "member" | "owner" => {}
            "viewer" => errors.push(FieldError::new(
                at(&format!("approvers[{i}]")),
                "a viewer never decides an approval: use member or owner",
            )),
            _ => errors.push(FieldError::new(
                at(&format!("approvers[{i}]")),
                "must be member or owner",
            )),
        }
    }
    if let Some(m) = &step.message {
        check(at("message"), m);
        // The message reaches approvers by mail and outgoing hooks: never a secret.
        if let Ok(names) = super::template::names(m) {
            if names.iter().any(|n| n.starts_with("secrets.")) {
                errors.push(FieldError::new(
                    at("message"),
                    "may not use ${secrets.…}: approvers and outgoing hooks read it",
                ));
            }
        }
    }
    for f in foreign_fields(step) {
        errors.push(FieldError::new(at(f), "is not for approval steps"));
    }
}

/// Refuses the approval fields on a step of another action.
pub fn check_not_approval(step: &Step, at: &dyn Fn(&str) -> String, errors: &mut Vec<FieldError>) {
    if !step.approvers.is_empty() {
        errors.push(FieldError::new(at("approvers"), "is for approval steps"));
    }
    if step.message.is_some() {
        errors.push(FieldError::new(at("message"), "is for approval steps"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roles(r: &[&str]) -> Vec<String> {
        r.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn members_and_owners_decide_as_named_and_viewers_never() {
        assert!(may_decide(&roles(&["member"]), Role::Member));
        assert!(may_decide(&roles(&["member"]), Role::Owner));
        assert!(!may_decide(&roles(&["owner"]), Role::Member));
        assert!(may_decide(&roles(&["owner"]), Role::Owner));
        assert!(!may_decide(&roles(&["member", "owner"]), Role::Viewer));
        assert!(!may_decide(&roles(&["viewer"]), Role::Viewer));
        assert!(!may_decide(&roles(&[]), Role::Owner));
        assert!(may_decide(&roles(&["owner"]), Role::Admin));
    }
}
