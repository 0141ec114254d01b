//! What an outgoing hook sends: the run snapshot stored with each event, the template
//! variables, the default envelope, a `payload` template or Slack's `{ "text": … }`.

use serde_json::{json, Map, Value};

use crate::domain::template::{self, TemplateError};
use crate::domain::time::rfc3339;
use crate::store::{OutgoingEventRow, OutgoingHookRow};

pub use crate::domain::run::{DEFAULT_TRIGGERS, EVENTS};

/// The names every outgoing template may use, besides the pipeline's variables.
pub const TEMPLATE_NAMES: &[&str] = &[
    "event",
    "event_id",
    "run_id",
    "pipeline_id",
    "pipeline_name",
    "project_id",
    "status",
    "triggered_at",
    "triggered_by",
    "comment",
    "decided_by",
    "message",
    "hook_id",
    "count",
    "reason",
];

/// The Humanitec form's template names (SPEC §6): `${app_id}` and `${org_id}` are the project
/// id, `${env_id}` the pipeline id, `${name}` its name, `${deploy_id}` the run id.
pub const HUMANITEC_ALIASES: &[&str] = &["app_id", "env_id", "name", "deploy_id", "org_id"];

/// The Slack text when a hook gives none.
pub const DEFAULT_SLACK_TEXT: &str = "${pipeline_name} run ${run_id}: ${status}";

fn time_or_null(v: &Value) -> Value {
    v.as_i64()
        .map_or(Value::Null, |ms| Value::String(rfc3339(ms)))
}

/// The variables templates render with: the run's variables, then the built-in names (which
/// win over a run variable of the same name).
pub fn template_vars(event: &OutgoingEventRow, snap: &Value) -> Map<String, Value> {
    let mut vars = snap
        .get("variables")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let s = |k: &str| snap.get(k).cloned().unwrap_or(Value::Null);
    vars.insert("event".into(), Value::String(event.event.clone()));
    vars.insert("event_id".into(), Value::String(event.id.clone()));
    vars.insert("run_id".into(), s("run_id"));
    vars.insert("pipeline_id".into(), s("pipeline_id"));
    vars.insert("pipeline_name".into(), s("pipeline_name"));
    vars.insert("project_id".into(), s("project_id"));
    vars.insert("status".into(), s("status"));
    vars.insert("triggered_at".into(), time_or_null(&s("created_at")));
    vars.insert("triggered_by".into(), s("triggered_by"));
    // delivery.rejected / delivery.ignored: which incoming hook, how many, the last reason.
    for k in ["hook_id", "count", "reason"] {
        vars.insert(k.into(), s(k));
    }
    let approval = snap.get("approval");
    let from_approval = |k: &str| approval.and_then(|a| a.get(k)).filter(|v| !v.is_null());
    // `${comment}`: the approver's comment when there is one, else the run's reason.
    vars.insert(
        "comment".into(),
        from_approval("comment")
            .cloned()
            .unwrap_or_else(|| s("reason")),
    );
    vars.insert(
        "decided_by".into(),
        from_approval("decided_by").cloned().unwrap_or(Value::Null),
    );
    vars.insert(
        "message".into(),
        from_approval("message").cloned().unwrap_or(Value::Null),
    );
    vars
}

/// The body sent without a `payload` template.
pub fn envelope(event: &OutgoingEventRow, snap: &Value) -> Value {
    let s = |k: &str| snap.get(k).cloned().unwrap_or(Value::Null);
    let mut body = json!({
        "event_id": event.id,
        "event": event.event,
        "occurred_at": rfc3339(event.occurred_at),
        "project": { "id": s("project_id"), "name": s("project_name") },
        "pipeline": { "id": s("pipeline_id"), "name": s("pipeline_name") },
        "run": {
            "id": s("run_id"),
            "status": s("status"),
            "reason": s("reason"),
            "variables": s("variables"),
            "triggered_by": s("triggered_by"),
            "created_at": time_or_null(&s("created_at")),
            "started_at": time_or_null(&s("started_at")),
            "finished_at": time_or_null(&s("finished_at")),
        },
    });
    if let Some(approval) = snap.get("approval") {
        body["run"]["approval"] = approval.clone();
    }
    // Events that are not about a run carry no `run`; a delivery alert says what happened.
    match snap.get("kind").and_then(Value::as_str) {
        Some("pipeline") => {
            if let Some(o) = body.as_object_mut() {
                o.remove("run");
            }
        }
        Some("delivery") => {
            if let Some(o) = body.as_object_mut() {
                o.remove("run");
                o.insert(
                    "deliveries".into(),
                    json!({ "hook_id": s("hook_id"), "hook_name": s("hook_name"), "count": s("count"),
                            "last_reason": s("reason"), "minute_start": s("minute_start") }),
                );
            }
        }
        _ => {}
    }
    body
}

