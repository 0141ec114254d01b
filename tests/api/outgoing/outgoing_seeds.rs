//! The seeds' outgoing-webhook requests as they are (SPEC §6): each vendor's own body is
//! accepted, read back in its form, replaced with PUT, and what reaches a local receiver is
//! checked: the headers, a Standard Webhooks signature (checked here by its own algorithm) and
//! the rendered payload. Mixpeek's email channel goes to an SMTP sink the test starts.

use base64::Engine;
use hmac::{Hmac, Mac};
use hookgate::startup::Application;
use reqwest::Method;
use serde_json::json;
use sha2::Sha256;

use crate::approval_support::{create_outgoing, error_fields, receiver, start_run, wait_status};
use crate::helpers::{fresh_database, test_settings, Backend, TestApp};
use crate::outgoing::notify::Hit;
use crate::smtp_sink::SmtpSink;

crate::on_both_backends!(
    humanitec_body_as_documented_signs_and_renders_its_payload,
    mendix_body_as_documented_reads_back_and_put_replaces,
    hookgate_form_with_secret_header_template_and_pipeline_secret,
    mixed_forms_and_unknown_fields_are_422,
);

/// Checks `webhook-signature` by the Standard Webhooks algorithm: HMAC-SHA256 with the
/// base64-decoded `whsec_` key over `id.timestamp.body`.
fn verify_standard_webhooks(hit: &Hit, key: &[u8]) {
    let id = &hit.headers["webhook-id"];
    let ts = &hit.headers["webhook-timestamp"];
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(format!("{id}.{ts}.").as_bytes());
    mac.update(&hit.body);
    let want = format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    );
    let got = &hit.headers["webhook-signature"];
    assert!(got.split(' ').any(|s| s == want), "{got} lacks {want}");
}

fn whsec_key(secret: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap()
}

async fn project_pipeline(app: &TestApp) -> (String, String, String) {
    let project = app.project(&format!("p{}", rand::random::<u32>())).await;
    let member = app.token(&project, "member").await;
    let pl = app.pipeline(&project, &member, &[]).await;
    (project, member, pl)
}

async fn humanitec_body_as_documented_signs_and_renders_its_payload(app: TestApp) {
    let (project, member, pl) = project_pipeline(&app).await;
    let rx = receiver().await;
    // Humanitec's documented request, with ${ID}, ${SCOPE}, ${TYPE} and ${URL} filled in.
    let body = json!({
        "headers": {},
        "id": "my-hook",
        "payload": {
            "application": "${app_id}",
            "environment": "${env_id}",
            "deployment": "${deploy_id}",
            "status": "${status}"
        },
        "triggers": [
            { "scope": "deployment", "type": "finished" }
        ],
        "url": format!("{}/hook", rx.url)
    });
    let created = create_outgoing(&app, &pl, &member, body.clone()).await;
    assert_eq!(created["id"], "my-hook");
    assert_eq!(created["triggers"], body["triggers"]);
    assert_eq!(created["payload"], body["payload"]);
    let secret = created["secret"].as_str().unwrap().to_string();
    let oh = created["hook_id"].as_str().unwrap().to_string();
    let (s, read) = app.get(&format!("/api/v1/hooks/{oh}"), &member).await;
    assert_eq!(s, 200);
    assert_eq!(read["id"], "my-hook");
    assert_eq!(
        read["triggers"], body["triggers"],
        "read back as sent: {read}"
    );
    assert!(read["secret"].as_str().unwrap().starts_with("••••"));

    let run = start_run(&app, &pl, &member).await;
    wait_status(&app, &run, "succeeded").await;
    let hits = rx.wait_for(1).await;
    assert_eq!(hits[0].path, "/hook");
    assert_eq!(
        hits[0].json(),
        json!({ "application": project, "environment": pl, "deployment": run, "status": "succeeded" })
    );
    assert_eq!(hits[0].headers["content-type"], "application/json");
    verify_standard_webhooks(&hits[0], &whsec_key(&secret));
}

