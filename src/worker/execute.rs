//! Running one claimed run: its steps in order, with a heartbeat alongside. Every database
//! write and read of a run in flight is retried while the lease is ours (see `lease.rs`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use secrecy::ExposeSecret;
use serde_json::{Map, Value};
use tracing::Instrument;

use super::control::{heartbeat, Control, Stop};
use super::lease::{while_held, GaveUp, LeaseClock};
use super::WorkerContext;
use crate::crypto::SealContext;
use crate::domain::ids::RunId;
use crate::domain::pipeline::{PipelineSpec, Step};
use crate::domain::run_status::RunStatus;
use crate::domain::step_status::StepStatus;
use crate::domain::template;
use crate::domain::time::now_ms;
use crate::steps::command::{run_command, CommandSpec, StepOutcome};
use crate::steps::http::{run_http, HttpSpec};
use crate::steps::step_log::StepLog;
use crate::store::{RunRow, StepRow};

const COMMAND_TIMEOUT_SECS: u64 = 600;
const HTTP_TIMEOUT_SECS: u64 = 30;

/// What one run in flight shares between its steps, its heartbeat and its end.
struct Flight<'a> {
    ctx: &'a WorkerContext,
    run: &'a RunRow,
    /// `run.id`, typed for the run's fenced writes.
    run_id: RunId,
    lease: Arc<LeaseClock>,
    control: Arc<Control>,
}

/// Runs `run` to its end and records the outcome, fenced by its attempt number.
#[tracing::instrument(name = "run", skip_all, fields(run_id = %run.id, attempt = run.attempt))]
pub(super) async fn run(ctx: &WorkerContext, run: RunRow) {
    let started = now_ms();
    let lease = Arc::new(LeaseClock::new(
        ctx.lease_ms,
        run.lease_expires_at
            .unwrap_or_else(|| now_ms() + ctx.lease_ms),
    ));
    let control = Arc::new(Control::default());
    // The heartbeat goes on until the run's end is recorded: that write, too, is retried only
    // while the lease is ours.
    let run_id = RunId::from(run.id.clone());
    let heartbeat = tokio::spawn(heartbeat(
        ctx.store.clone(),
        run_id.clone(),
        run.attempt,
        lease.clone(),
        control.clone(),
        ctx.hand_back.clone(),
    ));
    tracing::info!("run started");
    ctx.metrics
        .run_started(&run.pipeline_id, now_ms() - run.created_at);
    let flight = Flight {
        ctx,
        run: &run,
        run_id,
        lease,
        control,
    };
    let (status, reason) = steps(&flight).await;
    if status == RunStatus::WaitingApproval {
        // The run left this worker: no lease, no slot, until a decision puts it back.
        heartbeat.abort();
        return;
    }
    // A run whose steps all succeeded stays succeeded, whatever arrived after its last step.
    let cause = flight.control.cause();
    let result = match (cause, status) {
        (Some(Stop::Lost), _) => {
            tracing::warn!("lost the run's lease; another attempt owns it now");
            ctx.metrics.lease_lost();
            Ok(false)
        }
        (Some(Stop::HandBack), s) if s != RunStatus::Succeeded => {
            while_held(&flight.lease, &run.id, "handing the run back", || {
                ctx.store.requeue_run(&flight.run_id, run.attempt)
            })
            .await
        }
        (Some(Stop::Cancel), s) if s != RunStatus::Succeeded => {
            flight
                .record_end(RunStatus::Cancelled, Some("cancelled on request"))
                .await
        }
        _ => flight.record_end(status, reason.as_deref()).await,
    };
    heartbeat.abort();
    match result {
        Ok(true) => match final_status(cause, status) {
            RunStatus::Queued => tracing::info!("run handed back to the queue"),
            status => {
                tracing::info!(status = status.as_str(), "run finished");
                ctx.metrics.run_finished(
                    &run.pipeline_id,
                    status.as_str(),
                    Some(started),
                    now_ms(),
                );
            }
        },
        Ok(false) => {}
        Err(e) => {
            tracing::error!(error = %crate::telemetry::chain(&e), "could not record the run's end; its lease will expire and recover it")
        }
    }
    ctx.wake.runs_ready().await;
}

