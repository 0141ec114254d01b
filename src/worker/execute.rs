//! Running one claimed run: its steps in order, with a heartbeat alongside.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use secrecy::ExposeSecret;
use serde_json::{Map, Value};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::WorkerContext;
use crate::api::secrets::secret_context;
use crate::domain::pipeline::{PipelineSpec, Step};
use crate::domain::template;
use crate::domain::time::now_ms;
use crate::runner::command::{run_command, CommandSpec, StepOutcome};
use crate::runner::http::{run_http, HttpSpec};
use crate::runner::step_log::StepLog;
use crate::store::{Lease, RunRow, StepRow};

const COMMAND_TIMEOUT_SECS: u64 = 600;
const HTTP_TIMEOUT_SECS: u64 = 30;

/// Why a run's current step was stopped from outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// Someone asked to cancel the run.
    Cancel,
    /// Another attempt owns the run now: change nothing.
    Lost,
    /// Shutdown: hand the run back to the queue.
    HandBack,
}

/// Runs `run` to its end and records the outcome, fenced by its attempt number.
#[tracing::instrument(name = "run", skip_all, fields(run_id = %run.id, attempt = run.attempt))]
pub(super) async fn run(ctx: &WorkerContext, run: RunRow) {
    let started = now_ms();
    let stop_cause = Arc::new(Mutex::new(None::<Stop>));
    let token = CancellationToken::new();
    let heartbeat = tokio::spawn(heartbeat(
        ctx.store.clone(),
        run.id.clone(),
        run.attempt,
        ctx.lease_ms,
        run.lease_expires_at
            .unwrap_or_else(|| now_ms() + ctx.lease_ms),
        token.clone(),
        ctx.hand_back.clone(),
        stop_cause.clone(),
    ));
    tracing::info!("run started");
    ctx.metrics
        .run_started(&run.pipeline_id, now_ms() - run.created_at);
    let (status, reason) = steps(ctx, &run, &token).await;
    heartbeat.abort();
    let cause = *stop_cause.lock().expect("stop cause lock");
    // A run whose steps all succeeded stays succeeded, whatever arrived after its last step.
    let result = match (cause, status) {
        (Some(Stop::Lost), _) => {
            tracing::warn!("lost the run's lease; another attempt owns it now");
            ctx.metrics.lease_lost();
            Ok(false)
        }
        (Some(Stop::HandBack), s) if s != "succeeded" => {
            ctx.store.requeue_run(&run.id, run.attempt).await
        }
        (Some(Stop::Cancel), s) if s != "succeeded" => {
            ctx.store
                .finish_run(
                    &run.id,
                    run.attempt,
                    "cancelled",
                    Some("cancelled on request"),
                    now_ms(),
                )
                .await
        }
        _ => {
            ctx.store
                .finish_run(&run.id, run.attempt, status, reason.as_deref(), now_ms())
                .await
        }
    };
    match result {
        Ok(true) => match final_status(cause, status) {
            "queued" => tracing::info!("run handed back to the queue"),
            status => {
                tracing::info!(status, "run finished");
                ctx.metrics
                    .run_finished(&run.pipeline_id, status, Some(started), now_ms());
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
fn final_status(cause: Option<Stop>, status: &'static str) -> &'static str {
    match (cause, status) {
        (Some(Stop::Cancel), s) if s != "succeeded" => "cancelled",
        (Some(Stop::HandBack), s) if s != "succeeded" => "queued",
        _ => status,
    }
}

/// Renews the lease every third of it; stops the run when the lease is lost, a cancel is
/// requested, or the workers hand runs back. When renewals fail (the database is unreachable),
/// the run is stopped as lost a third of a lease before the last lease it holds runs out: by
/// then another process may recover it, and the same run must not go on in two places.
#[allow(clippy::too_many_arguments)]
async fn heartbeat(
    store: Arc<dyn crate::store::Store>,
    run_id: String,
    attempt: i64,
    lease_ms: i64,
    mut held_until: i64,
    token: CancellationToken,
    hand_back: CancellationToken,
    cause: Arc<Mutex<Option<Stop>>>,
) {
    let every = Duration::from_millis((lease_ms / 3).max(200) as u64);
    let stop = |why: Stop| {
        cause.lock().expect("stop cause lock").get_or_insert(why);
        token.cancel();
    };
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = hand_back.cancelled() => { stop(Stop::HandBack); return; }
        }
        let until = now_ms() + lease_ms;
        match store.heartbeat(&run_id, attempt, until).await {
            Ok(Lease::Held { cancel }) => {
                held_until = until;
                if cancel {
                    stop(Stop::Cancel);
                }
            }
            Ok(Lease::Lost) => {
                stop(Stop::Lost);
                return;
            }
            Err(e) if now_ms() >= held_until - every.as_millis() as i64 => {
                tracing::warn!(run_id = %run_id, error = %crate::telemetry::chain(&e), "heartbeat failed until the lease ran out; stopping the run");
                stop(Stop::Lost);
                return;
            }
            Err(e) => {
                tracing::warn!(run_id = %run_id, error = %crate::telemetry::chain(&e), "heartbeat failed; will retry")
            }
        }
    }
}

/// Runs the steps; returns the run's final status and reason.
async fn steps(
    ctx: &WorkerContext,
    run: &RunRow,
    token: &CancellationToken,
) -> (&'static str, Option<String>) {
    let pipeline = match ctx.store.get_pipeline(&run.pipeline_id).await {
        Ok(Some(p)) => p,
        Ok(None) => return ("failed", Some("the pipeline was deleted".into())),
        Err(e) => return ("failed", Some(format!("could not read the pipeline: {e}"))),
    };
    let spec: PipelineSpec = match serde_json::from_str(&pipeline.spec) {
        Ok(s) => s,
        Err(e) => {
            return (
                "failed",
                Some(format!("the stored pipeline does not parse: {e}")),
            )
        }
    };
    let mut secrets = Map::new();
    match ctx.store.list_secrets(&pipeline.id).await {
        Ok(rows) => {
            for row in rows {
                match ctx
                    .key
                    .open(&secret_context(&pipeline.id, &row.name), &row.ciphertext)
                {
                    Ok(value) => {
                        secrets.insert(
                            format!("secrets.{}", row.name),
                            Value::String(value.expose_secret().to_string()),
                        );
                    }
                    Err(_) => {
                        return (
                            "failed",
                            Some(format!("the secret {} cannot be decrypted", row.name)),
                        )
                    }
                }
            }
        }
        Err(e) => {
            return (
                "failed",
                Some(format!("could not read the pipeline's secrets: {e}")),
            )
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

    for (idx, step) in spec.steps.iter().enumerate() {
        if token.is_cancelled() {
            // Stopped between steps: start nothing more.
            return (
                "cancelled",
                Some(format!("stopped before step {}", step.name)),
            );
        }
        let mut row = StepRow {
            run_id: run.id.clone(),
            idx: idx as i64,
            name: step.name.clone(),
            status: "running".into(),
            exit_code: None,
            started_at: Some(now_ms()),
            finished_at: None,
            log: String::new(),
        };
        if !matches!(ctx.store.record_step(run.attempt, &row).await, Ok(true)) {
            return ("failed", Some("the run's lease was lost".into()));
        }
        let mut log = StepLog::new(StepLog::DEFAULT_CAP, redact.clone());
        let span = tracing::info_span!("step", step = %step.name, idx);
        span.in_scope(|| tracing::info!("step started"));
        let flusher =
            super::live_log::spawn(ctx.store.clone(), run.attempt, row.clone(), log.live());
        let ran = render_and_run(ctx, step, &vars, &secrets, token, &mut log)
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
            StepOutcome::Succeeded { .. } => ("succeeded", None),
            StepOutcome::Failed { reason, .. } => (
                "failed",
                Some(("failed", format!("step {} failed: {reason}", step.name))),
            ),
            StepOutcome::TimedOut => (
                "timed_out",
                Some(("timed_out", format!("step {} timed out", step.name))),
            ),
            StepOutcome::Cancelled => (
                "cancelled",
                Some(("cancelled", format!("step {} was stopped", step.name))),
            ),
        };
        row.exit_code = match outcome {
            StepOutcome::Succeeded { exit_code } | StepOutcome::Failed { exit_code, .. } => {
                exit_code.map(i64::from)
            }
            _ => None,
        };
        row.status = step_status.into();
        row.finished_at = Some(now_ms());
        row.log = log.text();
        span.in_scope(|| {
            tracing::info!(
                status = step_status,
                exit_code = row.exit_code,
                "step finished"
            )
        });
        let _ = ctx.store.record_step(run.attempt, &row).await;
        if let Some((status, reason)) = run_end {
            return (status, Some(redact_text(&reason, &redact)));
        }
    }
    ("succeeded", None)
}

fn redact_text(text: &str, secrets: &[String]) -> String {
    secrets
        .iter()
        .filter(|s| !s.is_empty())
        .fold(text.to_string(), |t, s| t.replace(s.as_str(), "[redacted]"))
}

/// Renders a step's templates and runs it. `Err` is a problem found before it could start.
async fn render_and_run(
    ctx: &WorkerContext,
    step: &Step,
    vars: &Map<String, Value>,
    secrets: &Map<String, Value>,
    token: &CancellationToken,
    log: &mut StepLog,
) -> Result<StepOutcome, String> {
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
