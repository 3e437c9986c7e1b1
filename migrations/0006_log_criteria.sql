-- The submission log's criteria as one JSON object (the gateway's log filter: status, from,
-- to, task_id, job_id, data_set, org_unit, period, user, q, owner; absent or null means "any"),
-- so each query of the log names them once. Both functions are inlined by the planner, so
-- a query through this one is planned as through the other.
CREATE FUNCTION matching_submissions(c jsonb) RETURNS SETOF submission_log AS $$
    SELECT * FROM matching_submissions(
        c->>'status', (c->>'from')::timestamptz, (c->>'to')::timestamptz, c->>'task_id', (c->>'job_id')::bigint,
        c->>'data_set', c->>'org_unit', c->>'period', c->>'user', c->>'q', (c->>'owner')::bigint)
$$ LANGUAGE sql STABLE;
