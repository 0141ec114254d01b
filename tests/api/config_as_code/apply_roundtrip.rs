//! Property test (SPEC §8): random configurations (pipelines; incoming hooks of every provider;
//! outgoing hooks of every channel; secrets) → apply → export → apply changes nothing.

use std::collections::HashMap;

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{json, Value};

use super::apply::{apply, fill};
use crate::helpers::TestApp;

crate::on_both_backends!(apply_export_apply_changes_nothing);

/// Random configurations per backend: enough to meet every provider and channel, small enough
/// to run in seconds.
const CASES: usize = 24;

const PROVIDERS: &[&str] = &[
    "generic",
    "github",
    "gitlab",
    "bitbucket",
    "gitea",
    "stripe",
    "shopify",
    "slack",
    "paddle",
    "standard-webhooks",
];
const EVENTS: &[&str] = &["run.queued", "run.started", "run.succeeded", "run.failed"];

fn secret() -> impl Strategy<Value = String> {
    "[A-Za-z0-9]{32,40}"
}

fn incoming() -> impl Strategy<Value = Value> {
    (
        0..PROVIDERS.len(),
        proptest::option::of(secret()),
        any::<bool>(),
        any::<bool>(),
        proptest::option::of(1u32..500),
        prop_oneof![Just("sha1"), Just("sha256"), Just("sha512")],
    )
        .prop_map(|(p, secret, active, filtered, rate, algorithm)| {
            let mut h = json!({ "provider": PROVIDERS[p], "is_active": active,
                "settings": { "variables": [{ "name": "ref", "path": "ref", "default_value": "main" }] } });
            if let Some(s) = secret {
                h["secret"] = json!(s);
            }
            if filtered {
                h["settings"]["filters"] = json!([{ "variable": "ref", "matches": "^(main|release/.*)$" }]);
            }
            if let Some(r) = rate {
                h["rate_limit_per_minute"] = json!(r);
            }
            if PROVIDERS[p] == "generic" {
                h["secret_algorithm"] = json!(algorithm);
            }
            h
        })
}

fn outgoing() -> impl Strategy<Value = Value> {
    (
        0u8..4,
        proptest::sample::subsequence(EVENTS, 1..=EVENTS.len()),
        1i64..60,
        any::<bool>(),
    )
        .prop_map(|(channel, triggers, timeout, active)| {
            let mut o = json!({ "url": "https://127.0.0.1:9/notify", "triggers": triggers,
                "timeout_secs": timeout, "is_active": active });
            match channel {
                0 => {
                    o["channel"] = json!("slack");
                    o["text"] = json!("${pipeline_name} ${status} ${ref}");
                }
                1 => {
                    o["channel"] = json!("webhook");
                    o["headers"] = json!({ "X-Env": "prod" });
                    o["payload"] = json!({ "run": "${run_id}", "ref": "${ref}" });
                }
                2 => {
                    o["channel"] = json!("webhook");
                    o["payload_template"] =
                        json!(r#"{"id": "{{ event_id }}", "status": "{{ status }}"}"#);
                    o["secret_header"] = json!("X-Hookgate-Secret");
                }
                _ => {
                    o["channel"] = json!("email");
                    o.as_object_mut().unwrap().remove("url");
                    o["to"] = json!(["ops@example.com"]);
                    o["subject"] = json!("${pipeline_name}: ${status}");
                    o["text"] = json!("run ${run_id} of ${ref}");
                }
            }
            o
        })
}

fn pipeline() -> impl Strategy<Value = Value> {
    (
        prop::collection::vec("[a-z]{1,8}", 1..3),
        proptest::option::of(prop_oneof![Just("queue"), Just("supersede"), Just("parallel")]),
        0u32..3,
        prop::collection::btree_map("[A-Z][A-Z0-9_]{0,6}", secret(), 0..3),
        prop::collection::vec(incoming(), 0..4),
        prop::collection::vec(outgoing(), 0..3),
    )
        .prop_map(|(args, policy, retries, secrets, incoming, outgoing)| {
            let mut p = json!({
                "variables": [{ "name": "ref", "default_value": "main" }],
                "steps": [{ "name": "run", "action": "command", "program": "/bin/echo", "args": args }],
                "retries": retries, "secrets": secrets });
            if let Some(policy) = policy {
                p["concurrency"] = json!({ "key": "${ref}", "max": 1, "policy": policy });
            }
            let named = |list: Vec<Value>, prefix: &str| -> Vec<Value> {
                list.into_iter()
                    .enumerate()
                    .map(|(i, mut h)| {
                        h["name"] = json!(format!("{prefix}-{i}"));
                        h
                    })
                    .collect()
            };
            p["incoming"] = json!(named(incoming, "in"));
            p["outgoing"] = json!(named(outgoing, "out"));
            p
        })
}

fn project() -> impl Strategy<Value = Vec<Value>> {
    prop::collection::vec(pipeline(), 1..4).prop_map(|list| {
        list.into_iter()
            .enumerate()
            .map(|(i, mut p)| {
                p["name"] = json!(format!("pipeline-{i}"));
                p
            })
            .collect()
    })
}

/// The value each export placeholder stands for: the file's secrets and the generated ones.
fn secrets_of(doc: &Value, applied: &Value) -> HashMap<String, String> {
    let env = |parts: &[&str]| {
        let placeholder = hookgate::apply::export::placeholder(parts);
        placeholder["${env:".len()..placeholder.len() - 1].to_string()
    };
    let mut out = HashMap::new();
    for p in doc["pipelines"].as_array().unwrap() {
        let pn = p["name"].as_str().unwrap();
        for (name, v) in p["secrets"].as_object().unwrap() {
            out.insert(env(&[pn, name]), v.as_str().unwrap().to_string());
        }
        for h in p["incoming"].as_array().unwrap() {
            if let Some(s) = h["secret"].as_str() {
                out.insert(
                    env(&[pn, h["name"].as_str().unwrap(), "hook"]),
                    s.to_string(),
                );
            }
        }
    }
    for g in applied["generated_secrets"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let (pn, hn) = (g["pipeline"].as_str().unwrap(), g["name"].as_str().unwrap());
        out.insert(
            env(&[pn, hn, "hook"]),
            g["secret"].as_str().unwrap().to_string(),
        );
    }
    out
}

async fn apply_export_apply_changes_nothing(app: TestApp) {
    let mut runner = TestRunner::new(Config::default());
    for case in 0..CASES {
        let pipelines = project().new_tree(&mut runner).unwrap().current();
        let name = format!("prop-{case}");
        let doc = json!({ "project": name, "pipelines": pipelines });
        let (s, first) = apply(&app, &app.admin_token, doc.clone(), "").await;
        assert_eq!(s, 200, "{doc}\n{first}");
        let (s, again) = apply(&app, &app.admin_token, doc.clone(), "?dry_run=true").await;
        assert_eq!(s, 200, "{again}");
        assert_eq!(
            again["message"], "0 to create, 0 to change, 0 to delete",
            "{doc}\n{again}"
        );
        let (s, mut exported) = app
            .get(&format!("/api/v1/projects/{name}/export"), &app.admin_token)
            .await;
        assert_eq!(s, 200, "{exported}");
        let values = secrets_of(&doc, &first);
        fill(&mut exported, &|n| values.get(n).cloned());
        let (s, back) = apply(&app, &app.admin_token, exported.clone(), "").await;
        assert_eq!(s, 200, "{exported}\n{back}");
        assert_eq!(
            back["message"], "0 to create, 0 to change, 0 to delete",
            "{doc}\n{exported}\n{back}"
        );
    }
}
