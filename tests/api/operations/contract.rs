//! The storage contract, run against both backends through the `Store` trait.

use hookgate::domain::time::now_ms;
use hookgate::store::{HookRow, PipelineRow, ProjectRow, SecretRow, StoreError, TokenRow};

use crate::helpers::TestApp;

crate::on_both_backends!(store_contract, scale_out_processes_share_one_database);

async fn store_contract(app: TestApp) {
    let s = app.store.as_ref();
    s.ping().await.unwrap();
    let p = ProjectRow {
        id: "prj_contract".into(),
        name: "contract".into(),
        created_at: now_ms(),
    };
    s.insert_project(&p).await.unwrap();
    let dup = ProjectRow {
        id: "prj_other".into(),
        ..p.clone()
    };
    assert!(
        matches!(s.insert_project(&dup).await, Err(StoreError::Conflict(_))),
        "unique name"
    );
    assert_eq!(
        s.get_project_by_name("contract").await.unwrap().unwrap().id,
        p.id
    );
    assert!(s.get_project("prj_missing").await.unwrap().is_none());

    let t = TokenRow {
        id: "tok_1".into(),
        project_id: Some(p.id.clone()),
        name: "n".into(),
        role: "viewer".into(),
        token_hash: "h1".into(),
        last4: "abcd".into(),
        created_at: now_ms(),
    };
    s.insert_token(&t).await.unwrap();
    assert_eq!(
        s.find_token_by_hash("h1").await.unwrap().unwrap().id,
        "tok_1"
    );
    assert_eq!(s.list_tokens(&p.id).await.unwrap().len(), 1);
    assert!(s.delete_token("tok_1").await.unwrap());
    assert!(!s.delete_token("tok_1").await.unwrap());

    let mut pl = PipelineRow {
        id: "pl_1".into(),
        project_id: p.id.clone(),
        name: "deploy".into(),
        spec: "{}".into(),
        created_at: now_ms(),
        updated_at: now_ms(),
    };
    s.insert_pipeline(&pl).await.unwrap();
    pl.spec = "{\"x\":1}".into();
    assert!(s.update_pipeline(&pl).await.unwrap());
    assert_eq!(
        s.get_pipeline("pl_1").await.unwrap().unwrap().spec,
        "{\"x\":1}"
    );

    let secret = SecretRow {
        pipeline_id: pl.id.clone(),
        name: "T".into(),
        ciphertext: vec![0, 1, 255],
        last4: "wxyz".into(),
        updated_at: 1,
    };
    s.put_secret(&secret).await.unwrap();
    s.put_secret(&SecretRow {
        ciphertext: vec![9],
        updated_at: 2,
        ..secret.clone()
    })
    .await
    .unwrap();
    let listed = s.list_secrets(&pl.id).await.unwrap();
    assert_eq!(
        (
            listed.len(),
            listed[0].ciphertext.clone(),
            listed[0].updated_at
        ),
        (1, vec![9], 2),
        "upsert"
    );

    let mut hook = HookRow {
        id: "hk_1".into(),
        pipeline_id: pl.id.clone(),
        project_id: p.id.clone(),
        name: "h".into(),
        provider: "github".into(),
        is_active: true,
        config: "{}".into(),
        secret_ct: vec![1, 2, 3],
        secret_last4: "abcd".into(),
        prev_secret_ct: None,
        prev_secret_expires_at: None,
        created_at: now_ms(),
        updated_at: now_ms(),
    };
    s.insert_hook(&hook).await.unwrap();
    hook.is_active = false;
    hook.prev_secret_ct = Some(vec![7]);
    hook.prev_secret_expires_at = Some(42);
    assert!(s.update_hook(&hook).await.unwrap());
    let got = s.get_hook("hk_1").await.unwrap().unwrap();
    assert_eq!(
        (
            got.is_active,
            got.prev_secret_ct,
            got.prev_secret_expires_at
        ),
        (false, Some(vec![7]), Some(42))
    );
    assert_eq!(s.list_hooks(&pl.id).await.unwrap().len(), 1);

    // Deleting the pipeline removes its hooks and secrets (cascade in both dialects).
    assert!(s.delete_pipeline(&pl.id).await.unwrap());
    assert!(s.get_hook("hk_1").await.unwrap().is_none());
    assert!(s.list_secrets(&pl.id).await.unwrap().is_empty());
}

/// Two hookgate servers on one database serve the same data (the PostgreSQL scale-out story;
/// on SQLite both processes share the file).
async fn scale_out_processes_share_one_database(app: TestApp) {
    let second = crate::helpers::start_on(&app.database_url, &app.master_key).await;
    let prj = app.project("shared").await;
    let (s, b) = second
        .get(&format!("/api/v1/projects/{prj}"), &second.admin_token)
        .await;
    assert_eq!((s, b["name"].as_str()), (200, Some("shared")), "{b}");
    let pl = second.pipeline(&prj, &second.admin_token, &[]).await;
    let (s, _) = app
        .get(&format!("/api/v1/pipelines/{pl}"), &app.admin_token)
        .await;
    assert_eq!(s, 200);
}
