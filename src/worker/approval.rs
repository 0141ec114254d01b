//! Approval steps in the worker: stop the run at the step (it waits with no lease and no
//! worker slot), find where an approved run resumes, and end approvals nobody decided in time.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};
use tokio_util::sync::CancellationToken;

use super::lease::{while_held, GaveUp, LeaseClock};
use super::WorkerContext;
use crate::domain::approval::{Decision, DEFAULT_TIMEOUT_SECS};
use crate::domain::pipeline::{PipelineSpec, Step};
use crate::domain::run_status::RunStatus;
use crate::domain::step_status::StepStatus;
use crate::domain::template;
use crate::domain::time::now_ms;
use crate::store::{ApprovalRow, DecisionIn, RunRow, RunStore, StepRow};

/// How often each worker process looks for approvals past their deadline.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// The index of the first step a run still has to run: after its last approved approval step.
/// Every run is asked, not only those whose pipeline has an approval step now: a pipeline
/// edited while its run waited must not make the run start again from its first step.
/// When the approved step is no longer that approval step (the pipeline changed under the
/// waiting run), the run ends rather than guess which steps already ran.
pub(super) fn resume_at(spec: &PipelineSpec, approvals: &[ApprovalRow]) -> Result<usize, String> {
    let Some(last) = approvals
        .iter()
        .filter(|a| a.decision.as_deref() == Some(Decision::Approved.as_str()))
        .max_by_key(|a| a.step_idx)
    else {
        return Ok(0);
    };
    let idx = last.step_idx as usize;
    match spec.steps.get(idx) {
        Some(step) if step.action == "approval" && step.name == last.step_name => Ok(idx + 1),
        _ => Err(format!(
            "the pipeline changed while the run waited for approval: step {} is no longer the \
             approval step {:?}; start a new run",
            idx + 1,
            last.step_name
        )),
    }
}

/// Stops the run at approval step `idx`: records the approval, the step and the run as
/// `waiting_approval` in one transaction. Returns the run's status and reason as the executor
/// reports them.
pub(super) async fn pause(
    ctx: &WorkerContext,
    lease: &LeaseClock,
    run: &RunRow,
    idx: usize,
    step: &Step,
    vars: &Map<String, Value>,
) -> (RunStatus, Option<String>) {
    // Secrets are refused in approval messages when the pipeline is saved.
    let message = match step.message.as_deref().map(|m| template::render(m, vars)) {
        None => None,
        Some(Ok(m)) => Some(m),
        Some(Err(e)) => {
            return (
                RunStatus::Failed,
                Some(format!(
                    "step {}: the message does not render: {e}",
                    step.name
                )),
            )
        }
    };
    let now = now_ms();
    let timeout_ms = step.timeout_secs.unwrap_or(DEFAULT_TIMEOUT_SECS) as i64 * 1000;
    let approval = ApprovalRow {
        run_id: run.id.clone(),
        step_idx: idx as i64,
        step_name: step.name.clone(),
        approvers: serde_json::to_string(&step.approvers).unwrap_or_else(|_| "[]".into()),
        message: message.clone(),
        requested_at: now,
        deadline: now + timeout_ms,
        decision: None,
        decided_by: None,
        decided_at: None,
        comment: None,
    };
    let row = StepRow {
        run_id: run.id.clone(),
        idx: idx as i64,
        name: step.name.clone(),
        status: StepStatus::WaitingApproval,
        exit_code: None,
        started_at: Some(now),
        finished_at: None,
        log: message.unwrap_or_default(),
    };
    // Retried while the lease is ours, like every write of a run in flight.
    match while_held(lease, &run.id, "recording the approval request", || {
        ctx.store.request_approval(run.attempt, &approval, &row)
    })
    .await
    {
        Ok(true) => {
            tracing::info!(run_id = %run.id, step = %step.name, "run waits for approval");
            (RunStatus::WaitingApproval, None)
        }
        Ok(false) | Err(GaveUp::LeaseOut) => {
            (RunStatus::Failed, Some("the run's lease was lost".into()))
        }
        Err(e) => (
            RunStatus::Failed,
            Some(format!("could not record the approval request: {e}")),
        ),
    }
}

/// Ends approvals past their deadline (`timed_out`, reason `approval timed out`) every
/// second. Every worker process runs it; the store's conditional UPDATE makes each timeout
/// happen once.
pub(super) async fn sweep_loop(store: Arc<dyn RunStore>, stop: CancellationToken) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(SWEEP_EVERY) => {}
            _ = stop.cancelled() => return,
        }
        if let Err(e) = expire_due(store.as_ref(), now_ms()).await {
            tracing::warn!(error = %crate::telemetry::chain(&e), "ending approvals past their deadline failed; retrying");
        }
    }
}

/// One sweep: returns the runs this call timed out.
pub async fn expire_due(
    store: &dyn RunStore,
    now: i64,
) -> Result<Vec<String>, crate::store::StoreError> {
    let mut ended = Vec::new();
    for run_id in store.due_approvals(now).await? {
        let decided = store
            .decide_approval(&DecisionIn {
                run_id: &run_id,
                decision: Decision::TimedOut,
                by: "hookgate",
                comment: None,
                now,
            })
            .await?;
        if decided.is_some() {
            tracing::info!(run_id = %run_id, "approval timed out");
            ended.push(run_id);
        }
    }
    Ok(ended)
}