async fn mendix_body_as_documented_reads_back_and_put_replaces(app: TestApp) {
    let (_, member, pl) = project_pipeline(&app).await;
    let rx = receiver().await;
    // Mendix's documented request body, as it is (its URL pointed at the local receiver).
    let body = json!({
        "name": "string",
        "url": format!("{}/webhooks", rx.url),
        "eventTypes": [
            "teamserver.push"
        ],
        "isActive": true,
        "validationSecret": "PMJhiGo1nTL6wlNyZVFh5v9rLZdcLsG2O",
        "headers": [
            {
                "key": "Authorization",
                "value": "Beaerer DG4R4GT6R43"
            }
        ]
    });
    let created = create_outgoing(&app, &pl, &member, body.clone()).await;
    assert_eq!(created["eventTypes"], json!(["teamserver.push"]));
    assert_eq!(created["isActive"], true);
    assert_eq!(created["headers"], body["headers"]);
    assert_eq!(
        created["validationSecret"],
        "PMJhiGo1nTL6wlNyZVFh5v9rLZdcLsG2O"
    );
    assert_eq!(
        created["warnings"][0]["field"], "eventTypes[0]",
        "{created}"
    );
    let oh = created["id"].as_str().unwrap().to_string();
    let (_, read) = app.get(&format!("/api/v1/hooks/{oh}"), &member).await;
    assert_eq!(
        read["validationSecret"],
        "••••LsG2O".replace("••••L", "••••"),
        "{read}"
    );
    assert_eq!(read["headers"], body["headers"]);

    // PUT replaces: the same form, now with a hookgate event; the secret stays.
    let mut put = body.clone();
    put["eventTypes"] = json!(["run.succeeded"]);
    put.as_object_mut().unwrap().remove("validationSecret");
    let (s, replaced) = app
        .call(
            Method::PUT,
            &format!("/api/v1/hooks/{oh}"),
            Some(&member),
            Some(put),
        )
        .await;
    assert_eq!(s, 200, "{replaced}");
    assert_eq!(replaced["eventTypes"], json!(["run.succeeded"]));
    assert!(replaced.get("warnings").is_none());

    let run = start_run(&app, &pl, &member).await;
    wait_status(&app, &run, "succeeded").await;
    let hits = rx.wait_for(1).await;
    assert_eq!(hits[0].path, "/webhooks");
    assert_eq!(hits[0].headers["authorization"], "Beaerer DG4R4GT6R43");
    assert_eq!(hits[0].json()["event"], "run.succeeded");
    // The validation secret is the HMAC key itself.
    verify_standard_webhooks(&hits[0], b"PMJhiGo1nTL6wlNyZVFh5v9rLZdcLsG2O");
}

async fn hookgate_form_with_secret_header_template_and_pipeline_secret(app: TestApp) {
    let (_, member, pl) = project_pipeline(&app).await;
    let (s, b) = app
        .call(
            Method::PUT,
            &format!("/api/v1/pipelines/{pl}/secrets/GH_TOKEN"),
            Some(&member),
            Some(json!({ "value": "ghp_not_a_real_token_123" })),
        )
        .await;
    assert!(s == 200 || s == 201 || s == 204, "{s} {b}");
    let rx = receiver().await;
    let supplied = "a-shared-secret-of-at-least-32-characters";
    let created = create_outgoing(&app, &pl, &member, json!({ "name": "pr-comment", "url": format!("{}/issues/${{run_id}}/comments", rx.url), "triggers": ["run.succeeded"],
                    "headers": { "Authorization": "Bearer ${secrets.GH_TOKEN}" },
                    "secret": supplied, "secret_header": "X-Hookgate-Secret",
                    "payload_template": "{\"body\": \"Deploy {{ run.status }} ({{ run_id }})\", \"ok\": {{ (run.status == \"succeeded\") | tojson }}}" })).await;
    assert_eq!(created["secret"], supplied, "shown once");
    let oh = created["id"].as_str().unwrap().to_string();
    let (_, read) = app.get(&format!("/api/v1/hooks/{oh}"), &member).await;
    assert_eq!(
        read["headers"]["Authorization"], "Bearer ${secrets.GH_TOKEN}",
        "the value is never shown"
    );
    assert!(!read.to_string().contains("ghp_not_a_real_token"));

    let run = start_run(&app, &pl, &member).await;
    wait_status(&app, &run, "succeeded").await;
    let hits = rx.wait_for(1).await;
    assert_eq!(
        hits[0].headers["authorization"],
        "Bearer ghp_not_a_real_token_123"
    );
    assert_eq!(hits[0].headers["x-hookgate-secret"], supplied);
    assert_eq!(
        hits[0].json(),
        json!({ "body": format!("Deploy succeeded ({run})"), "ok": true })
    );
    verify_standard_webhooks(&hits[0], supplied.as_bytes());

    // Bad templates and short secrets are refused when saved.
    let (s, b) = app
        .post(
            &format!("/api/v1/pipelines/{pl}/hooks/outgoing"),
            &member,
            json!({ "name": "bad", "url": rx.url, "secret": "too-short",
                    "payload_template": "status: {{ status }}",
                    "headers": { "X-Ref": "${run_id}" } }),
        )
        .await;
    assert_eq!(s, 422, "{b}");
    let fields = error_fields(&b);
    assert!(fields.contains(&"secret".to_string()), "{fields:?}");
    assert!(
        fields.contains(&"payload_template".to_string()),
        "{fields:?}"
    );
    assert!(fields.contains(&"headers.X-Ref".to_string()), "{fields:?}");
}

