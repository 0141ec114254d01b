//! Approval gates in the store (SPEC §5): a run waits with no lease and no worker; one
//! conditional UPDATE decides it, so exactly one decision wins across processes; the deadline
//! sweep uses the same UPDATE.

use super::{RunRow, StepRow, StoreError};
use crate::domain::approval::Decision;

/// An approval step a run reached.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ApprovalRow {
    pub run_id: String,
    pub step_idx: i64,
    pub step_name: String,
    /// JSON array of roles.
    pub approvers: String,
    pub message: Option<String>,
    pub requested_at: i64,
    pub deadline: i64,
    /// `None` while waiting; `approved`, `rejected` or `timed_out`.
    pub decision: Option<String>,
    pub decided_by: Option<String>,
    pub decided_at: Option<i64>,
    pub comment: Option<String>,
}

impl ApprovalRow {
    pub fn approvers(&self) -> Vec<String> {
        serde_json::from_str(&self.approvers).unwrap_or_default()
    }

    /// The approval as an event's snapshot shows it.
    pub fn snapshot(&self) -> crate::domain::run::ApprovalSnapshot<'_> {
        crate::domain::run::ApprovalSnapshot {
            step: &self.step_name,
            message: self.message.as_deref(),
            approvers: self.approvers(),
            requested_at: self.requested_at,
            deadline: self.deadline,
            decision: self.decision.as_deref(),
            decided_by: self.decided_by.as_deref(),
            decided_at: self.decided_at,
            comment: self.comment.as_deref(),
        }
    }
}

/// A decision to record.
#[derive(Debug, Clone)]
pub struct DecisionIn<'a> {
    pub run_id: &'a str,
    pub decision: Decision,
    /// A token id, or `hookgate` for a timeout.
    pub by: &'a str,
    pub comment: Option<&'a str>,
    pub now: i64,
}

/// The approval half of the store; every [`super::Store`] is one.
#[async_trait::async_trait]
pub trait ApprovalStore: Send + Sync {
    /// Moves `attempt` of a running run to `waiting_approval` (lease and worker cleared),
    /// records the approval and the step, and emits `run.approval_requested`, in one
    /// transaction. False, with nothing written, when the attempt no longer holds the run.
    async fn request_approval(
        &self,
        attempt: i64,
        approval: &ApprovalRow,
        step: &StepRow,
    ) -> Result<bool, StoreError>;
    /// A run's approvals, oldest step first.
    async fn list_approvals(&self, run_id: &str) -> Result<Vec<ApprovalRow>, StoreError>;
    /// Decides the run's pending approval: approved puts the run back in the queue (it
    /// resumes after the step), rejected and timed out end it. `None` when nothing was pending
    /// (already decided, or the run is not waiting); a timeout only applies past the deadline.
    async fn decide_approval(
        &self,
        d: &DecisionIn<'_>,
    ) -> Result<Option<(RunRow, ApprovalRow)>, StoreError>;
    /// Ids of runs whose approval deadline is at or before `now` (at most 100).
    async fn due_approvals(&self, now: i64) -> Result<Vec<String>, StoreError>;
}

