//! The catalog aggregate: projects, tokens, pipelines, secrets and incoming hooks.
//!
//! - `catalog_query!`: the catalog writes (pipelines, secrets, hooks, outgoing hooks) as
//!   statements with their binds, written once: the `Store` methods run them on the pool,
//!   `apply` inside its transaction (store/apply.rs).
//! - `impl_catalog!`: the catalog's reads and writes as inherent methods of a backend, which
//!   its `impl Store` (store/shared.rs) delegates to.

/// `catalog_query!(insert_hook, &row)`: the statement with every column bound, ready for
/// `.execute(executor)`.
macro_rules! catalog_query {
    (insert_pipeline, $p:expr) => {{
        let p = $p;
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
    }};
    (update_pipeline, $p:expr) => {{
        let p = $p;
        sqlx::query("UPDATE pipelines SET name = $2, spec = $3, updated_at = $4 WHERE id = $1")
        .bind(&p.id)
        .bind(&p.name)
        .bind(&p.spec)
        .bind(p.updated_at)
    }};
    (put_secret, $s:expr) => {{
        let s = $s;
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
    }};
    (insert_hook, $h:expr) => {{
        let h = $h;
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
    }};
    (update_hook, $h:expr) => {{
        let h = $h;
        sqlx::query(
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
    }};
    (insert_outgoing_hook, $h:expr) => {{
        let h = $h;
        sqlx::query(
            "INSERT INTO outgoing_hooks (id, pipeline_id, project_id, name, channel, url, headers, triggers, payload, \
             text_template, timeout_secs, is_active, disabled_reason, secret_ct, secret_last4, created_at, updated_at, \
             prev_secret_ct, prev_secret_expires_at, email_to, subject_template, payload_template, secret_header, \
             request_form, request_doc) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, \
             $23, $24, $25)",
        )
        .bind(&h.id)
        .bind(&h.pipeline_id)
        .bind(&h.project_id)
        .bind(&h.name)
        .bind(&h.channel)
        .bind(&h.url)
        .bind(&h.headers)
        .bind(&h.triggers)
        .bind(&h.payload)
        .bind(&h.text_template)
        .bind(h.timeout_secs)
        .bind(h.is_active)
        .bind(&h.disabled_reason)
        .bind(&h.secret_ct)
        .bind(&h.secret_last4)
        .bind(h.created_at)
        .bind(h.updated_at)
        .bind(&h.prev_secret_ct)
        .bind(h.prev_secret_expires_at)
        .bind(&h.email_to)
        .bind(&h.subject_template)
        .bind(&h.payload_template)
        .bind(&h.secret_header)
        .bind(&h.request_form)
        .bind(&h.request_doc)
    }};
    (update_outgoing_hook, $h:expr) => {{
        let h = $h;
        sqlx::query(
            "UPDATE outgoing_hooks SET name = $2, channel = $3, url = $4, headers = $5, triggers = $6, payload = $7, \
             text_template = $8, timeout_secs = $9, is_active = $10, disabled_reason = $11, secret_ct = $12, \
             secret_last4 = $13, updated_at = $14, prev_secret_ct = $15, prev_secret_expires_at = $16, email_to = $17, \
             subject_template = $18, payload_template = $19, secret_header = $20, request_form = $21, request_doc = $22 \
             WHERE id = $1",
        )
        .bind(&h.id)
        .bind(&h.name)
        .bind(&h.channel)
        .bind(&h.url)
        .bind(&h.headers)
        .bind(&h.triggers)
        .bind(&h.payload)
        .bind(&h.text_template)
        .bind(h.timeout_secs)
        .bind(h.is_active)
        .bind(&h.disabled_reason)
        .bind(&h.secret_ct)
        .bind(&h.secret_last4)
        .bind(h.updated_at)
        .bind(&h.prev_secret_ct)
        .bind(h.prev_secret_expires_at)
        .bind(&h.email_to)
        .bind(&h.subject_template)
        .bind(&h.payload_template)
        .bind(&h.secret_header)
        .bind(&h.request_form)
        .bind(&h.request_doc)
    }};
}

/// Expands to `impl $ty { … }` with the catalog's methods (the `Store` methods of the same
/// names delegate to them); `Dialect::BEGIN_WRITE` opens a write transaction.
/// The backend needs a `pool` field and an inherent `async fn config_changed(&self)`.
macro_rules! impl_catalog {
    ($ty:ty) => { impl $ty {
            pub(crate) async fn insert_project(&self, p: &ProjectRow) -> Result<(), StoreError> {
                sqlx::query("INSERT INTO projects (id, name, created_at) VALUES ($1, $2, $3)")
                    .bind(&p.id)
                    .bind(&p.name)
                    .bind(p.created_at)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            pub(crate) async fn list_projects(&self) -> Result<Vec<ProjectRow>, StoreError> {
                Ok(sqlx::query_as("SELECT * FROM projects ORDER BY created_at, id").fetch_all(&self.pool).await?)
            }

            pub(crate) async fn get_project(&self, id: &str) -> Result<Option<ProjectRow>, StoreError> {
                Ok(sqlx::query_as("SELECT * FROM projects WHERE id = $1").bind(id).fetch_optional(&self.pool).await?)
            }

            pub(crate) async fn get_project_by_name(&self, name: &str) -> Result<Option<ProjectRow>, StoreError> {
                Ok(sqlx::query_as("SELECT * FROM projects WHERE name = $1").bind(name).fetch_optional(&self.pool).await?)
            }

            pub(crate) async fn insert_token(&self, t: &TokenRow) -> Result<(), StoreError> {
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

            pub(crate) async fn list_tokens(&self, project_id: &str) -> Result<Vec<TokenRow>, StoreError> {
                Ok(sqlx::query_as("SELECT * FROM tokens WHERE project_id = $1 ORDER BY created_at, id")
                    .bind(project_id)
                    .fetch_all(&self.pool)
                    .await?)
            }

            pub(crate) async fn get_token(&self, id: &str) -> Result<Option<TokenRow>, StoreError> {
                Ok(sqlx::query_as("SELECT * FROM tokens WHERE id = $1").bind(id).fetch_optional(&self.pool).await?)
            }

            pub(crate) async fn find_token_by_hash(&self, hash: &str) -> Result<Option<TokenRow>, StoreError> {
                Ok(sqlx::query_as("SELECT * FROM tokens WHERE token_hash = $1")
                    .bind(hash)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            pub(crate) async fn delete_token(&self, id: &str) -> Result<bool, StoreError> {
                let r = sqlx::query("DELETE FROM tokens WHERE id = $1").bind(id).execute(&self.pool).await?;
                Ok(r.rows_affected() > 0)
            }

            pub(crate) async fn insert_pipeline(&self, p: &PipelineRow) -> Result<(), StoreError> {
                let mut tx = self.pool.begin_with(<$ty as $crate::store::shared::Dialect>::BEGIN_WRITE).await?;
                catalog_query!(insert_pipeline, p)
                .execute(&mut *tx)
                .await?;
                pipeline_events!(tx, &p.id, &p.name, &p.project_id, "pipeline.created", p.created_at);
                tx.commit().await?;
                Ok(())
            }

            pub(crate) async fn list_pipelines(&self, project_id: &str) -> Result<Vec<PipelineRow>, StoreError> {
                Ok(sqlx::query_as("SELECT * FROM pipelines WHERE project_id = $1 ORDER BY created_at, id")
                    .bind(project_id)
                    .fetch_all(&self.pool)
                    .await?)
            }

            pub(crate) async fn get_pipeline(&self, id: &str) -> Result<Option<PipelineRow>, StoreError> {
                Ok(sqlx::query_as("SELECT * FROM pipelines WHERE id = $1").bind(id).fetch_optional(&self.pool).await?)
            }

            pub(crate) async fn update_pipeline(&self, p: &PipelineRow) -> Result<bool, StoreError> {
                let mut tx = self.pool.begin_with(<$ty as $crate::store::shared::Dialect>::BEGIN_WRITE).await?;
                let updated: Option<(String,)> =
                    sqlx::query_as("UPDATE pipelines SET name = $2, spec = $3, updated_at = $4 WHERE id = $1 RETURNING project_id")
                        .bind(&p.id)
                        .bind(&p.name)
                        .bind(&p.spec)
                        .bind(p.updated_at)
                        .fetch_optional(&mut *tx)
                        .await?;
                if let Some((project_id,)) = &updated {
                    pipeline_events!(tx, &p.id, &p.name, project_id, "pipeline.updated", p.updated_at);
                }
                tx.commit().await?;
                self.config_changed().await;
                Ok(updated.is_some())
            }

            pub(crate) async fn delete_pipeline(&self, id: &str) -> Result<bool, StoreError> {
                let mut tx = self.pool.begin_with(<$ty as $crate::store::shared::Dialect>::BEGIN_WRITE).await?;
                let deleted: Option<(String, String)> =
                    sqlx::query_as("DELETE FROM pipelines WHERE id = $1 RETURNING name, project_id")
                        .bind(id)
                        .fetch_optional(&mut *tx)
                        .await?;
                if let Some((name, project_id)) = &deleted {
                    let now = $crate::domain::time::now_ms();
                    pipeline_events!(tx, id, name, project_id, "pipeline.deleted", now);
                }
                tx.commit().await?;
                self.config_changed().await;
                Ok(deleted.is_some())
            }

            pub(crate) async fn put_secret(&self, s: &SecretRow) -> Result<(), StoreError> {
                catalog_query!(put_secret, s)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            pub(crate) async fn list_secrets(&self, pipeline_id: &str) -> Result<Vec<SecretRow>, StoreError> {
                Ok(sqlx::query_as("SELECT * FROM pipeline_secrets WHERE pipeline_id = $1 ORDER BY name")
                    .bind(pipeline_id)
                    .fetch_all(&self.pool)
                    .await?)
            }

            pub(crate) async fn delete_secret(&self, pipeline_id: &str, name: &str) -> Result<bool, StoreError> {
                let r = sqlx::query("DELETE FROM pipeline_secrets WHERE pipeline_id = $1 AND name = $2")
                    .bind(pipeline_id)
                    .bind(name)
                    .execute(&self.pool)
                    .await?;
                Ok(r.rows_affected() > 0)
            }

            pub(crate) async fn insert_hook(&self, h: &HookRow) -> Result<(), StoreError> {
                catalog_query!(insert_hook, h)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            pub(crate) async fn get_hook(&self, id: &str) -> Result<Option<HookRow>, StoreError> {
                Ok(sqlx::query_as("SELECT * FROM incoming_hooks WHERE id = $1").bind(id).fetch_optional(&self.pool).await?)
            }

            pub(crate) async fn list_hooks(&self, pipeline_id: &str) -> Result<Vec<HookRow>, StoreError> {
                Ok(sqlx::query_as("SELECT * FROM incoming_hooks WHERE pipeline_id = $1 ORDER BY created_at, id")
                    .bind(pipeline_id)
                    .fetch_all(&self.pool)
                    .await?)
            }

            pub(crate) async fn update_hook(&self, h: &HookRow) -> Result<bool, StoreError> {
                let r = catalog_query!(update_hook, h)
                .execute(&self.pool)
                .await?;
                self.config_changed().await;
                Ok(r.rows_affected() > 0)
            }

            pub(crate) async fn delete_hook(&self, id: &str) -> Result<bool, StoreError> {
                let r = sqlx::query("DELETE FROM incoming_hooks WHERE id = $1").bind(id).execute(&self.pool).await?;
                self.config_changed().await;
                Ok(r.rows_affected() > 0)
            }

            pub(crate) async fn get_hook_for_ingest(&self, id: &str) -> Result<Option<IngestHookRow>, StoreError> {
                Ok(sqlx::query_as(
                    "SELECT h.*, p.name AS pipeline_name, p.spec AS pipeline_spec, p.updated_at AS pipeline_updated_at \
                     FROM incoming_hooks h JOIN pipelines p ON p.id = h.pipeline_id WHERE h.id = $1",
                )
                .bind(id)
                .fetch_optional(&self.pool)
                .await?)
            }
    } };
}
