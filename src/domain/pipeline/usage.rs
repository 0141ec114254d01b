//! What a pipeline's templates use, checked against what a hook or a run supplies: the
//! warnings a hook save answers, and the required variables a run must have.

use serde_json::Value;

use super::{template, PipelineSpec, RUN_BUILTINS};
use crate::domain::variable::VariableProblem;

impl PipelineSpec {
    /// Required variables that `vars` lacks (absent or null), as 422 details.
    pub fn missing_required(&self, vars: &serde_json::Map<String, Value>) -> Vec<VariableProblem> {
        self.variables
            .iter()
            .filter(|v| v.required && vars.get(&v.name).is_none_or(Value::is_null))
            .map(|v| VariableProblem {
                name: v.name.clone(),
                path: None,
                problem: "required by the pipeline, and no value or default supplies it".into(),
            })
            .collect()
    }

    /// Every `${name}` the pipeline's templates use, with where: `step deploy`,
    /// `the concurrency key`. Secrets and unparsable templates are left out.
    pub fn template_uses(&self) -> Vec<(String, String)> {
        let mut uses = Vec::new();
        let mut add = |text: &str, place: &str| {
            for n in template::names(text).unwrap_or_default() {
                if !n.starts_with("secrets.") {
                    uses.push((n.to_string(), place.to_string()));
                }
            }
        };
        if let Some(c) = &self.concurrency {
            add(&c.key, "the concurrency key");
        }
        for step in &self.steps {
            let place = format!("step {}", step.name);
            let texts = step
                .program
                .iter()
                .chain(&step.args)
                .chain(step.env.values());
            let texts = texts
                .chain(&step.working_dir)
                .chain(&step.url)
                .chain(step.headers.values());
            for t in texts {
                add(t, &place);
            }
            if let Some(body) = &step.body {
                let mut names = Vec::new();
                if template::names_in_json(body, &mut names).is_ok() {
                    for n in names {
                        add(&format!("${{{n}}}"), &place);
                    }
                }
            }
        }
        uses.sort();
        uses.dedup();
        uses
    }

    /// What a hook that declares `hook_vars` leaves unset in this pipeline: one warning per
    /// template use of a variable that the hook does not declare and that has no pipeline
    /// default (it would render as empty).
    pub fn hook_warnings(&self, hook_vars: &[&str]) -> Vec<String> {
        let defaults = self.defaults();
        self.template_uses()
            .into_iter()
            .filter(|(n, _)| {
                !RUN_BUILTINS.contains(&n.as_str())
                    && !hook_vars.contains(&n.as_str())
                    && !defaults.contains_key(n)
            })
            .map(|(n, place)| {
                let required = self.variables.iter().any(|v| v.name == n && v.required);
                let outcome = if required {
                    "every delivery will be refused (422): the pipeline requires it"
                } else {
                    "it will render as empty"
                };
                format!("${{{n}}} is used by {place} but this hook does not declare it; {outcome}")
            })
            .collect()
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
    fn hook_warnings_name_each_use_the_hook_leaves_unset() {
        let p = spec(json!({ "name": "x",
            "variables": [{"name": "ref", "default_value": "main"}, {"name": "after", "required": true}],
            "concurrency": { "key": "${pr}", "policy": "queue" },
            "steps": [{ "name": "deploy", "action": "command", "program": "d",
                        "args": ["${ref}", "${after}", "${run_id}", "${secrets.T}"] }] }));
        assert_eq!(
            p.hook_warnings(&["pr"]),
            vec!["${after} is used by step deploy but this hook does not declare it; every delivery will be refused (422): the pipeline requires it".to_string()]
        );
        assert!(p.hook_warnings(&["after"])[0].starts_with("${pr} is used by the concurrency key"));
        let missing = p.missing_required(&serde_json::Map::new());
        assert_eq!(missing.len(), 1);
        assert_eq!(missing[0].name, "after");
        assert!(p
            .missing_required(json!({"after": "x"}).as_object().unwrap())
            .is_empty());
    }
}
