//! Every example file in docs/examples/ is valid against the served schema, and the server
//! plans it without a complaint.

use std::path::PathBuf;

use hookgate::cli::apply_file::{files, parse_yaml};
use serde_json::Value;

use super::apply::{apply, fill};
use crate::helpers::TestApp;

crate::on_both_backends!(example_files_follow_the_schema_and_plan);

fn examples() -> Vec<(PathBuf, Vec<Value>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/examples");
    let list = files(&dir).expect("docs/examples");
    assert!(list.len() >= 5, "{list:?}");
    list.into_iter()
        .map(|f| {
            let text = std::fs::read_to_string(&f).unwrap();
            let docs = parse_yaml(&text).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            (f, docs.into_iter().map(|(v, _)| v).collect())
        })
        .collect()
}

async fn example_files_follow_the_schema_and_plan(app: TestApp) {
    let (s, schema) = app
        .call(
            reqwest::Method::GET,
            "/api/v1/schema/apply.json",
            None,
            None,
        )
        .await;
    assert_eq!(s, 200);
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    // A typo is refused by the schema too.
    let typo = serde_json::json!({ "project": "x", "pipelines": [{ "name": "p", "stepz": [] }] });
    assert!(!validator.is_valid(&typo));
    for (file, docs) in examples() {
        for doc in &docs {
            let problems: Vec<String> = validator.iter_errors(doc).map(|e| e.to_string()).collect();
            assert!(problems.is_empty(), "{}: {problems:?}", file.display());
        }
        let mut body = Value::Array(docs);
        fill(&mut body, &|name| {
            Some(format!("https://example.com/{name}-0123456789abcdef"))
        });
        let (s, plan) = apply(&app, &app.admin_token, body, "?dry_run=true").await;
        assert_eq!(s, 200, "{}: {plan}", file.display());
    }
}
