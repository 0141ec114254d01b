//! Pipeline definitions (SPEC §5) and the rules checked when one is saved.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::concurrency::ConcurrencyPolicy;
use super::template;
use super::FieldError;

mod usage;

/// Variables every run has, whatever started it.
pub const RUN_BUILTINS: &[&str] = &[
    "hook_id",
    "delivery_id",
    "event",
    "action_type",
    "received_at",
    "run_id",
    "pipeline_id",
    "pipeline_name",
    "project_id",
];

/// A pipeline as sent to `POST /projects/{prj}/pipelines` and `PUT /pipelines/{pl}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PipelineSpec {
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Variables the steps may use besides the built-ins: the parameters a hook or a manual run supplies.
    #[serde(default)]
    pub variables: Vec<PipelineVariable>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<Concurrency>,
    pub steps: Vec<Step>,
    /// How many times a run whose worker was lost is tried again (deploys are not idempotent: default 0).
    #[serde(default)]
    pub retries: u32,
}

/// A declared pipeline variable, with an optional default.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PipelineVariable {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Value>)]
    pub default_value: Option<Value>,
    /// A run whose variables lack this one (no hook value, no manual value, no default) is not
    /// created: ingest and manual runs answer 422 naming it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub required: bool,
}

/// Concurrency per rendered key.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Concurrency {
    /// Template, e.g. `${source_ref}`.
    pub key: String,
    #[serde(default = "one")]
    pub max: u32,
    /// `queue`, `supersede` or `parallel`.
    pub policy: String,
}

fn one() -> u32 {
    1
}

/// How a run is limited, resolved when it is enqueued.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RunLimit {
    /// The rendered key; `None` when runs are parallel.
    pub key: Option<String>,
    pub policy: Option<ConcurrencyPolicy>,
    pub max: Option<i64>,
}

impl RunLimit {
    /// Renders the pipeline's concurrency key over a run's variables. `parallel`, or no
    /// concurrency block, means no limit.
    pub fn resolve(
        concurrency: Option<&Concurrency>,
        vars: &serde_json::Map<String, Value>,
    ) -> RunLimit {
        let Some(c) = concurrency else {
            return RunLimit::default();
        };
        // A saved pipeline's policy is one of the names (checked when it is saved).
        match ConcurrencyPolicy::parse(&c.policy) {
            Some(policy @ (ConcurrencyPolicy::Queue | ConcurrencyPolicy::Supersede)) => RunLimit {
                key: Some(super::key::stored_key(
                    template::render(&c.key, vars).unwrap_or_else(|_| c.key.clone()),
                )),
                policy: Some(policy),
                max: Some(c.max as i64),
            },
            _ => RunLimit::default(),
        }
    }
}

impl PipelineSpec {
    /// The declared variables' defaults.
    pub fn defaults(&self) -> serde_json::Map<String, Value> {
        self.variables
            .iter()
            .filter_map(|v| Some((v.name.clone(), v.default_value.clone()?)))
            .collect()
    }
}

/// One step. Fields apply by `action`: `command` uses program/args/env/working_dir;
/// `http` uses method/url/headers/body/expect_status; `approval` uses approvers/message
/// (and `timeout_secs`, default a day).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub name: String,
    /// `command`, `http` or `approval`.
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub program: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Value>)]
    pub body: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 100, maximum = 599)]
    pub expect_status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<u64>,
    /// `approval` steps: the project roles that may decide (`member`, `owner`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approvers: Vec<String>,
    /// `approval` steps: what the approvers are asked (a `${…}` template).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"];
const POLICIES: &[&str] = &["queue", "supersede", "parallel"];

#[cfg(test)]
#[test]
fn the_policies_a_pipeline_may_name_are_the_typed_ones() {
    let typed: Vec<&str> = ConcurrencyPolicy::ALL.iter().map(|p| p.as_str()).collect();
    assert_eq!(POLICIES, typed.as_slice());
}
const MAX_TIMEOUT_SECS: u64 = 7 * 24 * 3600;

