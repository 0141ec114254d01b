//! Rows as stored. Timestamps are Unix milliseconds; JSON documents are text; step states and
//! concurrency policies are typed (stored as their names, see `text_enums.rs`).

use crate::domain::concurrency::ConcurrencyPolicy;
use crate::domain::run_status::RunStatus;
use crate::domain::step_status::StepStatus;

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

/// A pipeline run.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RunRow {
    pub id: String,
    pub pipeline_id: String,
    pub project_id: String,
    pub hook_id: Option<String>,
    pub delivery_id: Option<String>,
    /// `queued`, `running`, `waiting_approval` or a final state; stored as its name.
    pub status: RunStatus,
    pub reason: Option<String>,
    /// JSON object of the run's variables.
    pub variables: String,
    /// `hook:hk_…`, `manual:tok_…`, `retry:run_…`, `replay:dlv_…`.
    pub triggered_by: String,
    pub concurrency_key: Option<String>,
    pub attempt: i64,
    pub lease_expires_at: Option<i64>,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    /// The worker holding the lease while running.
    pub worker_id: Option<String>,
    pub cancel_requested: bool,
    /// 1 + the pipeline's `retries`: how many times a lost run is tried.
    pub max_attempts: i64,
    /// `queue` or `supersede` (NULL or `parallel`: no limit), resolved at enqueue.
    pub concurrency_policy: Option<ConcurrencyPolicy>,
    pub concurrency_max: Option<i64>,
}

impl RunRow {
    /// The run as an event's snapshot shows it, under its pipeline's and project's names.
    pub fn snapshot<'a>(
        &'a self,
        pipeline_name: &'a str,
        project_name: &'a str,
    ) -> crate::domain::run::RunSnapshot<'a> {
        crate::domain::run::RunSnapshot {
            run_id: &self.id,
            status: self.status.as_str(),
            reason: self.reason.as_deref(),
            variables: &self.variables,
            triggered_by: &self.triggered_by,
            created_at: self.created_at,
            started_at: self.started_at,
            finished_at: self.finished_at,
            pipeline_id: &self.pipeline_id,
            pipeline_name,
            project_id: &self.project_id,
            project_name,
        }
    }
}

/// One step of a run, with its log.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StepRow {
    pub run_id: String,
    pub idx: i64,
    pub name: String,
    pub status: StepStatus,
    pub exit_code: Option<i64>,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub log: String,
}

/// What a heartbeat learned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lease {
    /// Still ours; `cancel` when someone asked to cancel the run.
    Held { cancel: bool },
    /// Another attempt owns the run now, or it is finished: stop and change nothing.
    Lost,
}

/// A hook with what ingest needs of its pipeline, read in one query.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct IngestHookRow {
    #[sqlx(flatten)]
    pub hook: HookRow,
    pub pipeline_name: String,
    pub pipeline_spec: String,
    pub pipeline_updated_at: i64,
}

/// One request received on an incoming hook (the request log).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeliveryRow {
    pub id: String,
    pub hook_id: String,
    pub project_id: String,
    pub received_at: i64,
    /// The HTTP status answered.
    pub status_code: i64,
    /// `accepted`, `duplicate`, `ignored`, `rejected` (`DeliveryOutcome::as_str`).
    pub outcome: String,
    /// The error code answered, if any (`invalid_signature`, `invalid_variables`…).
    pub error: Option<String>,
    /// JSON tagged by `result`: `Verification::to_json` writes it, `Verification::from` reads it.
    pub verification: String,
    pub filter_reason: Option<String>,
    /// JSON object of the extracted variables.
    pub variables: Option<String>,
    /// JSON array of variable problems (for 422s).
    pub problems: Option<String>,
    pub run_id: Option<String>,
    pub provider_delivery_id: Option<String>,
    pub event: Option<String>,
    pub content_type: Option<String>,
    pub query: Option<String>,
    /// JSON object of the request headers, secret-bearing ones redacted.
    pub headers: String,
    /// The raw body (only a prefix for unauthenticated requests).
    pub body: Vec<u8>,
    pub body_size: i64,
    pub body_truncated: bool,
    pub replay_of: Option<String>,
    /// How `body` is stored (`lz4`, or `None`: as received). Rows the store returns always
    /// hold the raw body and `None` here (see `store::compress`).
    pub body_encoding: Option<String>,
}

/// What one ingest wants committed: the delivery, and for an accepted one its run and the
/// provider delivery id to deduplicate on.
#[derive(Debug, Clone)]
pub struct IngestWrite {
    pub delivery: DeliveryRow,
    pub run: Option<RunRow>,
    pub dedup_key: Option<String>,
}

/// What was committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IngestResult {
    /// The run and the delivery are committed.
    Accepted { run_id: String },
    /// The provider delivery id was seen before on this hook: only the delivery is recorded.
    Duplicate { run_id: String },
    /// A delivery without a run (rejected or ignored) is recorded.
    Recorded,
}
