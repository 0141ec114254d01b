//! The seeds' own request types (strict: an unknown field is named in a 422) and Humanitec's
//! event mapping.

use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::yes;

/// Humanitec: `{ "id", "url", "headers", "payload", "triggers": [{ "scope", "type" }] }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct HumanitecIn {
    pub(super) id: String,
    pub(super) url: String,
    #[serde(default)]
    pub(super) headers: Map<String, Value>,
    #[serde(default)]
    pub(super) payload: Option<Value>,
    pub(super) triggers: Vec<HumanitecTrigger>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct HumanitecTrigger {
    pub(super) scope: String,
    #[serde(rename = "type")]
    pub(super) kind: String,
}

/// Mendix: `{ "name", "url", "eventTypes", "isActive", "validationSecret", "headers": [{ "key", "value" }] }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct MendixIn {
    pub(super) name: String,
    pub(super) url: String,
    pub(super) event_types: Vec<String>,
    #[serde(default = "yes")]
    pub(super) is_active: bool,
    #[serde(default)]
    pub(super) validation_secret: Option<SecretString>,
    #[serde(default)]
    pub(super) headers: Vec<KeyValue>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct KeyValue {
    pub(super) key: String,
    pub(super) value: String,
}

/// Mixpeek: `{ "event_types", "channels": [{ "type", … }], "payload_template", "timeout" }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MixpeekIn {
    pub(super) event_types: Vec<String>,
    pub(super) channels: Vec<MixpeekChannel>,
    #[serde(default)]
    pub(super) payload_template: Option<String>,
    #[serde(default)]
    pub(super) timeout: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub(super) enum MixpeekChannel {
    Webhook {
        url: String,
        #[serde(default)]
        headers: Map<String, Value>,
    },
    Slack {
        #[serde(alias = "url")]
        webhook_url: String,
        #[serde(default)]
        text: Option<String>,
    },
    Email {
        to: Vec<String>,
        #[serde(default)]
        subject: Option<String>,
        #[serde(default)]
        text: Option<String>,
    },
}

/// Humanitec's `{scope, type}` triggers as hookgate events.
pub fn humanitec_events(scope: &str, kind: &str) -> Option<&'static [&'static str]> {
    match (scope, kind) {
        ("deployment", "started") => Some(&["run.started"]),
        ("deployment", "finished") => Some(&[
            "run.succeeded",
            "run.failed",
            "run.cancelled",
            "run.timed_out",
            "run.superseded",
            "run.rejected",
        ]),
        ("environment", "created") => Some(&["pipeline.created"]),
        ("environment", "deleted") => Some(&["pipeline.deleted"]),
        _ => None,
    }
}

/// A hookgate event in Humanitec's `${event}` form (`deployment.finished`), if it has one.
pub fn humanitec_event_name(event: &str) -> Option<&'static str> {
    match event {
        "run.started" => Some("deployment.started"),
        "pipeline.created" => Some("environment.created"),
        "pipeline.deleted" => Some("environment.deleted"),
        e if humanitec_events("deployment", "finished").is_some_and(|l| l.contains(&e)) => {
            Some("deployment.finished")
        }
        _ => None,
    }
}
