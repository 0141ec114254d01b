//! Filters on an incoming hook: compiled once, evaluated over a delivery's variables.
//!
//! All filters must hold for a delivery to start a run. A filter reads a variable, or renders a
//! template over the variables, and tests the result with `equals`, `in`, `matches` or their
//! negations `not_equals`, `not_in`, `not_matches`.
//!
//! Filters fail closed: they see only what the delivery carries (the hook's variables with the
//! hook's own defaults, and the built-ins), never a pipeline default. An absent variable fails
//! `equals`, `in` and `matches`, and passes the `not_*` forms. A regex that runs out of its
//! budget fails the filter, whichever form it is in.

mod pattern;

pub use pattern::{Pattern, BACKTRACK_LIMIT, FANCY_MAX_INPUT};

use super::template;
use super::{unknown_name_message, FieldError};
use serde_json::{Map, Value};

/// One filter, as sent in the API (validated by `compile_filters`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FilterSpec {
    /// The variable to test (or give `text`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variable: Option<String>,
    /// A `${name}` template rendered over the variables, then tested (or give `variable`).
    /// An absent variable renders as empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Holds when the value equals this one (scalars compare by their text: `42` equals `"42"`).
    /// An absent variable fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Value>)]
    pub equals: Option<Value>,
    /// Holds when the value equals one of these. An absent variable fails.
    #[serde(rename = "in", default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Value>>)]
    pub one_of: Option<Vec<Value>>,
    /// Holds when this regular expression matches the value's text. An absent variable fails.
    /// Lookaround and backreferences are accepted, within a budget per evaluation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matches: Option<String>,
    /// Holds when the value is absent or does not equal this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Value>)]
    pub not_equals: Option<Value>,
    /// Holds when the value is absent or equals none of these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Value>>)]
    pub not_in: Option<Vec<Value>>,
    /// Holds when the value is absent or this regular expression does not match its text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_matches: Option<String>,
}

/// One filter's outcome on one delivery (the test route shows every one).
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct FilterVerdict {
    pub index: usize,
    pub passed: bool,
    /// Why it did not pass; absent when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A hook's filters with their regexes compiled once.
#[derive(Debug, Clone)]
pub struct CompiledFilters {
    filters: Vec<Filter>,
}

#[derive(Debug, Clone)]
struct Filter {
    subject: Subject,
    test: Test,
    negated: bool,
}

#[derive(Debug, Clone)]
enum Subject {
    Variable(String),
    Text(String),
}

#[derive(Debug, Clone)]
enum Test {
    Equals(Value),
    In(Vec<Value>),
    Matches(Pattern),
}

/// Longest value excerpt in a reason.
const EXCERPT_CHARS: usize = 60;

/// The operators, positive then negated, as the body names them.
const OPERATORS: [&str; 6] = [
    "equals",
    "in",
    "matches",
    "not_equals",
    "not_in",
    "not_matches",
];

/// Validates every filter and compiles its regex. `known` lists the variable names a filter
/// may read (declared or built-in). Errors name `{field_prefix}[{i}].{field}` and list every
/// problem.
pub fn compile_filters(
    specs: &[FilterSpec],
    known: &[&str],
    field_prefix: &str,
) -> Result<CompiledFilters, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut filters = Vec::with_capacity(specs.len());
    for (i, spec) in specs.iter().enumerate() {
        let mut err = |field: &str, problem: String| {
            errors.push(FieldError::new(
                format!("{field_prefix}[{i}].{field}"),
                problem,
            ));
        };
        let subject = compile_subject(spec, known, &mut err);
        let test = compile_test(spec, &mut err);
        if let (Some(subject), Some((test, negated))) = (subject, test) {
            filters.push(Filter {
                subject,
                test,
                negated,
            });
        }
    }
    if errors.is_empty() {
        Ok(CompiledFilters { filters })
    } else {
        Err(errors)
    }
}

