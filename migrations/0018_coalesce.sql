-- Coalescing (`delivery::coalesce`): a server may take a partner's waiting submissions of one
-- data set together, in requests of up to this many values; 0 sends each alone.
ALTER TABLE dhis2_servers
    ADD COLUMN coalesce_max_values integer NOT NULL DEFAULT 0
        CHECK (coalesce_max_values = 0 OR coalesce_max_values BETWEEN 2 AND 10000);

-- An attempt made in a request shared with other submissions: the request's id, how many
-- members and values it had, where this submission's values began in it, and whether its
-- counts are DHIS2's own or divided from the request's.
ALTER TABLE delivery_attempts ADD COLUMN batch jsonb;

-- Whether an aggregate submission stored before `before`, of the same data set, org unit and
-- period, has its delivery to `server` in one of `statuses`: still to go (a later one waits for
-- it), or stored (a later one is likely an update). PL/pgSQL, so that it runs per candidate on
-- submission_log_values_idx whatever the tables' statistics say: joined in one statement on a
-- freshly filled log, the planner read every pending delivery of the server per candidate.
CREATE FUNCTION earlier_delivery_in(server bigint, set_id text, unit text, pe text, before bigint, statuses text[])
RETURNS boolean LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN EXISTS (
        SELECT 1 FROM submission_log es
        WHERE es.org_unit = unit AND es.period = pe AND es.data_set = set_id AND es.kind = 'aggregate'
          AND es.id < before
          AND (SELECT e.status FROM submission_destinations e WHERE e.submission_id = es.id AND e.server_id = server)
              = ANY (statuses));
END
$$;
