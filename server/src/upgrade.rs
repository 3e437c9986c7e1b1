//! Adopting the original dhis2gw's database (the Go service, 1.x): its users (bcrypt
//! passwords), partner tokens, mappings and submission log come over into ours. Ours lives
//! beside its tables in a schema of its own ([`db::SCHEMA_BESIDE_V1`]), which are read and
//! left as they were, so the old package can still be put back until `--finalize` drops them.
//!
//! The original's rows are read as JSON (`to_jsonb`), so every version of its schema
//! (migrations 1 to 7, with or without later columns) reads alike; those queries cannot be
//! checked at build time, as the original's tables exist only on an adopted database.

use std::fmt;

use chrono::{DateTime, Duration, Utc};
use dhis2gw_wire::MappingFields;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::{PgConnection, PgPool, Row};

use crate::access::audit::{self, Actor};
use crate::access::secrets;
use crate::infra::db;
use crate::infra::uid;
use crate::mappings;

/// What adopting does with what it found.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Report what would come over, change nothing.
    DryRun,
    Import,
}

/// What came over, per kind, and what did not and why.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub users: Tally,
    pub tokens: Tally,
    pub mappings: Tally,
    pub submissions: Tally,
    /// What ops should know or do (a disabled seed account, tokens without expiry, …).
    pub notes: Vec<String>,
}

#[derive(Debug, Default, Serialize)]
pub struct Tally {
    pub imported: u64,
    /// Brought over by an earlier run.
    pub already: u64,
    /// One line each: which row, and why it was left.
    pub skipped: Vec<String>,
}

impl Report {
    /// Whether this run brought or would bring anything over.
    pub fn imported_anything(&self) -> bool {
        [&self.users, &self.tokens, &self.mappings, &self.submissions].iter().any(|t| t.imported > 0)
    }
}

impl Report {
    /// What came over per kind, and each row left with why, one line each.
    pub fn tallies(&self) -> Vec<String> {
        let kinds = [
            ("users", &self.users),
            ("tokens", &self.tokens),
            ("mappings", &self.mappings),
            ("submissions", &self.submissions),
        ];
        let mut lines = Vec::new();
        for (kind, tally) in kinds {
            let (imported, already, skipped) = (tally.imported, tally.already, tally.skipped.len());
            lines.push(format!("{kind}: {imported} imported, {already} already imported, {skipped} skipped"));
            lines.extend(tally.skipped.iter().map(|why| format!("  skipped: {why}")));
        }
        lines
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for line in self.tallies() {
            writeln!(f, "{line}")?;
        }
        for note in &self.notes {
            writeln!(f, "note: {note}")?;
        }
        Ok(())
    }
}

/// Whether the original's tables are beside ours (our schema is not `public` then).
pub async fn original_present(db: &PgPool) -> sqlx::Result<bool> {
    sqlx::query_scalar(
        "SELECT current_schema() = $1 AND to_regclass('public.users') IS NOT NULL
                AND to_regclass('public.submission_log') IS NOT NULL",
    )
    .bind(db::SCHEMA_BESIDE_V1)
    .fetch_one(db)
    .await
}

/// Whether anything of the original's ever came over: this gateway replaced it here.
pub async fn replaced_original(db: &PgPool) -> sqlx::Result<bool> {
    sqlx::query_scalar!(r#"SELECT EXISTS (SELECT 1 FROM v1_adopted) AS "any!""#).fetch_one(db).await
}

/// Brings over what the original has that we do not yet (or, with [`Mode::DryRun`], says
/// what it would). `None` when there is no original beside us. One run at a time, in one
/// transaction: it all comes over or nothing does.
pub async fn adopt(db: &PgPool, mode: Mode, token_ttl_secs: u64) -> anyhow::Result<Option<Report>> {
    if !original_present(db).await? {
        return Ok(None);
    }
    let mut tx = db.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('dhis2gw.adopt_v1'))").execute(&mut *tx).await?;
    let mut report = Report::default();
    adopt_users(&mut tx, &mut report).await?;
    adopt_tokens(&mut tx, &mut report, Duration::seconds(token_ttl_secs as i64)).await?;
    adopt_mappings(&mut tx, &mut report).await?;
    adopt_submissions(&mut tx, &mut report).await?;
    if mode == Mode::DryRun {
        tx.rollback().await?;
        return Ok(Some(report));
    }
    if report.imported_anything() {
        let detail = serde_json::to_value(&report)?;
        audit::record(&mut *tx, Actor::Cli, "v1.adopt", "database", "", detail).await?;
    }
    tx.commit().await?;
    Ok(Some(report))
}

