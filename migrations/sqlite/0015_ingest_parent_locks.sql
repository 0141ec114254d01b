-- PostgreSQL's 0015 replaces two foreign keys' row-by-row checks with one lock per write
-- transaction. SQLite checks a foreign key with a look-up in its own process, and its writes
-- are serialized by the write lock; its foreign keys stay. Nothing to do here: the version
-- exists so that both backends' migrations keep the same numbers.
SELECT 1;
