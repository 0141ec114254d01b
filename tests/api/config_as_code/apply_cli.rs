//! `hookgate apply | diff | export` through the binary, against a running server.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::helpers::TestApp;

const BIN: &str = env!("CARGO_BIN_EXE_hookgate");

crate::on_both_backends!(cli_applies_diffs_and_exports);

fn run(app: &TestApp, dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir)
        .args(args)
        .env("HOOKGATE_SERVER", &app.address)
        .env("HOOKGATE_TOKEN", &app.admin_token)
        .env_remove("HG_APPLY_TEST_SECRET")
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run hookgate")
}

fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

const FILE: &str = r#"# A project declared in a file.
project: web
pipelines:
  - name: deploy-site
    variables: [{ name: ref, default_value: refs/heads/main }]
    concurrency: { key: "${ref}", max: 1, policy: queue }
    steps:
      - { name: deploy, action: command, program: /bin/echo, args: ["--ref", "${ref}"] }
    secrets:
      DEPLOY_TOKEN: ${env:HG_APPLY_TEST_SECRET}
      FROM_FILE: ${file:token.txt}
    incoming:
      - name: github-main
        provider: github
        settings:
          variables: [{ name: ref, path: ref }]
          filters: [{ variable: event, equals: push }]
---
project: web-two
pipelines:
  - name: other
    steps: [{ name: s, action: command, program: /bin/true }]
"#;

async fn cli_applies_diffs_and_exports(app: TestApp) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hookgate.yaml");
    std::fs::write(&file, FILE).unwrap();
    std::fs::write(dir.path().join("token.txt"), "from-a-file\n").unwrap();
    let secret = [("HG_APPLY_TEST_SECRET", "s3cret-value")];

    // An unset variable: an error naming its place, and nothing sent.
    let out = run(&app, dir.path(), &[], &["apply", "-f", "hookgate.yaml"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("hookgate.yaml:10: pipelines[0].secrets.DEPLOY_TOKEN: ${env:HG_APPLY_TEST_SECRET} is not set"),
        "{}",
        text(&out)
    );
    let (_, projects) = app.get("/api/v1/projects", &app.admin_token).await;
    assert_eq!(projects, serde_json::json!([]));

    let out = run(
        &app,
        dir.path(),
        &secret,
        &["diff", "-f", "hookgate.yaml", "--exit-code"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let out = run(&app, dir.path(), &secret, &["apply", "-f", "hookgate.yaml"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("Generated secrets"), "{}", text(&out));
    assert!(stdout.contains("/hooks/hk_"), "{}", text(&out));
    assert!(!stdout.contains("s3cret-value") && !stdout.contains("from-a-file"));
    let out = run(
        &app,
        dir.path(),
        &secret,
        &["diff", "-f", "hookgate.yaml", "--exit-code"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("0 to create, 0 to change, 0 to delete"));

    // A typo is named with its file, line and place, and nothing is applied.
    std::fs::write(&file, FILE.replace("filters:", "filter:")).unwrap();
    let out = run(&app, dir.path(), &secret, &["apply", "-f", "hookgate.yaml"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("hookgate.yaml:17: pipelines[0].incoming[0].settings.filter: unknown field; did you mean `filters`?"),
        "{}",
        text(&out)
    );

    // Export writes the same state; applied back (a folder of files) it changes nothing.
    let out = run(&app, dir.path(), &[], &["export", "--project", "web"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let exported = dir.path().join("exported");
    std::fs::create_dir(&exported).unwrap();
    std::fs::write(exported.join("web.yaml"), &out.stdout).unwrap();
    let filled = [
        ("HOOKGATE_SECRET_DEPLOY_SITE_DEPLOY_TOKEN", "s3cret-value"),
        ("HOOKGATE_SECRET_DEPLOY_SITE_FROM_FILE", "from-a-file"),
        ("HOOKGATE_SECRET_DEPLOY_SITE_GITHUB_MAIN_HOOK", "x"),
    ];
    let out = run(
        &app,
        dir.path(),
        &filled,
        &["diff", "-f", "exported", "--exit-code"],
    );
    // The hook's secret was generated: the placeholder's value differs, and says so.
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("secret (changed)"),
        "{}",
        text(&out)
    );

    let out = run(&app, dir.path(), &[], &["apply", "--schema"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let schema: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(schema["$defs"]["HookIn"].is_object());
}
