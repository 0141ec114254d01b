//! Events that are not about one run (SPEC §6): `pipeline.created|updated|deleted`, written in
//! the transaction of the change, and `delivery.rejected|ignored`, counted by ingest per hook
//! and minute and sent once the minute is over, one event with the count and the last reason.

use super::StoreError;

/// The alert half of the store; every [`super::Store`] is one.
#[async_trait::async_trait]
pub trait AlertStore: Send + Sync {
    /// Turns the delivery alerts of minutes before `now`'s into events, due at once (at most
    /// 100 a call); each alert once, across processes. Returns how many were sent on.
    async fn emit_due_alerts(&self, now: i64) -> Result<usize, StoreError>;
}

/// The snapshot of a pipeline event: the pipeline and its project (no run).
pub fn pipeline_snapshot(
    pipeline_id: &str,
    pipeline_name: &str,
    project_id: &str,
    project_name: &str,
) -> String {
    serde_json::json!({
        "kind": "pipeline",
        "pipeline_id": pipeline_id,
        "pipeline_name": pipeline_name,
        "project_id": project_id,
        "project_name": project_name,
    })
    .to_string()
}

/// Inserts `$event` for every active outgoing hook of project `$project_id` that subscribes to
/// it, inside `$tx`. Pipeline events go to the whole project's hooks: a new pipeline has none
/// of its own yet, and a deleted one's go with it. The event's `run_id` is the pipeline id, so
/// one pipeline's events reach a hook in order.
macro_rules! pipeline_events {
    ($tx:ident, $pipeline_id:expr, $pipeline_name:expr, $project_id:expr, $event:expr, $now:expr) => {{
        let event: &str = $event;
        let hooks: Vec<(String, String)> = sqlx::query_as(
            "SELECT h.id, pr.name FROM outgoing_hooks h JOIN projects pr ON pr.id = h.project_id \
             WHERE h.project_id = $1 AND h.is_active = TRUE AND h.triggers LIKE '%' || $2 || '%' ORDER BY h.id",
        )
        .bind($project_id)
        .bind(format!("\"{event}\""))
        .fetch_all(&mut *$tx)
        .await?;
        for (hook_id, project_name) in &hooks {
            insert_event!(
                $tx,
                hook_id,
                $pipeline_id,
                event,
                $now,
                $crate::store::events::pipeline_snapshot($pipeline_id, $pipeline_name, $project_id, project_name)
            );
        }
    }};
}

/// Inserts one pending `outgoing_events` row inside `$tx`.
macro_rules! insert_event {
    ($tx:ident, $hook_id:expr, $subject_id:expr, $event:expr, $now:expr, $snapshot:expr) => {{
        sqlx::query(
            "INSERT INTO outgoing_events (id, hook_id, run_id, event, ordinal, occurred_at, snapshot, status, attempts, \
             next_attempt_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', 0, $6, $6)",
        )
        .bind($crate::domain::ids::new_id($crate::domain::ids::IdKind::Event))
        .bind($hook_id)
        .bind($subject_id)
        .bind($event)
        .bind($crate::domain::run::event_ordinal($event))
        .bind($now)
        .bind($snapshot)
        .execute(&mut *$tx)
        .await?;
    }};
}

/// Expands to `impl AlertStore for $ty`.
macro_rules! impl_alert_store {
    ($ty:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::AlertStore for $ty {
            async fn emit_due_alerts(&self, now: i64) -> Result<usize, StoreError> {
                type Due = (String, String, i64, i64, Option<String>, String, String, String, String, String);
                let due: Vec<Due> = sqlx::query_as(
                    "SELECT a.hook_id, a.kind, a.minute, a.count, a.last_reason, h.name, p.id, p.name, pr.id, pr.name \
                     FROM delivery_alerts a JOIN incoming_hooks h ON h.id = a.hook_id \
                     JOIN pipelines p ON p.id = h.pipeline_id JOIN projects pr ON pr.id = p.project_id \
                     WHERE a.emitted = FALSE AND a.minute < $1 ORDER BY a.minute LIMIT 100",
                )
                .bind(now.div_euclid(60_000))
                .fetch_all(&self.pool)
                .await?;
                let mut sent = 0;
                // `now` picks the minutes that are over; the events are due at once.
                let sent_at = $crate::domain::time::now_ms();
                for (hook_id, kind, minute, count, reason, hook_name, pl_id, pl_name, prj_id, prj_name) in due {
                    let mut tx = self.pool.begin_with(<$ty as $crate::store::shared::Dialect>::BEGIN_WRITE).await?;
                    let r = sqlx::query(
                        "UPDATE delivery_alerts SET emitted = TRUE WHERE hook_id = $1 AND kind = $2 AND minute = $3 \
                         AND emitted = FALSE",
                    )
                    .bind(&hook_id)
                    .bind(&kind)
                    .bind(minute)
                    .execute(&mut *tx)
                    .await?;
                    if r.rows_affected() != 1 {
                        continue;
                    }
                    let event = format!("delivery.{kind}");
                    let snapshot = serde_json::json!({
                        "kind": "delivery", "hook_id": hook_id, "hook_name": hook_name, "count": count,
                        "reason": reason, "minute_start": $crate::domain::time::rfc3339(minute * 60_000),
                        "pipeline_id": pl_id, "pipeline_name": pl_name, "project_id": prj_id, "project_name": prj_name,
                    })
                    .to_string();
                    let hooks = subscribed_hooks!(tx, &pl_id, &event);
                    for (oh, _, _) in &hooks {
                        insert_event!(tx, oh, &hook_id, event.as_str(), sent_at, &snapshot);
                    }
                    tx.commit().await?;
                    sent += 1;
                }
                Ok(sent)
            }
        }
    };
}