/// Expands to `impl ApprovalStore for $ty`; `Dialect::BEGIN_WRITE` opens a write transaction.
macro_rules! impl_approval_store {
    ($ty:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::ApprovalStore for $ty {
            async fn request_approval(
                &self,
                attempt: i64,
                a: &$crate::store::ApprovalRow,
                step: &StepRow,
            ) -> Result<bool, StoreError> {
                let mut tx = self.pool.begin_with(<$ty as $crate::store::shared::Dialect>::BEGIN_WRITE).await?;
                let waiting: Option<RunRow> = sqlx::query_as(
                    "UPDATE runs SET status = 'waiting_approval', worker_id = NULL, lease_expires_at = NULL \
                     WHERE id = $1 AND attempt = $2 AND status = 'running' RETURNING *",
                )
                .bind(&a.run_id)
                .bind(attempt)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(run) = waiting else {
                    return Ok(false);
                };
                sqlx::query(
                    "INSERT INTO run_approvals (run_id, step_idx, step_name, approvers, message, requested_at, deadline) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (run_id, step_idx) DO UPDATE SET \
                     step_name = excluded.step_name, approvers = excluded.approvers, message = excluded.message, \
                     requested_at = excluded.requested_at, deadline = excluded.deadline, decision = NULL, \
                     decided_by = NULL, decided_at = NULL, comment = NULL",
                )
                .bind(&a.run_id)
                .bind(a.step_idx)
                .bind(&a.step_name)
                .bind(&a.approvers)
                .bind(&a.message)
                .bind(a.requested_at)
                .bind(a.deadline)
                .execute(&mut *tx)
                .await?;
                upsert_step!(tx, step);
                approval_events!(tx, &run, a, "run.approval_requested", a.requested_at);
                tx.commit().await?;
                Ok(true)
            }

            async fn list_approvals(&self, run_id: &str) -> Result<Vec<$crate::store::ApprovalRow>, StoreError> {
                Ok(sqlx::query_as("SELECT * FROM run_approvals WHERE run_id = $1 ORDER BY step_idx")
                    .bind(run_id)
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn decide_approval(
                &self,
                d: &$crate::store::DecisionIn<'_>,
            ) -> Result<Option<(RunRow, $crate::store::ApprovalRow)>, StoreError> {
                use $crate::domain::approval::Decision;
                let mut tx = self.pool.begin_with(<$ty as $crate::store::shared::Dialect>::BEGIN_WRITE).await?;
                // A timeout only applies once the deadline has passed; a person's decision any time.
                let due_by = if d.decision == Decision::TimedOut { d.now } else { i64::MAX };
                let decided: Option<$crate::store::ApprovalRow> = sqlx::query_as(
                    "UPDATE run_approvals SET decision = $2, decided_by = $3, decided_at = $4, comment = $5 \
                     WHERE run_id = $1 AND decision IS NULL AND deadline <= $6 RETURNING *",
                )
                .bind(d.run_id)
                .bind(d.decision.as_str())
                .bind(d.by)
                .bind(d.now)
                .bind(d.comment)
                .bind(due_by)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(approval) = decided else {
                    return Ok(None);
                };
                let (status, step_status) = d.decision.states();
                let reason = match d.decision {
                    Decision::Approved => None,
                    Decision::Rejected => Some(format!("rejected by {}", d.by)),
                    Decision::TimedOut => Some("approval timed out".to_string()),
                };
                let finished_at = status.is_final().then_some(d.now);
                let updated: Option<RunRow> = sqlx::query_as(
                    "UPDATE runs SET status = $2, reason = $3, finished_at = $4 WHERE id = $1 AND status = 'waiting_approval' \
                     RETURNING *",
                )
                .bind(d.run_id)
                .bind(status)
                .bind(&reason)
                .bind(finished_at)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(run) = updated else {
                    return Ok(None);
                };
                sqlx::query("UPDATE run_steps SET status = $3, finished_at = $4 WHERE run_id = $1 AND idx = $2")
                    .bind(d.run_id)
                    .bind(approval.step_idx)
                    .bind(step_status)
                    .bind(d.now)
                    .execute(&mut *tx)
                    .await?;
                if let Some(event) = status.event().filter(|_| status.is_final()) {
                    approval_events!(tx, &run, &approval, event, d.now);
                }
                tx.commit().await?;
                Ok(Some((run, approval)))
            }

            async fn due_approvals(&self, now: i64) -> Result<Vec<String>, StoreError> {
                let rows: Vec<(String,)> = sqlx::query_as(
                    "SELECT a.run_id FROM run_approvals a JOIN runs r ON r.id = a.run_id WHERE a.decision IS NULL \
                     AND a.deadline <= $1 AND r.status = 'waiting_approval' ORDER BY a.deadline LIMIT 100",
                )
                .bind(now)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(|r| r.0).collect())
            }
        }
    };
}

/// Inserts or replaces a step row inside `$tx` (no attempt fence: the caller's UPDATE of the
/// run already is one).
macro_rules! upsert_step {
    ($tx:ident, $step:expr) => {{
        let step: &StepRow = $step;
        sqlx::query(
            "INSERT INTO run_steps (run_id, idx, name, status, exit_code, started_at, finished_at, log) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (run_id, idx) DO UPDATE SET name = excluded.name, \
             status = excluded.status, exit_code = excluded.exit_code, started_at = excluded.started_at, \
             finished_at = excluded.finished_at, log = excluded.log",
        )
        .bind(&step.run_id)
        .bind(step.idx)
        .bind(&step.name)
        .bind(&step.status)
        .bind(step.exit_code)
        .bind(step.started_at)
        .bind(step.finished_at)
        .bind(&step.log)
        .execute(&mut *$tx)
        .await?;
    }};
}

/// Like `enqueue_events!`, with the approval in the run snapshot (for `${comment}`,
/// `${decided_by}` and the envelope's `approval`).
macro_rules! approval_events {
    ($tx:ident, $run:expr, $approval:expr, $event:expr, $now:expr) => {{
        let run: &RunRow = $run;
        let event: &str = $event;
        let approval: &$crate::store::ApprovalRow = $approval;
        let hooks = subscribed_hooks!($tx, &run.pipeline_id, event);
        insert_events!(
            $tx,
            &hooks,
            run,
            event,
            $now,
            |run: &RunRow, pipeline: &str, project: &str| {
                run.snapshot(pipeline, project)
                    .with_approval(&approval.snapshot())
            }
        );
    }};
}