/// The variables of `event` for `hook`: with the Humanitec form's aliases for its hooks.
fn vars_for(
    hook: &OutgoingHookRow,
    event: &OutgoingEventRow,
) -> Result<(Value, Map<String, Value>), String> {
    let snap: Value = serde_json::from_str(&event.snapshot)
        .map_err(|e| format!("the stored run snapshot is not JSON: {e}"))?;
    let mut vars = template_vars(event, &snap);
    if hook.request_form.as_deref() == Some("humanitec") {
        let get = |k: &str| vars.get(k).cloned().unwrap_or(Value::Null);
        let aliases = [
            ("app_id", get("project_id")),
            ("org_id", get("project_id")),
            ("env_id", get("pipeline_id")),
            ("name", get("pipeline_name")),
            ("deploy_id", get("run_id")),
        ];
        for (k, v) in aliases {
            vars.insert(k.into(), v);
        }
        if let Some(e) = crate::domain::outgoing_forms::humanitec_event_name(&event.event) {
            vars.insert("event".into(), Value::String(e.into()));
        }
    }
    Ok((snap, vars))
}

/// The default mail: for an approval request, what to decide and how; else the run's status.
const DEFAULT_SUBJECT: &str = "${pipeline_name}: ${event} (${status})";
const DEFAULT_MAIL: &str = "${pipeline_name} run ${run_id}: ${status}";
const DEFAULT_APPROVAL_MAIL: &str =
    "${message}\n\nRun ${run_id} of ${pipeline_name} waits for an approval.\n\
     Approve: POST /api/v1/runs/${run_id}/approve\nReject: POST /api/v1/runs/${run_id}/reject\n";

/// The subject and text of the mail an event sends to an email hook.
pub fn mail(hook: &OutgoingHookRow, event: &OutgoingEventRow) -> Result<(String, String), String> {
    let (_, vars) = vars_for(hook, event)?;
    let bad = |e: TemplateError| format!("the template does not render: {e}");
    let default_text = if event.event == "run.approval_requested" {
        DEFAULT_APPROVAL_MAIL
    } else {
        DEFAULT_MAIL
    };
    let subject = template::render(
        hook.subject_template.as_deref().unwrap_or(DEFAULT_SUBJECT),
        &vars,
    )
    .map_err(bad)?;
    let text = template::render(hook.text_template.as_deref().unwrap_or(default_text), &vars)
        .map_err(bad)?;
    // A subject is one line.
    Ok((subject.replace(['\r', '\n'], " "), text))
}

/// The URL an event goes to: the hook's, with its `${…}` names filled in (each value
/// percent-encoded, so a value cannot change the host or the path's shape).
pub fn url(hook: &OutgoingHookRow, event: &OutgoingEventRow) -> Result<String, String> {
    if !hook.url.contains("${") {
        return Ok(hook.url.clone());
    }
    let (_, vars) = vars_for(hook, event)?;
    let encoded: Map<String, Value> = vars
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                Value::String(percent_encode(&template::value_as_text(v))),
            )
        })
        .collect();
    template::render(&hook.url, &encoded).map_err(|e| format!("the url does not render: {e}"))
}

