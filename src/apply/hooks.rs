//! Planning a pipeline's incoming and outgoing hooks. A hook is known by its name on its
//! pipeline; its id, and so its URL, never changes across applies.

use std::collections::HashSet;

use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use super::document::{prefixed, DesiredPipeline};
use super::plan::{changed_keys, same_secret, Acc};
use super::report::{Action, Change, ShownSecret};
use crate::api::hooks::{generate_secret, hook_url, HookDraft};
use crate::api::outgoing::{
    generate_secret as generate_outgoing_secret, template_names, validate, OutgoingIn,
};
use crate::crypto::{last4, SealContext};
use crate::domain::hook::HookConfig;
use crate::domain::FieldError;
use crate::store::{HookRow, OutgoingHookRow};

/// What a pipeline's templates may use from its hooks: the variables of the hooks in the file
/// and of the hooks on the server that stay.
pub struct Siblings {
    pub hook_variables: HashSet<String>,
}

fn config_of(row: &HookRow) -> Option<HookConfig> {
    serde_json::from_str(&row.config).ok()
}

impl Siblings {
    pub fn of(acc: &Acc<'_>, pipeline_id: &str, dp: &DesiredPipeline) -> Self {
        let listed: HashSet<&str> = dp.incoming.iter().map(|d| d.name.as_str()).collect();
        let mut hook_variables: HashSet<String> = dp
            .incoming
            .iter()
            .flat_map(|d| d.config.settings.variables.iter().map(|v| v.name.clone()))
            .collect();
        for row in hooks_on(acc, pipeline_id) {
            let pruned = acc.cx.prune && acc.managed(&row.id);
            if !listed.contains(row.name.as_str()) && !pruned {
                if let Some(c) = config_of(row) {
                    hook_variables.extend(c.settings.variables.into_iter().map(|v| v.name));
                }
            }
        }
        Self { hook_variables }
    }
}

fn hooks_on<'a>(acc: &Acc<'a>, pipeline_id: &'a str) -> impl Iterator<Item = &'a HookRow> {
    acc.state
        .into_iter()
        .flat_map(|s| s.hooks.iter())
        .filter(move |h| h.pipeline_id == pipeline_id)
}

fn outgoing_on<'a>(
    acc: &Acc<'a>,
    pipeline_id: &'a str,
) -> impl Iterator<Item = &'a OutgoingHookRow> {
    acc.state
        .into_iter()
        .flat_map(|s| s.outgoing.iter())
        .filter(move |h| h.pipeline_id == pipeline_id)
}

/// The one object named `name`, or an error when the server has several (made through the API,
/// which does not require unique hook names).
fn by_name<'a, T>(
    found: Vec<&'a T>,
    field: String,
    errors: &mut Vec<FieldError>,
) -> Result<Option<&'a T>, ()> {
    if found.len() > 1 {
        errors.push(FieldError::new(
            field,
            format!(
                "{} hooks on the server have this name: rename or delete all but one through the API",
                found.len()
            ),
        ));
        return Err(());
    }
    Ok(found.first().copied())
}

/// A hook's settings as compared: a preset ignores the generic signature settings.
fn comparable(provider: &str, config: &HookConfig) -> Value {
    let mut c = config.clone();
    if provider != "generic" {
        let d = HookConfig::default();
        c.secret_algorithm = d.secret_algorithm;
        c.secret_header_name = d.secret_header_name;
    }
    serde_json::to_value(c).unwrap_or_default()
}

pub fn plan_incoming(
    acc: &mut Acc<'_>,
    drafts: Vec<HookDraft>,
    pipeline: &str,
    pipeline_id: &str,
    prefix: &str,
) {
    let existing: Vec<HookRow> = hooks_on(acc, pipeline_id).cloned().collect();
    let listed: HashSet<String> = drafts.iter().map(|d| d.name.clone()).collect();
    let (key, now) = (acc.cx.key, acc.cx.now);
    for (j, draft) in drafts.into_iter().enumerate() {
        let found = existing.iter().filter(|h| h.name == draft.name).collect();
        let Ok(old) = by_name(
            found,
            format!("{prefix}.incoming[{j}].name"),
            &mut acc.errors,
        ) else {
            continue;
        };
        let mut c = Change::new("incoming_hook", Some(pipeline), &draft.name, Action::Create);
        let row = match old {
            None => {
                let (secret, generated) = match &draft.secret {
                    Some(s) => (s.clone(), false),
                    None => (generate_secret(&draft.provider), true),
                };
                let Ok(row) = draft.new_row(key, pipeline_id, &acc.project_id, &secret, now) else {
                    continue;
                };
                c.secret = Some(if generated { "(generated)" } else { "(set)" });
                if generated {
                    acc.generated.push(shown(
                        acc,
                        pipeline,
                        "incoming_hook",
                        &row.name,
                        &row.id,
                        &secret,
                    ));
                    acc.generated.last_mut().expect("pushed").url =
                        Some(hook_url(acc.cx.public_url, &row.id));
                }
                acc.batch.mark_managed.push(row.id.clone());
                acc.batch.insert_hooks.push(row.clone());
                row
            }
            Some(old) => {
                let mut row = old.clone();
                let old_config = config_of(old).unwrap_or_default();
                c.fields = changed_keys(
                    &comparable(&old.provider, &old_config),
                    &comparable(&draft.provider, &draft.config),
                );
                if old.provider != draft.provider {
                    c.fields.push("provider".into());
                }
                if old.is_active != draft.is_active {
                    c.fields.push("is_active".into());
                }
                row.provider = draft.provider.clone();
                row.is_active = draft.is_active;
                row.config = serde_json::to_string(&draft.config).unwrap_or_default();
                c.secret = Some("(unchanged)");
                if let Some(s) = &draft.secret {
                    let context = SealContext::IncomingHook(&old.id);
                    if !same_secret(key, &context, &old.secret_ct, s.expose_secret()) {
                        c.secret = Some("(changed)");
                        c.fields.push("secret".into());
                        row.secret_ct = key.seal(&context, s.expose_secret().as_bytes());
                        row.secret_last4 = last4(s.expose_secret());
                        row.prev_secret_ct = None;
                        row.prev_secret_expires_at = None;
                    }
                }
                c.action = if c.fields.is_empty() {
                    Action::Unchanged
                } else {
                    row.updated_at = now;
                    acc.batch.update_hooks.push(row.clone());
                    Action::Update
                };
                row
            }
        };
        c.id = Some(row.id.clone());
        c.url = Some(hook_url(acc.cx.public_url, &row.id));
        acc.changes.push(c);
    }
    for old in existing.iter().filter(|h| !listed.contains(&h.name)) {
        let mut c = Change::new("incoming_hook", Some(pipeline), &old.name, Action::Kept);
        c.id = Some(old.id.clone());
        if acc.unlisted(c, &old.id) {
            acc.batch.delete_hooks.push(old.id.clone());
        }
    }
}