/// The original's rows of `table`, oldest first, as JSON objects with their `id`.
async fn legacy_rows<T: for<'de> Deserialize<'de>>(conn: &mut PgConnection, table: &str) -> anyhow::Result<Vec<T>> {
    let sql = format!("SELECT to_jsonb(t) FROM public.{table} t ORDER BY t.id");
    let rows: Vec<Value> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_all(&mut *conn).await?;
    Ok(rows.into_iter().map(serde_json::from_value).collect::<Result<_, _>>()?)
}

/// Our id for the original's row of `kind`, if it came over already.
async fn adopted(conn: &mut PgConnection, kind: &str, legacy_id: i64) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar!("SELECT our_id FROM v1_adopted WHERE kind = $1 AND legacy_id = $2", kind, legacy_id)
        .fetch_optional(&mut *conn)
        .await
}

async fn record_adopted(conn: &mut PgConnection, kind: &str, legacy_id: i64, our_id: i64) -> sqlx::Result<()> {
    sqlx::query!("INSERT INTO v1_adopted (kind, legacy_id, our_id) VALUES ($1, $2, $3)", kind, legacy_id, our_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

fn text(value: Option<String>) -> String {
    value.map(|s| s.trim().to_string()).unwrap_or_default()
}

/// A `timestamptz` of the original's row, as `to_jsonb` writes it (a value without an offset
/// is read as UTC).
fn when(value: Option<String>) -> Option<DateTime<Utc>> {
    let value = value?;
    DateTime::parse_from_rfc3339(&value)
        .map(|d| d.with_timezone(&Utc))
        .ok()
        .or_else(|| chrono::NaiveDateTime::parse_from_str(&value, "%Y-%m-%dT%H:%M:%S%.f").ok().map(|d| d.and_utc()))
}

#[derive(Deserialize)]
struct LegacyUser {
    id: i64,
    uid: Option<String>,
    username: Option<String>,
    password: Option<String>,
    firstname: Option<String>,
    lastname: Option<String>,
    email: Option<String>,
    telephone: Option<String>,
    is_active: Option<bool>,
    is_admin_user: Option<bool>,
    created: Option<String>,
}

/// The seed account every original database was made with.
const SEED_USERNAME: &str = "admin";
const SEED_PASSWORD: &str = "@dm1n";

/// Users keep their names, contact details, active flag and bcrypt password; the original's
/// admins are admins, everyone else a partner (they posted data). The seed `admin`/`@dm1n`
/// comes over disabled while its password is still that.
async fn adopt_users(conn: &mut PgConnection, report: &mut Report) -> anyhow::Result<()> {
    for user in legacy_rows::<LegacyUser>(conn, "users").await? {
        if adopted(conn, "user", user.id).await?.is_some() {
            report.users.already += 1;
            continue;
        }
        let username = text(user.username);
        let password = text(user.password);
        if username.is_empty() {
            report.users.skipped.push(format!("user {}: no username", user.id));
            continue;
        }
        let taken = sqlx::query_scalar!("SELECT uid FROM users WHERE lower(username) = lower($1)", username)
            .fetch_optional(&mut *conn)
            .await?;
        if let Some(uid) = taken {
            report.users.skipped.push(format!("user {username}: a user of that name exists here already ({uid})"));
            continue;
        }
        let legacy_uid = text(user.uid);
        let uid_free = uid::is_valid(&legacy_uid)
            && sqlx::query_scalar!("SELECT id FROM users WHERE uid = $1", legacy_uid)
                .fetch_optional(&mut *conn)
                .await?
                .is_none();
        let uid = if uid_free { legacy_uid } else { uid::generate() };
        let is_admin = user.is_admin_user.unwrap_or(false);
        let seed =
            username == SEED_USERNAME && secrets::verify_password(SEED_PASSWORD.into(), Some(password.clone())).await;
        if seed {
            report.notes.push(format!(
                "user {username} still has the original's default password, so it came over disabled; set a password \
                 with `dhis2gw set-password --username {username}` (which enables it) or from the console"
            ));
        } else if !secrets::is_legacy_hash(&password) {
            report.notes.push(format!("user {username}: the stored password is not a bcrypt hash; set a new one"));
        }
        let email = Some(text(user.email)).filter(|e| !e.is_empty());
        let id = sqlx::query_scalar!(
            r#"INSERT INTO users (uid, username, password, firstname, lastname, email, telephone, role, is_active, created)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, COALESCE($10, now())) RETURNING id"#,
            uid,
            username,
            password,
            text(user.firstname),
            text(user.lastname),
            email,
            text(user.telephone),
            if is_admin { "admin" } else { "partner" },
            user.is_active.unwrap_or(true) && !seed,
            when(user.created),
        )
        .fetch_one(&mut *conn)
        .await?;
        record_adopted(conn, "user", user.id, id).await?;
        report.users.imported += 1;
    }
    Ok(())
}

#[derive(Deserialize)]
struct LegacyToken {
    id: i64,
    user_id: i64,
    token: Option<String>,
    is_active: Option<bool>,
    expires_at: Option<String>,
    created: Option<String>,
}

/// The name our token list shows for a token the original issued.
pub const LEGACY_TOKEN_NAME: &str = "from dhis2gw 1.x";

/// Every active token keeps working, now kept as a hash, with its expiry. The original never
/// enforced expiry, so a token past it still worked there: it works here `ttl` longer, and
/// the report says so.
async fn adopt_tokens(conn: &mut PgConnection, report: &mut Report, ttl: Duration) -> anyhow::Result<()> {
    let mut never_expire = 0;
    for token in legacy_rows::<LegacyToken>(conn, "user_apitoken").await? {
        if adopted(conn, "token", token.id).await?.is_some() {
            report.tokens.already += 1;
            continue;
        }
        let secret = text(token.token);
        if !token.is_active.unwrap_or(true) || secret.is_empty() {
            report.tokens.skipped.push(format!("token {}: revoked in the original", token.id));
            continue;
        }
        let Some(owner) = adopted(conn, "user", token.user_id).await? else {
            report
                .tokens
                .skipped
                .push(format!("token {}: its user (id {}) did not come over", token.id, token.user_id));
            continue;
        };
        let mut expires = when(token.expires_at);
        match expires {
            None => never_expire += 1,
            Some(at) if at <= Utc::now() => {
                let until = Utc::now() + ttl;
                report.notes.push(format!(
                    "token {} expired on {} but the original did not enforce that; it works until {} here: rotate it",
                    token.id,
                    at.format("%Y-%m-%d"),
                    until.format("%Y-%m-%d")
                ));
                expires = Some(until);
            }
            Some(_) => {}
        }
        let id = sqlx::query_scalar!(
            r#"INSERT INTO user_apitoken (user_id, name, token_hash, token_prefix, expires_at, created)
               VALUES ($1, $2, $3, $4, $5, COALESCE($6, now()))
               ON CONFLICT (token_hash) DO NOTHING RETURNING id"#,
            owner,
            LEGACY_TOKEN_NAME,
            secrets::token_hash(&secret),
            secret.chars().take(6).collect::<String>(),
            expires,
            when(token.created),
        )
        .fetch_optional(&mut *conn)
        .await?;
        match id {
            Some(id) => {
                record_adopted(conn, "token", token.id, id).await?;
                report.tokens.imported += 1;
            }
            None => report.tokens.skipped.push(format!("token {}: the same token came over already", token.id)),
        }
    }
    if never_expire > 0 {
        report.notes.push(format!(
            "{never_expire} token(s) of the original never expire; the console lists them as '{LEGACY_TOKEN_NAME}': rotate them"
        ));
    }
    Ok(())
}

#[derive(Deserialize)]
struct LegacyMapping {
    id: i64,
    name: Option<String>,
    code: Option<String>,
    description: Option<String>,
    dataset: Option<String>,
    dataelement: Option<String>,
    category_option_combo: Option<String>,
    category_option: Option<String>,
    category_combo: Option<String>,
    instance_name: Option<String>,
    source_name: Option<String>,
    what: Option<String>,
    source_orgunit: Option<String>,
    dest_orgunit: Option<String>,
}

impl LegacyMapping {
    /// As ours: `what` empty (rows older than the original's migration 6) is a data element;
    /// an empty code is keyed as the original looked it up (the data element, or the
    /// partner's org unit).
    fn fields(self) -> MappingFields {
        let what = Some(text(self.what)).filter(|w| !w.is_empty()).unwrap_or_else(|| "de".into());
        let (data_element, source_org_unit) = (text(self.dataelement), text(self.source_orgunit));
        let code = Some(text(self.code)).filter(|c| !c.is_empty()).unwrap_or_else(|| match what.as_str() {
            "ou" => source_org_unit.clone(),
            _ => data_element.clone(),
        });
        mappings::normalize(MappingFields {
            code,
            what,
            name: text(self.name),
            description: text(self.description),
            data_set: text(self.dataset),
            data_element,
            category_option_combo: self.category_option_combo,
            attribute_option_combo: None,
            category_option: text(self.category_option),
            category_combo: text(self.category_combo),
            instance_name: text(self.instance_name),
            source_name: text(self.source_name),
            source_org_unit,
            destination_org_unit: text(self.dest_orgunit),
        })
    }
}

/// Every mapping our checks accept. Where two would share a code for one `what`, source and
/// instance, the one the original changed last wins and the report names the other.
async fn adopt_mappings(conn: &mut PgConnection, report: &mut Report) -> anyhow::Result<()> {
    let sql = "SELECT to_jsonb(t) FROM public.dhis2_mappings t ORDER BY t.updated DESC NULLS LAST, t.id DESC";
    let rows: Vec<Value> = sqlx::query_scalar(sql).fetch_all(&mut *conn).await?;
    for row in rows {
        let mapping: LegacyMapping = serde_json::from_value(row)?;
        let legacy_id = mapping.id;
        if adopted(conn, "mapping", legacy_id).await?.is_some() {
            report.mappings.already += 1;
            continue;
        }
        let fields = mapping.fields();
        let problems = mappings::problems(&fields);
        if !problems.is_empty() {
            report.mappings.skipped.push(format!("mapping {legacy_id} ({}): {}", fields.code, problems.join("; ")));
            continue;
        }
        let kept = sqlx::query_scalar!(
            r#"SELECT a.legacy_id AS "legacy_id?" FROM dhis2_mappings m
               LEFT JOIN v1_adopted a ON a.kind = 'mapping' AND a.our_id = m.id
               WHERE m.code = $1 AND m.what = $2 AND m.source_name = $3 AND m.instance_name = $4"#,
            fields.code,
            fields.what,
            fields.source_name,
            fields.instance_name
        )
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(kept) = kept {
            let kept = kept.map_or("one made here".into(), |id| format!("mapping {id}"));
            report.mappings.skipped.push(format!(
                "mapping {legacy_id} ({}): same code, what, source and instance as {kept}, which was kept",
                fields.code
            ));
            continue;
        }
        let row = mappings::insert(&mut *conn, &fields).await?;
        record_adopted(conn, "mapping", legacy_id, row.id).await?;
        report.mappings.imported += 1;
    }
    Ok(())
}

/// The submission log comes over as history, in one statement: each row as it ended in the
/// original (what was sent to DHIS2 and its answer as one attempt), delivered nowhere again
/// unless an operator requeues it. A row the original still had queued may never have
/// reached DHIS2 (its worker was stopped, or lost it): it is `failed`, saying so.
async fn adopt_submissions(conn: &mut PgConnection, report: &mut Report) -> anyhow::Result<()> {
    report.submissions.already =
        sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM v1_adopted WHERE kind = 'submission'"#)
            .fetch_one(&mut *conn)
            .await? as u64;
    let counts = sqlx::query(
        r#"WITH found AS MATERIALIZED (
               SELECT nextval(pg_get_serial_sequence('submission_log', 'id')) AS id, l.id AS legacy_id, to_jsonb(l) AS r
               FROM public.submission_log l
               WHERE NOT EXISTS (SELECT 1 FROM v1_adopted a WHERE a.kind = 'submission' AND a.legacy_id = l.id)
               ORDER BY l.id
           ), shaped AS MATERIALIZED (
               SELECT id, legacy_id, r,
                      CASE WHEN jsonb_typeof(r->'payload') = 'object' THEN r->'payload'
                           ELSE jsonb_build_object('payload', r->'payload') END AS payload,
                      jsonb_or_null(r->>'dhis2_payload') AS sent,
                      upper(coalesce(r->>'status', '')) AS was,
                      (r->>'submitted_at')::timestamptz AS submitted_at,
                      (r->>'last_attempt_at')::timestamptz AS last_attempt_at
               FROM found
           ), described AS MATERIALIZED (
               SELECT shaped.*,
                      CASE WHEN was IN ('SUCCESS', 'OK') THEN 'succeeded' WHEN was = 'WARNING' THEN 'warning'
                           ELSE 'failed' END AS status,
                      COALESCE(NULLIF(r->>'errors', ''), CASE
                          WHEN was = 'QUEUED' THEN 'Still queued in dhis2gw 1.x when this gateway took over: it may never have reached DHIS2; requeue it to send it'
                          WHEN was IN ('SUCCESS', 'OK', 'WARNING') THEN NULL
                          ELSE format('dhis2gw 1.x recorded %s', coalesce(NULLIF(r->>'status', ''), 'no status')) END) AS errors
               FROM shaped
           ), history AS (
               INSERT INTO submission_log (id, kind, submitted_at, payload, dhis2_payload, status, retry_count, last_attempt_at,
                   task_id, response, errors, data_set, org_unit, period)
               SELECT id, 'aggregate', COALESCE(submitted_at, now()), payload, sent, status,
                      COALESCE((r->>'retry_count')::int, 0), last_attempt_at, NULLIF(r->>'task_id', ''),
                      NULLIF(r->>'response', ''), errors, payload->>'dataSet', payload->>'orgUnit', payload->>'period'
               FROM described
           ), attempts AS (
               INSERT INTO delivery_attempts (submission_id, attempt, started_at, request_payload, response_body,
                   import_status, outcome, error)
               SELECT id, 1, COALESCE(last_attempt_at, submitted_at, now()), sent, NULLIF(r->>'response', ''),
                      NULLIF(r->>'status', ''), status, errors
               FROM described WHERE was <> 'QUEUED'
           ), recorded AS (
               INSERT INTO v1_adopted (kind, legacy_id, our_id) SELECT 'submission', legacy_id, id FROM described
           )
           SELECT count(*) AS imported, count(*) FILTER (WHERE was = 'QUEUED') AS queued,
                  count(*) FILTER (WHERE NOT (payload ? 'dataSet' AND payload ? 'orgUnit' AND payload ? 'period'
                                              AND jsonb_typeof(payload->'dataValues') = 'object'
                                              AND payload->'dataValues' <> '{}')) AS unsendable
           FROM described"#,
    )
    .fetch_one(&mut *conn)
    .await?;
    let (imported, queued, unsendable): (i64, i64, i64) = (counts.get(0), counts.get(1), counts.get(2));
    report.submissions.imported = imported as u64;
    if queued > 0 {
        report.notes.push(format!(
            "{queued} submission(s) were still queued in the original and may never have reached DHIS2: they are listed as \
             failed; requeue them from the console (or POST /api/v2/aggregate/reenqueue/batch)"
        ));
    }
    if unsendable > 0 {
        report.notes.push(format!(
            "{unsendable} submission(s) lack dataSet, orgUnit, period or dataValues: kept as history, they cannot be requeued"
        ));
    }
    Ok(())
}

/// The original's tables, functions and schemas, as its migrations 1 to 7 made them.
const LEGACY_TABLES: &[&str] = &[
    "dhis2_mapping_dimension",
    "submission_log",
    "dhis2_mappings",
    "schedules",
    "audit_log",
    "blacklist",
    "requests",
    "server_allowed_sources",
    "servers",
    "user_apitoken",
    "users",
    "user_role_permissions",
    "user_roles",
    "orgunitfailure",
    "orgunitgroupmembers",
    "organisationunit",
    "attribute",
    "orgunitgroup",
    "orgunitlevel",
    "schema_migrations",
];

/// Ends the way back: brings over anything new, then drops the original's tables, its
/// functions in `public` and its `cronexp` schema. Extensions it installed stay (other
/// databases' habits may rely on them; they hold no data).
pub async fn finalize(db: &PgPool, token_ttl_secs: u64) -> anyhow::Result<Report> {
    let Some(report) = adopt(db, Mode::Import, token_ttl_secs).await? else {
        anyhow::bail!("no database of the original dhis2gw is beside this gateway's: nothing to finalize");
    };
    let mut tx = db.begin().await?;
    for table in LEGACY_TABLES {
        let sql = format!("DROP TABLE IF EXISTS public.{table} CASCADE");
        sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut *tx).await?;
    }
    let functions: Vec<String> = sqlx::query_scalar(
        r#"SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
           WHERE n.nspname = 'public'
             AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')"#,
    )
    .fetch_all(&mut *tx)
    .await?;
    for function in functions {
        let sql = format!("DROP FUNCTION IF EXISTS {function} CASCADE");
        sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut *tx).await?;
    }
    sqlx::query("DROP SCHEMA IF EXISTS cronexp CASCADE").execute(&mut *tx).await?;
    audit::record(&mut *tx, Actor::Cli, "v1.finalize", "database", "", json!({"dropped": LEGACY_TABLES})).await?;
    tx.commit().await?;
    Ok(report)
}
