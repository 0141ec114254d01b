//! Filters on an incoming hook: compiled once, evaluated over a delivery's variables.
//!
//! All filters must hold for a delivery to start a run. A filter reads a variable, or renders a
//! template over the variables, and tests the result with `equals`, `in` or `matches`.

use super::template;
use super::FieldError;
use regex::{Regex, RegexBuilder};
use serde_json::{Map, Value};

/// One filter, as sent in the API (validated by `compile_filters`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct FilterSpec {
    /// The variable to test (or give `text`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variable: Option<String>,
    /// A `${name}` template rendered over the variables, then tested (or give `variable`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Holds when the value equals this one (scalars compare by their text: `42` equals `"42"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<serde_json::Value>)]
    pub equals: Option<Value>,
    /// Holds when the value equals one of these.
    #[serde(rename = "in", default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<serde_json::Value>>)]
    pub one_of: Option<Vec<Value>>,
    /// Holds when this regular expression matches the value's text (an absent variable is "").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matches: Option<String>,
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
    Matches(Regex),
}

/// Bounds the compiled size of a user-supplied regex so a hook cannot make the server
/// spend unbounded memory.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Longest value excerpt in a reason.
const EXCERPT_CHARS: usize = 60;

/// Validates every filter and compiles its regex. `known(name)` says whether a variable name
/// exists (declared or built-in). Errors name `{field_prefix}[{i}].{field}` and list every problem.
pub fn compile_filters(
    specs: &[FilterSpec],
    known: &dyn Fn(&str) -> bool,
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
        let subject = match (&spec.variable, &spec.text) {
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
            (Some(name), None) if !known(name) => {
                err("variable", format!("unknown variable {name:?}"));
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
                        } else if !known(name) {
                            err("text", format!("unknown variable {name:?}"));
                            ok = false;
                        }
                    }
                    ok.then(|| Subject::Text(text.clone()))
                }
            },
        };

        let given: Vec<&str> = [
            spec.equals.as_ref().map(|_| "equals"),
            spec.one_of.as_ref().map(|_| "in"),
            spec.matches.as_ref().map(|_| "matches"),
        ]
        .into_iter()
        .flatten()
        .collect();
        let test = match (given.as_slice(), &spec.equals, &spec.one_of, &spec.matches) {
            ([], ..) => {
                err("equals", "one of equals, in or matches is required".into());
                None
            }
            ([_, extra @ ..], ..) if !extra.is_empty() => {
                for field in extra {
                    err(
                        field,
                        format!(
                            "give only one of equals, in or matches ({} is also given)",
                            given[0]
                        ),
                    );
                }
                None
            }
            (_, Some(v), ..) => Some(Test::Equals(v.clone())),
            (_, _, Some(list), _) if list.is_empty() => {
                err(
                    "in",
                    "the list is empty, so the filter could never hold".into(),
                );
                None
            }
            (_, _, Some(list), _) => Some(Test::In(list.clone())),
            (_, _, _, Some(pattern)) => RegexBuilder::new(pattern)
                .size_limit(REGEX_SIZE_LIMIT)
                .build()
                .map(Test::Matches)
                .map_err(|e| err("matches", format!("invalid regular expression: {e}")))
                .ok(),
            _ => unreachable!("one operator was given"),
        };

        if let (Some(subject), Some(test)) = (subject, test) {
            filters.push(Filter { subject, test });
        }
    }
    if errors.is_empty() {
        Ok(CompiledFilters { filters })
    } else {
        Err(errors)
    }
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
            Subject::Variable(name) => (
                name.as_str(),
                vars.get(name).filter(|v| !v.is_null()).cloned(),
            ),
            // Templates were checked at compile time, so rendering cannot fail here.
            Subject::Text(t) => (
                "text",
                Some(Value::String(template::render(t, vars).unwrap_or_default())),
            ),
        };
        match (&self.test, value) {
            (Test::Matches(re), value) => {
                let text = value
                    .as_ref()
                    .map(template::value_as_text)
                    .unwrap_or_default();
                if re.is_match(&text) {
                    Ok(())
                } else {
                    Err(format!(
                        "{label} {} does not match {}",
                        excerpt(&text),
                        re.as_str()
                    ))
                }
            }
            (_, None) => Err(format!("{label} is absent")),
            (Test::Equals(want), Some(v)) if same(&v, want) => Ok(()),
            (Test::Equals(want), Some(v)) => Err(format!(
                "{label} {} does not equal {}",
                shown(&v),
                shown(want)
            )),
            (Test::In(list), Some(v)) if list.iter().any(|w| same(&v, w)) => Ok(()),
            (Test::In(list), Some(v)) => {
                let options: Vec<String> = list.iter().map(shown).collect();
                Err(format!(
                    "{label} {} is not one of [{}]",
                    shown(&v),
                    excerpt_raw(&options.join(", "))
                ))
            }
        }
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
