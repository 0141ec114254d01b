//! The catalog writes (pipelines, secrets, hooks, outgoing hooks) as statements with their
//! binds, written once: the `Store` methods run them on the pool, `apply` inside its
//! transaction (store/apply.rs).

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