fn compile_subject(
    spec: &FilterSpec,
    known: &[&str],
    err: &mut dyn FnMut(&str, String),
) -> Option<Subject> {
    match (&spec.variable, &spec.text) {
        (Some(_), Some(_)) => {
            err("text", "give either variable or text, not both".into());
            None
        }
        (None, None) => {
            err("variable", "one of variable or text is required".into());
            None
        }
        (Some(name), None) if name.starts_with("secrets.") => {
            err("variable", format!("filters cannot read secrets ({name})"));
            None
        }
        (Some(name), None) if !known.contains(&name.as_str()) => {
            err("variable", unknown_name_message("variable", name, known));
            None
        }
        (Some(name), None) => Some(Subject::Variable(name.clone())),
        (None, Some(text)) => match template::names(text) {
            Err(e) => {
                err("text", e.to_string());
                None
            }
            Ok(names) => {
                let mut ok = true;
                for name in names {
                    if name.starts_with("secrets.") {
                        // Reasons are shown to whoever sent the delivery: never render secrets.
                        err("text", format!("filters cannot read secrets ({name})"));
                        ok = false;
                    } else if !known.contains(&name) {
                        err("text", unknown_name_message("variable", name, known));
                        ok = false;
                    }
                }
                ok.then(|| Subject::Text(text.clone()))
            }
        },
    }
}

/// The one operator given, compiled, and whether it is a `not_*` form.
fn compile_test(spec: &FilterSpec, err: &mut dyn FnMut(&str, String)) -> Option<(Test, bool)> {
    let given: Vec<usize> = [
        spec.equals.is_some(),
        spec.one_of.is_some(),
        spec.matches.is_some(),
        spec.not_equals.is_some(),
        spec.not_in.is_some(),
        spec.not_matches.is_some(),
    ]
    .iter()
    .enumerate()
    .filter_map(|(i, set)| set.then_some(i))
    .collect();
    match given.as_slice() {
        [] => {
            err(
                "equals",
                format!("one of {} is required", OPERATORS.join(", ")),
            );
            return None;
        }
        [first, extra @ ..] if !extra.is_empty() => {
            for &field in extra {
                err(
                    OPERATORS[field],
                    format!(
                        "give only one operator ({} is also given)",
                        OPERATORS[*first]
                    ),
                );
            }
            return None;
        }
        _ => {}
    }
    let negated = given[0] >= 3;
    let field = OPERATORS[given[0]];
    let value = spec.equals.as_ref().or(spec.not_equals.as_ref());
    let list = spec.one_of.as_ref().or(spec.not_in.as_ref());
    let pattern = spec.matches.as_ref().or(spec.not_matches.as_ref());
    let test = match (value, list, pattern) {
        (Some(v), ..) => Test::Equals(v.clone()),
        (_, Some(list), _) if list.is_empty() => {
            err(
                field,
                "the list is empty, so the filter could never hold".into(),
            );
            return None;
        }
        (_, Some(list), _) => Test::In(list.clone()),
        (_, _, Some(p)) => match Pattern::compile(p) {
            Ok(p) => Test::Matches(p),
            Err(e) => {
                err(field, format!("invalid regular expression: {e}"));
                return None;
            }
        },
        _ => unreachable!("one operator was given"),
    };
    Some((test, negated))
}

impl CompiledFilters {
    /// Ok when all filters hold; `Err(reason)` for the first that does not, e.g.
    /// `filter 0: source_ref "feature/x" does not match ^(main|release/.*)$`.
    pub fn evaluate(&self, vars: &Map<String, Value>) -> Result<(), String> {
        for (i, filter) in self.filters.iter().enumerate() {
            filter
                .evaluate(vars)
                .map_err(|why| format!("filter {i}: {why}"))?;
        }
        Ok(())
    }

