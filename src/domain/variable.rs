//! Variables declared on an incoming hook: validated and compiled when the hook is saved or
//! loaded, then extracted from each delivery (body by JSONPath, a header, or a query parameter)
//! and converted to their declared type.

mod coerce;
mod keep;
mod path;
#[cfg(test)]
mod tests;

pub use coerce::{coerce, json_type, VariableType};
pub use keep::Keep;
pub use path::{compile_path, CompiledPath};

use super::template;
use super::FieldError;
use path::Nodes;
use serde_json::{Map, Value};

/// A variable declared on an incoming hook, as sent in the API (validated by `compile_variables`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct VariableSpec {
    /// The variable's name, used as `${name}` in templates.
    pub name: String,
    /// `body` (default), `header` or `query`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// JSONPath into the body (a leading `$` is optional), or a header or query-parameter name.
    /// Without a path the variable is a constant and needs a `default_value`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// `string` (default), `integer`, `number`, `boolean` or `json`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// When true, a delivery without the value (and no default) is answered 422.
    #[serde(default)]
    pub required: bool,
    /// Used when the value is missing or null; must convert to the type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<serde_json::Value>)]
    pub default_value: Option<Value>,
    /// hookgate extension: the value is how many nodes the body path matches (the length of
    /// the array when it matches one array), as an integer; 0 when it matches nothing.
    /// For example `{ "name": "commit_count", "path": "commits", "count": true }`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub count: bool,
}

/// Variables every delivery's run has.
pub const BUILTIN_VARIABLES: &[&str] = &[
    "hook_id",
    "delivery_id",
    "event",
    "action_type",
    "received_at",
];

/// Built-ins that identify the delivery; a hook may not declare these names. The other
/// built-ins (`event`, `action_type`, `received_at`) may be declared, and the declared value
/// replaces the built-in one (the Devopness example declares `event` from a header).
pub const RESERVED_VARIABLES: &[&str] = &["hook_id", "delivery_id"];

/// One entry of a 422 `invalid_variables` answer's details.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct VariableProblem {
    /// The variable's name.
    pub name: String,
    /// The path as declared, if any.
    pub path: Option<String>,
    /// What is wrong, in words.
    pub problem: String,
}

/// A hook's variables, compiled once when the hook is saved or loaded; cheap to evaluate per request.
#[derive(Debug, Clone)]
pub struct CompiledVariables {
    vars: Vec<Compiled>,
}

#[derive(Debug, Clone)]
struct Compiled {
    name: String,
    /// As declared, for problems.
    path: Option<String>,
    source: Source,
    kind: VariableType,
    required: bool,
    /// Already converted to `kind`.
    default: Option<Value>,
    /// Count the matched nodes instead of reading them.
    count: bool,
}

#[derive(Debug, Clone)]
enum Source {
    Constant,
    Body(CompiledPath),
    Header(String),
    Query(String),
}

/// Validates every spec and compiles its path. Errors name fields as `{field_prefix}[{i}].{field}`,
/// e.g. `settings.variables[2].path`, and list every problem, not just the first.
pub fn compile_variables(
    specs: &[VariableSpec],
    field_prefix: &str,
) -> Result<CompiledVariables, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut vars = Vec::with_capacity(specs.len());
    for (i, spec) in specs.iter().enumerate() {
        let mut err = |field: &str, problem: String| {
            errors.push(FieldError::new(
                format!("{field_prefix}[{i}].{field}"),
                problem,
            ));
        };
        if let Some(problem) = name_problem(&spec.name) {
            err("name", problem);
        } else if let Some(first) = specs[..i].iter().position(|s| s.name == spec.name) {
            err(
                "name",
                format!(
                    "duplicate variable name {:?} (also at {field_prefix}[{first}])",
                    spec.name
                ),
            );
        }

        let kind = match spec.kind.as_deref() {
            None if spec.count => Some(VariableType::Integer),
            Some(k) if spec.count && k != "integer" => {
                err("type", "a count variable is an integer".to_string());
                None
            }
            None => Some(VariableType::String),
            Some(k) => VariableType::parse(k).or_else(|| {
                err(
                    "type",
                    format!("unknown type {k:?} (string, integer, number, boolean or json)"),
                );
                None
            }),
        };

        let path = spec.path.as_deref();
        let source = match (spec.source.as_deref().unwrap_or("body"), path) {
            ("body", None) => Some(Source::Constant),
            ("body", Some(p)) => compile_path(&devopness_path(p))
                .map(Source::Body)
                .map_err(|e| err("path", format!("invalid JSONPath: {e}")))
                .ok(),
            (s @ ("header" | "query"), None) => {
                err(
                    "path",
                    format!("a {s} variable needs a path: the {s} name to read"),
                );
                None
            }
            ("header", Some(p)) if !is_header_name(p) => {
                err("path", format!("{p:?} is not a valid header name"));
                None
            }
            ("header", Some(p)) => Some(Source::Header(p.to_string())),
            ("query", Some("")) => {
                err("path", "the query parameter name is empty".to_string());
                None
            }
            ("query", Some(p)) => Some(Source::Query(p.to_string())),
            (other, _) => {
                err(
                    "source",
                    format!("unknown source {other:?} (body, header or query)"),
                );
                None
            }
        };

        // A null default is the same as none: "missing or null" falls through to it.
        let default_value = spec.default_value.as_ref().filter(|v| !v.is_null());
        let default = match (default_value, kind) {
            (Some(v), Some(k)) => coerce(v, k).map_err(|e| err("default_value", e)).ok(),
            _ => None,
        };
        if matches!(source, Some(Source::Constant)) && default_value.is_none() {
            err(
                "path",
                "a path is required unless a default_value makes the variable a constant"
                    .to_string(),
            );
        }

        if spec.count && !matches!(source, Some(Source::Body(_))) {
            err("count", "count needs a body path".to_string());
        }

        if let (Some(source), Some(kind)) = (source, kind) {
            vars.push(Compiled {
                name: spec.name.clone(),
                path: spec.path.clone(),
                source,
                kind,
                required: spec.required,
                default,
                count: spec.count,
            });
        }
    }
    if errors.is_empty() {
        Ok(CompiledVariables { vars })
    } else {
        Err(errors)
    }
}

