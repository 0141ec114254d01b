//! Rows of outgoing hooks: the hooks, their events and delivery attempts.

/// An outgoing hook. `headers` is a JSON object, `triggers` a JSON array of event names,
/// `payload` a JSON template; the signing secret is sealed under the master key.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OutgoingHookRow {
    pub id: String,
    pub pipeline_id: String,
    pub project_id: String,
    pub name: String,
    /// `webhook`, `slack` or `email`.
    pub channel: String,
    pub url: String,
    pub headers: String,
    pub triggers: String,
    pub payload: Option<String>,
    pub text_template: Option<String>,
    pub timeout_secs: i64,
    pub is_active: bool,
    /// Why hookgate switched the hook off (a 410 answer), if it did.
    pub disabled_reason: Option<String>,
    pub secret_ct: Vec<u8>,
    pub secret_last4: String,
    pub prev_secret_ct: Option<Vec<u8>>,
    pub prev_secret_expires_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    /// `email`: JSON array of recipients.
    pub email_to: Option<String>,
    /// `email`: the subject template.
    pub subject_template: Option<String>,
    /// A Jinja2 template rendering the body (instead of `payload`).
    pub payload_template: Option<String>,
    /// A header that also carries the signing secret (Mixpeek's shared-secret header).
    pub secret_header: Option<String>,
    /// The form the hook was sent in (`humanitec`, `mendix`, `mixpeek`; `None`: hookgate's).
    pub request_form: Option<String>,
    /// The body as sent in that form, without its secret, for reads in the same form.
    pub request_doc: Option<String>,
}

/// One event to deliver to one outgoing hook. `snapshot` is the run as it was when the event
/// happened (JSON), so that later changes do not alter what is sent.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OutgoingEventRow {
    pub id: String,
    pub hook_id: String,
    pub run_id: String,
    /// `run.queued`, `run.started`, `run.succeeded`, …
    pub event: String,
    /// 0 for `run.queued`, 1 for `run.started`, 2 for final events: the delivery order.
    pub ordinal: i64,
    pub occurred_at: i64,
    pub snapshot: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    /// Attempts made so far.
    pub attempts: i64,
    /// When the next attempt is due; while an attempt is in flight, when its lease ends.
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    pub finished_at: Option<i64>,
    pub created_at: i64,
}

/// One delivery attempt of an event.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OutgoingAttemptRow {
    pub event_id: String,
    pub hook_id: String,
    pub attempt: i64,
    /// When the request was sent (Unix ms).
    pub at: i64,
    pub status_code: Option<i64>,
    pub latency_ms: i64,
    pub error: Option<String>,
}

/// An attempt joined with its event's name, for the attempts API.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OutgoingAttemptView {
    #[sqlx(flatten)]
    pub attempt: OutgoingAttemptRow,
    pub event: String,
}

/// What an attempt leads to.
#[derive(Debug, Clone, PartialEq)]
pub enum EventNext {
    /// A 2xx: done.
    Delivered,
    /// Try again at this time (Unix ms).
    Retry { at: i64 },
    /// No more attempts; with `disable_hook`, the hook is switched off with that reason (410).
    Failed { disable_hook: Option<String> },
}

impl EventNext {
    /// The `result` label of `hookgate_outgoing_attempts_total`.
    pub fn result(&self) -> &'static str {
        match self {
            EventNext::Delivered => "delivered",
            EventNext::Retry { .. } => "retry",
            EventNext::Failed { .. } => "failed",
        }
    }
}
