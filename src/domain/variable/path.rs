//! JSONPath (RFC 9535) queries, compiled once.
//!
//! Paths made only of member names and non-negative array indices (`$.a.b`, `$.commits[0].id`,
//! `$['x']`) are walked directly over the `serde_json::Value`; every other path is evaluated by
//! jsonpath-rust. Parsing is always done by jsonpath-rust, so both kinds accept exactly the same
//! syntax and the fast path is decided from the parsed query, not from the text.

use jsonpath_rust::parser::model::{JpQuery, Segment, Selector};
use serde_json::Value;

/// A JSONPath query, parsed once and cheap to run on many documents.
#[derive(Debug, Clone)]
pub struct CompiledPath {
    plan: Plan,
    singular: bool,
}

#[derive(Debug, Clone)]
enum Plan {
    /// Member names and non-negative indices only: walked without the general evaluator.
    Direct(Vec<Step>),
    General(JpQuery),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Step {
    Member(String),
    Index(usize),
}

/// What a query selected, without allocating for the common single-node case.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Nodes<'a> {
    One(&'a Value),
    Many(Vec<&'a Value>),
}

/// Parses an RFC 9535 JSONPath query as written (no shorthand rewriting).
/// The error is the parser's message.
pub fn compile_path(path: &str) -> Result<CompiledPath, String> {
    let query = jsonpath_rust::parser::parse_json_path(path).map_err(|e| e.to_string())?;
    Ok(CompiledPath::from_query(query))
}

/// Like [`compile_path`], but the error is only where the parser stopped (a character
/// position), when it says: hook paths explain their errors themselves (`user_path.rs`).
pub(super) fn compile_path_raw(path: &str) -> Result<CompiledPath, Option<usize>> {
    use jsonpath_rust::parser::errors::JsonPathError;
    match jsonpath_rust::parser::parse_json_path(path) {
        Ok(query) => Ok(CompiledPath::from_query(query)),
        Err(JsonPathError::PestError(e)) => Err(Some(match e.location {
            pest::error::InputLocation::Pos(p) => p,
            pest::error::InputLocation::Span((p, _)) => p,
        })
        .map(|byte| path[..byte.min(path.len())].chars().count())),
        Err(_) => Err(None),
    }
}

impl CompiledPath {
    fn from_query(query: JpQuery) -> Self {
        let singular = query
            .segments
            .iter()
            .all(|s| matches!(s, Segment::Selector(Selector::Name(_) | Selector::Index(_))));
        let direct: Option<Vec<Step>> = query
            .segments
            .iter()
            .map(|s| match s {
                Segment::Selector(Selector::Name(n)) => Some(Step::Member(n.clone())),
                Segment::Selector(Selector::Index(i)) => usize::try_from(*i).ok().map(Step::Index),
                _ => None,
            })
            .collect();
        let plan = match direct {
            Some(steps) => Plan::Direct(steps),
            None => Plan::General(query),
        };
        Self { plan, singular }
    }

    /// All nodes the query selects, in the engine's order.
    pub fn query<'a>(&self, doc: &'a Value) -> Vec<&'a Value> {
        match self.select(doc) {
            None => Vec::new(),
            Some(Nodes::One(v)) => vec![v],
            Some(Nodes::Many(vs)) => vs,
        }
    }

    /// True when the query can select at most one node (RFC 9535 "singular query").
    pub fn is_singular(&self) -> bool {
        self.singular
    }

    /// The steps of a direct query; `None` for one that needs the general evaluator.
    pub(super) fn direct_steps(&self) -> Option<&[Step]> {
        match &self.plan {
            Plan::Direct(steps) => Some(steps),
            Plan::General(_) => None,
        }
    }

    /// True when the query is walked directly instead of by the general evaluator.
    pub fn is_direct(&self) -> bool {
        matches!(self.plan, Plan::Direct(_))
    }

    /// None when nothing is selected.
    pub(crate) fn select<'a>(&self, doc: &'a Value) -> Option<Nodes<'a>> {
        match &self.plan {
            Plan::Direct(steps) => walk(steps, doc).map(Nodes::One),
            Plan::General(query) => general(query, doc),
        }
    }

    /// Runs the general evaluator even when a direct walk is possible, to compare the two.
    #[cfg(test)]
    pub(crate) fn query_general<'a>(&self, doc: &'a Value) -> Vec<&'a Value> {
        let query = match &self.plan {
            Plan::General(q) => q.clone(),
            Plan::Direct(steps) => JpQuery::new(
                steps
                    .iter()
                    .map(|s| {
                        Segment::Selector(match s {
                            Step::Member(n) => Selector::Name(n.clone()),
                            Step::Index(i) => Selector::Index(*i as i64),
                        })
                    })
                    .collect(),
            ),
        };
        match general(&query, doc) {
            None => Vec::new(),
            Some(Nodes::One(v)) => vec![v],
            Some(Nodes::Many(vs)) => vs,
        }
    }
}