/// The status `run` recorded for an attempt that was not lost or handed back.
fn final_status(cause: Option<Stop>, status: RunStatus) -> RunStatus {
    match (cause, status) {
        (Some(Stop::Cancel), s) if s != RunStatus::Succeeded => RunStatus::Cancelled,
        (Some(Stop::HandBack), s) if s != RunStatus::Succeeded => RunStatus::Queued,
        _ => status,
    }
}

impl Flight<'_> {
    /// Records the run's end, retrying while the lease is ours. A write whose answer was lost
    /// may have committed: then the next attempt finds the run ended, and the run is read back
    /// to tell that apart from a lost lease.
    async fn record_end(&self, status: RunStatus, reason: Option<&str>) -> Result<bool, GaveUp> {
        let (store, run) = (&self.ctx.store, self.run);
        let failed_once = AtomicBool::new(false);
        let ended = while_held(&self.lease, &run.id, "recording the run's end", || async {
            let r = store
                .finish_run(&self.run_id, run.attempt, status, reason, now_ms())
                .await;
            if r.is_err() {
                failed_once.store(true, Ordering::Relaxed);
            }
            r
        })
        .await?;
        if ended || !failed_once.load(Ordering::Relaxed) {
            return Ok(ended);
        }
        let now = while_held(&self.lease, &run.id, "reading the run back", || {
            store.get_run(&run.id)
        })
        .await?;
        Ok(now.is_some_and(|r| r.attempt == run.attempt && r.status == status))
    }

    /// Writes a step's row while the lease is ours. `Err` is the run's end when it cannot be.
    async fn record_step(&self, row: &StepRow, what: &str) -> Result<(), (RunStatus, String)> {
        let run = self.run;
        match while_held(&self.lease, &run.id, what, || {
            self.ctx.store.record_step(run.attempt, row)
        })
        .await
        {
            Ok(true) => Ok(()),
            Ok(false) | Err(GaveUp::LeaseOut) => {
                self.control.stop(Stop::Lost);
                Err((RunStatus::Failed, "the run's lease was lost".into()))
            }
            Err(GaveUp::Failed(e)) => Err((
                RunStatus::Failed,
                format!("could not record step {}: {e}", row.name),
            )),
        }
    }

    /// Reads what the run needs before its first step, while the lease is ours.
    async fn read<T, F, Fut>(&self, what: &str, op: F) -> Result<T, (RunStatus, Option<String>)>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, crate::store::StoreError>>,
    {
        while_held(&self.lease, &self.run.id, what, op)
            .await
            .map_err(|e| {
                if matches!(e, GaveUp::LeaseOut) {
                    self.control.stop(Stop::Lost);
                }
                (RunStatus::Failed, Some(format!("{what} failed: {e}")))
            })
    }
}

