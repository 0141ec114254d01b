//! The outbox aggregate: outgoing hooks, the events enqueued for them, and the attempts to
//! deliver those events (SPEC §6). The events are inserted by the run state changes
//! (store/runs.rs), in the same transaction.

/// Expands to `impl $ty { … }` with the outbox's methods, as inherent methods the `Store`
/// methods of the same names delegate to; the backend's `Dialect` gives the write transaction
/// and `SKIP_LOCKED`. The backend needs a `pool` field.
macro_rules! impl_outbox {
    ($ty:ty) => { impl $ty {
            pub(crate) async fn insert_outgoing_hook(&self, h: &OutgoingHookRow) -> Result<(), StoreError> {
                catalog_query!(insert_outgoing_hook, h)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            pub(crate) async fn get_outgoing_hook(&self, id: &str) -> Result<Option<OutgoingHookRow>, StoreError> {
                Ok(sqlx::query_as("SELECT * FROM outgoing_hooks WHERE id = $1").bind(id).fetch_optional(&self.pool).await?)
            }

            pub(crate) async fn list_outgoing_hooks(&self, pipeline_id: &str) -> Result<Vec<OutgoingHookRow>, StoreError> {
                Ok(sqlx::query_as("SELECT * FROM outgoing_hooks WHERE pipeline_id = $1 ORDER BY created_at, id")
                    .bind(pipeline_id)
                    .fetch_all(&self.pool)
                    .await?)
            }

            pub(crate) async fn update_outgoing_hook(&self, h: &OutgoingHookRow) -> Result<bool, StoreError> {
                let r = catalog_query!(update_outgoing_hook, h)
                .execute(&self.pool)
                .await?;
                Ok(r.rows_affected() > 0)
            }

            pub(crate) async fn delete_outgoing_hook(&self, id: &str) -> Result<bool, StoreError> {
                let r = sqlx::query("DELETE FROM outgoing_hooks WHERE id = $1").bind(id).execute(&self.pool).await?;
                Ok(r.rows_affected() > 0)
            }

            pub(crate) async fn claim_events(&self, now: i64, lease_ms: i64, limit: i64) -> Result<Vec<OutgoingEventRow>, StoreError> {
                let mut tx = self.pool.begin_with(<$ty as $crate::store::shared::Dialect>::BEGIN_WRITE).await?;
                // PostgreSQL: rows another process is claiming are skipped, not waited for; SQLite's
                // BEGIN IMMEDIATE already serializes claims.
                let lock = <$ty as $crate::store::shared::Dialect>::SKIP_LOCKED;
                let due: Vec<OutgoingEventRow> = sqlx::query_as(&format!(
                    "SELECT * FROM outgoing_events e WHERE status = 'pending' AND next_attempt_at <= $1 \
                     AND NOT EXISTS (SELECT 1 FROM outgoing_events o WHERE o.hook_id = e.hook_id AND o.run_id = e.run_id \
                     AND o.status = 'pending' AND (o.ordinal < e.ordinal OR (o.ordinal = e.ordinal AND \
                     (o.occurred_at < e.occurred_at OR (o.occurred_at = e.occurred_at AND o.id < e.id))))) \
                     ORDER BY next_attempt_at, id LIMIT $2{lock}"
                ))
                .bind(now)
                .bind(limit)
                .fetch_all(&mut *tx)
                .await?;
                let mut claimed = Vec::with_capacity(due.len());
                for mut event in due {
                    let r = sqlx::query(
                        "UPDATE outgoing_events SET next_attempt_at = $3 WHERE id = $1 AND status = 'pending' AND next_attempt_at = $2",
                    )
                    .bind(&event.id)
                    .bind(event.next_attempt_at)
                    .bind(now + lease_ms)
                    .execute(&mut *tx)
                    .await?;
                    if r.rows_affected() == 1 {
                        event.next_attempt_at = now + lease_ms;
                        claimed.push(event);
                    }
                }
                tx.commit().await?;
                Ok(claimed)
            }

            pub(crate) async fn record_attempt(&self, a: &OutgoingAttemptRow, next: &EventNext) -> Result<bool, StoreError> {
                let mut tx = self.pool.begin_with(<$ty as $crate::store::shared::Dialect>::BEGIN_WRITE).await?;
                let finished_at = a.at + a.latency_ms;
                let (status, next_at, finished) = match next {
                    EventNext::Delivered => ("delivered", finished_at, Some(finished_at)),
                    EventNext::Retry { at } => ("pending", *at, None),
                    EventNext::Failed { .. } => ("failed", finished_at, Some(finished_at)),
                };
                let r = sqlx::query(
                    "UPDATE outgoing_events SET status = $3, attempts = $2, next_attempt_at = $4, last_error = $5, finished_at = $6 \
                     WHERE id = $1 AND status = 'pending' AND attempts = $2 - 1",
                )
                .bind(&a.event_id)
                .bind(a.attempt)
                .bind(status)
                .bind(next_at)
                .bind(&a.error)
                .bind(finished)
                .execute(&mut *tx)
                .await?;
                if r.rows_affected() != 1 {
                    return Ok(false);
                }
                sqlx::query(
                    "INSERT INTO outgoing_attempts (event_id, hook_id, attempt, at, status_code, latency_ms, error) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(&a.event_id)
                .bind(&a.hook_id)
                .bind(a.attempt)
                .bind(a.at)
                .bind(a.status_code)
                .bind(a.latency_ms)
                .bind(&a.error)
                .execute(&mut *tx)
                .await?;
                if let EventNext::Failed { disable_hook: Some(reason) } = next {
                    sqlx::query("UPDATE outgoing_hooks SET is_active = FALSE, disabled_reason = $2, updated_at = $3 WHERE id = $1")
                        .bind(&a.hook_id)
                        .bind(reason)
                        .bind(finished_at)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(true)
            }

            pub(crate) async fn fail_event(&self, event_id: &str, error: &str, now: i64) -> Result<bool, StoreError> {
                let r = sqlx::query(
                    "UPDATE outgoing_events SET status = 'failed', last_error = $2, finished_at = $3 WHERE id = $1 AND status = 'pending'",
                )
                .bind(event_id)
                .bind(error)
                .bind(now)
                .execute(&self.pool)
                .await?;
                Ok(r.rows_affected() == 1)
            }

            pub(crate) async fn next_event_due(&self) -> Result<Option<i64>, StoreError> {
                let (due,): (Option<i64>,) =
                    sqlx::query_as("SELECT MIN(next_attempt_at) FROM outgoing_events WHERE status = 'pending'")
                        .fetch_one(&self.pool)
                        .await?;
                Ok(due)
            }

            pub(crate) async fn list_attempts(&self, hook_id: &str, limit: i64) -> Result<Vec<OutgoingAttemptView>, StoreError> {
                Ok(sqlx::query_as(
                    "SELECT a.*, e.event FROM outgoing_attempts a JOIN outgoing_events e ON e.id = a.event_id \
                     WHERE a.hook_id = $1 ORDER BY a.at DESC, a.attempt DESC LIMIT $2",
                )
                .bind(hook_id)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?)
            }

            pub(crate) async fn list_events(&self, hook_id: &str, limit: i64) -> Result<Vec<OutgoingEventRow>, StoreError> {
                Ok(sqlx::query_as(
                    "SELECT * FROM outgoing_events WHERE hook_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2",
                )
                .bind(hook_id)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?)
            }
    } };
}
