//! A run belongs to a pipeline and a request log entry to a hook, on both backends: a write
//! that names one that is gone is refused and leaves nothing behind, and deleting one deletes
//! what belongs to it. (SQLite checks these with foreign keys; PostgreSQL, since migration
//! 0015, with one lock per write transaction and a trigger on delete: docs/performance.md.)

use std::sync::Arc;

use hookgate::domain::run_status::RunStatus;
use hookgate::domain::time::now_ms;
use hookgate::store::{
    DeliveryRow, HookRow, IngestResult, IngestWrite, PipelineRow, ProjectRow, RunRow, Store,
};

use crate::helpers::TestApp;

crate::on_both_backends!(writes_need_their_pipeline_and_hook);

async fn writes_need_their_pipeline_and_hook(app: TestApp) {
    let s = app.store.as_ref();
    let (pipeline, hook) = catalog(s).await;

    // Under a live pipeline and hook: committed.
    let ok = write("1", &hook, &pipeline);
    let committed = s.commit_ingest(Arc::new(vec![ok])).await.unwrap();
    assert!(
        matches!(&committed[..], [IngestResult::Accepted { .. }]),
        "{committed:?}"
    );
    assert!(s.get_delivery("dlv_1").await.unwrap().is_some());
    assert!(s.get_run("run_1").await.unwrap().is_some());

    // A hook or a pipeline that is gone: refused, nothing stored.
    for (n, hook_id, pipeline_id) in [("2", "hk_gone", &*pipeline), ("3", &*hook, "pl_gone")] {
        let refused = s
            .commit_ingest(Arc::new(vec![write(n, hook_id, pipeline_id)]))
            .await;
        assert!(
            refused.is_err(),
            "hook {hook_id}, pipeline {pipeline_id}: {refused:?}"
        );
        assert!(s.get_delivery(&format!("dlv_{n}")).await.unwrap().is_none());
        assert!(s.get_run(&format!("run_{n}")).await.unwrap().is_none());
    }
    // One bad write fails its batch (the committer then retries each write alone).
    let batch = vec![
        write("4", &hook, &pipeline),
        write("5", "hk_gone", &pipeline),
    ];
    assert!(s.commit_ingest(Arc::new(batch)).await.is_err());
    assert!(s.get_run("run_4").await.unwrap().is_none(), "rolled back");
    // A run made outside ingest (manual, retry) checks its pipeline too.
    let mut manual = write("6", &hook, "pl_gone").run.unwrap();
    manual.delivery_id = None;
    assert!(s.insert_run(&manual).await.is_err());
    assert!(s.get_run("run_6").await.unwrap().is_none());

    // Deleting the hook deletes its request log; deleting the pipeline its runs.
    assert!(s.delete_hook(&hook).await.unwrap());
    assert!(s.get_delivery("dlv_1").await.unwrap().is_none());
    assert!(
        s.get_run("run_1").await.unwrap().is_some(),
        "a run outlives its hook"
    );
    assert!(s.delete_pipeline(&pipeline).await.unwrap());
    assert!(s.get_run("run_1").await.unwrap().is_none());
}

/// A project with one pipeline and one GitHub hook: (pipeline id, hook id).
async fn catalog(s: &dyn Store) -> (String, String) {
    let now = now_ms();
    s.insert_project(&ProjectRow {
        id: "prj_parents".into(),
        name: "parents".into(),
        created_at: now,
    })
    .await
    .unwrap();
    s.insert_pipeline(&PipelineRow {
        id: "pl_parents".into(),
        project_id: "prj_parents".into(),
        name: "deploy".into(),
        spec: "{}".into(),
        created_at: now,
        updated_at: now,
    })
    .await
    .unwrap();
    s.insert_hook(&HookRow {
        id: "hk_parents".into(),
        pipeline_id: "pl_parents".into(),
        project_id: "prj_parents".into(),
        name: "h".into(),
        provider: "github".into(),
        is_active: true,
        config: "{}".into(),
        secret_ct: vec![1, 2, 3],
        secret_last4: "abcd".into(),
        prev_secret_ct: None,
        prev_secret_expires_at: None,
        created_at: now,
        updated_at: now,
    })
    .await
    .unwrap();
    ("pl_parents".into(), "hk_parents".into())
}

/// An accepted GitHub push under `hook_id` whose run is `pipeline_id`'s: `dlv_{n}`, `run_{n}`.
fn write(n: &str, hook_id: &str, pipeline_id: &str) -> IngestWrite {
    let now = now_ms();
    let run = RunRow {
        id: format!("run_{n}"),
        pipeline_id: pipeline_id.into(),
        project_id: "prj_parents".into(),
        hook_id: Some(hook_id.into()),
        delivery_id: Some(format!("dlv_{n}")),
        status: RunStatus::Queued,
        reason: None,
        variables: "{}".into(),
        triggered_by: format!("hook:{hook_id}"),
        concurrency_key: None,
        attempt: 0,
        lease_expires_at: None,
        created_at: now,
        started_at: None,
        finished_at: None,
        worker_id: None,
        cancel_requested: false,
        max_attempts: 1,
        concurrency_policy: None,
        concurrency_max: None,
    };
    let delivery = DeliveryRow {
        id: format!("dlv_{n}"),
        hook_id: hook_id.into(),
        project_id: "prj_parents".into(),
        received_at: now,
        status_code: 202,
        outcome: "accepted".into(),
        error: None,
        verification: r#"{"result":"verified"}"#.into(),
        filter_reason: None,
        variables: Some("{}".into()),
        problems: None,
        run_id: Some(run.id.clone()),
        provider_delivery_id: Some(format!("guid-{n}")),
        event: Some("push".into()),
        content_type: Some("application/json".into()),
        query: None,
        headers: "{}".into(),
        body: b"{}".to_vec(),
        body_size: 2,
        body_truncated: false,
        replay_of: None,
        body_encoding: None,
    };
    IngestWrite {
        delivery,
        run: Some(run),
        dedup_key: Some(format!("guid-{n}")),
    }
}
