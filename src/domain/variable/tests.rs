use super::*;
use serde_json::json;

fn spec(v: Value) -> VariableSpec {
    serde_json::from_value(v).unwrap()
}

fn compile(specs: Value) -> CompiledVariables {
    let specs: Vec<VariableSpec> = serde_json::from_value(specs).unwrap();
    compile_variables(&specs, "settings.variables").unwrap()
}

fn errors(specs: Value) -> Vec<(String, String)> {
    let specs: Vec<VariableSpec> = serde_json::from_value(specs).unwrap();
    compile_variables(&specs, "settings.variables")
        .unwrap_err()
        .into_iter()
        .map(|e| (e.field, e.problem))
        .collect()
}

fn no_header(_: &str) -> Option<String> {
    None
}

fn extract(
    vars: &CompiledVariables,
    body: Value,
) -> Result<Map<String, Value>, Vec<VariableProblem>> {
    vars.extract(&body, &no_header, &no_header)
}

#[test]
fn the_spec_example_compiles_and_extracts() {
    let vars = compile(json!([
        { "name": "source_type", "type": "string", "required": false, "default_value": "branch" },
        { "name": "source_ref", "path": "pull_request.head.ref", "type": "string", "default_value": "main" },
        { "name": "pull_request_id", "path": "$.pull_request.number", "type": "integer" },
        { "name": "gh_event", "source": "header", "path": "X-GitHub-Event", "type": "string", "required": true }
    ]));
    assert_eq!(
        vars.names().collect::<Vec<_>>(),
        ["source_type", "source_ref", "pull_request_id", "gh_event"]
    );
    let header = |n: &str| {
        n.eq_ignore_ascii_case("x-github-event")
            .then(|| "pull_request".to_string())
    };
    let body = json!({"pull_request": {"number": "17", "head": {"ref": "feature/x"}}});
    let out = vars.extract(&body, &header, &no_header).unwrap();
    assert_eq!(
        Value::Object(out),
        json!({"source_type": "branch", "source_ref": "feature/x", "pull_request_id": 17, "gh_event": "pull_request"})
    );
    // Missing body values fall back to defaults; a missing required header is a problem.
    let problems = extract(&vars, json!({})).unwrap_err();
    assert_eq!(
        problems,
        vec![VariableProblem {
            name: "gh_event".into(),
            path: Some("X-GitHub-Event".into()),
            problem: "required variable is missing".into()
        }]
    );
}

#[test]
fn missing_or_null_uses_default_then_required_then_absent() {
    let vars = compile(json!([
        { "name": "d", "path": "a", "type": "integer", "default_value": "5" },
        { "name": "r", "path": "a", "required": true },
        { "name": "o", "path": "a" },
        { "name": "dr", "path": "a", "required": true, "default_value": true, "type": "boolean" },
    ]));
    for body in [json!({}), json!({"a": null}), json!([1]), json!("scalar")] {
        let problems = extract(&vars, body.clone()).unwrap_err();
        assert_eq!(problems.len(), 1, "{body}");
        assert_eq!(
            (problems[0].name.as_str(), problems[0].problem.as_str()),
            ("r", "required variable is missing")
        );
    }
    let out = extract(&vars, json!({"a": "false"})).unwrap_err();
    assert_eq!(out[0].name, "d");
    let vars = compile(json!([
        { "name": "d", "path": "a", "type": "integer", "default_value": "5" },
        { "name": "o", "path": "b" },
    ]));
    assert_eq!(
        Value::Object(extract(&vars, json!({"a": "7"})).unwrap()),
        json!({"d": 7})
    );
    assert_eq!(
        Value::Object(extract(&vars, json!({"a": 8, "b": false})).unwrap()),
        json!({"d": 8, "o": "false"})
    );
}

#[test]
fn type_mismatches_name_the_found_type_and_every_problem_is_listed() {
    let vars = compile(json!([
        { "name": "n", "path": "n", "type": "integer" },
        { "name": "b", "path": "b", "type": "boolean" },
        { "name": "s", "path": "s" },
    ]));
    let problems = extract(&vars, json!({"n": 4.5, "b": "yes", "s": {"x": 1}})).unwrap_err();
    let got: Vec<_> = problems
        .iter()
        .map(|p| (p.name.as_str(), p.problem.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("n", "expected integer, found number 4.5"),
            ("b", "expected boolean, found string \"yes\""),
            ("s", "expected string, found object")
        ]
    );
    let out = extract(&vars, json!({"n": 42.0, "b": "true", "s": 3})).unwrap();
    assert_eq!(Value::Object(out), json!({"n": 42, "b": true, "s": "3"}));
}

