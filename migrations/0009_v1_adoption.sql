-- Adopting the original dhis2gw's database (issue 16). Its tables stay in `public`, as it
-- left them; ours are then in their own schema beside them, and this records which of its
-- rows came over (its id -> ours), so adopting again brings only what is new.
CREATE TABLE v1_adopted (
    kind      text        NOT NULL CHECK (kind IN ('user', 'token', 'mapping', 'submission')),
    legacy_id bigint      NOT NULL,
    our_id    bigint      NOT NULL,
    adopted   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, legacy_id)
);

-- The original kept JSON it sent to DHIS2 as text: that JSON, or NULL where it is not JSON.
CREATE FUNCTION jsonb_or_null(t text) RETURNS jsonb AS $$
BEGIN
    RETURN t::jsonb;
EXCEPTION WHEN others THEN
    RETURN NULL;
END;
$$ LANGUAGE plpgsql IMMUTABLE;

-- Whether a partner's submissions register their data set as complete in DHIS2 ('always',
-- 'when_requested', 'never'); NULL follows api.register_completion.
ALTER TABLE users ADD COLUMN register_completion text
    CHECK (register_completion IN ('always', 'when_requested', 'never'));
