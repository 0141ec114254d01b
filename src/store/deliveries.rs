//! The request-log aggregate: deliveries read back (bodies unpacked) and purged by retention.
//! Deliveries are written by the group commit (store/ingest.rs).

/// Expands to `impl $ty { … }` with the request log's reads and its purge, as inherent methods
/// the `Store` methods of the same names delegate to. The backend needs a `pool` field.
macro_rules! impl_deliveries {
    ($ty:ty) => { impl $ty {
            pub(crate) async fn get_delivery(&self, id: &str) -> Result<Option<DeliveryRow>, StoreError> {
                let row: Option<DeliveryRow> =
                    sqlx::query_as("SELECT * FROM deliveries WHERE id = $1").bind(id).fetch_optional(&self.pool).await?;
                row.map(|mut r| $crate::store::compress::unpack(&mut r).map(|()| r)).transpose()
            }

            pub(crate) async fn list_deliveries(
                &self,
                hook_id: &str,
                before: Option<(i64, String)>,
                limit: i64,
            ) -> Result<Vec<DeliveryRow>, StoreError> {
                let rows = match before {
                    None => {
                        sqlx::query_as("SELECT * FROM deliveries WHERE hook_id = $1 ORDER BY received_at DESC, id DESC LIMIT $2")
                            .bind(hook_id)
                            .bind(limit)
                            .fetch_all(&self.pool)
                            .await?
                    }
                    Some((at, id)) => {
                        sqlx::query_as(
                            "SELECT * FROM deliveries WHERE hook_id = $1 AND (received_at < $2 OR (received_at = $2 AND id < $3)) \
                             ORDER BY received_at DESC, id DESC LIMIT $4",
                        )
                        .bind(hook_id)
                        .bind(at)
                        .bind(id)
                        .bind(limit)
                        .fetch_all(&self.pool)
                        .await?
                    }
                };
                let mut rows: Vec<DeliveryRow> = rows;
                for r in &mut rows {
                    $crate::store::compress::unpack(r)?;
                }
                Ok(rows)
            }

            pub(crate) async fn purge(&self, deliveries_before: i64, ids_before: i64) -> Result<u64, StoreError> {
                let gone = sqlx::query("DELETE FROM deliveries WHERE received_at < $1")
                    .bind(deliveries_before)
                    .execute(&self.pool)
                    .await?
                    .rows_affected();
                sqlx::query("DELETE FROM delivery_ids WHERE created_at < $1").bind(ids_before).execute(&self.pool).await?;
                Ok(gone)
            }
    } };
}
