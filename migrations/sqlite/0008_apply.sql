-- Config as code (SPEC §8): the objects an apply created, which `apply --prune` may delete.
-- Objects made through the API or the console are never listed here, so never pruned.
-- `object_id` is a pipeline (`pl_…`), an incoming hook (`hk_…`), an outgoing hook (`oh_…`),
-- or a pipeline secret (`pl_…/secret/NAME`). A row whose object was deleted another way is
-- harmless (ids are never reused) and is removed by the next apply of its project.
CREATE TABLE apply_managed (
    object_id   TEXT PRIMARY KEY,
    project_id  TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    created_at  BIGINT NOT NULL
);
CREATE INDEX apply_managed_project ON apply_managed(project_id);
