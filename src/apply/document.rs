//! The apply document (SPEC §8), read into the API's own request types.
//!
//! A document is `{ project, pipelines: [ <pipeline> ] }`. A pipeline entry is the API's
//! pipeline body (`PipelineSpec`) plus `secrets` (a map of name → value), `incoming` (the API's
//! incoming-hook bodies, `HookIn`) and `outgoing` (its outgoing-hook bodies, `OutgoingIn`). An
//! entry with only a `name` (and hooks or secrets) refers to a pipeline already on the server
//! and leaves its definition alone.
//!
//! Every problem is named by its place in the document: `pipelines[0].incoming[1].settings.
//! variables[2].path`. Unknown fields are refused at any depth, against the schema.

use std::collections::{BTreeMap, HashMap};

use secrecy::SecretString;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::schema::unknown_fields;
use crate::api::hooks::{HookDraft, HookIn};
use crate::api::outgoing::OutgoingIn;
use crate::domain::pipeline::PipelineSpec;
use crate::domain::{check_name, FieldError};

/// One project's declared state.
pub struct Desired {
    pub project: String,
    pub pipelines: Vec<DesiredPipeline>,
}

/// One pipeline entry.
pub struct DesiredPipeline {
    pub name: String,
    /// `None`: the entry names a pipeline on the server without declaring its definition.
    pub spec: Option<PipelineSpec>,
    /// Name → value, in name order.
    pub secrets: BTreeMap<String, SecretString>,
    /// Checked by the API's own rules.
    pub incoming: Vec<HookDraft>,
    /// Checked with the pipeline in `plan` (the names its templates may use depend on it).
    pub outgoing: Vec<OutgoingIn>,
}

fn at(prefix: &str, field: &str) -> String {
    match (prefix.is_empty(), field) {
        (true, f) => f.to_string(),
        (false, "" | ".") => prefix.to_string(),
        (false, f) if f.starts_with('[') => format!("{prefix}{f}"),
        (false, f) => format!("{prefix}.{f}"),
    }
}

/// Prefixes every error's field with `prefix`.
pub fn prefixed(prefix: &str, errors: Vec<FieldError>) -> Vec<FieldError> {
    errors
        .into_iter()
        .map(|e| FieldError::new(at(prefix, &e.field), e.problem))
        .collect()
}

/// Reads `value` as `T`, naming the place of a wrong type or a missing field. Values are left
/// out of the message: a secret in the wrong place must not come back in an error.
fn read<T: DeserializeOwned>(value: Value, prefix: &str) -> Result<T, FieldError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let problem = crate::domain::body_problem::without_values(&e.into_inner().to_string());
        FieldError::new(at(prefix, &path), problem)
    })
}

/// Reads one document; every problem is reported, none is applied.
pub fn parse(value: Value) -> Result<Desired, Vec<FieldError>> {
    let mut errors = unknown_fields(&value);
    let Value::Object(mut doc) = value else {
        return Err(vec![FieldError::new(
            ".",
            "a document is an object with project and pipelines",
        )]);
    };
    let project = match doc.remove("project") {
        Some(Value::String(p)) => {
            errors.extend(check_name("project", &p).err());
            p.trim().to_string()
        }
        Some(_) => {
            errors.push(FieldError::new("project", "must be a string"));
            String::new()
        }
        None => {
            errors.push(FieldError::new(
                "project",
                "every document names its project",
            ));
            String::new()
        }
    };
    let entries = match doc.remove("pipelines") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a,
        Some(_) => {
            errors.push(FieldError::new("pipelines", "must be a list"));
            Vec::new()
        }
    };
    let mut pipelines = Vec::new();
    let mut first_at: HashMap<String, usize> = HashMap::new();
    for (i, entry) in entries.into_iter().enumerate() {
        let prefix = format!("pipelines[{i}]");
        match parse_pipeline(entry, &prefix) {
            Ok(p) => {
                if let Some(j) = first_at.insert(p.name.clone(), i) {
                    errors.push(FieldError::new(
                        format!("{prefix}.name"),
                        format!("pipelines[{j}] has this name too: names must be unique"),
                    ));
                }
                pipelines.push(p);
            }
            Err(e) => errors.extend(e),
        }
    }
    if errors.is_empty() {
        Ok(Desired { project, pipelines })
    } else {
        Err(errors)
    }
}

