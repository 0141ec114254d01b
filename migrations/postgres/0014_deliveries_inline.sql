-- The request log's rows stay in the table's own pages up to 8 KB (issue 17). With the
-- default target (about 2 KB), a GitHub push's row (its body LZ4-packed to about 2 KB, its
-- headers, its variables) went to TOAST: PostgreSQL first tried to compress the packed body
-- again with pglz (9% of the database's CPU per ingest, in vain), then wrote it to the TOAST
-- table and its index. Bodies are packed by hookgate when that helps (store/compress.rs), so
-- larger ones go out of line without another compression attempt.
ALTER TABLE deliveries SET (toast_tuple_target = 8160);
ALTER TABLE deliveries ALTER COLUMN body SET STORAGE EXTERNAL;