/// Runs the steps; returns the run's final status and reason.
async fn steps(flight: &Flight<'_>) -> (RunStatus, Option<String>) {
    let (ctx, run, token) = (flight.ctx, flight.run, &flight.control.token);
    let pipeline = match flight
        .read("reading the pipeline", || {
            ctx.store.get_pipeline(&run.pipeline_id)
        })
        .await
    {
        Ok(Some(p)) => p,
        Ok(None) => return (RunStatus::Failed, Some("the pipeline was deleted".into())),
        Err(end) => return end,
    };
    let spec: PipelineSpec = match serde_json::from_str(&pipeline.spec) {
        Ok(s) => s,
        Err(e) => {
            return (
                RunStatus::Failed,
                Some(format!("the stored pipeline does not parse: {e}")),
            )
        }
    };
    let rows = match flight
        .read("reading the pipeline's secrets", || {
            ctx.store.list_secrets(&pipeline.id)
        })
        .await
    {
        Ok(rows) => rows,
        Err(end) => return end,
    };
    let mut secrets = Map::new();
    for row in rows {
        match ctx.key.open(
            &SealContext::PipelineSecret(&pipeline.id, &row.name),
            &row.ciphertext,
        ) {
            Ok(value) => {
                secrets.insert(
                    format!("secrets.{}", row.name),
                    Value::String(value.expose_secret().to_string()),
                );
            }
            Err(_) => {
                return (
                    RunStatus::Failed,
                    Some(format!("the secret {} cannot be decrypted", row.name)),
                )
            }
        }
    }
    let mut vars: Map<String, Value> = serde_json::from_str(&run.variables).unwrap_or_default();
    vars.insert("run_id".into(), run.id.clone().into());
    vars.insert("pipeline_id".into(), pipeline.id.clone().into());
    vars.insert("pipeline_name".into(), pipeline.name.clone().into());
    vars.insert("project_id".into(), pipeline.project_id.clone().into());
    let redact: Vec<String> = secrets
        .values()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();

    let approvals = match flight
        .read("reading the run's approvals", || {
            ctx.store.list_approvals(&run.id)
        })
        .await
    {
        Ok(approvals) => approvals,
        Err(end) => return end,
    };
    let start = match super::approval::resume_at(&spec, &approvals) {
        Ok(start) => start,
        Err(problem) => return (RunStatus::Failed, Some(problem)),
    };
    for (idx, step) in spec.steps.iter().enumerate().skip(start) {
        if token.is_cancelled() {
            // Stopped between steps: start nothing more.
            return (
                RunStatus::Cancelled,
                Some(format!("stopped before step {}", step.name)),
            );
        }
        if step.action == "approval" {
            return super::approval::pause(ctx, &flight.lease, run, idx, step, &vars).await;
        }
        let mut row = StepRow {
            run_id: run.id.clone(),
            idx: idx as i64,
            name: step.name.clone(),
            status: StepStatus::Running,
            exit_code: None,
            started_at: Some(now_ms()),
            finished_at: None,
            log: String::new(),
        };
        if let Err((status, reason)) = flight.record_step(&row, "recording a step's start").await {
            return (status, Some(reason));
        }
        let mut log = StepLog::new(StepLog::DEFAULT_CAP, redact.clone());
        let span = tracing::info_span!("step", step = %step.name, idx);
        span.in_scope(|| tracing::info!("step started"));
        let flusher =
            super::live_log::spawn(ctx.store.clone(), run.attempt, row.clone(), log.live());
        let ran = render_and_run(flight, step, &vars, &secrets, &mut log)
            .instrument(span.clone())
            .await;
        flusher.stop().await;
        let outcome = match ran {
            Ok(outcome) => outcome,
            Err(problem) => {
                log.line(&problem);
                StepOutcome::Failed {
                    exit_code: None,
                    reason: problem,
                }
            }
        };
        let (step_status, run_end) = match &outcome {
            StepOutcome::Succeeded { .. } => (StepStatus::Succeeded, None),
            StepOutcome::Failed { reason, .. } => (
                StepStatus::Failed,
                Some((
                    RunStatus::Failed,
                    format!("step {} failed: {reason}", step.name),
                )),
            ),
            StepOutcome::TimedOut => (
                StepStatus::TimedOut,
                Some((RunStatus::TimedOut, format!("step {} timed out", step.name))),
            ),
            StepOutcome::Cancelled => (
                StepStatus::Cancelled,
                Some((
                    RunStatus::Cancelled,
                    format!("step {} was stopped", step.name),
                )),
            ),
        };
        row.exit_code = match outcome {
            StepOutcome::Succeeded { exit_code } | StepOutcome::Failed { exit_code, .. } => {
                exit_code.map(i64::from)
            }
            _ => None,
        };
        row.status = step_status;
        row.finished_at = Some(now_ms());
        row.log = log.text();
        span.in_scope(|| {
            tracing::info!(
                status = step_status.as_str(),
                exit_code = row.exit_code,
                "step finished"
            )
        });
        if let Err((status, reason)) = flight.record_step(&row, "recording a step's end").await {
            return (status, Some(reason));
        }
        if let Some((status, reason)) = run_end {
            return (status, Some(redact_text(&reason, &redact)));
        }
    }
    (RunStatus::Succeeded, None)
}