#[test]
fn several_nodes_are_an_array_for_json_and_a_problem_otherwise() {
    let vars = compile(json!([
        { "name": "ids", "path": "$.commits[*].id", "type": "json" },
        { "name": "first", "path": "commits[0].id", "type": "integer" },
        { "name": "one_id", "path": "$.commits[*].id", "type": "integer" },
    ]));
    let out = vars
        .extract(&json!({"commits": [{"id": 1}]}), &no_header, &no_header)
        .unwrap();
    assert_eq!(
        Value::Object(out),
        json!({"ids": [1], "first": 1, "one_id": 1})
    );
    let problems = extract(&vars, json!({"commits": [{"id": 1}, {"id": 2}]})).unwrap_err();
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].name, "one_id");
    assert_eq!(
        problems[0].problem,
        "the path matched 2 values; only a json variable can hold several"
    );
    let out = extract(
        &compile(json!([{ "name": "ids", "path": "$.c[*]", "type": "json" }])),
        json!({"c": [1, null]}),
    );
    assert_eq!(Value::Object(out.unwrap()), json!({"ids": [1, null]}));
}

#[test]
fn header_and_query_sources_convert_their_text() {
    let vars = compile(json!([
        { "name": "delivery", "source": "header", "path": "X-GitHub-Delivery" },
        { "name": "page", "source": "query", "path": "page", "type": "integer" },
        { "name": "dry", "source": "query", "path": "dry_run", "type": "boolean", "default_value": false },
    ]));
    let header = |n: &str| {
        n.eq_ignore_ascii_case("x-github-delivery")
            .then(|| "abc-123".to_string())
    };
    let query = |n: &str| (n == "page").then(|| "3".to_string());
    let out = vars.extract(&json!({"page": 9}), &header, &query).unwrap();
    assert_eq!(
        Value::Object(out),
        json!({"delivery": "abc-123", "page": 3, "dry": false})
    );
    let bad_query = |n: &str| (n == "page").then(|| "three".to_string());
    let problems = vars.extract(&json!({}), &header, &bad_query).unwrap_err();
    assert_eq!(
        problems[0].problem,
        "expected integer, found string \"three\""
    );
}

#[test]
fn constants_always_take_their_default() {
    let vars = compile(
        json!([{ "name": "kind", "default_value": "branch" }, { "name": "n", "type": "number", "default_value": "2.5" }]),
    );
    let out = extract(&vars, json!({"kind": "tag"})).unwrap();
    assert_eq!(Value::Object(out), json!({"kind": "branch", "n": 2.5}));
}

#[test]
fn devopness_paths_read_from_the_root() {
    let body = json!({"pull_request": {"head": {"ref": "dev"}}, "a b": 1, "list": ["x"]});
    for (path, want) in [
        ("pull_request.head.ref", json!("dev")),
        ("$.pull_request.head.ref", json!("dev")),
        ("['a b']", json!("1")),
        ("list[0]", json!("x")),
        ("$['list'][0]", json!("x")),
    ] {
        let vars = compile(json!([{ "name": "v", "path": path }]));
        assert_eq!(extract(&vars, body.clone()).unwrap()["v"], want, "{path}");
    }
}

#[test]
fn every_validation_error_names_its_field() {
    let got = errors(json!([
        { "name": "1bad", "path": "a" },
        { "name": "secrets.TOKEN", "path": "a" },
        { "name": "hook_id", "path": "a" },
        { "name": "dup", "path": "a" },
        { "name": "dup", "path": "b" },
        { "name": "s", "source": "cookie", "path": "a" },
        { "name": "t", "type": "int", "path": "a" },
        { "name": "p", "path": "$.a[?" },
        { "name": "c" },
        { "name": "d", "path": "a", "type": "integer", "default_value": "x" },
        { "name": "h", "source": "header" },
        { "name": "h2", "source": "header", "path": "Bad Header" },
        { "name": "q", "source": "query", "path": "" },
        { "name": "n", "type": "boolean", "default_value": {"a": 1} },
    ]));
    let fields: Vec<&str> = got.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(
        fields,
        [
            "settings.variables[0].name",
            "settings.variables[1].name",
            "settings.variables[2].name",
            "settings.variables[4].name",
            "settings.variables[5].source",
            "settings.variables[6].type",
            "settings.variables[7].path",
            "settings.variables[8].path",
            "settings.variables[9].default_value",
            "settings.variables[10].path",
            "settings.variables[11].path",
            "settings.variables[12].path",
            "settings.variables[13].default_value",
        ]
    );
    let problem = |i: usize| got[i].1.as_str();
    assert!(problem(2).contains("built-in"), "{}", problem(2));
    assert!(
        problem(3).contains("duplicate") && problem(3).contains("settings.variables[3]"),
        "{}",
        problem(3)
    );
    assert!(problem(5).contains("\"int\""), "{}", problem(5));
    assert!(
        problem(6).starts_with("invalid JSONPath "),
        "{}",
        problem(6)
    );
    assert_eq!(problem(8), "expected integer, found string \"x\"");
}