fn name_problem(name: &str) -> Option<String> {
    if name.starts_with("secrets.") || !template::is_valid_name(name) {
        Some(format!(
            "{name:?} is not a valid name (letters, digits and _, not starting with a digit)"
        ))
    } else if RESERVED_VARIABLES.contains(&name) {
        Some(format!("{name:?} is a reserved built-in variable"))
    } else {
        None
    }
}

/// Devopness writes body paths without the root: `pull_request.head.ref`.
fn devopness_path(path: &str) -> std::borrow::Cow<'_, str> {
    if path.starts_with('$') {
        path.into()
    } else if path.starts_with('[') {
        format!("${path}").into()
    } else {
        format!("$.{path}").into()
    }
}

/// RFC 9110 token characters.
fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

impl CompiledVariables {
    /// The declared names, in declaration order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.vars.iter().map(|v| v.name.as_str())
    }

    /// What of a body these variables can read (for [`Keep::parse`]).
    pub fn keep(&self) -> Keep {
        let mut keep = Keep::nothing();
        for var in &self.vars {
            if let Source::Body(path) = &var.source {
                keep.add_path(path);
            }
        }
        keep
    }

    /// Extracts and converts every variable from one delivery.
    ///
    /// `header(name)` is a case-insensitive lookup supplied by the caller; `query(name)` likewise.
    /// Variables that are missing, with no default and not required, are absent from the map.
    /// Every problem is returned, not just the first.
    pub fn extract(
        &self,
        body: &Value,
        header: &dyn Fn(&str) -> Option<String>,
        query: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Map<String, Value>, Vec<VariableProblem>> {
        let mut out = Map::with_capacity(self.vars.len());
        let mut problems = Vec::new();
        for var in &self.vars {
            match var.value(body, header, query) {
                Ok(Some(v)) => {
                    out.insert(var.name.clone(), v);
                }
                Ok(None) => {}
                Err(problem) => problems.push(VariableProblem {
                    name: var.name.clone(),
                    path: var.path.clone(),
                    problem,
                }),
            }
        }
        if problems.is_empty() {
            Ok(out)
        } else {
            Err(problems)
        }
    }
}

impl Compiled {
    fn value(
        &self,
        body: &Value,
        header: &dyn Fn(&str) -> Option<String>,
        query: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Option<Value>, String> {
        if let (true, Source::Body(path)) = (self.count, &self.source) {
            let n = match path.select(body) {
                None => 0,
                Some(Nodes::One(Value::Array(items))) => items.len(),
                Some(Nodes::One(_)) => 1,
                Some(Nodes::Many(vs)) => vs.len(),
            };
            return Ok(Some(Value::from(n)));
        }
        let found = match &self.source {
            Source::Constant => None,
            Source::Header(name) => header(name).map(Value::String),
            Source::Query(name) => query(name).map(Value::String),
            Source::Body(path) => match path.select(body) {
                None => None,
                // A query that can select several nodes always gives a json array, however
                // many it selected this time, so the variable's shape does not depend on the data.
                Some(Nodes::One(v)) if self.kind == VariableType::Json && !path.is_singular() => {
                    Some(Value::Array(vec![v.clone()]))
                }
                Some(Nodes::One(v)) if v.is_null() => None,
                Some(Nodes::One(v)) => Some(coerce(v, self.kind)?),
                Some(Nodes::Many(vs)) if self.kind == VariableType::Json => {
                    Some(Value::Array(vs.into_iter().cloned().collect()))
                }
                Some(Nodes::Many(vs)) => {
                    return Err(format!(
                        "the path matched {} values; only a json variable can hold several",
                        vs.len()
                    ))
                }
            },
        };
        match found {
            Some(v) if matches!(self.source, Source::Body(_)) => Ok(Some(v)),
            Some(v) => coerce(&v, self.kind).map(Some),
            None if self.default.is_some() => Ok(self.default.clone()),
            None if self.required => Err("required variable is missing".to_string()),
            None => Ok(None),
        }
    }
}
