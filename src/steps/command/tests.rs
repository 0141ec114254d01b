use super::*;

fn spec(program: &str, args: &[&str]) -> CommandSpec {
    CommandSpec {
        program: program.to_string(),
        args: args.iter().map(|a| a.to_string()).collect(),
        env: Vec::new(),
        working_dir: None,
        timeout: Duration::from_secs(60),
        term_grace: TERM_GRACE,
    }
}

async fn run(spec: &CommandSpec) -> (StepOutcome, StepLog) {
    let mut log = StepLog::new(StepLog::DEFAULT_CAP, vec![]);
    let outcome = run_command(spec, &CancellationToken::new(), &mut log).await;
    (outcome, log)
}

/// Alive and not a zombie waiting for a reaper that may never come in a container.
fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    if unsafe { libc::kill(pid, 0) } != 0 {
        return false;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat.rsplit(')').next().unwrap_or("").trim_start();
            !state.starts_with('Z')
        }
        Err(_) => false,
    }
}

async fn wait_gone(pid: i32) -> bool {
    for _ in 0..100 {
        if !alive(pid) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

fn read_pid(path: &std::path::Path) -> i32 {
    std::fs::read_to_string(path)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn arguments_are_passed_literally_without_a_shell() {
    let (outcome, log) = run(&spec("/bin/echo", &["; rm -rf /", "$HOME", "a b"])).await;
    assert_eq!(outcome, StepOutcome::Succeeded { exit_code: Some(0) });
    assert_eq!(log.text(), "; rm -rf / $HOME a b\nexit code 0\n");
}

#[tokio::test]
async fn env_is_minimal_plus_the_step_env() {
    std::env::set_var("HOOKGATE_MASTER_KEY", "parent-master-key");
    let mut s = spec("/usr/bin/env", &[]);
    s.env = vec![
        ("HOOKGATE_VAR_PR".into(), "42".into()),
        ("GREETING".into(), "hello world".into()),
    ];
    let (outcome, log) = run(&s).await;
    assert_eq!(outcome, StepOutcome::Succeeded { exit_code: Some(0) });
    let text = log.text();
    assert!(text.contains("HOOKGATE_VAR_PR=42\n"), "{text}");
    assert!(text.contains("GREETING=hello world\n"), "{text}");
    if std::env::var_os("PATH").is_some() {
        assert!(text.contains("PATH="), "{text}");
    }
    assert!(!text.contains("HOOKGATE_MASTER_KEY"), "{text}");
    assert!(!text.contains("parent-master-key"), "{text}");
}

#[tokio::test]
async fn a_nonzero_exit_fails_with_its_code() {
    let (outcome, log) = run(&spec("/bin/sh", &["-c", "exit 3"])).await;
    assert_eq!(
        outcome,
        StepOutcome::Failed {
            exit_code: Some(3),
            reason: "exit code 3".into()
        }
    );
    assert!(log.text().ends_with("exit code 3\n"));
}

#[tokio::test]
async fn stdout_and_stderr_are_both_captured() {
    let (outcome, log) = run(&spec(
        "/bin/sh",
        &["-c", "echo to-out; echo to-err >&2; echo again-out"],
    ))
    .await;
    assert_eq!(outcome, StepOutcome::Succeeded { exit_code: Some(0) });
    let text = log.text();
    for line in ["to-out\n", "to-err\n", "again-out\n"] {
        assert!(text.contains(line), "{text}");
    }
}

#[tokio::test]
async fn output_over_the_cap_is_truncated_with_a_note() {
    let mut log = StepLog::new(1000, vec![]);
    let s = spec("/bin/sh", &["-c", "yes abcdefgh | head -c 300000"]);
    let outcome = run_command(&s, &CancellationToken::new(), &mut log).await;
    assert_eq!(outcome, StepOutcome::Succeeded { exit_code: Some(0) });
    assert!(log.truncated());
    let text = log.text();
    assert!(text.starts_with("abcdefgh\nabcdefgh\n"), "{text}");
    assert!(text.contains("exit code 0\n"), "{text}");
    assert!(
        text.ends_with("[… output truncated at 1000 bytes]"),
        "{text}"
    );
}

#[tokio::test]
async fn a_timeout_kills_the_whole_process_group() {
    let dir = tempfile::tempdir().unwrap();
    let bg_file = dir.path().join("bg.pid");
    let script = format!("sleep 30 & echo $! > {}; sleep 30", bg_file.display());
    let mut s = spec("/bin/sh", &["-c", &script]);
    s.timeout = Duration::from_secs(1);
    let (outcome, log) = run(&s).await;
    assert_eq!(outcome, StepOutcome::TimedOut);
    assert!(log.text().contains("timed out"), "{}", log.text());
    let bg = read_pid(&bg_file);
    assert!(wait_gone(bg).await, "background child {bg} survived");
}

#[tokio::test]
async fn a_group_ignoring_sigterm_gets_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("sh.pid");
    let script = format!(
        "trap '' TERM; echo $$ > {}; while :; do sleep 1; done",
        pid_file.display()
    );
    let mut s = spec("/bin/sh", &["-c", &script]);
    s.timeout = Duration::from_secs(1);
    let (outcome, _) = run(&s).await;
    assert_eq!(outcome, StepOutcome::TimedOut);
    let pid = read_pid(&pid_file);
    assert!(wait_gone(pid).await, "shell {pid} survived");
}

#[tokio::test]
async fn cancelling_stops_the_program() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("sleep.pid");
    // Written whole (mv) so that the file existing means the pid is in it.
    let script = format!(
        "echo started; sleep 30 & echo $! > {0}.tmp; mv {0}.tmp {0}; wait",
        pid_file.display()
    );
    let s = spec("/bin/sh", &["-c", &script]);
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    let dir_path = pid_file.clone();
    tokio::spawn(async move {
        // Cancel once the program is surely running.
        while !dir_path.exists() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        trigger.cancel();
    });
    let mut log = StepLog::new(StepLog::DEFAULT_CAP, vec![]);
    let outcome = run_command(&s, &cancel, &mut log).await;
    assert_eq!(outcome, StepOutcome::Cancelled);
    assert!(log.text().contains("started\n"), "{}", log.text());
    assert!(log.text().contains("cancelled"), "{}", log.text());
    let pid = read_pid(&pid_file);
    assert!(wait_gone(pid).await, "sleep {pid} survived");
}

#[tokio::test]
async fn the_working_dir_is_used() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = spec("/bin/pwd", &[]);
    s.working_dir = Some(dir.path().to_path_buf());
    let (outcome, log) = run(&s).await;
    assert_eq!(outcome, StepOutcome::Succeeded { exit_code: Some(0) });
    let printed = log.text().lines().next().unwrap().to_string();
    assert_eq!(
        std::fs::canonicalize(printed).unwrap(),
        std::fs::canonicalize(dir.path()).unwrap()
    );
}