fn redact_text(text: &str, secrets: &[String]) -> String {
    secrets
        .iter()
        .filter(|s| !s.is_empty())
        .fold(text.to_string(), |t, s| t.replace(s.as_str(), "[redacted]"))
}

/// Renders a step's templates and runs it. `Err` is a problem found before it could start.
async fn render_and_run(
    flight: &Flight<'_>,
    step: &Step,
    vars: &Map<String, Value>,
    secrets: &Map<String, Value>,
    log: &mut StepLog,
) -> Result<StepOutcome, String> {
    let (ctx, token) = (flight.ctx, &flight.control.token);
    let lookup = |name: &str| {
        if name.starts_with("secrets.") {
            secrets.get(name)
        } else {
            vars.get(name)
        }
    };
    let render = |text: &str| -> Result<String, String> {
        for name in template::names(text).map_err(|e| e.to_string())? {
            if name.starts_with("secrets.") && !secrets.contains_key(name) {
                return Err(format!(
                    "the secret {} is not set on this pipeline",
                    &name["secrets.".len()..]
                ));
            }
        }
        template::render_with(text, lookup).map_err(|e| e.to_string())
    };
    match step.action.as_str() {
        "command" => {
            let mut env: Vec<(String, String)> = vars
                .iter()
                .map(|(k, v)| {
                    (
                        format!("HOOKGATE_VAR_{}", k.to_ascii_uppercase()),
                        template::value_as_text(v),
                    )
                })
                .collect();
            for (k, v) in &step.env {
                env.push((k.clone(), render(v)?));
            }
            let spec = CommandSpec {
                program: render(step.program.as_deref().unwrap_or_default())?,
                args: step
                    .args
                    .iter()
                    .map(|a| render(a))
                    .collect::<Result<_, _>>()?,
                env,
                working_dir: step
                    .working_dir
                    .as_deref()
                    .map(render)
                    .transpose()?
                    .map(Into::into),
                timeout: Duration::from_secs(step.timeout_secs.unwrap_or(COMMAND_TIMEOUT_SECS)),
                // A step stopped because the lease is running out must be gone before it does.
                term_grace: flight.lease.term_grace(),
            };
            Ok(run_command(&spec, token, log).await)
        }
        "http" => {
            let mut names = Vec::new();
            if let Some(body) = &step.body {
                template::names_in_json(body, &mut names).map_err(|e| e.to_string())?;
                for n in names.iter().filter(|n| n.starts_with("secrets.")) {
                    if !secrets.contains_key(n.as_str()) {
                        return Err(format!(
                            "the secret {} is not set on this pipeline",
                            &n["secrets.".len()..]
                        ));
                    }
                }
            }
            let spec = HttpSpec {
                method: step
                    .method
                    .clone()
                    .unwrap_or_else(|| "POST".into())
                    .to_ascii_uppercase(),
                url: render(step.url.as_deref().unwrap_or_default())?,
                headers: step
                    .headers
                    .iter()
                    .map(|(k, v)| Ok((k.clone(), render(v)?)))
                    .collect::<Result<_, String>>()?,
                body: step
                    .body
                    .as_ref()
                    .map(|b| template::render_json(b, &lookup))
                    .transpose()
                    .map_err(|e| e.to_string())?,
                expect_status: step.expect_status,
                timeout: Duration::from_secs(step.timeout_secs.unwrap_or(HTTP_TIMEOUT_SECS)),
            };
            Ok(run_http(&spec, &ctx.guard, token, log).await)
        }
        other => Err(format!("unknown action {other}")),
    }
}
