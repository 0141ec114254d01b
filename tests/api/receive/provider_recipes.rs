//! Every recipe of docs/providers.md, read from the page itself, is created as written and
//! answers its provider's first event the way the page says (GitHub's `ping` is `200 ignored`,
//! never a 422 that would mark the new webhook as failing).

use hookgate::signature::{sign, Provider, VerifyConfig};
use serde_json::{json, Value};

use crate::helpers::TestApp;
use crate::ingest_support::{create_hook, fixture, random_id, send, send_signed, shared_fixture};
use crate::on_both_backends;

on_both_backends!(
    every_recipe_answers_its_providers_first_event,
    the_ported_adnanh_and_jenkins_rules_work_as_documented
);

/// A preset, its first event's body (`None` when the fixture is absent), the event header's
/// value, and the status the recipe answers.
type FirstEvent = (&'static str, Option<Vec<u8>>, Option<&'static str>, u16);

/// The JSON body of the `curl` in the recipe of `provider` (the section headed
/// "… — preset `provider`"), with its placeholder secret replaced by a test one.
pub fn recipe(provider: &str) -> Value {
    let page = include_str!("../../../docs/providers.md");
    let heading = format!("preset `{provider}`");
    let section = page
        .split("\n## ")
        .find(|s| s.lines().next().is_some_and(|h| h.contains(&heading)))
        .unwrap_or_else(|| panic!("no recipe for {provider} in docs/providers.md"));
    let start = section.find("-d '").expect("a curl -d '…' body") + 4;
    let end = start + section[start..].find("\n}'").expect("the body's end") + 2;
    let text =
        section[start..end].replace("\"whsec_…\"", "\"whsec_recipe-test-secret-0123456789\"");
    let text = text.replace("\"…\"", "\"recipe-test-secret-0123456789abcdef\"");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{provider} recipe: {e}\n{text}"))
}

async fn every_recipe_answers_its_providers_first_event(app: TestApp) {
    let prj = app
        .project(&format!("recipes-{}", rand::random::<u32>()))
        .await;
    let pl = app.pipeline(&prj, &app.admin_token, &[]).await;
    let url_verification = br#"{"token":"t","challenge":"ch-123","type":"url_verification"}"#;
    let cases: Vec<FirstEvent> = vec![
        (
            "github",
            shared_fixture("github/ping/payload.json"),
            Some("ping"),
            200,
        ),
        (
            "gitlab",
            Some(fixture("gitlab/push.json")),
            Some("Push Hook"),
            200,
        ),
        (
            "bitbucket",
            Some(fixture("bitbucket/repo_push.json")),
            Some("repo:push"),
            202,
        ),
        ("gitea", Some(fixture("gitea/push.json")), Some("push"), 202),
        (
            "stripe",
            Some(fixture("stripe/payment_intent.succeeded.json")),
            None,
            202,
        ),
        (
            "shopify",
            Some(fixture("shopify/orders_create.json")),
            Some("orders/create"),
            202,
        ),
        ("slack", Some(url_verification.to_vec()), None, 200),
        (
            "paddle",
            Some(fixture("paddle/transaction.completed.json")),
            None,
            202,
        ),
        (
            "standard-webhooks",
            Some(fixture("standard-webhooks/invoice.paid.json")),
            None,
            202,
        ),
        ("generic", Some(fixture("generic/deploy.json")), None, 202),
    ];
    for (provider, body, event, status) in cases {
        let Some(body) = body else { continue };
        let mut recipe = recipe(provider);
        recipe["name"] = json!(format!("{provider} recipe"));
        let hook = create_hook(&app, &pl, recipe.clone()).await;
        let answer = if provider == "generic" {
            // The recipe names its own signature header.
            let cfg = VerifyConfig {
                header_name: recipe["secret_header_name"].as_str().map(str::to_string),
                ..VerifyConfig::new(Provider::Generic)
            };
            let headers = sign(
                &cfg,
                &hook.secret,
                &body,
                crate::ingest_support::now(),
                None,
                None,
            );
            send(&app, &hook.id, &headers, Some("application/json"), body).await
        } else {
            send_signed(&app, &hook, &body, Some(&random_id()), event).await
        };
        assert_eq!(answer.status, status, "{provider}: {answer}");
        match (provider, status) {
            ("slack", _) => assert_eq!(answer.json["challenge"], "ch-123", "{answer}"),
            (_, 200) => assert_eq!(answer.json["ignored"], true, "{provider}: {answer}"),
            _ => assert!(answer.json["run_id"].is_string(), "{provider}: {answer}"),
        }
    }
}

