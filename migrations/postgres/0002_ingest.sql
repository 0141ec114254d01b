-- Runs (committed by ingest, executed by workers), the request log, and provider delivery ids
-- remembered for dedup.
CREATE TABLE runs (
    id               TEXT PRIMARY KEY,
    pipeline_id      TEXT NOT NULL REFERENCES pipelines(id) ON DELETE CASCADE,
    project_id       TEXT NOT NULL,
    hook_id          TEXT,
    delivery_id      TEXT,
    status           TEXT NOT NULL,
    reason           TEXT,
    variables        TEXT NOT NULL,
    triggered_by     TEXT NOT NULL,
    concurrency_key  TEXT,
    attempt          BIGINT NOT NULL DEFAULT 0,
    lease_expires_at BIGINT,
    created_at       BIGINT NOT NULL,
    started_at       BIGINT,
    finished_at      BIGINT
);
CREATE INDEX runs_pipeline_created ON runs(pipeline_id, created_at);
CREATE INDEX runs_status_created ON runs(status, created_at);

CREATE TABLE deliveries (
    id                    TEXT PRIMARY KEY,
    hook_id               TEXT NOT NULL REFERENCES incoming_hooks(id) ON DELETE CASCADE,
    project_id            TEXT NOT NULL,
    received_at           BIGINT NOT NULL,
    status_code           BIGINT NOT NULL,
    outcome               TEXT NOT NULL,
    error                 TEXT,
    verification          TEXT NOT NULL,
    filter_reason         TEXT,
    variables             TEXT,
    problems              TEXT,
    run_id                TEXT,
    provider_delivery_id  TEXT,
    event                 TEXT,
    content_type          TEXT,
    query                 TEXT,
    headers               TEXT NOT NULL,
    body                  BYTEA NOT NULL,
    body_size             BIGINT NOT NULL,
    body_truncated        BOOLEAN NOT NULL,
    replay_of             TEXT
);
CREATE INDEX deliveries_hook_received ON deliveries(hook_id, received_at);
CREATE INDEX deliveries_received ON deliveries(received_at);

CREATE TABLE delivery_ids (
    hook_id               TEXT NOT NULL,
    provider_delivery_id  TEXT NOT NULL,
    delivery_id           TEXT NOT NULL,
    run_id                TEXT NOT NULL,
    created_at            BIGINT NOT NULL,
    PRIMARY KEY (hook_id, provider_delivery_id)
);
CREATE INDEX delivery_ids_created ON delivery_ids(created_at);