fn walk<'a>(steps: &[Step], doc: &'a Value) -> Option<&'a Value> {
    steps.iter().try_fold(doc, |node, step| match step {
        Step::Member(name) => node.as_object()?.get(name),
        Step::Index(i) => node.as_array()?.get(*i),
    })
}

fn general<'a>(query: &JpQuery, doc: &'a Value) -> Option<Nodes<'a>> {
    // The evaluator only errs when a query's result is not a node reference, which the
    // parser does not produce for a whole query; treat it as selecting nothing.
    let mut refs = jsonpath_rust::query::js_path_process(query, doc).ok()?;
    match refs.len() {
        0 => None,
        1 => refs.pop().map(|r| Nodes::One(r.val())),
        _ => Some(Nodes::Many(refs.into_iter().map(|r| r.val()).collect())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn simple_paths_take_the_direct_walk() {
        for p in [
            "$",
            "$.a.b",
            "$.commits[0].id",
            "$['x']",
            "$[\"a b\"][2]",
            "$.a['b.c']",
        ] {
            let c = compile_path(p).unwrap();
            assert!(c.is_direct(), "{p}");
            assert!(c.is_singular(), "{p}");
        }
        for p in [
            "$.a[-1]",
            "$.a[*]",
            "$..a",
            "$.a[0:2]",
            "$.a[?@.b == 1]",
            "$.a['b','c']",
        ] {
            assert!(!compile_path(p).unwrap().is_direct(), "{p}");
        }
        assert!(compile_path("$.a[-1]").unwrap().is_singular());
        assert!(!compile_path("$.a[*]").unwrap().is_singular());
    }

    #[test]
    fn table_direct_and_general_agree() {
        let doc = json!({
            "a": {"b": 1, "b.c": null, "n": [10, {"x": "y"}]},
            "x": [[1, 2], {"0": "zero"}],
            "a b": ["s0", "s1", "s2"],
            "": "empty key",
        });
        for p in [
            "$",
            "$.a",
            "$.a.b",
            "$['a']['b.c']",
            "$.a.n[1].x",
            "$.a.n[5]",
            "$.x[0][1]",
            "$.x[1][0]",
            "$.x[1]['0']",
            "$[\"a b\"][2]",
            "$['']",
            "$.missing.deeper",
            "$.a.b.c",
            "$[0]",
        ] {
            let c = compile_path(p).unwrap();
            assert!(c.is_direct(), "{p}");
            assert_eq!(c.query(&doc), c.query_general(&doc), "{p}");
        }
        assert_eq!(
            compile_path("$.a.n[1].x").unwrap().query(&doc),
            vec![&json!("y")]
        );
        assert_eq!(
            compile_path("$['a']['b.c']").unwrap().query(&doc),
            vec![&Value::Null]
        );
    }

    #[test]
    fn general_paths_select_several_nodes() {
        let doc = json!({"c": [{"id": 1}, {"id": 2}, {"id": 3}]});
        let ids = compile_path("$.c[*].id").unwrap().query(&doc);
        assert_eq!(ids, vec![&json!(1), &json!(2), &json!(3)]);
        assert_eq!(
            compile_path("$.c[-1].id").unwrap().query(&doc),
            vec![&json!(3)]
        );
        assert!(compile_path("$.c[?@.id > 5]")
            .unwrap()
            .query(&doc)
            .is_empty());
    }

    #[test]
    fn bad_paths_report_the_parser_message() {
        for p in ["", "a.b", "$.", "$[", "$.a[?", "$.a[01]"] {
            let e = compile_path(p).unwrap_err();
            assert!(!e.is_empty(), "{p}");
        }
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let key = prop_oneof!["[a-c]", Just("0".to_string()), Just("a b".to_string())];
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            "[a-z]{0,3}".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 40, 4, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec((key.clone(), inner), 0..4)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    fn arb_simple_path() -> impl Strategy<Value = String> {
        let step = prop_oneof![
            "[a-c]".prop_map(|k| format!(".{k}")),
            prop_oneof!["[a-c]", Just("0".to_string()), Just("a b".to_string())]
                .prop_map(|k| format!("['{k}']")),
            (0usize..4).prop_map(|i| format!("[{i}]")),
        ];
        prop::collection::vec(step, 0..5).prop_map(|s| format!("${}", s.concat()))
    }

    proptest! {
        #[test]
        fn direct_walk_agrees_with_jsonpath_rust(doc in arb_json(), path in arb_simple_path()) {
            let c = compile_path(&path).unwrap();
            prop_assert!(c.is_direct());
            prop_assert_eq!(c.query(&doc), c.query_general(&doc));
        }
    }
}
