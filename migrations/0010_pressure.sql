-- The lease check runs every few seconds: it finds lapsed leases without reading every
-- delivery in progress.
CREATE INDEX submission_destinations_lease_idx ON submission_destinations (locked_until) WHERE status = 'processing';
