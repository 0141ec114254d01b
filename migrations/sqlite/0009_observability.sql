-- The metrics snapshot counts runs waiting for approval per pipeline every few seconds. Queued
-- and running runs have partial indexes already (0006); this one makes the third count an
-- index read too. Runs are inserted queued, so enqueueing writes nothing more.
CREATE INDEX runs_waiting_approval ON runs(pipeline_id) WHERE status = 'waiting_approval';
