-- Org-unit changes pushed to CC servers are submissions of their own kind, so they get the
-- same destinations, leases, retries, requeue and log as data.
ALTER TABLE submission_log DROP CONSTRAINT submission_log_kind_check;
ALTER TABLE submission_log ADD CONSTRAINT submission_log_kind_check CHECK (kind IN ('aggregate', 'tracker', 'metadata'));
