-- The whole dhis2gw schema. Table and column names follow the Go original where its
-- wire format exposes them (submission_log, dhis2_mappings, users, user_apitoken).
-- Plain PostgreSQL 13+: no extensions.

-- Keeps `updated` honest without every UPDATE having to remember it.
CREATE FUNCTION set_updated() RETURNS trigger AS $$
BEGIN
    NEW.updated := now();
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

----------------------------------------------------------------------------------------------
-- Users and authentication
----------------------------------------------------------------------------------------------

CREATE TABLE users (
    id          bigserial PRIMARY KEY,
    uid         text        NOT NULL UNIQUE CHECK (uid ~ '^[A-Za-z][A-Za-z0-9]{10}$'),
    username    text        NOT NULL CHECK (username <> ''),
    -- argon2id PHC string; never leaves the server.
    password    text        NOT NULL,
    firstname   text        NOT NULL DEFAULT '',
    lastname    text        NOT NULL DEFAULT '',
    email       text,
    telephone   text        NOT NULL DEFAULT '',
    role        text        NOT NULL CHECK (role IN ('admin', 'operator', 'viewer', 'partner')),
    is_active   boolean     NOT NULL DEFAULT true,
    last_login  timestamptz,
    created     timestamptz NOT NULL DEFAULT now(),
    updated     timestamptz NOT NULL DEFAULT now()
);
-- Usernames are unique regardless of case, so "Admin" cannot shadow "admin".
CREATE UNIQUE INDEX users_username_key ON users (lower(username));
CREATE INDEX users_role_idx ON users (role);
CREATE INDEX users_created_idx ON users (created DESC);
CREATE TRIGGER users_updated BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION set_updated();

