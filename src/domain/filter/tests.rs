use super::*;
use serde_json::json;

const KNOWN: &[&str] = &[
    "source_ref",
    "n",
    "ok",
    "obj",
    "object_kind",
    "git_ref",
    "missing",
    "event",
];

fn compile(specs: Value) -> CompiledFilters {
    let specs: Vec<FilterSpec> = serde_json::from_value(specs).unwrap();
    compile_filters(&specs, KNOWN, "settings.filters").unwrap()
}

fn errors(specs: Value) -> Vec<(String, String)> {
    let specs: Vec<FilterSpec> = serde_json::from_value(specs).unwrap();
    compile_filters(&specs, KNOWN, "settings.filters")
        .unwrap_err()
        .into_iter()
        .map(|e| (e.field, e.problem))
        .collect()
}

fn vars(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

#[test]
fn matches_gives_the_reason_from_the_spec() {
    let f = compile(json!([{ "variable": "source_ref", "matches": "^(main|release/.*)$" }]));
    assert_eq!(f.evaluate(&vars(json!({"source_ref": "main"}))), Ok(()));
    assert_eq!(
        f.evaluate(&vars(json!({"source_ref": "release/1.2"}))),
        Ok(())
    );
    assert_eq!(
        f.evaluate(&vars(json!({"source_ref": "feature/x"}))),
        Err(r#"filter 0: source_ref "feature/x" does not match ^(main|release/.*)$"#.to_string())
    );
}

#[test]
fn equals_compares_scalars_by_text() {
    let f = compile(json!([{ "variable": "n", "equals": 42 }]));
    assert_eq!(f.evaluate(&vars(json!({"n": "42"}))), Ok(()));
    assert_eq!(f.evaluate(&vars(json!({"n": 42}))), Ok(()));
    assert_eq!(
        f.evaluate(&vars(json!({"n": 43}))),
        Err(r#"filter 0: n "43" does not equal "42""#.into())
    );
    let f = compile(json!([{ "variable": "ok", "equals": "true" }]));
    assert_eq!(f.evaluate(&vars(json!({"ok": true}))), Ok(()));
    let f = compile(json!([{ "variable": "obj", "equals": {"a": [1, 2]} }]));
    assert_eq!(f.evaluate(&vars(json!({"obj": {"a": [1, 2]}}))), Ok(()));
    assert!(f.evaluate(&vars(json!({"obj": {"a": [2, 1]}}))).is_err());
    assert!(f.evaluate(&vars(json!({"obj": "{\"a\":[1,2]}"}))).is_err());
}

#[test]
fn in_holds_for_any_listed_value() {
    let f = compile(json!([{ "variable": "event", "in": ["push", "tag_push", 7] }]));
    for e in [json!("push"), json!("tag_push"), json!(7), json!("7")] {
        assert_eq!(f.evaluate(&vars(json!({ "event": e }))), Ok(()), "{e}");
    }
    assert_eq!(
        f.evaluate(&vars(json!({"event": "issues"}))),
        Err(r#"filter 0: event "issues" is not one of ["push", "tag_push", "7"]"#.into())
    );
}

#[test]
fn absent_variables_fail_the_positive_forms_and_pass_the_negated_ones() {
    let null = vars(json!({"missing": null}));
    for (op, operand) in [
        ("equals", json!("")),
        ("in", json!([""])),
        ("matches", json!("^$")),
    ] {
        let f = compile(json!([{ "variable": "missing", op: operand }]));
        for v in [&null, &Map::new()] {
            assert_eq!(
                f.evaluate(v),
                Err("filter 0: missing is absent".into()),
                "{op}"
            );
        }
        let f = compile(json!([{ "variable": "missing", format!("not_{op}"): operand }]));
        for v in [&null, &Map::new()] {
            assert_eq!(f.evaluate(v), Ok(()), "not_{op}");
        }
    }
}

#[test]
fn negated_forms_refuse_what_the_positive_ones_accept() {
    let f = compile(json!([{ "variable": "source_ref", "not_equals": "main" }]));
    assert_eq!(f.evaluate(&vars(json!({"source_ref": "dev"}))), Ok(()));
    assert_eq!(
        f.evaluate(&vars(json!({"source_ref": "main"}))),
        Err(r#"filter 0: source_ref "main" equals "main" (not_equals)"#.into())
    );
    let f = compile(json!([{ "variable": "event", "not_in": ["ping", "issues"] }]));
    assert_eq!(f.evaluate(&vars(json!({"event": "push"}))), Ok(()));
    assert_eq!(
        f.evaluate(&vars(json!({"event": "ping"}))),
        Err(r#"filter 0: event "ping" is one of ["ping", "issues"] (not_in)"#.into())
    );
    let f = compile(json!([{ "variable": "source_ref", "not_matches": "^refs/tags/" }]));
    assert_eq!(
        f.evaluate(&vars(json!({"source_ref": "refs/heads/a"}))),
        Ok(())
    );
    assert!(f
        .evaluate(&vars(json!({"source_ref": "refs/tags/v1"})))
        .is_err());
}

#[test]
fn an_exhausted_regex_budget_fails_the_filter_in_either_form() {
    let long = "a".repeat(10_000);
    for op in ["matches", "not_matches"] {
        let f = compile(json!([{ "variable": "source_ref", op: "^(a|aa)+\\1b" }]));
        let r = f
            .evaluate(&vars(json!({ "source_ref": long })))
            .unwrap_err();
        assert!(r.contains("regex budget exceeded"), "{r}");
        assert!(r.len() < 200, "{r}");
    }
}

#[test]
fn verdicts_cover_every_filter() {
    let f = compile(json!([
        { "variable": "event", "equals": "push" },
        { "variable": "source_ref", "matches": "^main$" },
    ]));
    let v = f.verdicts(&vars(json!({"event": "push", "source_ref": "dev"})));
    assert_eq!(v.len(), 2);
    assert!(v[0].passed && v[0].reason.is_none());
    assert!(!v[1].passed && v[1].reason.as_deref().unwrap().contains("does not match"));
}

#[test]
fn text_templates_render_over_the_variables() {
    let f = compile(
        json!([{ "text": "${object_kind} ${git_ref}", "matches": "^push refs/heads/(develop|feature/.*)$" }]),
    );
    assert_eq!(
        f.evaluate(&vars(
            json!({"object_kind": "push", "git_ref": "refs/heads/feature/a"})
        )),
        Ok(())
    );
    assert_eq!(
        f.evaluate(&vars(json!({"object_kind": "push"}))),
        Err(
            r#"filter 0: text "push " does not match ^push refs/heads/(develop|feature/.*)$"#
                .into()
        )
    );
    let f = compile(json!([{ "text": "${object_kind}:${n}", "equals": "push:3" }]));
    assert_eq!(
        f.evaluate(&vars(json!({"object_kind": "push", "n": 3}))),
        Ok(())
    );
    let f = compile(json!([{ "text": "${missing}", "in": [""] }]));
    assert_eq!(f.evaluate(&Map::new()), Ok(()));
}

#[test]
fn the_first_failing_filter_is_reported() {
    let f = compile(json!([
        { "variable": "event", "equals": "push" },
        { "variable": "source_ref", "matches": "^main$" },
        { "variable": "n", "equals": 1 },
    ]));
    assert_eq!(f.len(), 3);
    let r = f.evaluate(&vars(json!({"event": "push", "source_ref": "dev", "n": 2})));
    assert_eq!(
        r,
        Err(r#"filter 1: source_ref "dev" does not match ^main$"#.into())
    );
    assert_eq!(compile(json!([])).evaluate(&Map::new()), Ok(()));
}

#[test]
fn long_values_are_cut_in_reasons() {
    let f = compile(json!([{ "variable": "source_ref", "equals": "main" }]));
    let r = f
        .evaluate(&vars(json!({"source_ref": "x".repeat(10_000)})))
        .unwrap_err();
    assert!(r.len() < 120, "{r}");
}

#[test]
fn every_validation_error_names_its_field() {
    let got = errors(json!([
        { "equals": 1 },
        { "variable": "n", "text": "${n}", "equals": 1 },
        { "variable": "nope", "equals": 1 },
        { "variable": "n" },
        { "variable": "n", "equals": 1, "in": [1], "not_matches": "x" },
        { "variable": "n", "matches": "(" },
        { "variable": "n", "in": [] },
        { "text": "${nope} ${n}", "equals": 1 },
        { "text": "${secrets.TOKEN}", "matches": "." },
        { "text": "${n", "equals": 1 },
        { "variable": "secrets.TOKEN", "equals": "x" },
        { "variable": "n", "matches": "\\w{1000}{1000}" },
    ]));
    let fields: Vec<&str> = got.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(
        fields,
        [
            "settings.filters[0].variable",
            "settings.filters[1].text",
            "settings.filters[2].variable",
            "settings.filters[3].equals",
            "settings.filters[4].in",
            "settings.filters[4].not_matches",
            "settings.filters[5].matches",
            "settings.filters[6].in",
            "settings.filters[7].text",
            "settings.filters[8].text",
            "settings.filters[9].text",
            "settings.filters[10].variable",
            "settings.filters[11].matches",
        ]
    );
    assert!(got[2].1.contains("\"nope\""), "{}", got[2].1);
    assert!(got[2].1.contains("Known: source_ref"), "{}", got[2].1);
    assert!(
        got[6].1.starts_with("invalid regular expression"),
        "{}",
        got[6].1
    );
    assert!(got[12].1.contains("size limit"), "{}", got[12].1);
}

#[test]
fn specs_round_trip_through_json() {
    let spec: FilterSpec =
        serde_json::from_value(json!({"variable": "n", "in": [1, "a"]})).unwrap();
    assert_eq!(spec.one_of, Some(vec![json!(1), json!("a")]));
    assert_eq!(
        serde_json::to_value(&spec).unwrap(),
        json!({"variable": "n", "in": [1, "a"]})
    );
    fn assert_traits<T: Send + Sync + Clone + std::fmt::Debug>() {}
    assert_traits::<CompiledFilters>();
}