    /// Every filter's verdict, not just the first failure (for the test route).
    pub fn verdicts(&self, vars: &Map<String, Value>) -> Vec<FilterVerdict> {
        self.filters
            .iter()
            .enumerate()
            .map(|(index, f)| {
                let reason = f.evaluate(vars).err();
                FilterVerdict {
                    index,
                    passed: reason.is_none(),
                    reason,
                }
            })
            .collect()
    }

    /// How many filters there are.
    pub fn len(&self) -> usize {
        self.filters.len()
    }

    /// True when there are no filters, so every delivery passes.
    pub fn is_empty(&self) -> bool {
        self.filters.is_empty()
    }
}

impl Filter {
    fn evaluate(&self, vars: &Map<String, Value>) -> Result<(), String> {
        let (label, value) = match &self.subject {
            Subject::Variable(name) => (name.as_str(), vars.get(name).filter(|v| !v.is_null())),
            // Templates were checked at compile time, so rendering cannot fail here.
            Subject::Text(t) => {
                let text = Value::String(template::render(t, vars).unwrap_or_default());
                return self.test_value("text", &text);
            }
        };
        match value {
            None if self.negated => Ok(()),
            None => Err(format!("{label} is absent")),
            Some(v) => self.test_value(label, v),
        }
    }

    /// Tests one value; the reason is only written when the filter does not hold. `label`
    /// names the value in it: `source_ref "main" does not match …`.
    fn test_value(&self, label: &str, v: &Value) -> Result<(), String> {
        let held = match &self.test {
            Test::Equals(want) => same(v, want),
            Test::In(list) => list.iter().any(|w| same(v, w)),
            Test::Matches(re) => match re.is_match(&template::value_as_text(v)) {
                Ok(m) => m,
                // Fail closed, whichever form the filter is in.
                Err(pattern::BudgetExceeded) => {
                    return Err(format!(
                        "{label} {}: regex budget exceeded ({})",
                        shown(v),
                        re.as_str()
                    ))
                }
            },
        };
        if held != self.negated {
            return Ok(());
        }
        // (what it is when the test holds, what it is when it does not)
        let (yes, no) = match &self.test {
            Test::Equals(want) => (
                format!("equals {}", shown(want)),
                format!("does not equal {}", shown(want)),
            ),
            Test::In(list) => {
                let options: Vec<String> = list.iter().map(shown).collect();
                let options = excerpt_raw(&options.join(", "));
                (
                    format!("is one of [{options}]"),
                    format!("is not one of [{options}]"),
                )
            }
            Test::Matches(re) => (
                format!("matches {}", re.as_str()),
                format!("does not match {}", re.as_str()),
            ),
        };
        let subject = format!("{label} {}", shown(v));
        if self.negated {
            Err(format!("{subject} {yes} (not_{})", op(&self.test)))
        } else {
            Err(format!("{subject} {no}"))
        }
    }
}

fn op(test: &Test) -> &'static str {
    match test {
        Test::Equals(_) => "equals",
        Test::In(_) => "in",
        Test::Matches(_) => "matches",
    }
}

/// Scalars compare by their text form so a filter need not know a variable's declared type.
fn same(a: &Value, b: &Value) -> bool {
    let scalar = |v: &Value| !(v.is_object() || v.is_array());
    a == b || (scalar(a) && scalar(b) && template::value_as_text(a) == template::value_as_text(b))
}

fn shown(v: &Value) -> String {
    excerpt(&template::value_as_text(v))
}

/// The text quoted and cut, keeping reasons short.
fn excerpt(text: &str) -> String {
    match text.char_indices().nth(EXCERPT_CHARS) {
        None => format!("{text:?}"),
        Some((cut, _)) => format!("{:?}…", &text[..cut]),
    }
}

fn excerpt_raw(text: &str) -> String {
    match text.char_indices().nth(EXCERPT_CHARS * 2) {
        None => text.to_string(),
        Some((cut, _)) => format!("{}…", &text[..cut]),
    }
}

#[cfg(test)]
mod tests;
