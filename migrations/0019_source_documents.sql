-- A submission that came as a standard document (an ADX group, a FHIR MeasureReport, rows of a
-- spreadsheet uploaded in the console) keeps its part of that document as it was sent.
-- `payload` holds the same data in the /aggregate JSON form, which requeues rebuild from.
ALTER TABLE submission_log
    ADD COLUMN source_format text CHECK (source_format IN ('adx', 'fhir', 'spreadsheet')),
    ADD COLUMN source_document text,
    ADD CONSTRAINT submission_log_source_document CHECK ((source_format IS NULL) = (source_document IS NULL));
