//! `payload_template` (SPEC §6, the Mixpeek form): a Jinja2 template, rendered with minijinja.
//! Checked when the hook is saved (it compiles, names only what exists, and for `webhook`
//! renders JSON); rendered with the event's context at each delivery.

use std::collections::HashSet;

use minijinja::{Environment, UndefinedBehavior};
use serde_json::{json, Map, Value};

/// Bounds the work one render may do (loops over hostile input): minijinja's fuel.
const FUEL: u64 = 100_000;
/// Largest template accepted, in bytes.
pub const MAX_TEMPLATE_BYTES: usize = 16 * 1024;

fn env() -> Environment<'static> {
    let mut env = Environment::new();
    // A name the context lacks is an error, not an empty string: a typo is found at save time.
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(Some(FUEL));
    env
}

/// Renders `template` with `context`.
pub fn render(template: &str, context: &Value) -> Result<String, String> {
    env()
        .render_str(template, context)
        .map_err(|e| format!("the payload_template does not render: {}", describe(&e)))
}

fn describe(e: &minijinja::Error) -> String {
    match e.detail() {
        Some(d) => format!("{} ({d})", e.kind()),
        None => e.kind().to_string(),
    }
}

/// The context a template renders with: the `${…}` names (`event_id`, `status`, the run's
/// variables…) at the top level, plus the envelope's `project`, `pipeline` and `run` objects.
pub fn context(vars: &Map<String, Value>, envelope: &Value) -> Value {
    let mut ctx = vars.clone();
    if let Some(env) = envelope.as_object() {
        for k in ["project", "pipeline", "run", "occurred_at"] {
            if let Some(v) = env.get(k) {
                ctx.insert(k.into(), v.clone());
            }
        }
    }
    Value::Object(ctx)
}

/// A context of sample values with every name a template of this pipeline may use.
fn sample(known: &HashSet<String>) -> Value {
    let vars: Map<String, Value> = known
        .iter()
        .map(|k| (k.clone(), Value::String(format!("sample {k}"))))
        .collect();
    let envelope = json!({
        "occurred_at": "2026-01-01T00:00:00Z",
        "project": { "id": "prj_sample", "name": "sample" },
        "pipeline": { "id": "pl_sample", "name": "sample" },
        "run": { "id": "run_sample", "status": "succeeded", "reason": null, "variables": {},
                 "triggered_by": "manual:tok_sample", "created_at": "2026-01-01T00:00:00Z",
                 "started_at": null, "finished_at": null },
    });
    context(&vars, &envelope)
}

/// Checks a template at save time; `json` when the channel needs a JSON body.
pub fn check(template: &str, known: &HashSet<String>, json: bool) -> Result<(), String> {
    if template.len() > MAX_TEMPLATE_BYTES {
        return Err(format!("must be at most {MAX_TEMPLATE_BYTES} bytes"));
    }
    let rendered = render(template, &sample(known))?;
    if json {
        serde_json::from_str::<Value>(&rendered).map_err(|e| {
            // Jinja2 prints booleans as True/False, and a filter binds tighter than `==`.
            let hint = if rendered.contains("True") || rendered.contains("False") {
                "; a boolean prints as True/False: filter the whole expression, {{ (a == b) | tojson }}"
            } else {
                ""
            };
            format!("renders a body that is not JSON ({e}); the webhook channel sends JSON{hint}")
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> HashSet<String> {
        ["event_id", "event", "status"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    #[test]
    fn the_spec_example_checks_and_renders_json() {
        // SPEC §6 writes `{{ run.status == "succeeded" | tojson }}`: in Jinja2 the filter
        // applies to "succeeded" alone, and the comparison prints False, which is not JSON.
        let spec = r#"{"ok": {{ run.status == "succeeded" | tojson }}}"#;
        assert!(check(spec, &known(), true)
            .unwrap_err()
            .contains("(a == b) | tojson"));
        let t = r#"{"id": "{{ event_id }}", "run": "{{ run.id }}", "ok": {{ (run.status == "succeeded") | tojson }}}"#;
        check(t, &known(), true).unwrap();
        let out = render(
            t,
            &context(
                &Map::from_iter([("event_id".to_string(), json!("evt_1"))]),
                &json!({ "run": { "id": "run_1", "status": "failed" } }),
            ),
        )
        .unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(&out).unwrap(),
            json!({"id": "evt_1", "run": "run_1", "ok": false})
        );
    }

    #[test]
    fn typos_syntax_and_non_json_are_refused() {
        assert!(check("{{ evnt_id }}", &known(), false)
            .unwrap_err()
            .contains("undefined"));
        assert!(check("{% if %}", &known(), false).is_err());
        assert!(check("status: {{ status }}", &known(), true)
            .unwrap_err()
            .contains("not JSON"));
        assert!(check("status: {{ status }}", &known(), false).is_ok());
    }

    #[test]
    fn runaway_loops_run_out_of_fuel() {
        let t = "{% for a in range(1000) %}{% for b in range(1000) %}x{% endfor %}{% endfor %}";
        assert!(check(t, &known(), false).is_err());
    }
}
