-- Projects, tokens, pipelines, pipeline secrets and incoming hooks.
-- Timestamps are Unix milliseconds; JSON documents are stored as text.
CREATE TABLE projects (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL
);

CREATE TABLE tokens (
    id          TEXT PRIMARY KEY,
    project_id  TEXT REFERENCES projects(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    role        TEXT NOT NULL,
    token_hash  TEXT NOT NULL UNIQUE,
    last4       TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX tokens_project ON tokens(project_id);

CREATE TABLE pipelines (
    id          TEXT PRIMARY KEY,
    project_id  TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    spec        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    CONSTRAINT pipelines_project_name_key UNIQUE (project_id, name)
);

CREATE TABLE pipeline_secrets (
    pipeline_id TEXT NOT NULL REFERENCES pipelines(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    ciphertext  BLOB NOT NULL,
    last4       TEXT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (pipeline_id, name)
);

CREATE TABLE incoming_hooks (
    id                      TEXT PRIMARY KEY,
    pipeline_id             TEXT NOT NULL REFERENCES pipelines(id) ON DELETE CASCADE,
    project_id              TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    name                    TEXT NOT NULL,
    provider                TEXT NOT NULL,
    is_active               BOOLEAN NOT NULL,
    config                  TEXT NOT NULL,
    secret_ct               BLOB NOT NULL,
    secret_last4            TEXT NOT NULL,
    prev_secret_ct          BLOB,
    prev_secret_expires_at  BIGINT,
    created_at              BIGINT NOT NULL,
    updated_at              BIGINT NOT NULL
);
CREATE INDEX incoming_hooks_pipeline ON incoming_hooks(pipeline_id);
