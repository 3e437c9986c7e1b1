-- Every value DHIS2 did not store, with why and who must act; values refused only because
-- their period is closed or their data approved wait on hold (destination status `held`)
-- until DHIS2 would accept them.

ALTER TABLE submission_log DROP CONSTRAINT submission_log_status_check;
ALTER TABLE submission_log ADD CONSTRAINT submission_log_status_check CHECK (status IN
    ('queued', 'processing', 'succeeded', 'warning', 'failed', 'retrying', 'dead', 'held'));
ALTER TABLE submission_destinations DROP CONSTRAINT submission_destinations_status_check;
ALTER TABLE submission_destinations ADD CONSTRAINT submission_destinations_status_check CHECK (status IN
    ('queued', 'processing', 'succeeded', 'warning', 'failed', 'retrying', 'dead', 'held'));
ALTER TABLE delivery_attempts DROP CONSTRAINT delivery_attempts_outcome_check;
ALTER TABLE delivery_attempts ADD CONSTRAINT delivery_attempts_outcome_check CHECK (outcome IN
    ('succeeded', 'warning', 'failed', 'retry', 'dead', 'held'));
CREATE INDEX submission_destinations_held_idx ON submission_destinations (server_id) WHERE status = 'held';

-- One row per value of a destination that DHIS2 did not store (a value without a row was
-- stored, or was unchanged). `value_index` is its position in the submission's
-- dhis2_payload.dataValues; the identifiers are as sent (set-level ones filled in).
CREATE TABLE value_outcomes (
    id                     bigserial PRIMARY KEY,
    submission_id          bigint      NOT NULL REFERENCES submission_log (id) ON DELETE CASCADE,
    destination_id         bigint      NOT NULL REFERENCES submission_destinations (id) ON DELETE CASCADE,
    -- The attempt that decided the outcome.
    attempt_id             bigint      REFERENCES delivery_attempts (id) ON DELETE SET NULL,
    value_index            integer     NOT NULL,
    partner_key            text,
    data_set               text,
    data_element           text,
    category_option_combo  text,
    attribute_option_combo text,
    org_unit               text,
    period                 text,
    outcome                text        NOT NULL CHECK (outcome IN ('refused', 'held', 'released', 'discarded', 'expired')),
    class                  text        CHECK (class IN ('data', 'mapping', 'closed_period', 'approved', 'access', 'transient')),
    error_code             text,
    message                text,
    decided_at             timestamptz NOT NULL DEFAULT now(),
    -- While held: since when, and when DHIS2 was last asked whether it would accept it now.
    held_since             timestamptz,
    checked_at             timestamptz,
    -- Held, and chosen to go in the destination's next delivery (a release sends only these).
    release                boolean     NOT NULL DEFAULT false,
    UNIQUE (destination_id, value_index)
);
CREATE INDEX value_outcomes_submission_idx ON value_outcomes (submission_id);
CREATE INDEX value_outcomes_held_idx ON value_outcomes (org_unit, period) WHERE outcome = 'held';
CREATE INDEX value_outcomes_decided_idx ON value_outcomes (decided_at DESC, id DESC);
CREATE INDEX value_outcomes_class_idx ON value_outcomes (class, error_code);

-- Held destinations have work left on DHIS2's side: after the gateway's own work, before
-- the final outcomes.
CREATE OR REPLACE FUNCTION submission_status(sub bigint, changed bigint, new_status text) RETURNS text AS $$
    SELECT CASE
             WHEN bool_or(s = 'processing') THEN 'processing'
             WHEN bool_or(s = 'retrying') THEN 'retrying'
             WHEN bool_or(s = 'queued') THEN 'queued'
             WHEN bool_or(s = 'held') THEN 'held'
             WHEN bool_or(s = 'dead') THEN 'dead'
             WHEN bool_or(s = 'failed') THEN 'failed'
             WHEN bool_or(s = 'warning') THEN 'warning'
             ELSE 'succeeded'
           END
    FROM (SELECT CASE WHEN id = changed THEN new_status ELSE status END AS s
          FROM submission_destinations WHERE submission_id = sub) d
    HAVING count(*) > 0;
$$ LANGUAGE sql STABLE;

-- The log's criteria gain the refused values': `class`, `code` and `element` (a data element
-- or the partner's key) select submissions with a value not stored for that reason (held,
-- refused, discarded or expired; not one released into DHIS2 since).
CREATE OR REPLACE FUNCTION matching_submissions(c jsonb) RETURNS SETOF submission_log AS $$
    SELECT s.* FROM matching_submissions(
        c->>'status', (c->>'from')::timestamptz, (c->>'to')::timestamptz, c->>'task_id', (c->>'job_id')::bigint,
        c->>'data_set', c->>'org_unit', c->>'period', c->>'user', c->>'q', (c->>'owner')::bigint) s
    WHERE (c->>'class' IS NULL AND c->>'code' IS NULL AND c->>'element' IS NULL)
       OR EXISTS (SELECT 1 FROM value_outcomes v
                  WHERE v.submission_id = s.id AND v.outcome <> 'released'
                    AND (c->>'class' IS NULL OR v.class = c->>'class')
                    AND (c->>'code' IS NULL OR v.error_code = c->>'code')
                    AND (c->>'element' IS NULL OR v.data_element = c->>'element' OR v.partner_key = c->>'element'))
