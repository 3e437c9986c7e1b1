-- Security fixes (issue 21).

-- Which partner first sent each tracker object (tracked entity, enrollment, event,
-- relationship) through the gateway: another partner may not update it, nor hang its own
-- records on it, by sending its UID.
CREATE TABLE tracker_owners (
    uid        text        PRIMARY KEY,
    user_id    bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    claimed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tracker_owners_user ON tracker_owners (user_id);

-- Objects partners sent before this migration belong to the first partner that sent them.
INSERT INTO tracker_owners (uid, user_id)
SELECT DISTINCT ON (found.uid) found.uid, found.user_id
FROM (
    SELECT s.id, s.user_id, item.value #>> '{}' AS uid
    FROM submission_log s
    JOIN users u ON u.id = s.user_id AND u.role = 'partner'
    CROSS JOIN LATERAL (
        SELECT jsonb_path_query(coalesce(s.dhis2_payload, s.payload), '$.**.trackedEntity')
        UNION ALL SELECT jsonb_path_query(coalesce(s.dhis2_payload, s.payload), '$.**.enrollment')
        UNION ALL SELECT jsonb_path_query(coalesce(s.dhis2_payload, s.payload), '$.**.event')
        UNION ALL SELECT jsonb_path_query(coalesce(s.dhis2_payload, s.payload), '$.**.relationship')
    ) AS item (value)
    WHERE s.kind = 'tracker' AND jsonb_typeof(item.value) = 'string'
) AS found
ORDER BY found.uid, found.id
ON CONFLICT DO NOTHING;

-- Sign-in attempts, counted per username and per client address in one statement each, so
-- parallel guesses cannot slip past the limit between a check and a write.
CREATE TABLE sign_in_attempts (
    key          text        PRIMARY KEY,   -- 'user:<name>' or 'ip:<address>'
    failures     integer     NOT NULL DEFAULT 0,
    window_start timestamptz NOT NULL DEFAULT now(),
    locked_until timestamptz
);
DROP TABLE login_failures;

-- A sign-in's refresh tokens share a family; the family's start bounds the whole session.
ALTER TABLE refresh_tokens ADD COLUMN family_started timestamptz NOT NULL DEFAULT now();

-- DHIS2 server credentials sealed with their server's UID as associated data (version 2);
-- version 1 values (sealed without it) are re-sealed at start-up, where the key is known.
ALTER TABLE dhis2_servers ADD COLUMN credentials_version smallint NOT NULL DEFAULT 2;
UPDATE dhis2_servers SET credentials_version = 1 WHERE password_enc IS NOT NULL OR pat_enc IS NOT NULL;
