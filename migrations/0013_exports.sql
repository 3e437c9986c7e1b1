-- The audit log's filter, once: `GET /audit` counts and pages with it, `GET /audit/export`
-- streams every row it matches. `c` holds actor, action, target_type, target_id, from, to and
-- q (an ILIKE pattern), each absent or null for "any".
CREATE FUNCTION matching_audit(c jsonb) RETURNS SETOF audit_log AS $$
    SELECT a.* FROM audit_log a
    WHERE (c->>'actor' IS NULL OR lower(a.actor) = lower(c->>'actor'))
      AND (c->>'action' IS NULL OR a.action = c->>'action')
      AND (c->>'target_type' IS NULL OR a.target_type = c->>'target_type')
      AND (c->>'target_id' IS NULL OR a.target_id = c->>'target_id')
      AND (c->>'from' IS NULL OR a.created >= (c->>'from')::timestamptz)
      AND (c->>'to' IS NULL OR a.created < (c->>'to')::timestamptz)
      AND (c->>'q' IS NULL OR concat_ws(' ', a.actor, a.action, a.target_type, a.target_id, a.detail::text) ILIKE c->>'q')
$$ LANGUAGE sql STABLE;