/// Every byte but RFC 3986's unreserved ones as `%XX`.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The JSON body an event sends to a hook.
pub fn body(hook: &OutgoingHookRow, event: &OutgoingEventRow) -> Result<Value, String> {
    let (snap, vars) = vars_for(hook, event)?;
    if let Some(t) = &hook.payload_template {
        let rendered =
            super::jinja::render(t, &super::jinja::context(&vars, &envelope(event, &snap)))?;
        return serde_json::from_str(&rendered)
            .map_err(|e| format!("the payload_template rendered a body that is not JSON: {e}"));
    }
    let bad = |e: TemplateError| format!("the template does not render: {e}");
    if hook.channel == "slack" {
        let text = template::render(
            hook.text_template.as_deref().unwrap_or(DEFAULT_SLACK_TEXT),
            &vars,
        )
        .map_err(bad)?;
        return Ok(json!({ "text": text }));
    }
    match &hook.payload {
        None => Ok(envelope(event, &snap)),
        Some(p) => {
            let tpl: Value = serde_json::from_str(p)
                .map_err(|e| format!("the stored payload template is not JSON: {e}"))?;
            template::render_json(&tpl, &|n: &str| vars.get(n)).map_err(bad)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::RunRow;

    fn run() -> RunRow {
        RunRow {
            id: "run_1".into(),
            pipeline_id: "pl_1".into(),
            project_id: "prj_1".into(),
            hook_id: None,
            delivery_id: None,
            status: crate::domain::run_status::RunStatus::Succeeded,
            reason: None,
            variables: r#"{"git_ref":"main","n":3}"#.into(),
            triggered_by: "manual:tok_1".into(),
            concurrency_key: None,
            attempt: 1,
            lease_expires_at: None,
            created_at: 1_700_000_000_000,
            started_at: Some(1_700_000_001_000),
            finished_at: Some(1_700_000_002_000),
            worker_id: None,
            cancel_requested: false,
            max_attempts: 1,
            concurrency_policy: None,
            concurrency_max: None,
        }
    }

    fn event() -> OutgoingEventRow {
        OutgoingEventRow {
            id: "evt_1".into(),
            hook_id: "oh_1".into(),
            run_id: "run_1".into(),
            event: "run.succeeded".into(),
            ordinal: 2,
            occurred_at: 1_700_000_002_000,
            snapshot: run().snapshot("deploy-api", "acme").to_json(),
            status: "pending".into(),
            attempts: 0,
            next_attempt_at: 0,
            last_error: None,
            finished_at: None,
            created_at: 0,
        }
    }

    fn hook(channel: &str, payload: Option<&str>, text: Option<&str>) -> OutgoingHookRow {
        OutgoingHookRow {
            id: "oh_1".into(),
            pipeline_id: "pl_1".into(),
            project_id: "prj_1".into(),
            name: "n".into(),
            channel: channel.into(),
            url: "https://example.com".into(),
            headers: "{}".into(),
            triggers: "[]".into(),
            payload: payload.map(str::to_string),
            text_template: text.map(str::to_string),
            timeout_secs: 10,
            is_active: true,
            disabled_reason: None,
            secret_ct: vec![],
            secret_last4: "abcd".into(),
            prev_secret_ct: None,
            prev_secret_expires_at: None,
            created_at: 0,
            updated_at: 0,
            email_to: None,
            subject_template: None,
            payload_template: None,
            secret_header: None,
            request_form: None,
            request_doc: None,
        }
    }

    #[test]
    fn envelope_by_default() {
        let b = body(&hook("webhook", None, None), &event()).unwrap();
        assert_eq!(b["event_id"], "evt_1");
        assert_eq!(b["event"], "run.succeeded");
        assert_eq!(b["project"], json!({"id": "prj_1", "name": "acme"}));
        assert_eq!(b["pipeline"], json!({"id": "pl_1", "name": "deploy-api"}));
        assert_eq!(b["run"]["id"], "run_1");
        assert_eq!(b["run"]["status"], "succeeded");
        assert_eq!(b["run"]["variables"], json!({"git_ref": "main", "n": 3}));
        assert!(b["run"]["started_at"]
            .as_str()
            .unwrap()
            .starts_with("2023-"));
    }

    #[test]
    fn humanitec_payload_renders_as_written() {
        let tpl = r#"{"application": "${pipeline_name}", "deployment": "${run_id}", "status": "${status}"}"#;
        let b = body(&hook("webhook", Some(tpl), None), &event()).unwrap();
        assert_eq!(
            serde_json::to_string(&b).unwrap(),
            r#"{"application":"deploy-api","deployment":"run_1","status":"succeeded"}"#
        );
        let typed = body(
            &hook(
                "webhook",
                Some(r#"{"n": "${n}", "r": "ref ${git_ref}"}"#),
                None,
            ),
            &event(),
        )
        .unwrap();
        assert_eq!(typed, json!({"n": 3, "r": "ref main"}));
    }

    #[test]
    fn slack_text() {
        let b = body(&hook("slack", None, None), &event()).unwrap();
        assert_eq!(b, json!({"text": "deploy-api run run_1: succeeded"}));
        let b = body(
            &hook("slack", None, Some("${event} by ${triggered_by}")),
            &event(),
        )
        .unwrap();
        assert_eq!(b, json!({"text": "run.succeeded by manual:tok_1"}));
    }
}
