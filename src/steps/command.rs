//! The `command` step: a program run with an argv array, never through a shell.

use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::step_log::StepLog;

/// Variables taken from hookgate's own environment; everything else (notably the
/// `HOOKGATE_*` configuration such as the master key) stays out of the child's.
const INHERITED_ENV: &[&str] = &["PATH", "HOME", "LANG", "TZ"];

/// How long a stopped process group gets between SIGTERM and SIGKILL.
pub const TERM_GRACE: Duration = Duration::from_secs(5);

/// How long output is still read after the program exited, for background processes that
/// inherited its stdout/stderr; after that the step ends without waiting for them.
const DRAIN_GRACE: Duration = Duration::from_secs(5);

/// A rendered `command` step.
#[derive(Debug, Clone)]
pub struct CommandSpec {
    /// Path or name looked up in `PATH`.
    pub program: String,
    pub args: Vec<String>,
    /// Added to the minimal inherited environment (PATH, HOME, LANG, TZ).
    pub env: Vec<(String, String)>,
    pub working_dir: Option<PathBuf>,
    pub timeout: Duration,
    /// How long a stopped process group gets between SIGTERM and SIGKILL (at most
    /// [`TERM_GRACE`]; less when the step must be gone before its run's lease ends).
    pub term_grace: Duration,
}

/// How a step ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepOutcome {
    /// `exit_code` is `None` for steps without one (http).
    Succeeded {
        exit_code: Option<i32>,
    },
    Failed {
        exit_code: Option<i32>,
        reason: String,
    },
    TimedOut,
    Cancelled,
}

/// Runs the program with argv (never a shell), in its own process group, stdin null,
/// stdout+stderr captured into `log` in arrival order (read concurrently). Exit 0 = Succeeded.
/// On timeout or cancel: SIGTERM the whole process group, wait up to `term_grace`, then SIGKILL the
/// group; outcome TimedOut / Cancelled. A program that cannot start (not found, not
/// executable) = Failed with a clear reason.
pub async fn run_command(
    spec: &CommandSpec,
    cancel: &CancellationToken,
    log: &mut StepLog,
) -> StepOutcome {
    let mut cmd = Command::new(&spec.program);
    cmd.args(&spec.args)
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    for name in INHERITED_ENV {
        if let Some(value) = std::env::var_os(name) {
            cmd.env(name, value);
        }
    }
    cmd.envs(spec.env.iter().map(|(k, v)| (k, v)));
    if let Some(dir) = &spec.working_dir {
        cmd.current_dir(dir);
    }

    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) => {
            let reason = match &spec.working_dir {
                Some(dir) => format!("cannot start {:?} in {}: {e}", spec.program, dir.display()),
                None => format!("cannot start {:?}: {e}", spec.program),
            };
            log.line(&reason);
            return StepOutcome::Failed {
                exit_code: None,
                reason,
            };
        }
    };
    // With process_group(0) the group id is the child's pid.
    let pgid = child.id().map(|id| id as i32);

    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(64);
    let readers = [
        child.stdout.take().map(|out| spawn_reader(out, tx.clone())),
        child.stderr.take().map(|err| spawn_reader(err, tx.clone())),
    ];
    drop(tx);

    let deadline = tokio::time::sleep(spec.timeout);
    tokio::pin!(deadline);
    let drain = tokio::time::sleep(spec.timeout);
    tokio::pin!(drain);
    let mut status: Option<std::io::Result<ExitStatus>> = None;
    let mut output_open = true;

    let stop = loop {
        if status.is_some() && !output_open {
            break None;
        }
        tokio::select! {
            chunk = rx.recv(), if output_open => match chunk {
                Some(bytes) => log.push(&bytes),
                None => output_open = false,
            },
            s = child.wait(), if status.is_none() => {
                status = Some(s);
                drain.as_mut().reset(tokio::time::Instant::now() + DRAIN_GRACE);
            }
            _ = &mut drain, if status.is_some() => {
                log.line("the program exited; background processes still hold its output, which is no longer read");
                break None;
            }
            _ = &mut deadline => break Some(StepOutcome::TimedOut),
            _ = cancel.cancelled() => break Some(StepOutcome::Cancelled),
        }
    };

    if let Some(outcome) = stop {
        log.line(match outcome {
            StepOutcome::TimedOut => "timed out; stopping the process group",
            _ => "cancelled; stopping the process group",
        });
        stop_group(
            &mut child,
            pgid,
            status.is_some(),
            spec.term_grace,
            &mut rx,
            log,
        )
        .await;
        abort_all(readers);
        return outcome;
    }
    abort_all(readers);
    outcome_of(status.expect("loop ends with a status"), log)
}

/// Forwards one pipe's chunks to the log's channel until EOF.
fn spawn_reader<R>(mut pipe: R, tx: mpsc::Sender<Vec<u8>>) -> JoinHandle<()>
where
    R: AsyncRead + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        let mut buf = vec![0u8; 8192];
        loop {
            match pipe.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx.send(buf[..n].to_vec()).await.is_err() {
                        break;
                    }
                }
            }
        }
    })
}

fn abort_all(readers: [Option<JoinHandle<()>>; 2]) {
    for reader in readers.into_iter().flatten() {
        reader.abort();
    }
}

/// SIGTERM the group, give it `term_grace` (still logging what it prints), then SIGKILL
/// whatever is left of the group and reap the child.
async fn stop_group(
    child: &mut Child,
    pgid: Option<i32>,
    exited: bool,
    term_grace: Duration,
    rx: &mut mpsc::Receiver<Vec<u8>>,
    log: &mut StepLog,
) {
    let Some(pgid) = pgid else {
        // tokio only lacks the pid once the child was reaped.
        return;
    };
    signal_group(pgid, libc::SIGTERM);
    let grace = tokio::time::sleep(term_grace);
    tokio::pin!(grace);
    let mut exited = exited;
    let mut output_open = true;
    while !exited || output_open {
        tokio::select! {
            chunk = rx.recv(), if output_open => match chunk {
                Some(bytes) => log.push(&bytes),
                None => output_open = false,
            },
            _ = child.wait(), if !exited => exited = true,
            _ = &mut grace => break,
        }
    }
    // Background members of the group may outlive the leader or ignore SIGTERM.
    signal_group(pgid, libc::SIGKILL);
    let _ = child.wait().await;
}

fn signal_group(pgid: i32, signal: libc::c_int) {
    // SAFETY: kill(2) has no memory-safety preconditions. A negative pid addresses the group
    // the child leads; once the leader is reaped and every member is gone the id could in
    // theory be reused, which needs a full pid wrap-around within the grace period.
    unsafe {
        libc::kill(-pgid, signal);
    }
}

fn outcome_of(status: std::io::Result<ExitStatus>, log: &mut StepLog) -> StepOutcome {
    let status = match status {
        Ok(status) => status,
        Err(e) => {
            let reason = format!("waiting for the program failed: {e}");
            log.line(&reason);
            return StepOutcome::Failed {
                exit_code: None,
                reason,
            };
        }
    };
    if let Some(code) = status.code() {
        log.line(&format!("exit code {code}"));
        if code == 0 {
            StepOutcome::Succeeded { exit_code: Some(0) }
        } else {
            StepOutcome::Failed {
                exit_code: Some(code),
                reason: format!("exit code {code}"),
            }
        }
    } else {
        let reason = match status.signal() {
            Some(sig) => format!("killed by signal {sig}"),
            None => "ended without an exit code".to_string(),
        };
        log.line(&reason);
        StepOutcome::Failed {
            exit_code: None,
            reason,
        }
    }
}

#[cfg(test)]
mod tests;
