-- Issue 17: the foreign keys from runs to their pipeline and from the request log to its hook
-- ran a query of their own for every row inserted (`SELECT 1 … FOR KEY SHARE`, an SPI call
-- from an after-row trigger): 13% of PostgreSQL's CPU per durable ingest (docs/performance.md).
-- The same checks now run once per write transaction instead of once per row: ingest locks
-- its batch's pipelines and hooks with one statement (FOR KEY SHARE, the lock the foreign keys
-- took) and refuses the batch when one is gone (store/postgres_ingest.rs), and a run created
-- any other way does the same for its pipeline (store/runs.rs). Deleting a pipeline or a hook
-- still deletes its runs or its request log, now by a trigger on the deleted row: a delete
-- waits for the write transactions that locked the row, then sees their rows and deletes
-- them too, as the cascade did.
ALTER TABLE runs DROP CONSTRAINT runs_pipeline_id_fkey;
ALTER TABLE deliveries DROP CONSTRAINT deliveries_hook_id_fkey;

CREATE FUNCTION hookgate_delete_pipeline_runs() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM runs WHERE pipeline_id = OLD.id;
    RETURN OLD;
END
$$;
CREATE TRIGGER pipelines_delete_runs AFTER DELETE ON pipelines
    FOR EACH ROW EXECUTE FUNCTION hookgate_delete_pipeline_runs();

CREATE FUNCTION hookgate_delete_hook_deliveries() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM deliveries WHERE hook_id = OLD.id;
    RETURN OLD;
END
$$;
CREATE TRIGGER incoming_hooks_delete_deliveries AFTER DELETE ON incoming_hooks
    FOR EACH ROW EXECUTE FUNCTION hookgate_delete_hook_deliveries();
