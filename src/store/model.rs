//! Rows as stored. Timestamps are Unix milliseconds; JSON documents are text.

/// A project (tenant).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ProjectRow {
    pub id: String,
    pub name: String,
    pub created_at: i64,
}

/// An API token; only its hash is kept. `project_id` is `None` for an admin token.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TokenRow {
    pub id: String,
    pub project_id: Option<String>,
    pub name: String,
    pub role: String,
    pub token_hash: String,
    pub last4: String,
    pub created_at: i64,
}

/// A pipeline; `spec` is its JSON definition (steps, concurrency, variables, retries).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PipelineRow {
    pub id: String,
    pub project_id: String,
    pub name: String,
    pub spec: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A pipeline secret, sealed under the master key.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SecretRow {
    pub pipeline_id: String,
    pub name: String,
    pub ciphertext: Vec<u8>,
    pub last4: String,
    pub updated_at: i64,
}

/// An incoming hook. `config` is its JSON settings; the secret is sealed under the master key.
/// During a rotation's grace period the previous secret is kept until `prev_secret_expires_at`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct HookRow {
    pub id: String,
    pub pipeline_id: String,
    pub project_id: String,
    pub name: String,
    pub provider: String,
    pub is_active: bool,
    pub config: String,
    pub secret_ct: Vec<u8>,
    pub secret_last4: String,
    pub prev_secret_ct: Option<Vec<u8>>,
    pub prev_secret_expires_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}
