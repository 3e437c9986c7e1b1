-- DHIS2 metadata as the primary server last gave it: data sets, data elements, category
-- combos (with their option combos) and option sets, each kept as the JSON object DHIS2
-- answered (the sync asks only for the properties the gateway reads). The intake validates
-- against an in-memory copy built from this table, so it works while DHIS2 is down.
CREATE TABLE dhis2_metadata (
    kind         text        NOT NULL CHECK (kind IN ('dataSet', 'dataElement', 'categoryCombo', 'optionSet')),
    uid          text        NOT NULL,
    code         text,
    name         text        NOT NULL,
    last_updated text,
    object       jsonb       NOT NULL,
    synced_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, uid)
);
CREATE INDEX dhis2_metadata_code ON dhis2_metadata (kind, code) WHERE code IS NOT NULL;
CREATE INDEX dhis2_metadata_name ON dhis2_metadata (kind, lower(name));

-- How strictly each partner's submissions are checked against that metadata; NULL follows
-- api.intake_validation.
ALTER TABLE users ADD COLUMN intake_validation text CHECK (intake_validation IN ('strict', 'partial', 'off'));

-- What a CC server lacks of the primary's metadata that mappings use (NULL: nothing, or not
-- compared yet), found at each metadata sync and shown on the server's card.
ALTER TABLE dhis2_servers ADD COLUMN metadata_problem text;
