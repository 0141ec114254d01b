-- Every run is inserted queued, without a lease and, usually, without a concurrency key. Indexes
-- that only serve other states are partial, so enqueueing a run writes two fewer index entries.
-- Claims: queued runs, oldest first.
DROP INDEX runs_status_created;
CREATE INDEX runs_queued ON runs(created_at, id) WHERE status = 'queued';
-- Lease recovery: running runs whose lease has expired.
DROP INDEX runs_lease;
CREATE INDEX runs_lease ON runs(lease_expires_at) WHERE status = 'running';
-- Concurrency limits: runs of one key.
DROP INDEX runs_key_status;
CREATE INDEX runs_key_status ON runs(pipeline_id, concurrency_key, status, created_at) WHERE concurrency_key IS NOT NULL;