impl PipelineSpec {
    /// Checks the whole definition. `extra_known` are variable names hooks of this pipeline
    /// declare. Returns every problem found.
    pub fn validate(&self, extra_known: &HashSet<String>) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if let Err(e) = super::check_name("name", &self.name) {
            errors.push(e);
        }
        let mut known: HashSet<&str> = RUN_BUILTINS.iter().copied().collect();
        known.extend(extra_known.iter().map(String::as_str));
        let mut declared = HashSet::new();
        for (i, v) in self.variables.iter().enumerate() {
            let field = format!("variables[{i}].name");
            if !template::is_valid_name(&v.name) || v.name.starts_with("secrets.") {
                errors.push(FieldError::new(
                    field,
                    "must be a name of letters, digits and _",
                ));
            } else if RUN_BUILTINS.contains(&v.name.as_str()) {
                errors.push(FieldError::new(field, "is a built-in variable"));
            } else if !declared.insert(v.name.as_str()) {
                errors.push(FieldError::new(field, "is declared twice"));
            }
        }
        known.extend(declared);
        let mut check =
            |field: String, text: &str| check_template(&field, text, &known, &mut errors);

        if let Some(c) = &self.concurrency {
            check("concurrency.key".into(), &c.key);
        }
        let mut step_names = HashSet::new();
        let mut shape_errors = Vec::new();
        for (i, step) in self.steps.iter().enumerate() {
            let at = |f: &str| format!("steps[{i}].{f}");
            if step.name.trim().is_empty() {
                shape_errors.push(FieldError::new(at("name"), "must not be empty"));
            } else if !step_names.insert(step.name.as_str()) {
                shape_errors.push(FieldError::new(at("name"), "two steps have this name"));
            }
            if let Some(t) = step.timeout_secs {
                if t == 0 || t > MAX_TIMEOUT_SECS {
                    shape_errors.push(FieldError::new(
                        at("timeout_secs"),
                        format!("must be 1 to {MAX_TIMEOUT_SECS}"),
                    ));
                }
            }
            if step.action != "approval" {
                super::approval::check_not_approval(step, &at, &mut shape_errors);
            }
            match step.action.as_str() {
                "approval" => super::approval::check_step(step, &at, &mut check, &mut shape_errors),
                "command" => {
                    match step.program.as_deref() {
                        Some(p) if !p.trim().is_empty() => check(at("program"), p),
                        _ => shape_errors.push(FieldError::new(
                            at("program"),
                            "a command step needs a program",
                        )),
                    }
                    for (j, a) in step.args.iter().enumerate() {
                        check(at(&format!("args[{j}]")), a);
                    }
                    for (k, v) in &step.env {
                        if k.is_empty() || k.contains('=') || k.contains('\0') {
                            shape_errors.push(FieldError::new(
                                at(&format!("env.{k}")),
                                "is not a valid environment name",
                            ));
                        }
                        check(at(&format!("env.{k}")), v);
                    }
                    if let Some(d) = &step.working_dir {
                        check(at("working_dir"), d);
                    }
                    for (f, set) in [
                        ("url", step.url.is_some()),
                        ("method", step.method.is_some()),
                        ("body", step.body.is_some()),
                    ] {
                        if set {
                            shape_errors.push(FieldError::new(at(f), "is for http steps"));
                        }
                    }
                }
                "http" => {
                    match step.url.as_deref() {
                        Some(u) if !u.trim().is_empty() => check(at("url"), u),
                        _ => shape_errors
                            .push(FieldError::new(at("url"), "an http step needs a url")),
                    }
                    if let Some(m) = &step.method {
                        if !METHODS.contains(&m.to_ascii_uppercase().as_str()) {
                            shape_errors.push(FieldError::new(
                                at("method"),
                                format!("must be one of {}", METHODS.join(", ")),
                            ));
                        }
                    }
                    for (k, v) in &step.headers {
                        check(at(&format!("headers.{k}")), v);
                    }
                    if let Some(body) = &step.body {
                        let mut names = Vec::new();
                        match template::names_in_json(body, &mut names) {
                            Err(e) => shape_errors.push(FieldError::new(at("body"), e.to_string())),
                            Ok(()) => {
                                for n in names {
                                    check(at("body"), &format!("${{{n}}}"));
                                }
                            }
                        }
                    }
                    if let Some(s) = step.expect_status {
                        if !(100..=599).contains(&s) {
                            shape_errors.push(FieldError::new(
                                at("expect_status"),
                                "must be an HTTP status, 100 to 599",
                            ));
                        }
                    }
                    if step.program.is_some() || !step.args.is_empty() {
                        shape_errors.push(FieldError::new(at("program"), "is for command steps"));
                    }
                }
                _ => shape_errors.push(FieldError::new(
                    at("action"),
                    "must be command, http or approval",
                )),
            }
        }
        if self.steps.is_empty() {
            shape_errors.push(FieldError::new(
                "steps",
                "a pipeline needs at least one step",
            ));
        }
        if let Some(c) = &self.concurrency {
            if !POLICIES.contains(&c.policy.as_str()) {
                shape_errors.push(FieldError::new(
                    "concurrency.policy",
                    "must be queue, supersede or parallel",
                ));
            }
            if c.max == 0 {
                shape_errors.push(FieldError::new("concurrency.max", "must be at least 1"));
            }
        }
        if self.retries > 10 {
            shape_errors.push(FieldError::new("retries", "must be at most 10"));
        }
        errors.extend(shape_errors);
        errors
    }
}