fn parse_pipeline(entry: Value, prefix: &str) -> Result<DesiredPipeline, Vec<FieldError>> {
    let Value::Object(mut map) = entry else {
        return Err(vec![FieldError::new(prefix, "must be an object")]);
    };
    let mut errors = Vec::new();
    let mut take = |key: &str| map.remove(key);
    let secrets_v = take("secrets");
    let incoming_v = take("incoming");
    let outgoing_v = take("outgoing");
    let reference = map.keys().all(|k| k == "name");
    let name = match map.get("name") {
        Some(Value::String(n)) => n.trim().to_string(),
        _ => {
            errors.push(FieldError::new(at(prefix, "name"), "must be a string"));
            String::new()
        }
    };
    let spec = if reference {
        None
    } else {
        match read::<PipelineSpec>(Value::Object(map), prefix) {
            Ok(s) => Some(s),
            Err(e) => {
                errors.push(e);
                None
            }
        }
    };
    let secrets = match secrets_v {
        None | Some(Value::Null) => BTreeMap::new(),
        Some(v) => read::<BTreeMap<String, String>>(v, &at(prefix, "secrets"))
            .map_err(|e| errors.push(e))
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, SecretString::from(v)))
            .collect(),
    };
    let mut incoming = Vec::new();
    let mut names: HashMap<String, usize> = HashMap::new();
    for (j, hook) in list(incoming_v, &at(prefix, "incoming"), &mut errors)
        .into_iter()
        .enumerate()
    {
        let hp = format!("{prefix}.incoming[{j}]");
        match read::<HookIn>(hook, &hp) {
            Err(e) => errors.push(e),
            Ok(h) => match h.into_draft() {
                Err(e) => errors.extend(prefixed(&hp, e)),
                Ok(d) => {
                    unique(&mut names, &d.name, j, &hp, "incoming", &mut errors);
                    incoming.push(d);
                }
            },
        }
    }
    let mut outgoing = Vec::new();
    names.clear();
    for (k, hook) in list(outgoing_v, &at(prefix, "outgoing"), &mut errors)
        .into_iter()
        .enumerate()
    {
        let op = format!("{prefix}.outgoing[{k}]");
        match read::<OutgoingIn>(hook, &op) {
            Err(e) => errors.push(e),
            Ok(o) => {
                unique(&mut names, o.name.trim(), k, &op, "outgoing", &mut errors);
                outgoing.push(o);
            }
        }
    }
    if errors.is_empty() {
        Ok(DesiredPipeline {
            name,
            spec,
            secrets,
            incoming,
            outgoing,
        })
    } else {
        Err(errors)
    }
}

fn list(v: Option<Value>, field: &str, errors: &mut Vec<FieldError>) -> Vec<Value> {
    match v {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a,
        Some(_) => {
            errors.push(FieldError::new(field, "must be a list"));
            Vec::new()
        }
    }
}

fn unique(
    seen: &mut HashMap<String, usize>,
    name: &str,
    index: usize,
    prefix: &str,
    list: &str,
    errors: &mut Vec<FieldError>,
) {
    if let Some(first) = seen.insert(name.to_string(), index) {
        errors.push(FieldError::new(
            format!("{prefix}.name"),
            format!("{list}[{first}] has this name too: names on a pipeline must be unique"),
        ));
    }
}

/// The documents of a request: one object, or a list of them. Errors are prefixed
/// `documents[i].` when there are several.
pub fn parse_all(body: Value) -> Result<Vec<Desired>, Vec<FieldError>> {
    let docs = match body {
        Value::Array(a) => a,
        other => vec![other],
    };
    let many = docs.len() > 1;
    let mut out = Vec::new();
    let mut errors = Vec::new();
    let mut projects: HashMap<String, usize> = HashMap::new();
    for (i, d) in docs.into_iter().enumerate() {
        let prefix = if many {
            format!("documents[{i}]")
        } else {
            String::new()
        };
        match parse(d) {
            Ok(doc) => {
                if let Some(j) = projects.insert(doc.project.clone(), i) {
                    errors.push(FieldError::new(
                        at(&prefix, "project"),
                        format!(
                            "documents[{j}] declares this project too: one document per project"
                        ),
                    ));
                }
                out.push(doc);
            }
            Err(e) => errors.extend(prefixed(&prefix, e)),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}