#[test]
fn a_bad_path_is_explained_without_the_parser_grammar() {
    let got = errors(json!([{ "name": "p", "path": "$.a..", "type": "string" }]));
    assert_eq!(got.len(), 1);
    assert!(
        got[0]
            .1
            .starts_with("invalid JSONPath \"$.a..\" at position "),
        "{}",
        got[0].1
    );
    assert!(!got[0].1.contains("Rule"), "{}", got[0].1);
    let got = errors(json!([{ "name": "p", "path": "commits[0.id", "type": "string" }]));
    assert!(
        got[0].1.contains("did you mean \"commits[0].id\"?"),
        "{}",
        got[0].1
    );
}

#[test]
fn compiled_variables_are_shareable() {
    fn assert_traits<T: Send + Sync + Clone + std::fmt::Debug>() {}
    assert_traits::<CompiledVariables>();
    assert_traits::<CompiledPath>();
    assert_eq!(compile_variables(&[], "v").unwrap().names().count(), 0);
    let s = spec(json!({"name": "x", "type": "json", "default_value": null}));
    assert_eq!(s.default_value, None);
    assert_eq!(
        serde_json::to_value(&s).unwrap(),
        json!({"name": "x", "type": "json", "required": false})
    );
}

#[test]
fn github_push_payload() {
    let file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/fixtures/github/push/payload.json"
    );
    let Ok(text) = std::fs::read_to_string(file) else {
        println!("skipped: ../shared/fixtures/github/push/payload.json not present");
        return;
    };
    let body: Value = serde_json::from_str(&text).unwrap();
    let vars = compile(json!([
        { "name": "git_ref", "path": "ref", "required": true },
        { "name": "after", "path": "$.after", "required": true },
        { "name": "repo", "path": "repository.full_name" },
        { "name": "pusher", "path": "$.pusher.name" },
        { "name": "commits", "path": "commits", "type": "json" },
        { "name": "repo_id", "path": "repository.id", "type": "integer" },
        { "name": "head", "path": "head_commit.id", "default_value": "none" },
        { "name": "commit_count", "path": "commits", "count": true },
    ]));
    let out = extract(&vars, body).unwrap();
    assert!(
        out["git_ref"].as_str().unwrap().starts_with("refs/"),
        "{}",
        out["git_ref"]
    );
    assert_eq!(out["after"].as_str().unwrap().len(), 40);
    assert_eq!(out["repo"], "Codertocat/Hello-World");
    assert!(out["pusher"].is_string());
    // RFC 9535 has no `.length()` outside filters: `count` gives the array's length.
    assert!(out["commits"].is_array());
    assert_eq!(
        out["commit_count"],
        json!(out["commits"].as_array().unwrap().len())
    );
    assert!(out["repo_id"].is_i64());
    assert_eq!(out["head"], "none");
}

#[test]
fn count_variables() {
    let vars = compile(json!([
        { "name": "n", "path": "commits", "count": true },
        { "name": "m", "path": "$.commits[*].id", "count": true },
        { "name": "none", "path": "missing", "count": true },
    ]));
    let out = extract(
        &vars,
        json!({ "commits": [{ "id": 1 }, { "id": 2 }, { "id": 3 }] }),
    )
    .unwrap();
    assert_eq!(
        (out["n"].clone(), out["m"].clone(), out["none"].clone()),
        (json!(3), json!(3), json!(0))
    );
    let errs = compile_variables(
        &serde_json::from_value::<Vec<VariableSpec>>(json!([
            { "name": "a", "path": "x", "count": true, "type": "string" },
            { "name": "b", "source": "header", "path": "x", "count": true },
        ]))
        .unwrap(),
        "v",
    )
    .unwrap_err();
    let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, vec!["v[0].type", "v[1].count"]);
}
