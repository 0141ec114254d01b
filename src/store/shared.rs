//! The queries both dialects share, written once. `$1`-style placeholders work in SQLite and
//! PostgreSQL alike, so each backend expands this macro inside its own `impl Store`.

/// Expands to `impl Store for $ty` with the methods whose SQL is the same in both dialects,
/// plus the backend's own methods given as `$extra`. The backend type needs a `pool` field.
/// (The whole impl is generated here because `#[async_trait]` must see every method.)
macro_rules! impl_store {
    ($ty:ty, { $($extra:tt)* }) => {
        #[async_trait::async_trait]
        impl Store for $ty {
        async fn ping(&self) -> Result<(), StoreError> {
            sqlx::query("SELECT 1").execute(&self.pool).await?;
            Ok(())
        }

        async fn insert_project(&self, p: &ProjectRow) -> Result<(), StoreError> {
            sqlx::query("INSERT INTO projects (id, name, created_at) VALUES ($1, $2, $3)")
                .bind(&p.id)
                .bind(&p.name)
                .bind(p.created_at)
                .execute(&self.pool)
                .await?;
            Ok(())
        }

        async fn list_projects(&self) -> Result<Vec<ProjectRow>, StoreError> {
            Ok(sqlx::query_as("SELECT * FROM projects ORDER BY created_at, id").fetch_all(&self.pool).await?)
        }

        async fn get_project(&self, id: &str) -> Result<Option<ProjectRow>, StoreError> {
            Ok(sqlx::query_as("SELECT * FROM projects WHERE id = $1").bind(id).fetch_optional(&self.pool).await?)
        }

        async fn get_project_by_name(&self, name: &str) -> Result<Option<ProjectRow>, StoreError> {
            Ok(sqlx::query_as("SELECT * FROM projects WHERE name = $1").bind(name).fetch_optional(&self.pool).await?)
        }

        async fn insert_token(&self, t: &TokenRow) -> Result<(), StoreError> {
            sqlx::query(
                "INSERT INTO tokens (id, project_id, name, role, token_hash, last4, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&t.id)
            .bind(&t.project_id)
            .bind(&t.name)
            .bind(&t.role)
            .bind(&t.token_hash)
            .bind(&t.last4)
            .bind(t.created_at)
            .execute(&self.pool)
            .await?;
            Ok(())
        }

        async fn list_tokens(&self, project_id: &str) -> Result<Vec<TokenRow>, StoreError> {
            Ok(sqlx::query_as("SELECT * FROM tokens WHERE project_id = $1 ORDER BY created_at, id")
                .bind(project_id)
                .fetch_all(&self.pool)
                .await?)
        }

        async fn get_token(&self, id: &str) -> Result<Option<TokenRow>, StoreError> {
            Ok(sqlx::query_as("SELECT * FROM tokens WHERE id = $1").bind(id).fetch_optional(&self.pool).await?)
        }

        async fn find_token_by_hash(&self, hash: &str) -> Result<Option<TokenRow>, StoreError> {
            Ok(sqlx::query_as("SELECT * FROM tokens WHERE token_hash = $1")
                .bind(hash)
                .fetch_optional(&self.pool)
                .await?)
        }

        async fn delete_token(&self, id: &str) -> Result<bool, StoreError> {
            let r = sqlx::query("DELETE FROM tokens WHERE id = $1").bind(id).execute(&self.pool).await?;
            Ok(r.rows_affected() > 0)
        }

        async fn insert_pipeline(&self, p: &PipelineRow) -> Result<(), StoreError> {
            sqlx::query(
                "INSERT INTO pipelines (id, project_id, name, spec, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&p.id)
            .bind(&p.project_id)
            .bind(&p.name)
            .bind(&p.spec)
            .bind(p.created_at)
            .bind(p.updated_at)
            .execute(&self.pool)
            .await?;
            Ok(())
        }

        async fn list_pipelines(&self, project_id: &str) -> Result<Vec<PipelineRow>, StoreError> {
            Ok(sqlx::query_as("SELECT * FROM pipelines WHERE project_id = $1 ORDER BY created_at, id")
                .bind(project_id)
                .fetch_all(&self.pool)
                .await?)
        }

        async fn get_pipeline(&self, id: &str) -> Result<Option<PipelineRow>, StoreError> {
            Ok(sqlx::query_as("SELECT * FROM pipelines WHERE id = $1").bind(id).fetch_optional(&self.pool).await?)
        }

        async fn update_pipeline(&self, p: &PipelineRow) -> Result<bool, StoreError> {
            let r = sqlx::query("UPDATE pipelines SET name = $2, spec = $3, updated_at = $4 WHERE id = $1")
                .bind(&p.id)
                .bind(&p.name)
                .bind(&p.spec)
                .bind(p.updated_at)
                .execute(&self.pool)
                .await?;
            Ok(r.rows_affected() > 0)
        }

        async fn delete_pipeline(&self, id: &str) -> Result<bool, StoreError> {
            let r = sqlx::query("DELETE FROM pipelines WHERE id = $1").bind(id).execute(&self.pool).await?;
            Ok(r.rows_affected() > 0)
        }

        async fn put_secret(&self, s: &SecretRow) -> Result<(), StoreError> {
            sqlx::query(
                "INSERT INTO pipeline_secrets (pipeline_id, name, ciphertext, last4, updated_at) \
                 VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (pipeline_id, name) DO UPDATE \
                 SET ciphertext = excluded.ciphertext, last4 = excluded.last4, updated_at = excluded.updated_at",
            )
            .bind(&s.pipeline_id)
            .bind(&s.name)
            .bind(&s.ciphertext)
            .bind(&s.last4)
            .bind(s.updated_at)
            .execute(&self.pool)
            .await?;
            Ok(())
        }

        async fn list_secrets(&self, pipeline_id: &str) -> Result<Vec<SecretRow>, StoreError> {
            Ok(sqlx::query_as("SELECT * FROM pipeline_secrets WHERE pipeline_id = $1 ORDER BY name")
                .bind(pipeline_id)
                .fetch_all(&self.pool)
                .await?)
        }

        async fn delete_secret(&self, pipeline_id: &str, name: &str) -> Result<bool, StoreError> {
            let r = sqlx::query("DELETE FROM pipeline_secrets WHERE pipeline_id = $1 AND name = $2")
                .bind(pipeline_id)
                .bind(name)
                .execute(&self.pool)
                .await?;
            Ok(r.rows_affected() > 0)
        }

        async fn insert_hook(&self, h: &HookRow) -> Result<(), StoreError> {
            sqlx::query(
                "INSERT INTO incoming_hooks (id, pipeline_id, project_id, name, provider, is_active, config, \
                 secret_ct, secret_last4, prev_secret_ct, prev_secret_expires_at, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
            )
            .bind(&h.id)
            .bind(&h.pipeline_id)
            .bind(&h.project_id)
            .bind(&h.name)
            .bind(&h.provider)
            .bind(h.is_active)
            .bind(&h.config)
            .bind(&h.secret_ct)
            .bind(&h.secret_last4)
            .bind(&h.prev_secret_ct)
            .bind(h.prev_secret_expires_at)
            .bind(h.created_at)
            .bind(h.updated_at)
            .execute(&self.pool)
            .await?;
            Ok(())
        }

        async fn get_hook(&self, id: &str) -> Result<Option<HookRow>, StoreError> {
            Ok(sqlx::query_as("SELECT * FROM incoming_hooks WHERE id = $1").bind(id).fetch_optional(&self.pool).await?)
        }

        async fn list_hooks(&self, pipeline_id: &str) -> Result<Vec<HookRow>, StoreError> {
            Ok(sqlx::query_as("SELECT * FROM incoming_hooks WHERE pipeline_id = $1 ORDER BY created_at, id")
                .bind(pipeline_id)
                .fetch_all(&self.pool)
                .await?)
        }

        async fn update_hook(&self, h: &HookRow) -> Result<bool, StoreError> {
            let r = sqlx::query(
                "UPDATE incoming_hooks SET name = $2, provider = $3, is_active = $4, config = $5, secret_ct = $6, \
                 secret_last4 = $7, prev_secret_ct = $8, prev_secret_expires_at = $9, updated_at = $10 WHERE id = $1",
            )
            .bind(&h.id)
            .bind(&h.name)
            .bind(&h.provider)
            .bind(h.is_active)
            .bind(&h.config)
            .bind(&h.secret_ct)
            .bind(&h.secret_last4)
            .bind(&h.prev_secret_ct)
            .bind(h.prev_secret_expires_at)
            .bind(h.updated_at)
            .execute(&self.pool)
            .await?;
            Ok(r.rows_affected() > 0)
        }

        async fn delete_hook(&self, id: &str) -> Result<bool, StoreError> {
            let r = sqlx::query("DELETE FROM incoming_hooks WHERE id = $1").bind(id).execute(&self.pool).await?;
            Ok(r.rows_affected() > 0)
        }
        $($extra)*
        }
    };
}
