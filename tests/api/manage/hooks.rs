use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{Backend, TestApp};

crate::on_both_backends!(
    devopness_request_creates_a_hook_with_secret_once,
    hook_validation_names_every_bad_field,
    variables_may_not_read_secret_headers,
    optional_bodies_are_checked_when_given,
    rotate_patch_delete
);

/// The Devopness incoming-hook request from SPEC §3, byte for byte.
pub fn devopness_request() -> Value {
    json!({
      "name": "Deploy main",
      "provider": "github",
      "requires_secret": true,
      "secret_algorithm": "sha256",
      "secret_header_name": "x-hub-signature-256",
      "action_type": "deploy",
      "is_active": true,
      "settings": {
        "variables": [
          { "name": "source_type", "type": "string", "required": false, "default_value": "branch" },
          { "name": "source_ref", "path": "pull_request.head.ref", "type": "string", "default_value": "main" },
          { "name": "pull_request_id", "path": "$.pull_request.number", "type": "integer" },
          { "name": "event", "source": "header", "path": "X-GitHub-Event", "type": "string", "required": true }
        ],
        "filters": [ { "variable": "source_ref", "matches": "^(main|release/.*)$" } ]
      }
    })
}

/// Every byte the database holds for this app, as text (SQLite: the files; PostgreSQL: the rows).
async fn database_text(app: &TestApp) -> String {
    if app.database_url.starts_with("sqlite") {
        let path = app.database_url.trim_start_matches("sqlite://");
        let mut all = Vec::new();
        for suffix in ["", "-wal"] {
            if let Ok(bytes) = std::fs::read(format!("{path}{suffix}")) {
                all.extend(bytes);
            }
        }
        String::from_utf8_lossy(&all).into_owned()
    } else {
        let pool = sqlx::PgPool::connect(&app.database_url).await.unwrap();
        let mut text = String::new();
        for table in [
            "projects",
            "tokens",
            "pipelines",
            "pipeline_secrets",
            "incoming_hooks",
        ] {
            let rows: Vec<(String,)> =
                sqlx::query_as(&format!("SELECT row_to_json(t)::text FROM {table} t"))
                    .fetch_all(&pool)
                    .await
                    .unwrap();
            text.extend(rows.into_iter().map(|r| r.0));
        }
        text
    }
}

