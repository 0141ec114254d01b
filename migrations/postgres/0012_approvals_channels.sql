-- Approval gates (SPEC §5): one row per approval step a run reached. The run itself is
-- `waiting_approval` meanwhile, with no lease and no worker; a decision (or the sweep, at the
-- deadline) fills `decision` with a conditional UPDATE, so exactly one decision wins.
CREATE TABLE run_approvals (
    run_id        TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    step_idx      BIGINT NOT NULL,
    step_name     TEXT NOT NULL,
    -- JSON array of the project roles that may decide (`member`, `owner`).
    approvers     TEXT NOT NULL,
    message       TEXT,
    requested_at  BIGINT NOT NULL,
    deadline      BIGINT NOT NULL,
    -- NULL while waiting; then `approved`, `rejected` or `timed_out`.
    decision      TEXT,
    decided_by    TEXT,
    decided_at    BIGINT,
    comment       TEXT,
    PRIMARY KEY (run_id, step_idx)
);
CREATE INDEX run_approvals_due ON run_approvals(deadline) WHERE decision IS NULL;

-- Outgoing hooks (SPEC §6): the email channel, Jinja2 payload templates, the shared-secret
-- header, and the request form a hook was created in (read back in that form).
ALTER TABLE outgoing_hooks ADD COLUMN email_to TEXT;
ALTER TABLE outgoing_hooks ADD COLUMN subject_template TEXT;
ALTER TABLE outgoing_hooks ADD COLUMN payload_template TEXT;
ALTER TABLE outgoing_hooks ADD COLUMN secret_header TEXT;
ALTER TABLE outgoing_hooks ADD COLUMN request_form TEXT;
ALTER TABLE outgoing_hooks ADD COLUMN request_doc TEXT;

-- delivery.rejected / delivery.ignored alerts, coalesced per incoming hook, kind and minute:
-- ingest counts into the row of its minute; once the minute is over, one event carries the
-- count and the last reason (`emitted` flips with a conditional UPDATE: once across processes).
CREATE TABLE delivery_alerts (
    hook_id      TEXT NOT NULL,
    kind         TEXT NOT NULL,
    minute       BIGINT NOT NULL,
    count        BIGINT NOT NULL,
    last_reason  TEXT,
    emitted      BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (hook_id, kind, minute)
);
CREATE INDEX delivery_alerts_due ON delivery_alerts(minute) WHERE emitted = FALSE;
