-- New submissions join the log's text-search index in the gateway's `search-index` job, every
-- second, not in the request whose insert fills the index's pending list: with PostgreSQL's
-- default 4 MB limit, that request waited for the whole list to be merged (issue 19).
DO $$
BEGIN
    IF to_regclass('submission_log_text_idx') IS NOT NULL THEN
        ALTER INDEX submission_log_text_idx SET (gin_pending_list_limit = 16384);
    END IF;
END
$$;
