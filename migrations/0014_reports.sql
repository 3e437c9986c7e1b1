-- What each aggregate submission reported, for completeness (`reports`): per org unit,
-- period and the data set its payload named (NULL: none; its elements then tell which data
-- sets it counts for), the data element of every value, one entry per value. A trigger keeps
-- it in step with `dhis2_payload` (stored at intake, rebuilt on requeue, restored from an
-- archive). Rows outlive retention and purges on purpose: a month's completeness stays
-- answerable after its payloads are archived; deleting one submission deletes its rows.
CREATE TABLE report_receipts (
    submission_id bigint      NOT NULL,
    user_id       bigint,
    received_at   timestamptz NOT NULL,
    org_unit      text        NOT NULL,
    period        text        NOT NULL,
    data_set      text,
    data_elements text[]      NOT NULL
);
CREATE INDEX report_receipts_cell_idx ON report_receipts (period, org_unit);
CREATE INDEX report_receipts_submission_idx ON report_receipts (submission_id);

-- The refused and held values of a cell, found by org unit and period.
CREATE INDEX value_outcomes_cell_idx ON value_outcomes (period, org_unit);

-- The receipts of one submission, as they are stored.
CREATE FUNCTION report_receipts_of(s submission_log) RETURNS SETOF report_receipts AS $$
    SELECT s.id, s.user_id, s.submitted_at, r.org_unit, r.period, s.dhis2_payload->>'dataSet', array_agg(r.element)
    FROM (SELECT COALESCE(v->>'orgUnit', s.dhis2_payload->>'orgUnit') AS org_unit,
                 COALESCE(v->>'period', s.dhis2_payload->>'period') AS period,
                 v->>'dataElement' AS element
          FROM jsonb_array_elements(CASE WHEN jsonb_typeof(s.dhis2_payload->'dataValues') = 'array'
                                         THEN s.dhis2_payload->'dataValues' ELSE '[]' END) v) r
    WHERE s.kind = 'aggregate' AND r.org_unit IS NOT NULL AND r.period IS NOT NULL AND r.element IS NOT NULL
    GROUP BY r.org_unit, r.period
$$ LANGUAGE sql STABLE;

CREATE FUNCTION record_report_receipts() RETURNS trigger AS $$
BEGIN
    -- Also on INSERT: a submission restored from an archive kept its rows.
    DELETE FROM report_receipts WHERE submission_id = NEW.id;
    INSERT INTO report_receipts SELECT * FROM report_receipts_of(NEW);
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER submission_log_report_receipts
    AFTER INSERT OR UPDATE OF dhis2_payload ON submission_log
    FOR EACH ROW WHEN (NEW.kind = 'aggregate')
    EXECUTE FUNCTION record_report_receipts();

-- What was received before this migration.
INSERT INTO report_receipts SELECT r.* FROM submission_log s, report_receipts_of(s) r WHERE s.kind = 'aggregate';
