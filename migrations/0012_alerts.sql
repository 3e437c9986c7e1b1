-- Alerts (`alerts`): rules checked on a schedule, what is firing now, and every notification
-- sent or tried, so nobody has to watch the console.

-- Rules admins changed or added through the API. Built-in and configured rules are not stored:
-- a row here overrides the rule of the same name until it is deleted.
CREATE TABLE alert_rules (
    name        text        PRIMARY KEY CHECK (name ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    rule        jsonb       NOT NULL,
    updated_by  text        NOT NULL,
    updated     timestamptz NOT NULL DEFAULT now()
);

-- What fires now: one row per rule and subject (a server, a partner, the database), from the
-- check that found it until the check that no longer does.
CREATE TABLE alert_states (
    rule              text        NOT NULL,
    subject           text        NOT NULL,
    message           text        NOT NULL,
    value             double precision,
    firing_since      timestamptz NOT NULL DEFAULT now(),
    last_notified_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (rule, subject)
);

-- Every notification, one per recipient: queued, sent (with the SMTP or webhook answer) or
-- failed after its last try (with why). Sending is retried apart from deliveries.
CREATE TABLE alert_notifications (
    id               bigserial   PRIMARY KEY,
    created          timestamptz NOT NULL DEFAULT now(),
    rule             text,
    subject          text,
    event            text        NOT NULL CHECK (event IN ('fired', 'reminder', 'recovered', 'digest', 'partner_digest', 'test')),
    channel          text        NOT NULL CHECK (channel IN ('email', 'webhook')),
    recipient        text        NOT NULL,
    title            text        NOT NULL,
    body             text        NOT NULL,
    status           text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts         integer     NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    answer           text,
    error            text,
    sent_at          timestamptz
);
CREATE INDEX alert_notifications_due_idx ON alert_notifications (next_attempt_at) WHERE status = 'pending';
CREATE INDEX alert_notifications_created_idx ON alert_notifications (created DESC, id DESC);

-- The local days whose digest was composed, so one process composes each once.
CREATE TABLE alert_digests (
    day       date        PRIMARY KEY,
    composed  timestamptz NOT NULL DEFAULT now()
);

-- Since when a server has failed its health checks, and since when it is switched off: the
-- `server_unavailable` rule fires after `after` seconds of either.
ALTER TABLE dhis2_servers ADD COLUMN down_since timestamptz, ADD COLUMN paused_since timestamptz;
UPDATE dhis2_servers SET down_since = last_checked_at WHERE last_error IS NOT NULL;
UPDATE dhis2_servers SET paused_since = updated WHERE NOT enabled;
CREATE FUNCTION set_paused_since() RETURNS trigger AS $$
BEGIN
    IF NEW.enabled IS DISTINCT FROM OLD.enabled THEN
        NEW.paused_since := CASE WHEN NEW.enabled THEN NULL ELSE now() END;
    END IF;
    RETURN NEW;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER dhis2_servers_paused BEFORE UPDATE ON dhis2_servers FOR EACH ROW EXECUTE FUNCTION set_paused_since();
