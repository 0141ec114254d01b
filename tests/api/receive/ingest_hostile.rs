//! Hostile input at `POST /hooks/{hk}`: random bytes, invalid UTF-8, 100k-deep nesting, 1 MiB
//! strings, random headers and content types, at an unsigned hook (so parsing and variables
//! are reached) and at signed ones (sometimes correctly signed). Every answer is a 2xx or a
//! 4xx, never a 5xx, and the server still answers `/healthz` afterwards. SQLite, one app.

use hookgate::signature::Provider;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use serde_json::json;

use crate::helpers::{spawn_app, Backend};
use crate::ingest_support::*;

const CASES: usize = 64;

/// Headers a client must not set by hand (they frame the request, not the payload).
const FRAMING: &[&str] = &[
    "content-length",
    "transfer-encoding",
    "host",
    "connection",
    "content-type",
];

/// Names the presets read, so that random values reach the signature and id parsers.
const KNOWN_NAMES: &[&str] = &[
    "x-hub-signature-256",
    "x-hub-signature",
    "x-github-delivery",
    "x-github-event",
    "stripe-signature",
    "x-slack-signature",
    "x-slack-request-timestamp",
    "paddle-signature",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "x-gitlab-token",
    "x-shopify-hmac-sha256",
    "x-event",
];

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..2048),
        "\\PC{0,300}".prop_map(String::into_bytes),
        Just(b"\xff\xfe{\"a\":\"\xc3\x28\"}".to_vec()),
        Just(format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)).into_bytes()),
        Just("[".repeat(100_000).into_bytes()),
        Just(format!("{{\"x\":\"{}\"}}", "a".repeat(1 << 20)).into_bytes()),
        Just(format!("{{\"x\":[{}1]}}", "1,".repeat(200_000)).into_bytes()),
        Just(b"{\"x\":{\"y\":null},\"event\":123456789012345678901234567890}".to_vec()),
        Just(b"payload=%7B%22x%22%3A1%7D".to_vec()),
        Just(b"payload=%FF%FE".to_vec()),
        Just(b"{\"x\":1e999999}".to_vec()),
    ]
}

fn headers() -> impl Strategy<Value = Vec<(String, String)>> {
    let name = prop_oneof![
        "[a-z][a-z0-9-]{0,24}",
        proptest::sample::select(KNOWN_NAMES).prop_map(str::to_string),
    ]
    .prop_filter("framing header", |n| !FRAMING.contains(&n.as_str()));
    let value = prop_oneof![
        "[!-~]([ -~]{0,60}[!-~])?",
        Just("t=1,v1=".to_string()),
        Just("v1,".to_string()),
        Just("ts=99999999999999999999;h1=zz".to_string()),
        Just("sha256=".to_string()),
    ];
    proptest::collection::vec((name, value), 0..8)
}

fn content_type() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        Just(Some("application/json".to_string())),
        Just(Some("application/json; charset=latin1".to_string())),
        Just(Some("application/x-www-form-urlencoded".to_string())),
        Just(Some("application/vnd.x+json".to_string())),
        "[a-z]{1,10}/[a-z+.-]{1,15}(; [a-z]{1,8}=[a-z0-9-]{1,10})?".prop_map(Some),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_input_never_gets_a_5xx() {
    let app = spawn_app(Backend::Sqlite).await.expect("sqlite");
    let pl = pipeline(&app).await;
    let open = create_hook(
        &app,
        &pl,
        json!({ "provider": "generic", "requires_secret": false, "settings": {
            "variables": [
                { "name": "x", "path": "$.x", "type": "json" },
                { "name": "y", "path": "$.x.y", "type": "integer", "default_value": 1 },
                { "name": "all", "path": "$..*", "type": "json" },
                { "name": "n", "path": "x", "count": true },
                { "name": "h", "source": "header", "path": "x-event" },
                { "name": "q", "source": "query", "path": "q" } ],
            "filters": [ { "text": "${h}${x}", "matches": "^.*$" } ] } }),
    )
    .await;
    let mut signed = vec![open];
    for p in [
        Provider::Github,
        Provider::Stripe,
        Provider::Slack,
        Provider::Paddle,
        Provider::StandardWebhooks,
        Provider::Gitlab,
    ] {
        signed.push(simple_hook(&app, &pl, p).await);
    }

    let strategy = (
        body(),
        headers(),
        content_type(),
        0..signed.len(),
        any::<bool>(),
    );
    let mut runner = TestRunner::new(Config::default());
    for case in 0..CASES {
        let (body, mut headers, ct, which, sign_it) =
            strategy.new_tree(&mut runner).expect("a case").current();
        let hook = &signed[which];
        if sign_it && !hook.secret.is_empty() {
            headers.extend(hook.sign(&body, Some(&random_id()), Some("push")));
        }
        let path = format!("{}?q=%FF%00&q=2", hook.id);
        let answer = send(&app, &path, &headers, ct.as_deref(), body.clone()).await;
        assert!(
            (200..500).contains(&answer.status),
            "case {case}: {} body {} bytes, ct {ct:?}, headers {headers:?}: {answer}",
            hook.provider,
            body.len(),
        );
    }

    // The worst shapes, always: at the open hook (parsed) and correctly signed at a signed one.
    let edges: [Vec<u8>; 4] = [
        format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)).into_bytes(),
        format!("{{\"x\":\"{}\"}}", "\u{e9}".repeat(1 << 19)).into_bytes(),
        b"{\"x\":\"\xc3\x28\xff\"}".to_vec(),
        format!("{}1{}", "{\"x\":".repeat(120), "}".repeat(120)).into_bytes(),
    ];
    for body in edges {
        for hook in [&signed[0], &signed[1]] {
            let headers = hook.sign(&body, Some(&random_id()), Some("push"));
            let answer = send(&app, &hook.id, &headers, None, body.clone()).await;
            assert!(
                (200..500).contains(&answer.status),
                "{} edge case of {} bytes: {answer}",
                hook.provider,
                body.len()
            );
        }
    }

    let health = app
        .client
        .get(format!("{}/healthz", app.address))
        .send()
        .await;
    assert_eq!(health.expect("still answering").status(), 200);
    let answer = send(
        &app,
        &signed[0].id,
        &[],
        Some("application/json"),
        b"{\"x\":1}".to_vec(),
    )
    .await;
    assert_accepted(&app, &answer, "a normal request after the storm").await;
}
