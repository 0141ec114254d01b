-- PostgreSQL's 0014 keeps the request log's rows out of TOAST; SQLite has no TOAST, and
-- stores a row in overflow pages past its page's share without compressing it. Nothing to do
-- here: the version exists so that both backends' migrations keep the same numbers.
SELECT 1;
