-- The lease check runs every few seconds: it finds lapsed leases without reading every
-- delivery in progress.
CREATE INDEX submission_destinations_lease_idx ON submission_destinations (locked_until) WHERE status = 'processing';

-- The log's `job_id` is a submission id (`id`) or the job id the DHIS2-compatible API gave an
-- import (`job_uid`), and the text search `q` finds that job id too.
CREATE OR REPLACE FUNCTION matching_submissions(c jsonb) RETURNS SETOF submission_log AS $$
    SELECT s.* FROM matching_submissions(
        c->>'status', (c->>'from')::timestamptz, (c->>'to')::timestamptz, c->>'task_id', (c->>'id')::bigint,
        c->>'data_set', c->>'org_unit', c->>'period', c->>'user', NULL, (c->>'owner')::bigint) s
    WHERE (c->>'job_uid' IS NULL OR s.job_uid = c->>'job_uid')
      AND (c->>'q' IS NULL OR s.payload::text ILIKE c->>'q' OR s.job_uid ILIKE c->>'q')
      AND ((c->>'class' IS NULL AND c->>'code' IS NULL AND c->>'element' IS NULL)
       OR EXISTS (SELECT 1 FROM value_outcomes v
                  WHERE v.submission_id = s.id AND v.outcome <> 'released'
                    AND (c->>'class' IS NULL OR v.class = c->>'class')
                    AND (c->>'code' IS NULL OR v.error_code = c->>'code')
                    AND (c->>'element' IS NULL OR v.data_element = c->>'element' OR v.partner_key = c->>'element')))
$$ LANGUAGE sql STABLE;
