use serde_json::json;

use super::*;
use crate::domain::run::EVENTS;

/// Humanitec's documented body, with `${SCOPE}`/`${TYPE}`/`${URL}` filled in.
fn humanitec() -> Value {
    json!({ "headers": {}, "id": "my-hook",
        "payload": { "application": "${app_id}", "environment": "${env_id}",
                     "deployment": "${deploy_id}", "status": "${status}" },
        "triggers": [{ "scope": "deployment", "type": "finished" }],
        "url": "example.com/hook" })
}

/// Mendix's documented body, as in its update example.
fn mendix() -> Value {
    json!({ "name": "string", "url": "https://some.domain.com/webhooks",
        "eventTypes": ["teamserver.push"], "isActive": true,
        "validationSecret": "PMJhiGo1nTL6wlNyZVFh5v9rLZdcLsG2O",
        "headers": [{ "key": "Authorization", "value": "Beaerer DG4R4GT6R43" }] })
}

#[test]
fn each_seed_body_is_read_in_its_form() {
    let h = read(humanitec(), EVENTS).unwrap();
    assert_eq!(h.form, Form::Humanitec);
    assert_eq!(h.hooks[0].name, "my-hook");
    assert_eq!(h.hooks[0].url, "https://example.com/hook");
    assert!(h.hooks[0]
        .triggers
        .as_ref()
        .unwrap()
        .contains(&"run.rejected".to_string()));

    let m = read(mendix(), EVENTS).unwrap();
    assert_eq!(m.form, Form::Mendix);
    assert_eq!(m.hooks[0].headers["Authorization"], "Beaerer DG4R4GT6R43");
    assert!(m.hooks[0].secret.is_some());
    assert_eq!(
        m.warnings.len(),
        1,
        "teamserver.push is not a hookgate event"
    );
    assert!(m.docs[0]
        .as_ref()
        .unwrap()
        .get("validationSecret")
        .is_none());

    let x = read(
        json!({ "event_types": ["run.succeeded"], "timeout": 5,
            "payload_template": "{\"id\": \"{{ event_id }}\"}",
            "channels": [{ "type": "webhook", "url": "https://a.example/h" },
                         { "type": "email", "to": ["ops@example.com"], "subject": "{{ event }}" }] }),
        EVENTS,
    )
    .unwrap();
    assert_eq!(x.form, Form::Mixpeek);
    assert_eq!(x.hooks.len(), 2, "one hook per channel");
    assert_eq!(x.hooks[1].channel.as_deref(), Some("email"));
    assert_eq!(x.hooks[0].timeout_secs, Some(5));
}

#[test]
fn mixing_forms_is_refused_naming_both() {
    let mut body = humanitec();
    body["isActive"] = json!(true);
    let e = read(body, EVENTS).unwrap_err();
    assert_eq!(e[0].field, "body");
    assert!(
        e[0].problem.contains("humanitec") && e[0].problem.contains("mendix"),
        "{e:?}"
    );
    let e = read(
        json!({ "name": "x", "url": "https://a", "channel": "webhook", "event_types": [] }),
        EVENTS,
    )
    .unwrap_err();
    assert!(e[0].problem.contains("mixpeek"), "{e:?}");
}

#[test]
fn unknown_fields_are_named_in_each_form() {
    let mut body = mendix();
    body["colour"] = json!("blue");
    let e = read(body, EVENTS).unwrap_err();
    assert_eq!(e[0].field, "colour", "{e:?}");
    let e = read(
        json!({ "name": "x", "url": "https://a", "colour": 1 }),
        EVENTS,
    )
    .unwrap_err();
    assert_eq!(e[0].field, "colour", "{e:?}");
    let e = read(
        json!({ "event_types": [], "channels": [{ "type": "sms", "to": "1" }] }),
        EVENTS,
    )
    .unwrap_err();
    assert!(e[0].problem.contains("sms"), "{e:?}");
}

#[test]
fn humanitec_event_names() {
    assert_eq!(
        humanitec_event_name("run.failed"),
        Some("deployment.finished")
    );
    assert_eq!(
        humanitec_event_name("run.started"),
        Some("deployment.started")
    );
    assert_eq!(
        humanitec_event_name("pipeline.deleted"),
        Some("environment.deleted")
    );
    assert_eq!(humanitec_event_name("run.queued"), None);
}
