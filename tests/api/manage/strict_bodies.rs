//! Every API route that takes a body refuses an unknown field with a 422 naming it and the
//! closest known field, and names the field of a type error: a typo never turns a rule off.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::TestApp;
use crate::on_both_backends;

on_both_backends!(
    every_route_with_a_body_names_an_unknown_field,
    type_errors_name_the_field
);

/// One request whose body carries a typo: method, path, body, the field reported and the
/// known field suggested.
struct Typo {
    method: Method,
    path: String,
    body: Value,
    field: &'static str,
    closest: &'static str,
}

async fn setup(app: &TestApp) -> (String, String, String, String, String) {
    let prj = app
        .project(&format!("strict-{}", rand::random::<u32>()))
        .await;
    let owner = app.token(&prj, "owner").await;
    let pl = app.pipeline(&prj, &owner, &[]).await;
    let (s, hk) = app
        .post(
            &format!("/api/v1/pipelines/{pl}/hooks/incoming"),
            &owner,
            json!({ "name": "h" }),
        )
        .await;
    assert_eq!(s, 201, "{hk}");
    let (s, oh) = app
        .post(
            &format!("/api/v1/pipelines/{pl}/hooks/outgoing"),
            &owner,
            json!({ "name": "o", "url": "https://example.com/hook" }),
        )
        .await;
    assert_eq!(s, 201, "{oh}");
    let id = |v: &Value| v["id"].as_str().unwrap().to_string();
    (prj, owner, pl, id(&hk), id(&oh))
}

async fn every_route_with_a_body_names_an_unknown_field(app: TestApp) {
    let (prj, owner, pl, hk, oh) = setup(&app).await;
    let step = json!({ "name": "a", "action": "command", "program": "echo" });
    let typos = vec![
        Typo {
            method: Method::POST,
            path: "/api/v1/projects".into(),
            body: json!({ "nmae": "p" }),
            field: "nmae",
            closest: "name",
        },
        Typo {
            method: Method::POST,
            path: format!("/api/v1/projects/{prj}/tokens"),
            body: json!({ "name": "t", "rolee": "member" }),
            field: "rolee",
            closest: "role",
        },
        Typo {
            method: Method::POST,
            path: format!("/api/v1/projects/{prj}/pipelines"),
            body: json!({ "name": "p2", "stpes": [step] }),
            field: "stpes",
            closest: "steps",
        },
        Typo {
            method: Method::PUT,
            path: format!("/api/v1/pipelines/{pl}"),
            body: json!({ "name": "p3", "steps": [{ "name": "a", "action": "command", "program": "echo", "timeout_sec": 5 }] }),
            field: "steps[0].timeout_sec",
            closest: "timeout_secs",
        },
        Typo {
            method: Method::PUT,
            path: format!("/api/v1/pipelines/{pl}/secrets/TOKEN"),
            body: json!({ "vaule": "x" }),
            field: "vaule",
            closest: "value",
        },
        Typo {
            method: Method::POST,
            path: format!("/api/v1/pipelines/{pl}/hooks/incoming"),
            body: json!({ "name": "h2", "setting": {} }),
            field: "setting",
            closest: "settings",
        },
        Typo {
            method: Method::PATCH,
            path: format!("/api/v1/hooks/{hk}"),
            body: json!({ "settings": { "filter": [] } }),
            field: "settings.filter",
            closest: "filters",
        },
        Typo {
            method: Method::POST,
            path: format!("/api/v1/hooks/{hk}/rotate-secret"),
            body: json!({ "grace_period": 1 }),
            field: "grace_period",
            closest: "grace_period_secs",
        },
        Typo {
            method: Method::POST,
            path: format!("/api/v1/hooks/{hk}/test"),
            body: json!({ "bdy": {} }),
            field: "bdy",
            closest: "body",
        },
        Typo {
            method: Method::POST,
            path: format!("/api/v1/pipelines/{pl}/hooks/outgoing"),
            body: json!({ "name": "o2", "urll": "https://example.com" }),
            field: "urll",
            closest: "url",
        },
        Typo {
            method: Method::PATCH,
            path: format!("/api/v1/hooks/{oh}"),
            body: json!({ "triger": ["run.failed"] }),
            field: "triger",
            closest: "triggers",
        },
        Typo {
            method: Method::POST,
            path: format!("/api/v1/hooks/{oh}/rotate-secret"),
            body: json!({ "secrett": "x" }),
            field: "secrett",
            closest: "secret",
        },
        Typo {
            method: Method::POST,
            path: format!("/api/v1/pipelines/{pl}/runs"),
            body: json!({ "variabels": {} }),
            field: "variabels",
            closest: "variables",
        },
    ];
    for t in typos {
        let (s, b) = app
            .call(t.method.clone(), &t.path, Some(&owner), Some(t.body))
            .await;
        let what = format!("{} {}", t.method, t.path);
        assert_eq!(s, 422, "{what}: {b}");
        assert_eq!(b["details"][0]["field"], t.field, "{what}: {b}");
        let problem = b["details"][0]["problem"].as_str().unwrap_or_default();
        assert!(
            problem.contains(&format!("did you mean \"{}\"?", t.closest)),
            "{what}: {b}"
        );
    }
    // Nothing was changed by the refused requests.
    let (_, hook) = app.get(&format!("/api/v1/hooks/{hk}"), &owner).await;
    assert_eq!(hook["settings"]["filters"], json!([]), "{hook}");
}

async fn type_errors_name_the_field(app: TestApp) {
    let (prj, owner, ..) = setup(&app).await;
    let (s, b) = app
        .post(
            &format!("/api/v1/projects/{prj}/pipelines"),
            &owner,
            json!({ "name": "p", "steps": [{ "name": "a", "action": "command", "program": "echo", "timeout_secs": "ten" }] }),
        )
        .await;
    assert_eq!(s, 422, "{b}");
    assert_eq!(b["details"][0]["field"], "steps[0].timeout_secs", "{b}");
    assert!(
        !b.to_string().contains("ten"),
        "the refused value is not repeated: {b}"
    );
    let (s, b) = app
        .call(
            Method::POST,
            &format!("/api/v1/projects/{prj}/pipelines"),
            Some(&owner),
            None,
        )
        .await;
    assert!(s == 400 || s == 422, "{s} {b}");
}
