-- /readyz proves the database takes writes by updating this one row (SPEC §7): a read-only,
-- full or locked database fails the write where `SELECT 1` would still succeed.
CREATE TABLE readiness_probe (
    id          INTEGER PRIMARY KEY,
    checked_at  BIGINT NOT NULL
);
INSERT INTO readiness_probe (id, checked_at) VALUES (1, 0);
