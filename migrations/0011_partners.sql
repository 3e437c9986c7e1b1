-- Fair scheduling across partners. Redis holds at most a few due jobs per partner and server;
-- the rest of a partner's deliveries wait in PostgreSQL and are fed to Redis in turn
-- (`delivery::feed`), so one partner's backlog never queues ahead of another's submission.

-- Whose delivery it is (the submission's user; 0 for none): fed per partner and server.
ALTER TABLE submission_destinations ADD COLUMN partner_id bigint NOT NULL DEFAULT 0;
-- Its job is in Redis; cleared when a worker claims it (or Redis lost it).
ALTER TABLE submission_destinations ADD COLUMN in_queue boolean NOT NULL DEFAULT false;
UPDATE submission_destinations d SET partner_id = s.user_id
FROM submission_log s
WHERE s.id = d.submission_id AND s.user_id IS NOT NULL AND d.status IN ('queued', 'processing', 'retrying', 'held');

-- Deliveries waiting to be fed, in the order they are fed: by partner and server, the longest due first.
CREATE INDEX submission_destinations_waiting_idx
    ON submission_destinations (partner_id, server_id, (COALESCE(next_attempt_at, '-infinity')), id)
    WHERE status IN ('queued', 'retrying') AND NOT in_queue;
-- Deliveries whose jobs are in Redis: a partner's share there.
CREATE INDEX submission_destinations_in_queue_idx ON submission_destinations (partner_id, server_id)
    WHERE status IN ('queued', 'retrying') AND in_queue;
