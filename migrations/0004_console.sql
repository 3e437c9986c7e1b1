-- Reads of the console.

-- The overview shows the most recent delivery attempt that went wrong; without this it
-- would scan every attempt ever made.
CREATE INDEX delivery_attempts_trouble_idx ON delivery_attempts (started_at DESC, id DESC)
    WHERE outcome IN ('failed', 'retry', 'dead');

-- GET /audit pages newest first with ties broken by id, so a page is read off the index
-- instead of sorting the whole log. It replaces the index on `created` alone.
CREATE INDEX audit_log_created_id_idx ON audit_log (created DESC, id DESC);
DROP INDEX audit_log_created_idx;
