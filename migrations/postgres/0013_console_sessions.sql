-- Web console sessions (SPEC §10). Only a hash of the session id is kept: a copy of this table
-- signs nobody in. A session acts with the token it was opened with, so deleting the token (or
-- its project) ends its sessions too.
CREATE TABLE console_sessions (
    id_hash       TEXT PRIMARY KEY,
    token_id      TEXT NOT NULL REFERENCES tokens(id) ON DELETE CASCADE,
    created_at    BIGINT NOT NULL,
    last_seen_at  BIGINT NOT NULL
);
CREATE INDEX console_sessions_seen ON console_sessions(last_seen_at);
CREATE INDEX console_sessions_token ON console_sessions(token_id);