/// The "Coming from adnanh/webhook or Jenkins GWT" section of docs/providers.md.
fn porting_section() -> &'static str {
    let page = include_str!("../../../docs/providers.md");
    let start = page
        .find("## Coming from adnanh/webhook or Jenkins GWT")
        .expect("the porting section");
    &page[start..]
}

/// The `-d '…'` bodies of the section's `curl`s, in order.
fn curl_bodies(section: &str) -> Vec<Value> {
    section
        .split("-d '")
        .skip(1)
        .map(|rest| {
            let end = rest.find('\'').expect("the body's closing quote");
            serde_json::from_str(&rest[..end]).unwrap_or_else(|e| panic!("{e}: {}", &rest[..end]))
        })
        .collect()
}

/// A GitHub-shaped push.
fn push(git_ref: &str, before: &str, after: &str, pusher: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "ref": git_ref, "before": before, "after": after,
        "head_commit": { "id": after },
        "commits": [{ "added": ["a.txt"], "modified": ["m.txt"], "removed": [] }],
        "pusher": { "name": pusher } }))
    .unwrap()
}

async fn the_ported_adnanh_and_jenkins_rules_work_as_documented(app: TestApp) {
    let section = porting_section();
    let prj = app
        .project(&format!("porting-{}", rand::random::<u32>()))
        .await;
    let bodies = curl_bodies(section);
    assert_eq!(bodies.len(), 2, "a pipeline and a hook");
    let (s, pl) = app
        .post(
            &format!("/api/v1/projects/{prj}/pipelines"),
            &app.admin_token,
            bodies[0].clone(),
        )
        .await;
    assert_eq!(s, 201, "{pl}");
    let pl = pl["id"].as_str().unwrap().to_string();
    let adnanh = create_hook(&app, &pl, bodies[1].clone()).await;
    let (sha_a, sha_b, zeros) = ("a".repeat(40), "b".repeat(40), "0".repeat(40));
    let a = send_signed(
        &app,
        &adnanh,
        &push("refs/heads/main", &sha_a, &sha_b, "ana"),
        None,
        Some("push"),
    )
    .await;
    assert_eq!(a.status, 202, "{a}");
    let a = send_signed(
        &app,
        &adnanh,
        &push("refs/heads/main", &sha_a, &sha_b, "dependabot[bot]"),
        None,
        Some("push"),
    )
    .await;
    assert_eq!((a.status, &a.json["ignored"]), (200, &json!(true)), "{a}");

    let start = section
        .find("```json\n{ \"name\": \"develop\"")
        .expect("the GWT hook")
        + 8;
    let end = start + section[start..].find("```").unwrap();
    let gwt: Value = serde_json::from_str(&section[start..end]).expect("the GWT hook is JSON");
    let gwt = create_hook(&app, &pl, gwt).await;
    let a = send_signed(
        &app,
        &gwt,
        &push("refs/heads/develop", &sha_a, &sha_b, "ana"),
        None,
        Some("push"),
    )
    .await;
    // The pipeline needs `commit`, which this hook does not read: refused, naming it.
    assert_eq!(a.status, 422, "{a}");
    assert_eq!(a.json["details"][0]["name"], "commit", "{a}");
    for (before, after, pusher) in [
        (&zeros, &sha_b, "ana"),
        (&sha_a, &zeros, "ana"),
        (&sha_a, &sha_b, "jenkins"),
    ] {
        let a = send_signed(
            &app,
            &gwt,
            &push("refs/heads/develop", before, after, pusher),
            None,
            Some("push"),
        )
        .await;
        assert_eq!(
            (a.status, &a.json["ignored"]),
            (200, &json!(true)),
            "{pusher} {a}"
        );
    }
}
