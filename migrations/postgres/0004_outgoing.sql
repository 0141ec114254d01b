-- Outgoing hooks: who to notify of run events, the events themselves (inserted in the same
-- transaction as the run state change that caused them) and every delivery attempt.
CREATE TABLE outgoing_hooks (
    id               TEXT PRIMARY KEY,
    pipeline_id      TEXT NOT NULL REFERENCES pipelines(id) ON DELETE CASCADE,
    project_id       TEXT NOT NULL,
    name             TEXT NOT NULL,
    channel          TEXT NOT NULL,
    url              TEXT NOT NULL,
    headers          TEXT NOT NULL,
    triggers         TEXT NOT NULL,
    payload          TEXT,
    text_template    TEXT,
    timeout_secs     BIGINT NOT NULL,
    is_active        BOOLEAN NOT NULL,
    disabled_reason  TEXT,
    secret_ct        BYTEA NOT NULL,
    secret_last4     TEXT NOT NULL,
    -- During a rotation's grace period requests carry a signature with the previous secret too.
    prev_secret_ct          BYTEA,
    prev_secret_expires_at  BIGINT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX outgoing_hooks_pipeline ON outgoing_hooks(pipeline_id);

CREATE TABLE outgoing_events (
    id               TEXT PRIMARY KEY,
    hook_id          TEXT NOT NULL REFERENCES outgoing_hooks(id) ON DELETE CASCADE,
    run_id           TEXT NOT NULL,
    event            TEXT NOT NULL,
    -- Place in the run's life (0 queued, 1 started, 2 final): a hook gets a run's events in
    -- this order, each after the one before it is delivered or failed.
    ordinal          BIGINT NOT NULL,
    occurred_at      BIGINT NOT NULL,
    snapshot         TEXT NOT NULL,
    status           TEXT NOT NULL,
    attempts         BIGINT NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT NOT NULL,
    last_error       TEXT,
    finished_at      BIGINT,
    created_at       BIGINT NOT NULL
);
CREATE INDEX outgoing_events_due ON outgoing_events(status, next_attempt_at);
CREATE INDEX outgoing_events_hook ON outgoing_events(hook_id, created_at);
CREATE INDEX outgoing_events_hook_run ON outgoing_events(hook_id, run_id, status);

CREATE TABLE outgoing_attempts (
    event_id     TEXT NOT NULL REFERENCES outgoing_events(id) ON DELETE CASCADE,
    hook_id      TEXT NOT NULL,
    attempt      BIGINT NOT NULL,
    at           BIGINT NOT NULL,
    status_code  BIGINT,
    latency_ms   BIGINT NOT NULL,
    error        TEXT,
    PRIMARY KEY (event_id, attempt)
);
CREATE INDEX outgoing_attempts_hook ON outgoing_attempts(hook_id, at);
