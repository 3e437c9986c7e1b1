-- Submissions made through the DHIS2-compatible API: the query DHIS2 is to receive (id
-- schemes and import options, passed on as sent) and the job id the client polls.
ALTER TABLE submission_log ADD COLUMN dhis2_query text;
ALTER TABLE submission_log ADD COLUMN job_uid text;
CREATE UNIQUE INDEX submission_log_job_uid ON submission_log (job_uid) WHERE job_uid IS NOT NULL;