-- Refresh tokens rotate on every use; all tokens descending from one sign-in share a family,
-- so reuse of a rotated token can revoke the whole family.
CREATE TABLE refresh_tokens (
    id          bigserial PRIMARY KEY,
    user_id     bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family_id   uuid        NOT NULL,
    token_hash  text        NOT NULL UNIQUE,
    expires_at  timestamptz NOT NULL,
    revoked_at  timestamptz,
    created     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user_idx ON refresh_tokens (user_id);

-- Partner API tokens. Only a SHA-256 of the token is kept; the token is shown once.
CREATE TABLE user_apitoken (
    id           bigserial PRIMARY KEY,
    user_id      bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         text        NOT NULL DEFAULT '',
    token_hash   text        NOT NULL UNIQUE,
    token_prefix text        NOT NULL,
    is_active    boolean     NOT NULL DEFAULT true,
    expires_at   timestamptz,
    last_used_at timestamptz,
    created      timestamptz NOT NULL DEFAULT now(),
    updated      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX user_apitoken_user_idx ON user_apitoken (user_id);
CREATE TRIGGER user_apitoken_updated BEFORE UPDATE ON user_apitoken FOR EACH ROW EXECUTE FUNCTION set_updated();

-- Failed sign-ins per username (existing or not), for throttling password guessing.
CREATE TABLE login_failures (
    username      text PRIMARY KEY,
    failures      integer     NOT NULL DEFAULT 0,
    window_start  timestamptz NOT NULL DEFAULT now(),
    locked_until  timestamptz
);

----------------------------------------------------------------------------------------------
-- DHIS2 servers and mappings
----------------------------------------------------------------------------------------------

CREATE TABLE dhis2_servers (
    id               bigserial PRIMARY KEY,
    uid              text        NOT NULL UNIQUE,
    name             text        NOT NULL UNIQUE,
    base_url         text        NOT NULL,
    auth_method      text        NOT NULL CHECK (auth_method IN ('basic', 'pat')),
    username         text        NOT NULL DEFAULT '',
    -- Credentials encrypted with the key from config; never returned by the API.
    password_enc     bytea,
    pat_enc          bytea,
    timeout_secs     integer     NOT NULL DEFAULT 60 CHECK (timeout_secs > 0),
    max_concurrent   integer     NOT NULL DEFAULT 5 CHECK (max_concurrent > 0),
    is_primary       boolean     NOT NULL DEFAULT false,
    -- 'config' rows are rewritten from the configuration on start; 'api' rows belong to admins.
    origin           text        NOT NULL DEFAULT 'api' CHECK (origin IN ('config', 'api')),
    enabled          boolean     NOT NULL DEFAULT true,
    dhis2_version    text,
    last_checked_at  timestamptz,
    last_error       text,
    created          timestamptz NOT NULL DEFAULT now(),
    updated          timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX dhis2_servers_one_primary ON dhis2_servers (is_primary) WHERE is_primary;
CREATE TRIGGER dhis2_servers_updated BEFORE UPDATE ON dhis2_servers FOR EACH ROW EXECUTE FUNCTION set_updated();

CREATE TABLE dhis2_mappings (
    id                    bigserial PRIMARY KEY,
    uid                   text        NOT NULL UNIQUE,
    code                  text        NOT NULL DEFAULT '',
    what                  text        NOT NULL DEFAULT 'de' CHECK (what IN ('de', 'ou')),
    name                  text        NOT NULL DEFAULT '',
    description           text        NOT NULL DEFAULT '',
    dataset               text        NOT NULL DEFAULT '',
    dataelement           text        NOT NULL DEFAULT '',
    category_option_combo text,
    attribute_option_combo text,
    category_option       text        NOT NULL DEFAULT '',
    category_combo        text        NOT NULL DEFAULT '',
    instance_name         text        NOT NULL DEFAULT 'default',
    source_name           text        NOT NULL DEFAULT 'default',
    source_orgunit        text        NOT NULL DEFAULT '',
    dest_orgunit          text        NOT NULL DEFAULT '',
    created               timestamptz NOT NULL DEFAULT now(),
    updated               timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT unique_code_source_instance_what UNIQUE (code, source_name, instance_name, what)
);
CREATE INDEX dhis2_mappings_scope_idx ON dhis2_mappings (source_name, instance_name, what);
CREATE INDEX dhis2_mappings_dataelement_idx ON dhis2_mappings (dataelement);
CREATE INDEX dhis2_mappings_dataset_idx ON dhis2_mappings (dataset);
CREATE INDEX dhis2_mappings_name_idx ON dhis2_mappings (name);
CREATE TRIGGER dhis2_mappings_updated BEFORE UPDATE ON dhis2_mappings FOR EACH ROW EXECUTE FUNCTION set_updated();

----------------------------------------------------------------------------------------------
-- Submissions, their destinations and every delivery attempt
----------------------------------------------------------------------------------------------

CREATE TABLE submission_log (
    id               bigserial PRIMARY KEY,
    kind             text        NOT NULL DEFAULT 'aggregate' CHECK (kind IN ('aggregate', 'tracker')),
    submitted_at     timestamptz NOT NULL DEFAULT now(),
    user_id          bigint      REFERENCES users (id) ON DELETE SET NULL,
    -- What the partner sent, and the DHIS2 payload built from it (rebuilt on requeue).
    payload          jsonb       NOT NULL,
    dhis2_payload    jsonb,
    -- The partner key each dataValues[i] of dhis2_payload came from, to explain conflicts.
    value_keys       jsonb       NOT NULL DEFAULT '[]',
    warnings         jsonb       NOT NULL DEFAULT '[]',
    -- Overall status, summarising the destinations.
    status           text        NOT NULL DEFAULT 'queued' CHECK (status IN
                         ('queued', 'processing', 'succeeded', 'warning', 'failed', 'retrying', 'dead')),
    retry_count      integer     NOT NULL DEFAULT 0,
    last_attempt_at  timestamptz,
    next_attempt_at  timestamptz,
    task_id          text,
    response         text,
    errors           text,
    -- The mapping scope the payload was (and on requeue is again) built with.
    source_name      text        NOT NULL DEFAULT 'default',
    instance_name    text        NOT NULL DEFAULT 'default',
    -- Denormalised from the payload for the console's filters.
    data_set         text,
    org_unit         text,
    period           text,
    idempotency_key  text,
    request_hash     text,
    idempotent_response jsonb,
    updated          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX submission_log_submitted_idx ON submission_log (submitted_at DESC, id DESC);
CREATE INDEX submission_log_status_idx ON submission_log (status, submitted_at DESC);
CREATE INDEX submission_log_task_idx ON submission_log (task_id);
CREATE INDEX submission_log_user_idx ON submission_log (user_id, submitted_at DESC);
CREATE INDEX submission_log_data_set_idx ON submission_log (data_set);
CREATE INDEX submission_log_org_unit_idx ON submission_log (org_unit);
CREATE INDEX submission_log_period_idx ON submission_log (period);
CREATE UNIQUE INDEX submission_log_idempotency_key ON submission_log (user_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE TRIGGER submission_log_updated BEFORE UPDATE ON submission_log FOR EACH ROW EXECUTE FUNCTION set_updated();

-- The submission log's filters, in one place for listing, counting and batch requeue.
-- NULL means "any". Inlined by the planner, so the indexes above are used.
CREATE FUNCTION matching_submissions(p_status text, p_from timestamptz, p_to timestamptz, p_task_id text,
                                     p_id bigint, p_data_set text, p_org_unit text, p_period text,
                                     p_user text, p_text text, p_owner bigint)
RETURNS SETOF submission_log AS $$
    SELECT s.* FROM submission_log s
    WHERE (p_status IS NULL OR s.status = p_status)
      AND (p_from IS NULL OR s.submitted_at >= p_from)
      AND (p_to IS NULL OR s.submitted_at < p_to)
      AND (p_task_id IS NULL OR s.task_id = p_task_id)
      AND (p_id IS NULL OR s.id = p_id)
      AND (p_data_set IS NULL OR s.data_set = p_data_set)
      AND (p_org_unit IS NULL OR s.org_unit = p_org_unit)
      AND (p_period IS NULL OR s.period = p_period)
      AND (p_user IS NULL OR s.user_id IN (SELECT id FROM users WHERE lower(username) = lower(p_user)))
      AND (p_text IS NULL OR s.payload::text ILIKE p_text)
      AND (p_owner IS NULL OR s.user_id = p_owner)
$$ LANGUAGE sql STABLE;

-- One row per DHIS2 server a submission goes to (the primary, then each CC server).
CREATE TABLE submission_destinations (
    id               bigserial PRIMARY KEY,
    submission_id    bigint      NOT NULL REFERENCES submission_log (id) ON DELETE CASCADE,
    server_id        bigint      NOT NULL REFERENCES dhis2_servers (id) ON DELETE CASCADE,
    status           text        NOT NULL DEFAULT 'queued' CHECK (status IN
                         ('queued', 'processing', 'succeeded', 'warning', 'failed', 'retrying', 'dead')),
    retry_count      integer     NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz,
    -- Bumped whenever the delivery is (re)scheduled; names its queue job, so a job that
    -- is still queued is not pushed twice while a lost one is pushed again.
    generation       integer     NOT NULL DEFAULT 0,
    -- Set while a worker holds the delivery, so no two workers deliver it at once.
    locked_by        text,
    locked_until     timestamptz,
    dhis2_job_id     text,
    last_error       text,
    updated          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (submission_id, server_id)
);
CREATE INDEX submission_destinations_due_idx ON submission_destinations (next_attempt_at)
    WHERE status IN ('queued', 'processing', 'retrying');
CREATE INDEX submission_destinations_server_idx ON submission_destinations (server_id, status);
CREATE TRIGGER submission_destinations_updated BEFORE UPDATE ON submission_destinations
    FOR EACH ROW EXECUTE FUNCTION set_updated();

-- The overall status of a submission summarises its destinations: work still to do
-- first, then the worst outcome. `changed` may name a destination whose status is about to
-- become `new_status`, so a statement updating both can compute the summary in one go.
CREATE FUNCTION submission_status(sub bigint, changed bigint, new_status text) RETURNS text AS $$
    SELECT CASE
             WHEN bool_or(s = 'processing') THEN 'processing'
             WHEN bool_or(s = 'retrying') THEN 'retrying'
             WHEN bool_or(s = 'queued') THEN 'queued'
             WHEN bool_or(s = 'dead') THEN 'dead'
             WHEN bool_or(s = 'failed') THEN 'failed'
             WHEN bool_or(s = 'warning') THEN 'warning'
             ELSE 'succeeded'
           END
    FROM (SELECT CASE WHEN id = changed THEN new_status ELSE status END AS s
          FROM submission_destinations WHERE submission_id = sub) d
    HAVING count(*) > 0;
$$ LANGUAGE sql STABLE;

-- Rewrites a submission's status (and next retry) from its destinations; returns it.
CREATE FUNCTION refresh_submission_status(sub bigint) RETURNS text AS $$
    UPDATE submission_log
    SET status = COALESCE(submission_status(sub, NULL, NULL), status),
        next_attempt_at = (SELECT min(next_attempt_at) FROM submission_destinations
                           WHERE submission_id = sub AND status = 'retrying')
    WHERE id = sub
    RETURNING status;
$$ LANGUAGE sql;

CREATE TABLE delivery_attempts (
    id               bigserial PRIMARY KEY,
    submission_id    bigint      NOT NULL REFERENCES submission_log (id) ON DELETE CASCADE,
    destination_id   bigint      REFERENCES submission_destinations (id) ON DELETE CASCADE,
    attempt          integer     NOT NULL,
    started_at       timestamptz NOT NULL DEFAULT now(),
    duration_ms      integer,
    request_url      text,
    request_payload  jsonb,
    http_status      integer,
    dhis2_version    text,
    response_body    text,
    import_status    text,
    import_count     jsonb,
    conflicts        jsonb       NOT NULL DEFAULT '[]',
    outcome          text        NOT NULL CHECK (outcome IN ('succeeded', 'warning', 'failed', 'retry', 'dead')),
    error            text
);
CREATE INDEX delivery_attempts_submission_idx ON delivery_attempts (submission_id, attempt);
-- Numbering a destination's next attempt must not scan every attempt ever made.
CREATE INDEX delivery_attempts_destination_idx ON delivery_attempts (destination_id);

----------------------------------------------------------------------------------------------
-- Organisation unit cache (synced from the primary DHIS2)
----------------------------------------------------------------------------------------------

CREATE TABLE orgunitlevel (
    uid      text PRIMARY KEY,
    name     text        NOT NULL,
    level    integer     NOT NULL UNIQUE,
    updated  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE organisationunit (
    uid            text PRIMARY KEY,
    code           text,
    name           text        NOT NULL,
    shortname      text        NOT NULL DEFAULT '',
    parent_uid     text,
    hierarchylevel integer     NOT NULL,
    path           text        NOT NULL,
    opening_date   date,
    closed_date    date,
    last_updated   timestamptz,
    synced_at      timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX organisationunit_code_key ON organisationunit (code) WHERE code IS NOT NULL AND code <> '';
CREATE INDEX organisationunit_parent_idx ON organisationunit (parent_uid);
CREATE INDEX organisationunit_level_idx ON organisationunit (hierarchylevel);
CREATE INDEX organisationunit_name_idx ON organisationunit (lower(name));
CREATE INDEX organisationunit_path_idx ON organisationunit (path text_pattern_ops);

CREATE TABLE orgunitgroup (
    uid      text PRIMARY KEY,
    code     text,
    name     text NOT NULL,
    updated  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE orgunitgroupmembers (
    orgunit_uid text NOT NULL REFERENCES organisationunit (uid) ON DELETE CASCADE,
    group_uid   text NOT NULL REFERENCES orgunitgroup (uid) ON DELETE CASCADE,
    PRIMARY KEY (orgunit_uid, group_uid)
);

-- Small key/value state for background jobs (e.g. the last org-unit sync time).
CREATE TABLE job_state (
    name     text PRIMARY KEY,
    value    jsonb       NOT NULL,
    updated  timestamptz NOT NULL DEFAULT now()
);

----------------------------------------------------------------------------------------------
-- Audit log: append-only record of who did what
----------------------------------------------------------------------------------------------

CREATE TABLE audit_log (
    id           bigserial PRIMARY KEY,
    created      timestamptz NOT NULL DEFAULT now(),
    actor_id     bigint REFERENCES users (id) ON DELETE SET NULL,
    actor        text        NOT NULL,
    action       text        NOT NULL,
    target_type  text        NOT NULL DEFAULT '',
    target_id    text        NOT NULL DEFAULT '',
    detail       jsonb       NOT NULL DEFAULT '{}',
    remote_ip    text,
    request_id   text
);
CREATE INDEX audit_log_created_idx ON audit_log (created DESC);
CREATE INDEX audit_log_actor_idx ON audit_log (actor, created DESC);
CREATE INDEX audit_log_action_idx ON audit_log (action, created DESC);

CREATE FUNCTION audit_log_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
