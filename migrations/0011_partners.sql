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

-- Per-partner limits and scopes (`access::partners`). A user's scope and a token's scope both
-- apply; empty lists allow everything. Limits left NULL follow the configuration.
ALTER TABLE users
    ADD COLUMN scope jsonb NOT NULL DEFAULT '{}',
    ADD COLUMN requests_per_second integer CHECK (requests_per_second > 0),
    ADD COLUMN values_per_day bigint CHECK (values_per_day > 0),
    ADD COLUMN expires_at timestamptz,
    ADD COLUMN last_login_ip text;
ALTER TABLE user_apitoken
    ADD COLUMN scope jsonb NOT NULL DEFAULT '{}',
    ADD COLUMN last_used_ip text,
    -- The token this one was rotated into; it keeps working until its (shortened) expiry.
    ADD COLUMN rotated_to bigint REFERENCES user_apitoken (id) ON DELETE SET NULL;

-- Values accepted per partner and day (in `server.timezone`), for `values_per_day`.
CREATE TABLE partner_usage (
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    day     date   NOT NULL,
    "values" bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, day)
);
