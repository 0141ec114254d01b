//! The ingest core, with no HTTP in it: what happens to a verified request. Parse → variables →
//! filters → dedup (when asked) → durable enqueue. The route (`handler.rs`), replay
//! (`api/deliveries.rs`) and the test route each turn its result into their own answer.

use serde_json::{Map, Value};

use super::body::BodyError;
use super::committer::{CommitError, Committer};
use super::evaluate::{evaluate, Decision, Incoming};
use super::hooks::LoadedHook;
use crate::domain::delivery::DeliveryOutcome;
use crate::domain::ids::{new_id, IdKind};
use crate::domain::pipeline::RunLimit;
use crate::domain::run_status::RunStatus;
use crate::domain::variable::VariableProblem;
use crate::store::{DeliveryRow, IngestResult, IngestWrite, RunRow};

/// What a verified request is, before `accept` decides what becomes of it.
pub struct Facts<'a> {
    /// Its request-log row, with the request's facts filled in and the outcome still to set.
    pub delivery: DeliveryRow,
    /// Its headers, query, content type and body, as `evaluate` reads them.
    pub incoming: Incoming<'a>,
    /// Whether to deduplicate on the provider's delivery id (a replay does not).
    pub dedup: bool,
}

/// What became of an accepted request; every one is committed before it is returned.
#[derive(Debug)]
pub enum Outcome {
    /// A run is queued for the delivery.
    Queued { run_id: String, delivery_id: String },
    /// The provider's delivery id was seen before on this hook: no new run.
    Duplicate { run_id: String, delivery_id: String },
    /// A filter did not pass: no run, for this reason.
    Ignored { reason: String, delivery_id: String },
    /// Slack's `url_verification`: its challenge goes back, no run.
    SlackChallenge(Value),
}

/// Why a verified request was refused. Nothing runs.
#[derive(Debug)]
pub enum Refusal {
    /// The body is neither JSON nor a form with a `payload` field, or is content-encoded.
    Body(BodyError),
    /// Variables could not be extracted, or the pipeline's required ones are missing.
    Variables(Vec<VariableProblem>),
    /// The request could not be committed: nothing is stored, the sender should retry.
    Unavailable(CommitError),
}

impl Refusal {
    /// The HTTP status the request log records for this refusal (and the route answers).
    pub fn status(&self) -> u16 {
        match self {
            Refusal::Body(BodyError::Invalid(_)) => 400,
            Refusal::Body(BodyError::Unsupported(_)) => 415,
            Refusal::Variables(_) => 422,
            Refusal::Unavailable(_) => 503,
        }
    }

    /// The stable error code (`invalid_body`, `invalid_variables`, …).
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::Body(e) => e.code(),
            Refusal::Variables(_) => "invalid_variables",
            Refusal::Unavailable(_) => "unavailable",
        }
    }
}

/// Decides what becomes of a verified request and commits it. A refusal the hook's rules make
/// is recorded in the request log without waiting; everything else is committed before this
/// returns, so an `Ok` is durable.
pub async fn accept(
    committer: &Committer,
    hook: &LoadedHook,
    facts: Facts<'_>,
) -> Result<Outcome, Refusal> {
    let Facts {
        mut delivery,
        incoming,
        dedup,
    } = facts;
    let delivery_id = delivery.id.clone();
    let eval = evaluate(hook, &incoming, &delivery_id, delivery.received_at, false);
    delivery.provider_delivery_id = eval.provider_delivery_id.clone();
    delivery.event = eval.event.clone();
    if let Some(vars) = &eval.delivery_vars {
        delivery.variables = Some(serde_json::to_string(vars).expect("a JSON map serializes"));
    }
    let variables = match eval.decision {
        Decision::Refused(refusal) => {
            if let Refusal::Variables(problems) = &refusal {
                delivery.problems = serde_json::to_string(problems).ok();
            }
            record_refused(committer, delivery, refusal.status(), refusal.code());
            return Err(refusal);
        }
        Decision::SlackChallenge(challenge) => {
            commit_ignored(committer, delivery, "slack url_verification".into()).await?;
            return Ok(Outcome::SlackChallenge(challenge));
        }
        Decision::Ignored(reason) => {
            commit_ignored(committer, delivery, reason.clone()).await?;
            return Ok(Outcome::Ignored {
                reason,
                delivery_id,
            });
        }
        Decision::Run(variables) => variables,
    };
    delivery.variables = Some(serde_json::to_string(&variables).expect("a JSON map serializes"));

    let run = new_run(hook, &delivery, &variables);
    let run_id = run.id.clone();
    delivery.status_code = 202;
    delivery.outcome = DeliveryOutcome::Accepted.as_str().into();
    delivery.run_id = Some(run_id.clone());
    let dedup_key = eval.provider_delivery_id.filter(|_| dedup);
    let write = IngestWrite {
        delivery,
        run: Some(run),
        dedup_key,
    };
    match committer
        .commit(write)
        .await
        .map_err(Refusal::Unavailable)?
    {
        IngestResult::Duplicate { run_id } => Ok(Outcome::Duplicate {
            run_id,
            delivery_id,
        }),
        _ => Ok(Outcome::Queued {
            run_id,
            delivery_id,
        }),
    }
}

/// Records a refused request without waiting (when the committer's queue is full it is not
/// recorded; the answer does not depend on it).
pub fn record_refused(
    committer: &Committer,
    mut delivery: DeliveryRow,
    status: u16,
    code: &'static str,
) {
    delivery.status_code = i64::from(status);
    delivery.outcome = DeliveryOutcome::Rejected.as_str().into();
    delivery.error = Some(code.to_string());
    committer.record(IngestWrite {
        delivery,
        run: None,
        dedup_key: None,
    });
}

/// Commits a delivery that starts no run (answered 200), before its answer like any other 2xx.
async fn commit_ignored(
    committer: &Committer,
    mut delivery: DeliveryRow,
    reason: String,
) -> Result<(), Refusal> {
    delivery.status_code = 200;
    delivery.outcome = DeliveryOutcome::Ignored.as_str().into();
    delivery.filter_reason = Some(reason);
    let write = IngestWrite {
        delivery,
        run: None,
        dedup_key: None,
    };
    committer
        .commit(write)
        .await
        .map(drop)
        .map_err(Refusal::Unavailable)
}

fn new_run(hook: &LoadedHook, delivery: &DeliveryRow, variables: &Map<String, Value>) -> RunRow {
    let limit = RunLimit::resolve(hook.concurrency.as_ref(), variables);
    RunRow {
        id: new_id(IdKind::Run),
        pipeline_id: hook.pipeline_id.clone(),
        project_id: hook.project_id.clone(),
        hook_id: Some(hook.id.clone()),
        delivery_id: Some(delivery.id.clone()),
        status: RunStatus::Queued,
        reason: None,
        // The same text the delivery records, serialized once.
        variables: delivery.variables.clone().unwrap_or_default(),
        triggered_by: match &delivery.replay_of {
            Some(original) => format!("replay:{original}"),
            None => format!("hook:{}", hook.id),
        },
        concurrency_key: limit.key,
        attempt: 0,
        lease_expires_at: None,
        created_at: delivery.received_at,
        started_at: None,
        finished_at: None,
        worker_id: None,
        cancel_requested: false,
        max_attempts: hook.max_attempts,
        concurrency_policy: limit.policy,
        concurrency_max: limit.max,
    }
}
