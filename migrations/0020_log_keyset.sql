-- Keyset paging of the log (issue 19). A page after another is asked for with the position of
-- the previous page's last row (`after`: its sort value as text, `value`, its time, `at`, and its
-- `id`) instead of a number of rows to skip, so page 1,000 is read off the same index as page 1,
-- starting where page 999 ended, rather than reading the 25,000 rows before it. `skip` stays for
-- callers that ask for a page by number alone.
--
-- Empty values (NULL) are a group of their own: last ascending, first descending. A position in
-- one group reaches only that group's rest, so each condition is one the index can start from;
-- the gateway asks for the other group (`nulls_passed` descending, a NULL `value` with id 0
-- ascending) when the first runs out.
DROP FUNCTION log_page(jsonb, text, text, bigint, bigint);

-- A partner's submissions in the page's whole order (time, then id), either way: a page after a
-- position within one partner's submissions starts at the position in this index rather than
-- being found by reading the whole log's time index for that partner's rows.
DROP INDEX submission_log_user_idx;
CREATE INDEX submission_log_user_idx ON submission_log (user_id, submitted_at, id);
DROP FUNCTION log_page_by_partner(jsonb, text, bigint, bigint);

-- By partner: the partners wholly after the position take a page of their submissions each off
-- the (user_id, submitted_at) index, the position's own partner its rest after the position, and
-- submissions of no partner (a deleted one) come last ascending and first descending.
CREATE FUNCTION log_page_by_partner(c jsonb, direction text, size bigint, skip bigint, after jsonb)
RETURNS SETOF submission_log AS $$
    SELECT (p.submission).* FROM (
        SELECT u.username AS partner, t.submission FROM users u CROSS JOIN LATERAL (
            SELECT s AS submission FROM matching_submissions(c) s WHERE s.user_id = u.id
            ORDER BY CASE WHEN direction = 'asc' THEN s.submitted_at END ASC,
                     CASE WHEN direction = 'asc' THEN s.id END ASC, s.submitted_at DESC, s.id DESC
            LIMIT size + skip) t
        WHERE after IS NULL
           OR (direction = 'asc' AND u.username > after->>'value')
           OR (direction = 'desc' AND (after->>'value' IS NULL OR u.username < after->>'value'))
        UNION ALL
        (SELECT after->>'value', s FROM matching_submissions(c) s
         WHERE s.user_id = (SELECT id FROM users WHERE username = after->>'value')
           AND CASE WHEN direction = 'asc'
                    THEN (s.submitted_at, s.id) > ((after->>'at')::timestamptz, (after->>'id')::bigint)
                    ELSE (s.submitted_at, s.id) < ((after->>'at')::timestamptz, (after->>'id')::bigint) END
         ORDER BY CASE WHEN direction = 'asc' THEN s.submitted_at END ASC,
                  CASE WHEN direction = 'asc' THEN s.id END ASC, s.submitted_at DESC, s.id DESC
         LIMIT size)
        UNION ALL
        (SELECT NULL, s FROM matching_submissions(c) s WHERE s.user_id IS NULL
           AND CASE WHEN after IS NULL THEN true
                    WHEN after->>'value' IS NOT NULL THEN direction = 'asc'
                    WHEN direction = 'asc'
                    THEN (s.submitted_at, s.id) > ((after->>'at')::timestamptz, (after->>'id')::bigint)
                    ELSE (s.submitted_at, s.id) < ((after->>'at')::timestamptz, (after->>'id')::bigint) END
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
-- ties broken by id the same way, after position `after` (or skipping `skip`). One key per
-- column type and direction; the others are NULL for every row. The function is inlined into
-- the calling query, and PostgreSQL folds the keys and the position's condition away when it
-- plans with the values, so a page walks the sorted column's (column, id) index, forwards or
-- backwards, from the position, and stops after one page. Hence NULLs come last ascending and
-- first descending: where such a walk finds them. By partner, see `log_page_by_partner`.
CREATE FUNCTION log_page(c jsonb, sort text, direction text, size bigint, skip bigint, after jsonb)
RETURNS SETOF submission_log AS $$
    (SELECT s.* FROM matching_submissions(c) s
     WHERE sort <> 'user'
       AND CASE
           WHEN after IS NULL THEN true
           WHEN sort = 'submitted_at' AND direction = 'asc'
           THEN (s.submitted_at, s.id) > ((after->>'at')::timestamptz, (after->>'id')::bigint)
           WHEN sort = 'submitted_at'
           THEN (s.submitted_at, s.id) < ((after->>'at')::timestamptz, (after->>'id')::bigint)
           WHEN sort = 'retry_count' AND direction = 'asc'
           THEN (s.retry_count, s.id) > ((after->>'value')::int, (after->>'id')::bigint)
           WHEN sort = 'retry_count'
           THEN (s.retry_count, s.id) < ((after->>'value')::int, (after->>'id')::bigint)
           WHEN sort = 'last_attempt_at' AND after ? 'nulls_passed' THEN s.last_attempt_at IS NOT NULL
           WHEN sort = 'last_attempt_at' AND after->>'value' IS NULL AND direction = 'asc'
           THEN s.last_attempt_at IS NULL AND s.id > (after->>'id')::bigint
           WHEN sort = 'last_attempt_at' AND after->>'value' IS NULL
           THEN s.last_attempt_at IS NULL AND s.id < (after->>'id')::bigint
           WHEN sort = 'last_attempt_at' AND direction = 'asc'
           THEN (s.last_attempt_at, s.id) > ((after->>'value')::timestamptz, (after->>'id')::bigint)
           WHEN sort = 'last_attempt_at'
           THEN (s.last_attempt_at, s.id) < ((after->>'value')::timestamptz, (after->>'id')::bigint)
           -- The text columns, the same way.
           WHEN after ? 'nulls_passed'
           THEN CASE sort WHEN 'status' THEN s.status WHEN 'period' THEN s.period
                WHEN 'org_unit' THEN s.org_unit WHEN 'data_set' THEN s.data_set END IS NOT NULL
           WHEN after->>'value' IS NULL AND direction = 'asc'
           THEN CASE sort WHEN 'status' THEN s.status WHEN 'period' THEN s.period
                WHEN 'org_unit' THEN s.org_unit WHEN 'data_set' THEN s.data_set END IS NULL
                AND s.id > (after->>'id')::bigint
           WHEN after->>'value' IS NULL
           THEN CASE sort WHEN 'status' THEN s.status WHEN 'period' THEN s.period
                WHEN 'org_unit' THEN s.org_unit WHEN 'data_set' THEN s.data_set END IS NULL
                AND s.id < (after->>'id')::bigint
           WHEN direction = 'asc'
           THEN (CASE sort WHEN 'status' THEN s.status WHEN 'period' THEN s.period
                 WHEN 'org_unit' THEN s.org_unit WHEN 'data_set' THEN s.data_set END, s.id)
                > (after->>'value', (after->>'id')::bigint)
           ELSE (CASE sort WHEN 'status' THEN s.status WHEN 'period' THEN s.period
                 WHEN 'org_unit' THEN s.org_unit WHEN 'data_set' THEN s.data_set END, s.id)
                < (after->>'value', (after->>'id')::bigint)
           END
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
    SELECT * FROM log_page_by_partner(c, direction, size, skip, after) WHERE sort = 'user'
$$ LANGUAGE sql STABLE;
