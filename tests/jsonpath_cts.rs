//! Runs the JSONPath Compliance Test Suite (RFC 9535) against the engine hooks use.
//!
//! The failures are pinned in `tests/jsonpath_cts_known_failures.txt` (sorted case names, one a
//! line): the test fails when a case outside that list fails, or when a listed case passes, so
//! the list always says exactly what the engine gets wrong. To refresh it after changing the
//! engine, run with `HOOKGATE_CTS_WRITE=1`.

use hookgate::domain::variable::compile_path;
use serde_json::Value;
use std::collections::BTreeSet;
use std::panic::{catch_unwind, AssertUnwindSafe};

const CTS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/fixtures/jsonpath-cts/cts.json"
);
const KNOWN: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/jsonpath_cts_known_failures.txt"
);

/// Whether the engine gives one of the expected answers for a case.
fn passes(case: &Value) -> bool {
    let selector = case["selector"]
        .as_str()
        .expect("every case has a selector");
    let compiled = compile_path(selector);
    if case["invalid_selector"].as_bool() == Some(true) {
        return compiled.is_err();
    }
    let Ok(path) = compiled else { return false };
    let got: Vec<Value> = path.query(&case["document"]).into_iter().cloned().collect();
    let accepted: Vec<&Value> = match (&case["result"], &case["results"]) {
        (Value::Array(_), _) => vec![&case["result"]],
        (_, Value::Array(options)) => options.iter().collect(),
        _ => panic!("case {:?} has neither result nor results", case["name"]),
    };
    accepted.iter().any(|want| want.as_array() == Some(&got))
}

#[test]
fn jsonpath_compliance_test_suite() {
    let Ok(text) = std::fs::read_to_string(CTS) else {
        println!("skipped: ../shared/fixtures/jsonpath-cts not present");
        if let Ok(path) = std::env::var("HOOKGATE_TEST_SKIP_FILE") {
            let line = "jsonpath_cts::jsonpath_compliance_test_suite\n";
            let _ = std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(path)
                .and_then(|mut f| std::io::Write::write_all(&mut f, line.as_bytes()));
        }
        return;
    };
    let suite: Value = serde_json::from_str(&text).expect("cts.json is JSON");
    let cases = suite["tests"].as_array().expect("cts.json has tests");

    // An engine panic is a failed case, not an aborted run; keep the output readable.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let mut failing = BTreeSet::new();
    for case in cases {
        let ok = catch_unwind(AssertUnwindSafe(|| passes(case))).unwrap_or(false);
        if !ok {
            failing.insert(
                case["name"]
                    .as_str()
                    .expect("every case has a name")
                    .to_string(),
            );
        }
    }
    std::panic::set_hook(hook);

    let passed = cases.len() - failing.len();
    println!("JSONPath CTS: {passed} / {} cases pass", cases.len());

    if std::env::var_os("HOOKGATE_CTS_WRITE").is_some() {
        let list: String = failing.iter().map(|n| format!("{n}\n")).collect();
        std::fs::write(KNOWN, list).expect("write the known failures");
        println!("wrote {} known failures to {KNOWN}", failing.len());
        return;
    }
    let known: BTreeSet<String> = std::fs::read_to_string(KNOWN)
        .expect("tests/jsonpath_cts_known_failures.txt exists")
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    let new_failures: Vec<_> = failing.difference(&known).collect();
    let now_passing: Vec<_> = known.difference(&failing).collect();
    assert!(
        new_failures.is_empty() && now_passing.is_empty(),
        "the known-failures list is out of date\nnewly failing: {new_failures:#?}\nnow passing (remove from the list): {now_passing:#?}"
    );
}
