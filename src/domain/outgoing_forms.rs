//! The request forms an outgoing hook may be created in (SPEC §6): hookgate's own, and the
//! seeds' bodies as they are (Humanitec, Mendix, Mixpeek). A body is read as one form by its
//! fields, then deserialized strictly into that form's type; mixing forms is a 422.

use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::FieldError;

mod seeds;
pub use seeds::{humanitec_event_name, humanitec_events};
use seeds::{HumanitecIn, MendixIn, MixpeekChannel, MixpeekIn};

/// Which form a body was sent in; kept with the hook so reads answer in the same form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    Hookgate,
    Humanitec,
    Mendix,
    Mixpeek,
}

impl Form {
    pub fn as_str(self) -> &'static str {
        match self {
            Form::Hookgate => "hookgate",
            Form::Humanitec => "humanitec",
            Form::Mendix => "mendix",
            Form::Mixpeek => "mixpeek",
        }
    }

    pub fn parse(s: Option<&str>) -> Form {
        match s {
            Some("humanitec") => Form::Humanitec,
            Some("mendix") => Form::Mendix,
            Some("mixpeek") => Form::Mixpeek,
            _ => Form::Hookgate,
        }
    }
}

pub(super) fn yes() -> bool {
    true
}

/// hookgate's own form of `POST /pipelines/{pl}/hooks/outgoing` (and of `PUT /hooks/{oh}`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OutgoingIn {
    pub name: String,
    /// `webhook` (default), `slack` or `email`.
    #[serde(default)]
    pub channel: Option<String>,
    /// `webhook` and `slack`: must be `https` and public, unless
    /// `HOOKGATE_ALLOW_PRIVATE_TARGETS=true`.
    #[serde(default)]
    pub url: String,
    /// Extra request headers (string values). A value may use `${secrets.NAME}` (a pipeline
    /// secret): it is sent, never shown, and redacted in the attempts log.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub headers: Map<String, Value>,
    /// Events to send: `run.queued`, `run.started`, `run.approval_requested`, `run.succeeded`,
    /// `run.failed`, `run.cancelled`, `run.timed_out`, `run.superseded`, `run.rejected`,
    /// `pipeline.created|updated|deleted`, `delivery.rejected|ignored`. Default: the seven
    /// `run.*` events of a run without approvals.
    #[serde(default)]
    pub triggers: Option<Vec<String>>,
    /// `webhook` only: a JSON template for the body (`${name}` variables); without it (and
    /// without `payload_template`) the envelope is sent.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub payload: Option<Value>,
    /// Instead of `payload`: a Jinja2 template rendering the body (for `webhook`, valid JSON).
    #[serde(default)]
    pub payload_template: Option<String>,
    /// `slack` and `email`: the message template.
    #[serde(default)]
    pub text: Option<String>,
    /// `email`: the recipients.
    #[serde(default)]
    pub to: Vec<String>,
    /// `email`: the subject template.
    #[serde(default)]
    pub subject: Option<String>,
    /// 1 to 60, default 10.
    #[serde(default)]
    pub timeout_secs: Option<u64>,
    #[serde(default = "yes")]
    pub is_active: bool,
    /// The signing secret: `whsec_…` (Standard Webhooks) or any string of at least 32
    /// characters; generated when absent. Shown once either way.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub secret: Option<SecretString>,
    /// Also send the secret in this header, for receivers that cannot check an HMAC.
    #[serde(default)]
    pub secret_header: Option<String>,
}

/// A body read in its form: the hooks to create (Mixpeek: one per channel), what to say about
/// event names hookgate does not send (Mendix's own), and the body to read back (secrets out).
#[derive(Debug)]
pub struct Read {
    pub form: Form,
    pub hooks: Vec<OutgoingIn>,
    pub warnings: Vec<FieldError>,
    /// Per hook: the request as it will be read back (no secret), `None` for hookgate's form.
    pub docs: Vec<Option<Value>>,
}

/// The fields that say which form a body is in.
fn markers(body: &Map<String, Value>) -> Vec<(Form, &'static str)> {
    let mut found = Vec::new();
    let has = |k: &str| body.contains_key(k);
    for k in ["id"] {
        if has(k) {
            found.push((Form::Humanitec, k));
        }
    }
    for k in ["eventTypes", "isActive", "validationSecret"] {
        if has(k) {
            found.push((Form::Mendix, k));
        }
    }
    for k in ["event_types", "channels", "timeout"] {
        if has(k) {
            found.push((Form::Mixpeek, k));
        }
    }
    for k in [
        "channel",
        "text",
        "to",
        "subject",
        "timeout_secs",
        "is_active",
        "secret",
        "secret_header",
    ] {
        if has(k) {
            found.push((Form::Hookgate, k));
        }
    }
    match body.get("triggers").and_then(Value::as_array) {
        Some(items) if items.iter().any(Value::is_object) => {
            found.push((Form::Humanitec, "triggers as {scope, type}"))
        }
        Some(items) if !items.is_empty() => found.push((Form::Hookgate, "triggers as names")),
        _ => {}
    }
    if body.get("headers").is_some_and(Value::is_array) {
        found.push((Form::Mendix, "headers as [{key, value}]"));
    }
    found
}

/// Which form `body` is in; a 422 when it mixes forms.
pub fn detect(body: &Map<String, Value>) -> Result<Form, FieldError> {
    let found = markers(body);
    let mut forms: Vec<Form> = found.iter().map(|(f, _)| *f).collect();
    forms.dedup();
    forms.sort_by_key(|f| f.as_str());
    forms.dedup();
    match forms.as_slice() {
        [] => Ok(Form::Hookgate),
        [one] => Ok(*one),
        _ => {
            let said: Vec<String> = forms
                .iter()
                .map(|f| {
                    let fields: Vec<&str> = found
                        .iter()
                        .filter(|(g, _)| g == f)
                        .map(|(_, k)| *k)
                        .collect();
                    format!("the {} form ({})", f.as_str(), fields.join(", "))
                })
                .collect();
            Err(FieldError::new(
                "body",
                format!("mixes {}: send one form", said.join(" with ")),
            ))
        }
    }
}