$$ LANGUAGE sql STABLE;

-- The held values a selection names (`server_id`, `data_set`, `period`, `org_unit`,
-- `attribute_option_combo`, and `owner` for a partner's own; absent or null means any, an
-- empty string values without one), of destinations that wait on them.
CREATE FUNCTION held_values(c jsonb) RETURNS SETOF value_outcomes AS $$
    SELECT v.* FROM value_outcomes v
    JOIN submission_destinations d ON d.id = v.destination_id
    JOIN submission_log s ON s.id = v.submission_id
    WHERE v.outcome = 'held' AND d.status = 'held'
      AND (c->>'server_id' IS NULL OR d.server_id = (c->>'server_id')::bigint)
      AND (c->>'data_set' IS NULL OR v.data_set IS NOT DISTINCT FROM NULLIF(c->>'data_set', ''))
      AND (c->>'period' IS NULL OR v.period IS NOT DISTINCT FROM NULLIF(c->>'period', ''))
      AND (c->>'org_unit' IS NULL OR v.org_unit IS NOT DISTINCT FROM NULLIF(c->>'org_unit', ''))
      AND (c->>'attribute_option_combo' IS NULL
           OR v.attribute_option_combo IS NOT DISTINCT FROM NULLIF(c->>'attribute_option_combo', ''))
      AND (c->>'owner' IS NULL OR s.user_id = (c->>'owner')::bigint)
$$ LANGUAGE sql STABLE;

-- Destinations whose last held value was discarded or expired: warning when some of their
-- values reached DHIS2, failed when none did. Returns the submissions to summarise again.
CREATE FUNCTION settle_held(destinations bigint[], reason text) RETURNS SETOF bigint AS $$
    UPDATE submission_destinations d
    SET status = CASE WHEN t.dropped >= t.total THEN 'failed' ELSE 'warning' END, last_error = reason
    FROM (SELECT d2.id,
                 count(v.id) FILTER (WHERE v.outcome IN ('refused', 'discarded', 'expired')) AS dropped,
                 COALESCE(jsonb_array_length(s.dhis2_payload->'dataValues'), 0) AS total
          FROM submission_destinations d2
          JOIN submission_log s ON s.id = d2.submission_id
          LEFT JOIN value_outcomes v ON v.destination_id = d2.id
          WHERE d2.id = ANY(destinations)
          GROUP BY d2.id, s.dhis2_payload) t
    WHERE d.id = t.id AND d.status = 'held'
      AND NOT EXISTS (SELECT 1 FROM value_outcomes h WHERE h.destination_id = d.id AND h.outcome = 'held')
    RETURNING d.submission_id
$$ LANGUAGE sql;

-- The values not stored that a filter names (`class`, `code`, `element` (data element or
-- partner key), `org_unit`, `period`, `data_set`, `outcome` (default: all but released),
-- `user`, `server`, `from`/`to` (when decided), `owner`; absent means any).
CREATE FUNCTION refused_values(c jsonb) RETURNS SETOF value_outcomes AS $$
    SELECT v.* FROM value_outcomes v
    JOIN submission_log s ON s.id = v.submission_id
    JOIN submission_destinations d ON d.id = v.destination_id
    WHERE (c->>'class' IS NULL OR v.class = c->>'class')
      AND (c->>'code' IS NULL OR v.error_code = c->>'code')
      AND (c->>'element' IS NULL OR v.data_element = c->>'element' OR v.partner_key = c->>'element')
      AND (c->>'org_unit' IS NULL OR v.org_unit = c->>'org_unit')
      AND (c->>'period' IS NULL OR v.period = c->>'period')
      AND (c->>'data_set' IS NULL OR v.data_set = c->>'data_set')
      AND (CASE WHEN c->>'outcome' IS NULL THEN v.outcome <> 'released' ELSE v.outcome = c->>'outcome' END)
      AND (c->>'user' IS NULL OR s.user_id IN (SELECT id FROM users WHERE lower(username) = lower(c->>'user')))
      AND (c->>'server' IS NULL OR d.server_id IN (SELECT id FROM dhis2_servers WHERE name = c->>'server'))
      AND (c->>'from' IS NULL OR v.decided_at >= (c->>'from')::timestamptz)
      AND (c->>'to' IS NULL OR v.decided_at < (c->>'to')::timestamptz)
      AND (c->>'owner' IS NULL OR s.user_id = (c->>'owner')::bigint)
$$ LANGUAGE sql STABLE;
