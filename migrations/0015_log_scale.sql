-- The submission log at a million rows and more (issue 19).

-- What the planner expects a query to return, without running it: a list counts its rows
-- exactly up to some thousands and gives this beyond (labelled as an estimate). Volatile only
-- because PostgreSQL allows EXPLAIN in no other kind of function.
CREATE FUNCTION estimated_rows(query text) RETURNS bigint AS $$
DECLARE
    plan jsonb;
BEGIN
    EXECUTE 'EXPLAIN (FORMAT JSON) ' || query INTO plan;
    RETURN (plan->0->'Plan'->>'Plan Rows')::bigint;
END
$$ LANGUAGE plpgsql VOLATILE;

-- The log's filters read straight from the criteria: each test of a criterion's text for NULL
-- folds away when a query is planned with them, so what is left can use the indexes (through
-- the older function, a `from` cast before the test kept the date range off its index).
CREATE OR REPLACE FUNCTION matching_submissions(c jsonb) RETURNS SETOF submission_log AS $$
    SELECT s.* FROM submission_log s
    WHERE (c->>'status' IS NULL OR s.status = c->>'status')
      AND (c->>'from' IS NULL OR s.submitted_at >= (c->>'from')::timestamptz)
      AND (c->>'to' IS NULL OR s.submitted_at < (c->>'to')::timestamptz)
      AND (c->>'task_id' IS NULL OR s.task_id = c->>'task_id')
      AND (c->>'id' IS NULL OR s.id = (c->>'id')::bigint)
      AND (c->>'data_set' IS NULL OR s.data_set = c->>'data_set')
      AND (c->>'org_unit' IS NULL OR s.org_unit = c->>'org_unit')
      AND (c->>'period' IS NULL OR s.period = c->>'period')
      AND (c->>'user' IS NULL OR s.user_id IN (SELECT id FROM users WHERE lower(username) = lower(c->>'user')))
      AND (c->>'owner' IS NULL OR s.user_id = (c->>'owner')::bigint)
      AND (c->>'job_uid' IS NULL OR s.job_uid = c->>'job_uid')
      AND (c->>'q' IS NULL OR s.payload::text ILIKE c->>'q' OR s.job_uid ILIKE c->>'q')
      AND ((c->>'class' IS NULL AND c->>'code' IS NULL AND c->>'element' IS NULL)
       OR EXISTS (SELECT 1 FROM value_outcomes v
                  WHERE v.submission_id = s.id AND v.outcome <> 'released'
                    AND (c->>'class' IS NULL OR v.class = c->>'class')
                    AND (c->>'code' IS NULL OR v.error_code = c->>'code')
                    AND (c->>'element' IS NULL OR v.data_element = c->>'element' OR v.partner_key = c->>'element')))
$$ LANGUAGE sql STABLE;
DROP FUNCTION matching_submissions(text, timestamptz, timestamptz, text, bigint, text, text, text, text, text, bigint);

-- Text search in the log (`q`, any part of a payload or a job id) through trigram indexes.
-- pg_trgm is a trusted extension (PostgreSQL 13+), so the database's owner may create it; where
-- it cannot be had, the search still works, by reading the log (the migration warns).
DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
    CREATE INDEX submission_log_text_idx ON submission_log USING gin ((payload::text) gin_trgm_ops);
    CREATE INDEX submission_log_job_uid_text_idx ON submission_log USING gin (job_uid gin_trgm_ops)
        WHERE job_uid IS NOT NULL;
EXCEPTION WHEN insufficient_privilege OR undefined_file OR undefined_object THEN
    RAISE WARNING 'no trigram index for the log''s text search (%): it reads the log instead', SQLERRM;
END
$$;