/// Adds an error when `text` does not parse, or names a variable that is not known.
/// `${secrets.NAME}` is always accepted: secrets are written after the pipeline exists.
fn check_template(field: &str, text: &str, known: &HashSet<&str>, errors: &mut Vec<FieldError>) {
    match template::names(text) {
        Err(e) => errors.push(FieldError::new(field, e.to_string())),
        Ok(names) => {
            for n in names {
                if !n.starts_with("secrets.") && !known.contains(n) {
                    let mut names: Vec<&str> = known.iter().copied().collect();
                    names.sort_unstable();
                    let mut problem = format!("unknown variable ${{{n}}}");
                    if let Some(best) = super::closest(n, names.iter().copied()) {
                        problem.push_str(&format!("; did you mean ${{{best}}}?"));
                    }
                    problem.push_str(&format!(" Known: {}", names.join(", ")));
                    errors.push(FieldError::new(field, problem));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(v: Value) -> PipelineSpec {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn the_spec_example_is_valid_with_declared_variables() {
        let p = spec(json!({ "name": "deploy-api",
            "variables": [{"name": "source_ref"}, {"name": "pull_request_id"}],
            "concurrency": { "key": "${source_ref}", "max": 1, "policy": "queue" },
            "steps": [
                { "name": "deploy", "action": "command", "program": "/opt/deploy.sh",
                  "args": ["--ref", "${source_ref}"], "env": { "PR": "${pull_request_id}" }, "timeout_secs": 600 },
                { "name": "dispatch", "action": "http", "method": "POST",
                  "url": "https://api.github.com/repos/o/r/actions/workflows/ci.yml/dispatches",
                  "headers": { "Authorization": "Bearer ${secrets.GITHUB_TOKEN}" },
                  "body": { "ref": "${source_ref}", "inputs": { "pr": "${pull_request_id}" } }, "timeout_secs": 30 } ] }));
        assert_eq!(p.validate(&HashSet::new()), vec![]);
    }

    #[test]
    fn unknown_variables_and_bad_shapes_are_all_named() {
        let p = spec(
            json!({ "name": "", "concurrency": {"key": "${nope}", "policy": "fifo", "max": 0},
            "steps": [
                { "name": "a", "action": "command", "args": ["${missing}", "${run_id}"] },
                { "name": "a", "action": "http", "url": "https://x/${ref", "method": "BREW", "body": {"x": "${who}"} },
                { "name": "c", "action": "ssh" } ] }),
        );
        let fields: Vec<String> = p
            .validate(&HashSet::new())
            .into_iter()
            .map(|e| e.field)
            .collect();
        for f in [
            "name",
            "concurrency.key",
            "steps[0].args[0]",
            "steps[0].program",
            "steps[1].name",
            "steps[1].url",
            "steps[1].method",
            "steps[1].body",
            "steps[2].action",
            "concurrency.policy",
            "concurrency.max",
        ] {
            assert!(fields.iter().any(|x| x == f), "{f} not in {fields:?}");
        }
        assert!(!fields.iter().any(|x| x == "steps[0].args[1]"));
        let p = spec(json!({ "name": "x", "variables": [{"name": "source_ref"}],
                    "steps": [{ "name": "a", "action": "command", "program": "echo", "args": ["${sourceref}"] }] }));
        let problem = &p.validate(&HashSet::new())[0].problem;
        assert!(
            problem
                .starts_with("unknown variable ${sourceref}; did you mean ${source_ref}? Known: "),
            "{problem}"
        );
        assert!(problem.contains("pipeline_name"), "{problem}");
    }

    #[test]
    fn hook_variables_count_as_known() {
        let p = spec(
            json!({ "name": "x", "steps": [{ "name": "a", "action": "command", "program": "echo", "args": ["${ref}"] }] }),
        );
        assert_eq!(p.validate(&HashSet::new()).len(), 1);
        assert_eq!(p.validate(&HashSet::from(["ref".to_string()])), vec![]);
    }
}
