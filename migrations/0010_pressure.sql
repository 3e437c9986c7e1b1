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

-- A server's maintenance windows (`00:00-04:00 Africa/Kampala`): deliveries wait through them.
ALTER TABLE dhis2_servers ADD COLUMN maintenance text[] NOT NULL DEFAULT '{}';

-- A delivery held back until an earlier submission's delivery of the same data set, org unit
-- and period to the same server is final: that one, which wakes it.
ALTER TABLE submission_destinations ADD COLUMN waits_for bigint REFERENCES submission_destinations (id) ON DELETE SET NULL;
CREATE INDEX submission_destinations_waits_for_idx ON submission_destinations (waits_for) WHERE waits_for IS NOT NULL;
-- Each delivery looks for earlier submissions of the same values.
CREATE INDEX submission_log_values_idx ON submission_log (org_unit, period, data_set) WHERE kind = 'aggregate';