async fn devopness_request_creates_a_hook_with_secret_once(app: TestApp) {
    let prj = app.project("p").await;
    let pl = app.pipeline(&prj, &app.admin_token, &[]).await;
    let (s, b) = app
        .post(
            &format!("/api/v1/pipelines/{pl}/hooks/incoming"),
            &app.admin_token,
            devopness_request(),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let id = b["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("hk_") && id.len() == 25, "{id}");
    assert_eq!(b["url"], format!("{}/hooks/{id}", app.address));
    let secret = b["secret"].as_str().unwrap().to_string();
    assert!(secret.len() >= 43, "at least 32 random bytes");
    assert_eq!(b["settings"]["variables"][3]["source"], "header");
    assert_eq!(b["provider"], "github");

    let (s, got) = app
        .get(&format!("/api/v1/hooks/{id}"), &app.admin_token)
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        got["secret"],
        format!("••••{}", &secret[secret.len() - 4..])
    );
    let (_, listed) = app
        .get(&format!("/api/v1/pipelines/{pl}/hooks"), &app.admin_token)
        .await;
    assert_eq!(listed["incoming"][0]["id"], id.as_str());
    assert!(!listed.to_string().contains(&secret) && !got.to_string().contains(&secret));

    // A supplied secret (Stripe style) is used as given, and stored encrypted too.
    let supplied = "whsec_StripeGaveMeThisSecret0123456789";
    let (s, b) = app
        .post(
            &format!("/api/v1/pipelines/{pl}/hooks/incoming"),
            &app.admin_token,
            json!({ "name": "stripe", "provider": "stripe", "secret": supplied }),
        )
        .await;
    assert_eq!((s, b["secret"].as_str()), (201, Some(supplied)), "{b}");

    let db = database_text(&app).await;
    assert!(
        db.contains(&id),
        "sanity: the hook row is in what we read ({:?})",
        app.database_url.split(':').next()
    );
    assert!(
        !db.contains(&secret),
        "plaintext hook secret found in the database"
    );
    assert!(
        !db.contains(supplied),
        "plaintext supplied secret found in the database"
    );
    assert!(
        !db.contains(&app.admin_token),
        "plaintext token found in the database"
    );

    // requires_secret false is allowed, with a warning in reads.
    let (s, b) = app
        .post(
            &format!("/api/v1/pipelines/{pl}/hooks/incoming"),
            &app.admin_token,
            json!({ "name": "open", "requires_secret": false }),
        )
        .await;
    assert_eq!(s, 201);
    assert!(b["warnings"][0].as_str().unwrap().contains("unsigned"));
    let _ = Backend::Sqlite;
}

async fn hook_validation_names_every_bad_field(app: TestApp) {
    let prj = app.project("p").await;
    let pl = app.pipeline(&prj, &app.admin_token, &[]).await;
    let body = json!({ "name": "bad", "provider": "gitbucket", "secret_algorithm": "md5",
        "settings": {
            "variables": [
                { "name": "a", "path": "$.x[?", "type": "string" },
                { "name": "b", "path": "x", "type": "integer", "default_value": "not a number" },
                { "name": "c", "path": "x", "type": "float" }
            ],
            "filters": [ { "variable": "a", "matches": "([" }, { "variable": "zz", "equals": 1 } ] } });
    let fields = refused_fields(&app, &pl, body).await;
    for f in [
        "provider",
        "secret_algorithm",
        "settings.variables[0].path",
        "settings.variables[1].default_value",
        "settings.variables[2].type",
        "settings.filters[0].matches",
        "settings.filters[1].variable",
    ] {
        assert!(fields.iter().any(|g| g == f), "{f} not named in {fields:?}");
    }
    let (s, _) = app
        .post(
            &format!("/api/v1/pipelines/{pl}/hooks/incoming"),
            &app.admin_token,
            json!({ "provider": "github" }),
        )
        .await;
    assert_eq!(s, 422, "name is required");
    let (_, listed) = app
        .get(&format!("/api/v1/pipelines/{pl}/hooks"), &app.admin_token)
        .await;
    assert_eq!(
        listed["incoming"].as_array().unwrap().len(),
        0,
        "nothing was created"
    );
}

async fn rotate_patch_delete(app: TestApp) {
    let prj = app.project("p").await;
    let pl = app.pipeline(&prj, &app.admin_token, &[]).await;
    let (_, b) = app
        .post(
            &format!("/api/v1/pipelines/{pl}/hooks/incoming"),
            &app.admin_token,
            json!({ "name": "h", "provider": "gitea" }),
        )
        .await;
    let id = b["id"].as_str().unwrap().to_string();
    let old = b["secret"].as_str().unwrap().to_string();

    let (s, r) = app
        .post(
            &format!("/api/v1/hooks/{id}/rotate-secret"),
            &app.admin_token,
            json!({ "grace_period_secs": 3600 }),
        )
        .await;
    assert_eq!(s, 200, "{r}");
    let new = r["secret"].as_str().unwrap();
    assert_ne!(new, old);
    assert!(r["previous_secret_expires_at"].is_string());
    let row = app.store.get_hook(&id).await.unwrap().unwrap();
    assert!(row.prev_secret_ct.is_some() && row.prev_secret_expires_at.is_some());
    let (s, r) = app
        .post(
            &format!("/api/v1/hooks/{id}/rotate-secret"),
            &app.admin_token,
            json!({ "secret": "mine-0123456789", "grace_period_secs": 0 }),
        )
        .await;
    assert_eq!((s, r["secret"].as_str()), (200, Some("mine-0123456789")));
    assert!(r.get("previous_secret_expires_at").is_none());
    let (s, _) = app
        .post(
            &format!("/api/v1/hooks/{id}/rotate-secret"),
            &app.admin_token,
            json!({ "grace_period_secs": 99999999 }),
        )
        .await;
    assert_eq!(s, 422);

    let (s, p) = app
        .call(
            Method::PATCH,
            &format!("/api/v1/hooks/{id}"),
            Some(&app.admin_token),
            Some(json!({ "is_active": false, "name": "renamed" })),
        )
        .await;
    assert_eq!(
        (s, p["is_active"].as_bool(), p["name"].as_str()),
        (200, Some(false), Some("renamed")),
        "{p}"
    );
    assert_eq!(p["secret"], "••••6789");
    let (s, p) = app
        .call(
            Method::PATCH,
            &format!("/api/v1/hooks/{id}"),
            Some(&app.admin_token),
            Some(json!({ "secret_algorithm": "md5" })),
        )
        .await;
    assert_eq!(
        (s, p["details"][0]["field"].as_str()),
        (422, Some("secret_algorithm"))
    );

    let (s, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/hooks/{id}"),
            Some(&app.admin_token),
            None,
        )
        .await;
    assert_eq!(s, 204);
    let (s, _) = app
        .get(&format!("/api/v1/hooks/{id}"), &app.admin_token)
        .await;
    assert_eq!(s, 404);
}

/// A header that carries the hook's secret or signature would be stored, unredacted, with the
/// delivery's and the run's variables: no variable may read one.
async fn variables_may_not_read_secret_headers(app: TestApp) {
    let prj = app.project("p").await;
    let pl = app.pipeline(&prj, &app.admin_token, &[]).await;
    let cases = [
        ("gitlab", "X-Gitlab-Token"),
        ("github", "x-hub-signature-256"),
        ("github", "Authorization"),
        ("stripe", "Stripe-Signature"),
        // A generic hook's own signature header.
        ("generic", "X-My-Signature"),
    ];
    for (provider, header) in cases {
        let body = json!({ "name": "h", "provider": provider, "secret_header_name": "X-My-Signature",
            "settings": { "variables": [
            { "name": "event", "source": "header", "path": "X-Event" },
            { "name": "leak", "source": "header", "path": header } ] } });
        let fields = refused_fields(&app, &pl, body).await;
        assert_eq!(
            fields,
            ["settings.variables[1].path"],
            "{provider} {header}"
        );
    }
    // Other headers stay readable.
    let body = json!({ "name": "ok", "provider": "github", "settings": { "variables": [
        { "name": "event", "source": "header", "path": "X-GitHub-Event" } ] } });
    let (s, b) = app
        .post(
            &format!("/api/v1/pipelines/{pl}/hooks/incoming"),
            &app.admin_token,
            body,
        )
        .await;
    assert_eq!(s, 201, "{b}");
}

/// Rotating a secret and starting a manual run take an optional body. Left out, defaults
/// apply; given, it must be JSON of the right shape. A typo must not quietly mean "defaults".
async fn optional_bodies_are_checked_when_given(app: TestApp) {
    let prj = app.project("p").await;
    let pl = app.pipeline(&prj, &app.admin_token, &[]).await;
    let (_, b) = app
        .post(
            &format!("/api/v1/pipelines/{pl}/hooks/incoming"),
            &app.admin_token,
            json!({ "name": "h", "provider": "github" }),
        )
        .await;
    let hk = b["id"].as_str().unwrap().to_string();
    let send = |path: String, content_type: Option<&'static str>, body: &'static str| {
        let mut req = app
            .client
            .post(format!("{}{path}", app.address))
            .bearer_auth(&app.admin_token)
            .body(body);
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        async move {
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            (status, resp.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    for path in [
        format!("/api/v1/hooks/{hk}/rotate-secret"),
        format!("/api/v1/pipelines/{pl}/runs"),
    ] {
        let json = Some("application/json");
        for (ct, body, status, code) in [
            (
                json,
                r#"{"secrt": "mine-0123456789"}"#,
                422,
                "validation_failed",
            ),
            (
                json,
                r#"{"grace_period_secs": "3600"}"#,
                422,
                "validation_failed",
            ),
            (json, "{", 400, "invalid_body"),
            (Some("text/plain"), "secret", 415, "unsupported_media_type"),
        ] {
            let (s, b) = send(path.clone(), ct, body).await;
            assert_eq!(
                (s, b["error"].as_str()),
                (status, Some(code)),
                "{path} {body}: {b}"
            );
        }
        // Left out: the defaults.
        let (s, b) = send(path.clone(), None, "").await;
        assert!(s == 200 || s == 202, "{path}: {s} {b}");
    }
}

/// Creates an incoming hook on `pl` from `body`, expecting a 422; returns the fields it names.
async fn refused_fields(app: &TestApp, pl: &str, body: Value) -> Vec<String> {
    let (s, b) = app
        .post(
            &format!("/api/v1/pipelines/{pl}/hooks/incoming"),
            &app.admin_token,
            body,
        )
        .await;
    assert_eq!(
        (s, b["error"].as_str()),
        (422, Some("validation_failed")),
        "{b}"
    );
    b["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap().to_string())
        .collect()
}
