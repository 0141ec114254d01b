//! Web console sessions (SPEC §10): server-side rows keyed by a hash of the session id.

use super::StoreError;

/// A console session as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SessionRow {
    /// Hex SHA-256 of the session id; the id itself lives only in the browser's cookie.
    pub id_hash: String,
    /// The API token the session acts as.
    pub token_id: String,
    pub created_at: i64,
    /// Unix ms of the last request; the session expires when idle too long.
    pub last_seen_at: i64,
}

/// The session half of the store; every [`super::Store`] is one.
#[async_trait::async_trait]
pub trait SessionStore: Send + Sync {
    async fn insert_session(&self, s: &SessionRow) -> Result<(), StoreError>;
    async fn get_session(&self, id_hash: &str) -> Result<Option<SessionRow>, StoreError>;
    /// Moves `last_seen_at` to `now`; false when the session is gone.
    async fn touch_session(&self, id_hash: &str, now: i64) -> Result<bool, StoreError>;
    /// Ends a session; false when there was none.
    async fn delete_session(&self, id_hash: &str) -> Result<bool, StoreError>;
    /// Deletes sessions idle since before `before`; returns how many went.
    async fn purge_sessions(&self, before: i64) -> Result<u64, StoreError>;
}

/// Expands to `impl SessionStore for $ty` (a type with a `pool` field); the SQL is the same in
/// both dialects.
macro_rules! impl_session_store {
    ($ty:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::session::SessionStore for $ty {
            async fn insert_session(
                &self,
                s: &$crate::store::session::SessionRow,
            ) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO console_sessions (id_hash, token_id, created_at, last_seen_at) \
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(&s.id_hash)
                .bind(&s.token_id)
                .bind(s.created_at)
                .bind(s.last_seen_at)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn get_session(
                &self,
                id_hash: &str,
            ) -> Result<Option<$crate::store::session::SessionRow>, StoreError> {
                Ok(sqlx::query_as(
                    "SELECT id_hash, token_id, created_at, last_seen_at FROM console_sessions \
                     WHERE id_hash = $1",
                )
                .bind(id_hash)
                .fetch_optional(&self.pool)
                .await?)
            }

            async fn touch_session(&self, id_hash: &str, now: i64) -> Result<bool, StoreError> {
                let done =
                    sqlx::query("UPDATE console_sessions SET last_seen_at = $2 WHERE id_hash = $1")
                        .bind(id_hash)
                        .bind(now)
                        .execute(&self.pool)
                        .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn delete_session(&self, id_hash: &str) -> Result<bool, StoreError> {
                let done = sqlx::query("DELETE FROM console_sessions WHERE id_hash = $1")
                    .bind(id_hash)
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn purge_sessions(&self, before: i64) -> Result<u64, StoreError> {
                let done = sqlx::query("DELETE FROM console_sessions WHERE last_seen_at < $1")
                    .bind(before)
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected())
            }
        }
    };
}
