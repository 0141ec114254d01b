//! The JSON Schema of the apply document, built from the API's own types (their utoipa
//! `ToSchema`), so the file, the API and the editor agree: served at `/api/v1/schema/apply.json`,
//! printed by `hookgate apply --schema`, and used here to refuse unknown fields at any depth.

use std::sync::LazyLock;

use serde_json::{json, Map, Value};
use utoipa::OpenApi;

use crate::domain::FieldError;

#[derive(OpenApi)]
#[openapi(components(schemas(
    crate::domain::pipeline::PipelineSpec,
    crate::api::hooks::HookIn,
    crate::api::outgoing::OutgoingIn
)))]
struct Types;

static SCHEMA: LazyLock<Value> = LazyLock::new(build);

/// The schema (JSON Schema 2020-12).
pub fn apply_schema() -> &'static Value {
    &SCHEMA
}

fn build() -> Value {
    let components = Types::openapi().components.unwrap_or_default();
    let text = serde_json::to_string(&components.schemas)
        .expect("schemas serialize")
        .replace("#/components/schemas/", "#/$defs/");
    let mut defs: Map<String, Value> = serde_json::from_str(&text).expect("schemas parse");
    // A pipeline entry: the pipeline's body plus its secrets and hooks. `steps` may be left out
    // to refer to a pipeline on the server.
    let mut entry = defs
        .get("PipelineSpec")
        .cloned()
        .unwrap_or_else(|| json!({}));
    if let Some(props) = entry.get_mut("properties").and_then(Value::as_object_mut) {
        props.insert(
            "secrets".into(),
            json!({ "type": "object", "additionalProperties": { "type": "string" },
                    "description": "Pipeline secrets, name → value (use ${env:NAME}); used in steps as ${secrets.NAME}." }),
        );
        props.insert(
            "incoming".into(),
            json!({ "type": "array", "items": { "$ref": "#/$defs/HookIn" },
                    "description": "Incoming hooks, known by name on this pipeline." }),
        );
        props.insert(
            "outgoing".into(),
            json!({ "type": "array", "items": { "$ref": "#/$defs/OutgoingIn" },
                    "description": "Outgoing hooks, known by name on this pipeline." }),
        );
    }
    entry["required"] = json!(["name"]);
    defs.insert("PipelineEntry".into(), entry);
    for def in defs.values_mut() {
        close_objects(def);
    }
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://hookgate.dev/schema/apply.json",
        "title": "hookgate apply document",
        "description": "A project's pipelines, incoming hooks, outgoing hooks and pipeline secrets (SPEC §8).",
        "type": "object",
        "required": ["project"],
        "additionalProperties": false,
        "properties": {
            "project": { "type": "string", "description": "The project's name." },
            "pipelines": { "type": "array", "items": { "$ref": "#/$defs/PipelineEntry" } }
        },
        "$defs": defs
    })
}

/// Every object schema that lists its properties and says nothing of others refuses others:
/// the API refuses unknown fields, and so must an editor.
fn close_objects(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            if map.contains_key("properties") && !map.contains_key("additionalProperties") {
                map.insert("additionalProperties".into(), Value::Bool(false));
            }
            for v in map.values_mut() {
                close_objects(v);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(close_objects),
        _ => {}
    }
}

/// The fields of `doc` that the schema does not know, each named with its place and the
/// closest known name.
pub fn unknown_fields(doc: &Value) -> Vec<FieldError> {
    let mut out = Vec::new();
    walk(doc, apply_schema(), "", &mut out);
    out
}

fn resolve(schema: &Value) -> &Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => r
            .strip_prefix("#/$defs/")
            .and_then(|name| apply_schema()["$defs"].get(name))
            .unwrap_or(&Value::Null),
        None => schema,
    }
}

/// The schema and the alternatives it combines (`allOf`, `oneOf`, `anyOf`), resolved.
fn alternatives<'a>(schema: &'a Value, out: &mut Vec<&'a Value>) {
    let s = resolve(schema);
    out.push(s);
    for key in ["allOf", "oneOf", "anyOf"] {
        if let Some(list) = s.get(key).and_then(Value::as_array) {
            for sub in list {
                alternatives(sub, out);
            }
        }
    }
}

fn walk(value: &Value, schema: &Value, at: &str, out: &mut Vec<FieldError>) {
    let mut alts = Vec::new();
    alternatives(schema, &mut alts);
    match value {
        Value::Object(map) => {
            let props: Vec<&Map<String, Value>> = alts
                .iter()
                .filter_map(|s| s.get("properties").and_then(Value::as_object))
                .collect();
            let extra = alts
                .iter()
                .find_map(|s| s.get("additionalProperties").filter(|a| a.is_object()));
            for (k, v) in map {
                let field = if at.is_empty() {
                    k.clone()
                } else {
                    format!("{at}.{k}")
                };
                if let Some(s) = props.iter().find_map(|p| p.get(k)) {
                    walk(v, s, &field, out);
                } else if let Some(s) = extra {
                    walk(v, s, &field, out);
                } else if !props.is_empty() {
                    let known: Vec<&str> = props
                        .iter()
                        .flat_map(|p| p.keys().map(String::as_str))
                        .collect();
                    out.push(FieldError::new(field, unknown_problem(k, &known)));
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = alts.iter().find_map(|s| s.get("items")) {
                for (i, v) in items.iter().enumerate() {
                    walk(v, item_schema, &format!("{at}[{i}]"), out);
                }
            }
        }
        _ => {}
    }
}

fn unknown_problem(key: &str, known: &[&str]) -> String {
    let closest = known
        .iter()
        .map(|k| (edit_distance(key, k), *k))
        .min()
        .filter(|(d, k)| *d <= 2.max(k.len() / 3));
    match closest {
        Some((_, k)) => format!("unknown field; did you mean `{k}`?"),
        None => format!("unknown field; known fields: {}", known.join(", ")),
    }
}

/// Levenshtein distance, for "did you mean".
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_are_named_with_the_closest_known_one() {
        let doc = json!({ "project": "web", "pipelines": [{ "name": "a", "stepz": [],
            "incoming": [{ "name": "h", "settings": { "variables": [{ "name": "x", "pth": "a" }], "filter": [] } }],
            "outgoing": [{ "name": "o", "url": "https://x", "trigers": [] }],
            "secrets": { "ANY_NAME": "v" } }], "projct": 1 });
        let mut found: Vec<(String, String)> = unknown_fields(&doc)
            .into_iter()
            .map(|e| (e.field, e.problem))
            .collect();
        found.sort();
        let fields: Vec<&str> = found.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fields,
            vec![
                "pipelines[0].incoming[0].settings.filter",
                "pipelines[0].incoming[0].settings.variables[0].pth",
                "pipelines[0].outgoing[0].trigers",
                "pipelines[0].stepz",
                "projct"
            ]
        );
        assert!(found[0].1.contains("`filters`"), "{found:?}");
        assert!(found[2].1.contains("`triggers`"), "{found:?}");
    }

    #[test]
    fn the_schema_closes_the_api_objects() {
        let s = apply_schema();
        assert_eq!(s["$defs"]["HookIn"]["additionalProperties"], json!(false));
        assert!(s["$defs"]["PipelineEntry"]["properties"]["incoming"].is_object());
    }
}