fn shown(
    acc: &Acc<'_>,
    pipeline: &str,
    kind: &'static str,
    name: &str,
    id: &str,
    secret: &SecretString,
) -> ShownSecret {
    ShownSecret {
        project: acc.project.clone(),
        pipeline: pipeline.to_string(),
        kind,
        name: name.to_string(),
        id: id.to_string(),
        url: None,
        secret: secret.expose_secret().to_string(),
    }
}

fn json_of(text: Option<&str>) -> Value {
    text.and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or(Value::Null)
}

/// The fields of an outgoing hook that a file sets.
fn outgoing_fields(h: &OutgoingHookRow) -> Value {
    serde_json::json!({
        "channel": h.channel, "url": h.url, "headers": json_of(Some(&h.headers)),
        "triggers": json_of(Some(&h.triggers)), "payload": json_of(h.payload.as_deref()),
        "text": h.text_template, "timeout_secs": h.timeout_secs, "is_active": h.is_active,
        "to": json_of(h.email_to.as_deref()), "subject": h.subject_template,
        "payload_template": h.payload_template, "secret_header": h.secret_header,
    })
}

pub fn plan_outgoing(
    acc: &mut Acc<'_>,
    hooks: Vec<OutgoingIn>,
    pipeline: &str,
    pipeline_id: &str,
    declared: Vec<String>,
    siblings: &Siblings,
    prefix: &str,
) {
    let existing: Vec<OutgoingHookRow> = outgoing_on(acc, pipeline_id).cloned().collect();
    let known = template_names(declared, siblings.hook_variables.iter().cloned());
    let mut listed = HashSet::new();
    let (key, now) = (acc.cx.key, acc.cx.now);
    for (k, hook) in hooks.into_iter().enumerate() {
        let at = format!("{prefix}.outgoing[{k}]");
        if hook.secret.is_some() {
            // Refused rather than ignored: a file that names a secret must not get another.
            acc.errors.push(FieldError::new(
                format!("{at}.secret"),
                "apply does not set outgoing-hook secrets yet: leave it out (one is generated \
                 and printed once) and rotate it through the API",
            ));
            continue;
        }
        let secret = generate_outgoing_secret();
        let new = hook.new_row(key, pipeline_id, &acc.project_id, &secret, now);
        listed.insert(new.name.clone());
        let errors = validate(&new, &known, acc.cx.allow_private);
        if !errors.is_empty() {
            acc.errors.extend(prefixed(&at, errors));
            continue;
        }
        let found = existing.iter().filter(|h| h.name == new.name).collect();
        let Ok(old) = by_name(found, format!("{at}.name"), &mut acc.errors) else {
            continue;
        };
        let mut c = Change::new("outgoing_hook", Some(pipeline), &new.name, Action::Create);
        match old {
            None => {
                c.secret = Some("(generated)");
                c.id = Some(new.id.clone());
                acc.generated.push(shown(
                    acc,
                    pipeline,
                    "outgoing_hook",
                    &new.name,
                    &new.id,
                    &secret,
                ));
                acc.batch.mark_managed.push(new.id.clone());
                acc.batch.insert_outgoing.push(new);
            }
            Some(old) => {
                c.id = Some(old.id.clone());
                c.fields = changed_keys(&outgoing_fields(old), &outgoing_fields(&new));
                if c.fields.is_empty() {
                    c.action = Action::Unchanged;
                } else {
                    c.action = Action::Update;
                    let mut row = old.clone();
                    row.channel = new.channel;
                    row.url = new.url;
                    row.headers = new.headers;
                    row.triggers = new.triggers;
                    row.payload = new.payload;
                    row.text_template = new.text_template;
                    row.timeout_secs = new.timeout_secs;
                    row.email_to = new.email_to;
                    row.subject_template = new.subject_template;
                    row.payload_template = new.payload_template;
                    row.secret_header = new.secret_header;
                    if new.is_active && !old.is_active {
                        row.disabled_reason = None;
                    }
                    row.is_active = new.is_active;
                    row.updated_at = now;
                    acc.batch.update_outgoing.push(row);
                }
            }
        }
        acc.changes.push(c);
    }
    for old in existing.iter().filter(|h| !listed.contains(&h.name)) {
        let mut c = Change::new("outgoing_hook", Some(pipeline), &old.name, Action::Kept);
        c.id = Some(old.id.clone());
        if acc.unlisted(c, &old.id) {
            acc.batch.delete_outgoing.push(old.id.clone());
        }
    }
}
