-- The runner: who holds a run's lease, cancel requests, retry budget, the concurrency policy
-- resolved at enqueue, and per-step state and logs.
ALTER TABLE runs ADD COLUMN worker_id TEXT;
ALTER TABLE runs ADD COLUMN cancel_requested BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE runs ADD COLUMN max_attempts BIGINT NOT NULL DEFAULT 1;
ALTER TABLE runs ADD COLUMN concurrency_policy TEXT;
ALTER TABLE runs ADD COLUMN concurrency_max BIGINT;
CREATE INDEX runs_key_status ON runs(pipeline_id, concurrency_key, status);
CREATE INDEX runs_lease ON runs(status, lease_expires_at);

CREATE TABLE run_steps (
    run_id       TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    idx          BIGINT NOT NULL,
    name         TEXT NOT NULL,
    status       TEXT NOT NULL,
    exit_code    BIGINT,
    started_at   BIGINT,
    finished_at  BIGINT,
    log          TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (run_id, idx)
);
