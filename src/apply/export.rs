//! `hookgate export`: a project's state written as an apply document, secrets as `${env:…}`
//! placeholders, so that applying the export (with those variables set) changes nothing.

use serde_json::{json, Map, Value};

use crate::domain::hook::HookConfig;
use crate::domain::pipeline::PipelineSpec;
use crate::store::apply::ProjectState;

/// The environment variable an export names for a secret: `HOOKGATE_SECRET_<PIPELINE>_<NAME>`,
/// upper case, other characters as `_`.
pub fn placeholder(parts: &[&str]) -> String {
    let name: String = parts
        .iter()
        .map(|p| {
            p.chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() {
                        c.to_ascii_uppercase()
                    } else {
                        '_'
                    }
                })
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("_");
    format!("${{env:HOOKGATE_SECRET_{name}}}")
}

/// The document for `state`.
pub fn export(state: &ProjectState) -> Value {
    let mut pipelines = Vec::new();
    for p in &state.pipelines {
        let mut entry = match serde_json::from_str::<PipelineSpec>(&p.spec) {
            Ok(mut spec) => {
                spec.name = p.name.clone();
                serde_json::to_value(spec).unwrap_or_default()
            }
            Err(_) => json!({ "name": p.name }),
        };
        let Some(obj) = entry.as_object_mut() else {
            continue;
        };
        let secrets: Map<String, Value> = state
            .secrets
            .iter()
            .filter(|s| s.pipeline_id == p.id)
            .map(|s| {
                (
                    s.name.clone(),
                    Value::String(placeholder(&[&p.name, &s.name])),
                )
            })
            .collect();
        if !secrets.is_empty() {
            obj.insert("secrets".into(), Value::Object(secrets));
        }
        let incoming: Vec<Value> = state
            .hooks
            .iter()
            .filter(|h| h.pipeline_id == p.id)
            .map(|h| incoming_entry(h, &p.name))
            .collect();
        if !incoming.is_empty() {
            obj.insert("incoming".into(), Value::Array(incoming));
        }
        let outgoing: Vec<Value> = state
            .outgoing
            .iter()
            .filter(|h| h.pipeline_id == p.id)
            .map(outgoing_entry)
            .collect();
        if !outgoing.is_empty() {
            obj.insert("outgoing".into(), Value::Array(outgoing));
        }
        pipelines.push(entry);
    }
    json!({ "project": state.project.name, "pipelines": pipelines })
}

fn incoming_entry(h: &crate::store::HookRow, pipeline: &str) -> Value {
    let config: HookConfig = serde_json::from_str(&h.config).unwrap_or_default();
    let mut m = Map::new();
    m.insert("name".into(), json!(h.name));
    m.insert("provider".into(), json!(h.provider));
    m.insert(
        "secret".into(),
        json!(placeholder(&[pipeline, &h.name, "hook"])),
    );
    if !h.is_active {
        m.insert("is_active".into(), json!(false));
    }
    if let Value::Object(c) = serde_json::to_value(&config).unwrap_or_default() {
        let defaults = HookConfig::default();
        for (k, v) in c {
            // A preset ignores the generic signature settings: they are not written.
            let unused =
                h.provider != "generic" && (k == "secret_algorithm" || k == "secret_header_name");
            let default = serde_json::to_value(&defaults)
                .ok()
                .and_then(|d| d.get(&k).cloned());
            if !unused && default.as_ref() != Some(&v) {
                m.insert(k, v);
            }
        }
    }
    Value::Object(m)
}

fn outgoing_entry(h: &crate::store::OutgoingHookRow) -> Value {
    let parse = |t: &str| serde_json::from_str::<Value>(t).unwrap_or(Value::Null);
    let mut m = Map::new();
    m.insert("name".into(), json!(h.name));
    m.insert("channel".into(), json!(h.channel));
    m.insert("url".into(), json!(h.url));
    let headers = parse(&h.headers);
    if headers.as_object().is_some_and(|o| !o.is_empty()) {
        m.insert("headers".into(), headers);
    }
    m.insert("triggers".into(), parse(&h.triggers));
    if let Some(p) = &h.payload {
        m.insert("payload".into(), parse(p));
    }
    if let Some(t) = &h.text_template {
        m.insert("text".into(), json!(t));
    }
    if let Some(to) = &h.email_to {
        m.insert("to".into(), parse(to));
    }
    if let Some(t) = &h.subject_template {
        m.insert("subject".into(), json!(t));
    }
    if let Some(t) = &h.payload_template {
        m.insert("payload_template".into(), json!(t));
    }
    if let Some(t) = &h.secret_header {
        m.insert("secret_header".into(), json!(t));
    }
    m.insert("timeout_secs".into(), json!(h.timeout_secs));
    if !h.is_active {
        m.insert("is_active".into(), json!(false));
    }
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_environment_names() {
        assert_eq!(
            placeholder(&["deploy-site", "github main", "hook"]),
            "${env:HOOKGATE_SECRET_DEPLOY_SITE_GITHUB_MAIN_HOOK}"
        );
    }
}