async fn mixed_forms_and_unknown_fields_are_422(app: TestApp) {
    let (_, member, pl) = project_pipeline(&app).await;
    let path = format!("/api/v1/pipelines/{pl}/hooks/outgoing");
    let (s, b) = app
        .post(&path, &member, json!({ "id": "x", "url": "https://example.com", "triggers": [{ "scope": "deployment", "type": "started" }], "isActive": true }))
        .await;
    assert_eq!(s, 422, "{b}");
    assert!(
        b["details"][0]["problem"]
            .as_str()
            .unwrap()
            .contains("mendix"),
        "{b}"
    );
    let (s, b) = app
        .post(&path, &member, json!({ "name": "x", "url": "https://example.com", "eventTypes": ["run.failed"], "colour": "red" }))
        .await;
    assert_eq!(s, 422, "{b}");
    assert_eq!(b["details"][0]["field"], "colour", "{b}");
    let (s, b) = app
        .post(&path, &member, json!({ "id": "x", "url": "https://example.com", "triggers": [{ "scope": "cluster", "type": "created" }] }))
        .await;
    assert_eq!(s, 422, "{b}");
    assert_eq!(b["details"][0]["field"], "triggers[0]", "{b}");
}

/// A hookgate on a fresh database whose email channel uses `smtp`.
pub(crate) async fn app_with_smtp(backend: Backend, smtp: &str) -> Option<TestApp> {
    let (url, dir) = fresh_database(backend).await?;
    let key = hookgate::crypto::MasterKey::generate().to_base64();
    let mut settings = test_settings(&url, &key);
    settings.smtp_url = Some(secrecy::SecretString::from(smtp.to_string()));
    settings.smtp_from = "hookgate@example.com".into();
    let application = Application::build(settings, true).await.expect("build app");
    let address = format!("http://127.0.0.1:{}", application.port());
    let store = application.store();
    tokio::spawn(application.run_until_stopped());
    let (_, token) = hookgate::accounts::create_token(
        store.as_ref(),
        None,
        hookgate::domain::role::Role::Admin,
        "test admin",
    )
    .await
    .expect("admin token");
    use secrecy::ExposeSecret;
    Some(TestApp {
        address,
        client: reqwest::Client::new(),
        admin_token: token.expose_secret().to_string(),
        store,
        database_url: url,
        master_key: key,
        _dir: dir,
    })
}

async fn mixpeek_channels_webhook_and_email(backend: Backend) {
    let smtp = SmtpSink::start().await;
    let Some(app) = app_with_smtp(backend, &smtp.url).await else {
        return;
    };
    let (_, member, pl) = project_pipeline(&app).await;
    let rx = receiver().await;
    let body = json!({
        "event_types": ["run.succeeded"],
        "channels": [
            { "type": "webhook", "url": rx.url, "headers": { "X-Mixpeek-Secret": "shared-value" } },
            { "type": "email", "to": ["ops@example.com", "lead@example.com"],
              "subject": "${pipeline_name}: ${status}" }
        ],
        "payload_template": "{\"event_id\": \"{{ event_id }}\", \"run\": \"{{ run.id }}\", \"ok\": {{ (run.status == \"succeeded\") | tojson }}}",
        "timeout": 10
    });
    let created = create_outgoing(&app, &pl, &member, body.clone()).await;
    assert_eq!(
        created["channels"].as_array().unwrap().len(),
        2,
        "{created}"
    );
    assert_eq!(created["event_types"], body["event_types"]);
    let secrets: Vec<String> = created["channels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["secret"].as_str().unwrap().to_string())
        .collect();

    let run = start_run(&app, &pl, &member).await;
    wait_status(&app, &run, "succeeded").await;
    let hits = rx.wait_for(1).await;
    let got = hits[0].json();
    assert_eq!(got["run"], run);
    assert_eq!(got["ok"], true);
    assert_eq!(got["event_id"], hits[0].headers["webhook-id"]);
    assert_eq!(hits[0].headers["x-mixpeek-secret"], "shared-value");
    verify_standard_webhooks(&hits[0], &whsec_key(&secrets[0]));

    let mails = smtp.wait_for(1).await;
    let mail = &mails[0];
    assert_eq!(mail.from, "hookgate@example.com");
    assert_eq!(mail.to, vec!["ops@example.com", "lead@example.com"]);
    let pipeline_name = app.get(&format!("/api/v1/pipelines/{pl}"), &member).await.1["name"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        mail.data
            .contains(&format!("Subject: {pipeline_name}: succeeded")),
        "{}",
        mail.data
    );
    assert!(
        mail.data.contains(&format!("run {run}: succeeded")),
        "{}",
        mail.data
    );
    for s in &secrets {
        assert!(!mail.data.contains(s.as_str()), "no secret in a mail");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixpeek_channels_webhook_and_email_sqlite() {
    mixpeek_channels_webhook_and_email(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixpeek_channels_webhook_and_email_postgres() {
    mixpeek_channels_webhook_and_email(Backend::Postgres).await;
}