#[tokio::test]
async fn a_missing_program_fails_with_a_reason() {
    let (outcome, log) = run(&spec("/nonexistent/deploy-xyz.sh", &[])).await;
    match outcome {
        StepOutcome::Failed {
            exit_code: None,
            reason,
        } => {
            assert!(reason.contains("/nonexistent/deploy-xyz.sh"), "{reason}");
            assert!(log.text().contains(&reason));
        }
        other => panic!("{other:?}"),
    }
    let (outcome, _) = run(&spec("no-such-program-xyz", &[])).await;
    assert!(
        matches!(&outcome, StepOutcome::Failed { reason, .. } if reason.contains("no-such-program-xyz")),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn a_file_that_is_not_executable_fails_with_a_reason() {
    let file = tempfile::NamedTempFile::new().unwrap();
    let path = file.path().to_str().unwrap().to_string();
    let (outcome, _) = run(&spec(&path, &[])).await;
    assert!(
        matches!(&outcome, StepOutcome::Failed { exit_code: None, reason } if reason.contains(&path)),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn secrets_in_output_are_redacted() {
    let mut log = StepLog::new(StepLog::DEFAULT_CAP, vec!["tok-123".into()]);
    let s = spec("/bin/echo", &["token is tok-123"]);
    run_command(&s, &CancellationToken::new(), &mut log).await;
    assert_eq!(log.text(), "token is [redacted]\nexit code 0\n");
}