fn strict<T: serde::de::DeserializeOwned>(body: Value) -> Result<T, Vec<FieldError>> {
    super::body_problem::read_value(body).map_err(|e| vec![e])
}

/// Reads `body` in whichever form it is in. `known_events` are the events hookgate sends.
pub fn read(body: Value, known_events: &[&str]) -> Result<Read, Vec<FieldError>> {
    let Value::Object(map) = &body else {
        return Err(vec![FieldError::new("body", "must be a JSON object")]);
    };
    let form = detect(map).map_err(|e| vec![e])?;
    let mut doc = body.clone();
    match form {
        Form::Hookgate => Ok(Read {
            form,
            hooks: vec![strict(body)?],
            warnings: Vec::new(),
            docs: vec![None],
        }),
        Form::Humanitec => {
            let h: HumanitecIn = strict(body)?;
            let mut triggers = Vec::new();
            let mut errors = Vec::new();
            for (i, t) in h.triggers.iter().enumerate() {
                match humanitec_events(&t.scope, &t.kind) {
                    Some(events) => triggers.extend(events.iter().map(|e| e.to_string())),
                    None => errors.push(FieldError::new(
                        format!("triggers[{i}]"),
                        "hookgate sends deployment started|finished and environment created|deleted",
                    )),
                }
            }
            if !errors.is_empty() {
                return Err(errors);
            }
            // Humanitec takes URLs without a scheme: https is the only one it allows.
            let url = if h.url.contains("://") {
                h.url
            } else {
                format!("https://{}", h.url)
            };
            Ok(Read {
                form,
                hooks: vec![OutgoingIn {
                    name: h.id,
                    url,
                    headers: h.headers,
                    triggers: Some(triggers),
                    payload: h.payload,
                    ..native_defaults()
                }],
                warnings: Vec::new(),
                docs: vec![Some(doc)],
            })
        }
        Form::Mendix => {
            let m: MendixIn = strict(body)?;
            let mut warnings = Vec::new();
            let mut triggers = Vec::new();
            for (i, e) in m.event_types.iter().enumerate() {
                if known_events.contains(&e.as_str()) {
                    triggers.push(e.clone());
                } else {
                    warnings.push(FieldError::new(
                        format!("eventTypes[{i}]"),
                        format!(
                            "{e} is not an event hookgate sends: this hook is never called for it"
                        ),
                    ));
                }
            }
            if let Some(o) = doc.as_object_mut() {
                o.remove("validationSecret");
            }
            Ok(Read {
                form,
                hooks: vec![OutgoingIn {
                    name: m.name,
                    url: m.url,
                    headers: m
                        .headers
                        .into_iter()
                        .map(|kv| (kv.key, Value::String(kv.value)))
                        .collect(),
                    // Only unknown names: the hook stays, and is called for none of them.
                    triggers: Some(triggers),
                    is_active: m.is_active,
                    secret: m.validation_secret,
                    ..native_defaults()
                }],
                warnings,
                docs: vec![Some(doc)],
            })
        }
        Form::Mixpeek => {
            let m: MixpeekIn = strict(body)?;
            let channel_docs: Vec<Value> = doc
                .get("channels")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            if m.channels.is_empty() {
                return Err(vec![FieldError::new(
                    "channels",
                    "name at least one channel",
                )]);
            }

            let mut hooks = Vec::new();
            let mut docs = Vec::new();
            for (i, c) in m.channels.into_iter().enumerate() {
                let mut hook = OutgoingIn {
                    triggers: Some(m.event_types.clone()),
                    payload_template: m.payload_template.clone(),
                    timeout_secs: m.timeout,
                    ..native_defaults()
                };
                match c {
                    MixpeekChannel::Webhook { url, headers } => {
                        hook.channel = Some("webhook".into());
                        hook.url = url;
                        hook.headers = headers;
                    }
                    MixpeekChannel::Slack { webhook_url, text } => {
                        hook.channel = Some("slack".into());
                        hook.url = webhook_url;
                        hook.text = text;
                        // Slack sends { "text": … }: Mixpeek's template is for the webhook body.
                        hook.payload_template = None;
                    }
                    MixpeekChannel::Email { to, subject, text } => {
                        hook.channel = Some("email".into());
                        hook.to = to;
                        hook.subject = subject;
                        hook.text = text;
                        hook.payload_template = None;
                    }
                }
                hook.name = format!(
                    "mixpeek {} {}",
                    hook.channel.as_deref().unwrap_or(""),
                    i + 1
                );
                let mut one = doc.clone();
                one["channels"] =
                    Value::Array(vec![channel_docs.get(i).cloned().unwrap_or_default()]);
                hooks.push(hook);
                docs.push(Some(one));
            }
            Ok(Read {
                form,
                hooks,
                warnings: Vec::new(),
                docs,
            })
        }
    }
}

fn native_defaults() -> OutgoingIn {
    OutgoingIn {
        name: String::new(),
        channel: None,
        url: String::new(),
        headers: Map::new(),
        triggers: None,
        payload: None,
        payload_template: None,
        text: None,
        to: Vec::new(),
        subject: None,
        timeout_secs: None,
        is_active: true,
        secret: None,
        secret_header: None,
    }
}

#[cfg(test)]
mod tests;
