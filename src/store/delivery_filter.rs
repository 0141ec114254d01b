//! The request log filtered by outcome (the console's filter), with the same cursor as
//! [`super::Store::list_deliveries`].

use super::{DeliveryRow, StoreError};

/// Reads a hook's deliveries of one outcome; every [`super::Store`] is one.
#[async_trait::async_trait]
pub trait DeliveryFilter: Send + Sync {
    /// A hook's deliveries whose outcome is `outcome`, newest first, before the
    /// `(received_at, id)` cursor when given.
    async fn list_deliveries_with_outcome(
        &self,
        hook_id: &str,
        outcome: &str,
        before: Option<(i64, String)>,
        limit: i64,
    ) -> Result<Vec<DeliveryRow>, StoreError>;
}

/// Expands to `impl DeliveryFilter for $ty` (a type with a `pool` field).
macro_rules! impl_delivery_filter {
    ($ty:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::delivery_filter::DeliveryFilter for $ty {
            async fn list_deliveries_with_outcome(
                &self,
                hook_id: &str,
                outcome: &str,
                before: Option<(i64, String)>,
                limit: i64,
            ) -> Result<Vec<DeliveryRow>, StoreError> {
                // A cursor far in the future reads like no cursor: one query either way.
                let (at, id) = before.unwrap_or((i64::MAX, String::new()));
                let no_cursor = id.is_empty();
                let mut rows: Vec<DeliveryRow> = sqlx::query_as(
                    "SELECT * FROM deliveries WHERE hook_id = $1 AND outcome = $2 \
                     AND ($5 OR received_at < $3 OR (received_at = $3 AND id < $4)) \
                     ORDER BY received_at DESC, id DESC LIMIT $6",
                )
                .bind(hook_id)
                .bind(outcome)
                .bind(at)
                .bind(id)
                .bind(no_cursor)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                for r in &mut rows {
                    $crate::store::compress::unpack(r)?;
                }
                Ok(rows)
            }
        }
    };
}
