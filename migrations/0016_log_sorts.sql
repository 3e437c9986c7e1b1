-- Sorting the whole log by a column (issue 19): each sortable column has an index on (column, id),
-- the order a page asks for (ties broken by id), so a page is read off the index in either
-- direction instead of sorting a million rows. The single-column indexes on period, org unit and
-- data set filtered as well as these do and are replaced by them.
DROP INDEX submission_log_period_idx, submission_log_org_unit_idx, submission_log_data_set_idx;
CREATE INDEX submission_log_period_idx ON submission_log (period, id);
CREATE INDEX submission_log_org_unit_idx ON submission_log (org_unit, id);
CREATE INDEX submission_log_data_set_idx ON submission_log (data_set, id);
CREATE INDEX submission_log_status_sort_idx ON submission_log (status, id);
CREATE INDEX submission_log_retry_count_idx ON submission_log (retry_count, id);
CREATE INDEX submission_log_last_attempt_idx ON submission_log (last_attempt_at, id);

-- A list of ids in JSON as an array, folded into a constant when a query is planned.
CREATE FUNCTION jsonb_bigints(list jsonb) RETURNS bigint[] AS $$
    SELECT array_agg(id::bigint) FROM jsonb_array_elements_text(list) id
$$ LANGUAGE sql IMMUTABLE;

-- The log's filters, with two hints the gateway looks up first, so that PostgreSQL plans with
-- what it can count: a partner named in the criteria comes with its id (`user_id`, absent when
-- no partner has the name), and refused values that are few come with their submissions' ids
-- (`among`). Otherwise a partner that sent little, or a refusal that is rare, would be looked
-- for by reading the log newest first, to its end.
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
      AND (c->>'user' IS NULL OR s.user_id = (c->>'user_id')::bigint)
      AND (c->>'owner' IS NULL OR s.user_id = (c->>'owner')::bigint)
      AND (c->>'job_uid' IS NULL OR s.job_uid = c->>'job_uid')
      AND (c->>'q' IS NULL OR s.payload::text ILIKE c->>'q' OR s.job_uid ILIKE c->>'q')
      AND (c->>'among' IS NULL OR s.id = ANY (jsonb_bigints(c->'among')))
      AND ((c->>'class' IS NULL AND c->>'code' IS NULL AND c->>'element' IS NULL)
       OR EXISTS (SELECT 1 FROM value_outcomes v
                  WHERE v.submission_id = s.id AND v.outcome <> 'released'
                    AND (c->>'class' IS NULL OR v.class = c->>'class')
                    AND (c->>'code' IS NULL OR v.error_code = c->>'code')
                    AND (c->>'element' IS NULL OR v.data_element = c->>'element' OR v.partner_key = c->>'element')))
$$ LANGUAGE sql STABLE;

-- One page of the log sorted by partner name, which no index of the log holds: the first
-- `skip + size` submissions of each partner (and of none: a deleted one) off the partner's
-- (user_id, submitted_at) index, then those few sorted. Ties are broken by time and id.
CREATE FUNCTION log_page_by_partner(c jsonb, direction text, size bigint, skip bigint)
RETURNS SETOF submission_log AS $$
    SELECT (p.submission).* FROM (
        SELECT u.username AS partner, t.submission FROM users u CROSS JOIN LATERAL (
            SELECT s AS submission FROM matching_submissions(c) s WHERE s.user_id = u.id
            ORDER BY CASE WHEN direction = 'asc' THEN s.submitted_at END ASC,
                     CASE WHEN direction = 'asc' THEN s.id END ASC, s.submitted_at DESC, s.id DESC
            LIMIT size + skip) t
        UNION ALL
        (SELECT NULL, s FROM matching_submissions(c) s WHERE s.user_id IS NULL
         ORDER BY CASE WHEN direction = 'asc' THEN s.submitted_at END ASC,
                  CASE WHEN direction = 'asc' THEN s.id END ASC, s.submitted_at DESC, s.id DESC
         LIMIT size + skip)) p
    ORDER BY CASE WHEN direction = 'asc' THEN p.partner END ASC NULLS LAST,
             CASE WHEN direction = 'desc' THEN p.partner END DESC NULLS FIRST,
             CASE WHEN direction = 'asc' THEN (p.submission).submitted_at END ASC,
             CASE WHEN direction = 'asc' THEN (p.submission).id END ASC,
             (p.submission).submitted_at DESC, (p.submission).id DESC
    LIMIT size OFFSET skip
$$ LANGUAGE sql STABLE;

-- One page of the log: the submissions matching criteria `c` (see `matching_submissions`) in the
-- order of column `sort` (one of the console's sortable columns), `direction` 'asc' or 'desc',
-- ties broken by id the same way. One key per column type and direction; the others are NULL
-- for every row. The function is inlined into the calling query, and PostgreSQL folds the keys
-- away when it plans with the values, so a page walks the sorted column's (column, id) index,
-- forwards or backwards, and stops after one page. Hence NULLs come last ascending and first
-- descending: where such a walk finds them. By partner, see `log_page_by_partner`.
CREATE FUNCTION log_page(c jsonb, sort text, direction text, size bigint, skip bigint)
RETURNS SETOF submission_log AS $$
    (SELECT s.* FROM matching_submissions(c) s
     WHERE sort <> 'user'
     ORDER BY
         CASE WHEN sort = 'submitted_at' AND direction = 'asc' THEN s.submitted_at END ASC,
         CASE WHEN sort = 'submitted_at' AND direction = 'desc' THEN s.submitted_at END DESC,
         CASE WHEN direction = 'asc' THEN CASE sort WHEN 'status' THEN s.status WHEN 'period' THEN s.period
             WHEN 'org_unit' THEN s.org_unit WHEN 'data_set' THEN s.data_set END
         END ASC NULLS LAST,
         CASE WHEN direction = 'desc' THEN CASE sort WHEN 'status' THEN s.status WHEN 'period' THEN s.period
             WHEN 'org_unit' THEN s.org_unit WHEN 'data_set' THEN s.data_set END
         END DESC NULLS FIRST,
         CASE WHEN sort = 'retry_count' AND direction = 'asc' THEN s.retry_count END ASC,
         CASE WHEN sort = 'retry_count' AND direction = 'desc' THEN s.retry_count END DESC,
         CASE WHEN sort = 'last_attempt_at' AND direction = 'asc' THEN s.last_attempt_at END ASC NULLS LAST,
         CASE WHEN sort = 'last_attempt_at' AND direction = 'desc' THEN s.last_attempt_at END DESC NULLS FIRST,
         CASE WHEN direction = 'asc' THEN s.id END ASC,
         s.id DESC
     LIMIT size OFFSET skip)
    UNION ALL
    SELECT * FROM log_page_by_partner(c, direction, size, skip) WHERE sort = 'user'
$$ LANGUAGE sql STABLE;
