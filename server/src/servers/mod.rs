//! The DHIS2 servers submissions go to. The primary comes from the `api` section of the
//! configuration and is rewritten from it on every start; its credentials stay in the
//! configuration. Further servers come from `server.conf_dir` files (rewritten on start) or
//! from admins through the API; their credentials are stored encrypted. Every aggregate
//! submission goes to the primary and to each server named in `api.cc_dhis2_servers`.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use dhis2gw_wire::{Dhis2Server, ServerInput};
use flow::Flow;
use serde::Deserialize;
use serde_json::json;
use sqlx::{PgExecutor, PgPool};

use crate::access::audit::{self, Actor};
use crate::infra::config::{COALESCE_MAX_VALUES_RULE, Config, valid_coalesce_max_values};
use crate::infra::dhis2::{Auth, Dhis2Client};
use crate::infra::error::{AppError, AppResult, on_unique};
use crate::infra::metrics::Metrics;
use crate::infra::queue::Queue;
use crate::infra::uid;
use crate::infra::windows as maintenance;

mod address;
mod credentials;
pub mod flow;
pub use credentials::CredentialsKey;

/// How long the intake trusts its list of destination servers; server changes made through
/// this process take effect at once.
const DESTINATIONS_TTL: Duration = Duration::from_secs(5);

/// Records the configured primary server; returns its id, or `None` when none is configured.
pub async fn sync_primary(db: &PgPool, config: &Config) -> sqlx::Result<Option<i64>> {
    let api = &config.api;
    if api.dhis2_base_url.trim().is_empty() {
        return Ok(None);
    }
    let id = sqlx::query_scalar!(
        r#"INSERT INTO dhis2_servers (uid, name, base_url, auth_method, username, timeout_secs, max_concurrent, is_primary,
               origin, maintenance, coalesce_max_values)
           VALUES ($1, 'primary', $2, $3, $4, $5, $6, true, 'config', $7, $8)
           ON CONFLICT (name) DO UPDATE SET base_url = EXCLUDED.base_url, auth_method = EXCLUDED.auth_method,
               username = EXCLUDED.username, timeout_secs = EXCLUDED.timeout_secs,
               max_concurrent = EXCLUDED.max_concurrent, is_primary = true, origin = 'config',
               maintenance = EXCLUDED.maintenance, coalesce_max_values = EXCLUDED.coalesce_max_values
           RETURNING id"#,
        uid::generate(),
        api.dhis2_base_url.trim(),
        api.effective_auth_method().as_str(),
        api.dhis2_user,
        api.dhis2_timeout as i32,
        config.server.max_concurrent as i32,
        // Checked when the configuration was loaded.
        &maintenance::normalise(&api.dhis2_maintenance_windows, config.server.timezone, "").unwrap_or_default(),
        api.dhis2_coalesce_max_values as i32,
    )
    .fetch_one(db)
    .await?;
    Ok(Some(id))
}

/// A server row; credentials still sealed.
struct ServerRow {
    id: i64,
    uid: String,
    name: String,
    base_url: String,
    auth_method: String,
    username: String,
    password_enc: Option<Vec<u8>>,
    pat_enc: Option<Vec<u8>>,
    /// 2: sealed with the server's UID as associated data; 1: before that (re-sealed at start).
    credentials_version: i16,
    timeout_secs: i32,
    max_concurrent: i32,
    coalesce_max_values: i32,
    is_primary: bool,
    origin: String,
    enabled: bool,
    dhis2_version: Option<String>,
    last_checked_at: Option<DateTime<Utc>>,
    last_error: Option<String>,
    metadata_problem: Option<String>,
    /// Maintenance windows, in their stored form ([`maintenance::Window`]).
    maintenance: Vec<String>,
    pending: i64,
}

impl ServerRow {
    /// What a client is built from: when it changes, the client is rebuilt.
    fn fingerprint(&self) -> String {
        let (url, auth, user, pw, pat) =
            (&self.base_url, &self.auth_method, &self.username, &self.password_enc, &self.pat_enc);
        let windows = self.maintenance.join(";");
        let (timeout, concurrent, coalesce) = (self.timeout_secs, self.max_concurrent, self.coalesce_max_values);
        format!("{url}|{auth}|{user}|{pw:?}|{pat:?}|{timeout}|{concurrent}|{coalesce}|{windows}")
    }
}

impl From<ServerRow> for Dhis2Server {
    fn from(r: ServerRow) -> Self {
        Dhis2Server {
            uid: r.uid,
            name: r.name,
            base_url: r.base_url,
            auth_method: r.auth_method,
            username: r.username,
            has_password: r.password_enc.is_some(),
            has_pat: r.pat_enc.is_some(),
            timeout: r.timeout_secs,
            max_concurrent: r.max_concurrent,
            coalesce_max_values: r.coalesce_max_values,
            enabled: r.enabled,
            is_primary: r.is_primary,
            origin: r.origin,
            dhis2_version: r.dhis2_version,
            last_checked_at: r.last_checked_at,
            last_error: r.last_error,
            metadata_problem: r.metadata_problem,
            maintenance_until: maintenance::until(&maintenance::stored(&r.maintenance), Utc::now()).map(|(end, _)| end),
            maintenance: r.maintenance,
            pending: r.pending,
        }
    }
}

/// Every server, or those matching `uid` / `id`, primary first.
async fn rows(db: impl PgExecutor<'_>, uid: Option<&str>, id: Option<i64>) -> sqlx::Result<Vec<ServerRow>> {
    sqlx::query_as!(
        ServerRow,
        r#"SELECT s.id, s.uid, s.name, s.base_url, s.auth_method, s.username, s.password_enc, s.pat_enc,
               s.credentials_version, s.timeout_secs,
               s.max_concurrent, s.coalesce_max_values, s.is_primary, s.origin, s.enabled, s.dhis2_version, s.last_checked_at, s.last_error,
               s.metadata_problem, s.maintenance,
               (SELECT count(*) FROM submission_destinations d
                WHERE d.server_id = s.id AND d.status IN ('queued', 'processing', 'retrying')) AS "pending!"
           FROM dhis2_servers s
           WHERE ($1::text IS NULL OR s.uid = $1) AND ($2::bigint IS NULL OR s.id = $2)
           ORDER BY s.is_primary DESC, s.name"#,
        uid,
        id,
    )
    .fetch_all(db)
    .await
}

pub async fn list(db: &PgPool) -> AppResult<Vec<Dhis2Server>> {
    Ok(rows(db, None, None).await?.into_iter().map(Dhis2Server::from).collect())
}

async fn row(db: impl PgExecutor<'_>, uid: &str) -> AppResult<ServerRow> {
    rows(db, Some(uid), None).await?.pop().ok_or_else(|| AppError::NotFound(format!("DHIS2 server {uid} not found")))
}

pub async fn get(db: impl PgExecutor<'_>, uid: &str) -> AppResult<Dhis2Server> {
    row(db, uid).await.map(Dhis2Server::from)
}

/// A server's settings, checked; `None` credentials keep what is stored.
struct Spec {
    name: String,
    base_url: String,
    auth_method: &'static str,
    username: String,
    password: Option<String>,
    pat: Option<String>,
    timeout: i32,
    max_concurrent: i32,
    coalesce_max_values: i32,
    enabled: bool,
    maintenance: Vec<String>,
}

impl Spec {
    /// Merges `input` over `current` (an update) or over nothing (a create) and checks the
    /// result, naming every bad field. Maintenance windows without a time zone are in `zone`.
    fn check(input: ServerInput, current: Option<&ServerRow>, zone: Tz) -> AppResult<Spec> {
        let mut problems = Vec::new();
        let name = input.name.or_else(|| current.map(|c| c.name.clone())).unwrap_or_default().trim().to_string();
        let name_ok = (1..=64).contains(&name.len())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !name_ok {
            problems.push(
                "name: 1 to 64 letters, digits, '-', '_' or '.' (it is how api.cc_dhis2_servers names it)".into(),
            );
        } else if name == "primary" && current.is_none_or(|c| !c.is_primary) {
            problems.push("name: 'primary' is the server of the api section".into());
        }
        let base_url =
            input.base_url.or_else(|| current.map(|c| c.base_url.clone())).unwrap_or_default().trim().to_string();
        match url::Url::parse(&base_url) {
            Ok(u) if !matches!(u.scheme(), "http" | "https") || u.host().is_none() => {
                problems.push("base_url: an http:// or https:// URL of a DHIS2 server".into())
            }
            Ok(u) if !u.username().is_empty() || u.password().is_some() => problems
                .push("base_url: must not hold a user name or password; set username and password instead".into()),
            Ok(u) if u.query().is_some() || u.fragment().is_some() => {
                problems.push("base_url: must not have a query (?…) or fragment (#…)".into())
            }
            Ok(_) => {}
            Err(_) => problems.push("base_url: an http:// or https:// URL of a DHIS2 server".into()),
        }
        let has_stored = |sealed: Option<&Option<Vec<u8>>>| sealed.is_some_and(Option::is_some);
        let will_have = |new: &Option<String>, stored: bool| new.as_ref().map_or(stored, |v| !v.is_empty());
        let has_password = will_have(&input.password, has_stored(current.map(|c| &c.password_enc)));
        let has_pat = will_have(&input.pat, has_stored(current.map(|c| &c.pat_enc)));
        let auth_method = match input.auth_method.as_deref().map(str::trim) {
            Some(m) if m.eq_ignore_ascii_case("basic") => "basic",
            Some(m) if ["pat", "token", "apitoken"].iter().any(|p| m.eq_ignore_ascii_case(p)) => "pat",
            Some(other) => {
                problems.push(format!("auth_method: '{other}' is not basic or pat"));
                "basic"
            }
            None => match current {
                Some(c) if c.auth_method == "pat" => "pat",
                Some(_) => "basic",
                None if has_pat => "pat",
                None => "basic",
            },
        };
        let username = input.username.or_else(|| current.map(|c| c.username.clone())).unwrap_or_default();
        if auth_method == "basic" && (username.trim().is_empty() || !has_password) {
            problems.push("username, password: basic authentication needs both".into());
        }
        if auth_method == "pat" && !has_pat {
            problems.push("pat: a personal access token is needed with auth_method pat".into());
        }
        // Stored credentials never follow a server to a new address: whoever moves it must
        // know them and enter them again.
        let (credential, entered) =
            if auth_method == "pat" { ("pat", &input.pat) } else { ("password", &input.password) };
        if current.is_some_and(|c| c.base_url != base_url) && entered.as_deref().is_none_or(str::is_empty) {
            problems.push(format!(
                "{credential}: base_url changed, so the {credential} must be entered again (stored credentials never go to a new address)"
            ));
        }
        let timeout = input.timeout.or(current.map(|c| c.timeout_secs)).unwrap_or(60);
        if !(1..=3600).contains(&timeout) {
            problems.push("timeout: 1 to 3600 seconds".into());
        }
        let max_concurrent = input.max_concurrent.or(current.map(|c| c.max_concurrent)).unwrap_or(5);
        if !(1..=100).contains(&max_concurrent) {
            problems.push("max_concurrent: 1 to 100".into());
        }
        let coalesce_max_values =
            input.coalesce_max_values.or(current.map(|c| c.coalesce_max_values)).unwrap_or_default();
        if !valid_coalesce_max_values(coalesce_max_values) {
            problems.push(format!("coalesce_max_values: {COALESCE_MAX_VALUES_RULE}"));
        }
        let maintenance = match input.maintenance.map(|m| maintenance::normalise(&m, zone, "maintenance")) {
            Some(Ok(windows)) => windows,
            Some(Err((field, problem))) => {
                problems.push(format!("{field}: {problem}"));
                Vec::new()
            }
            None => current.map(|c| c.maintenance.clone()).unwrap_or_default(),
        };
        if !problems.is_empty() {
            return Err(AppError::BadRequest { message: "Invalid DHIS2 server".into(), detail: problems });
        }
        Ok(Spec {
            name,
            base_url,
            auth_method,
            username: username.trim().to_string(),
            password: input.password,
            pat: input.pat,
            timeout,
            max_concurrent,
            coalesce_max_values,
            enabled: input.enabled.or(current.map(|c| c.enabled)).unwrap_or(true),
            maintenance,
        })
    }
}

/// Seals a new credential for the server `owner`: `None` keeps the stored one, `Some("")`
/// removes it.
fn seal(key: Option<&CredentialsKey>, value: &Option<String>, owner: &str) -> AppResult<Option<Option<Vec<u8>>>> {
    match value.as_deref() {
        None => Ok(None),
        Some("") => Ok(Some(None)),
        Some(plain) => {
            let key = key.ok_or_else(|| {
                AppError::Unavailable(
                    "The gateway has no server.credentials_key, so it cannot store DHIS2 credentials".into(),
                )
            })?;
            Ok(Some(Some(key.seal(plain, owner))))
        }
    }
}

async fn insert(db: impl PgExecutor<'_>, key: Option<&CredentialsKey>, spec: Spec, origin: &str) -> AppResult<i64> {
    let uid = uid::generate();
    let (password, pat) = (seal(key, &spec.password, &uid)?.flatten(), seal(key, &spec.pat, &uid)?.flatten());
    sqlx::query_scalar!(
        r#"INSERT INTO dhis2_servers (uid, name, base_url, auth_method, username, password_enc, pat_enc, timeout_secs,
               max_concurrent, enabled, origin, maintenance, coalesce_max_values)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id"#,
        uid,
        spec.name,
        spec.base_url,
        spec.auth_method,
        spec.username,
        password,
        pat,
        spec.timeout,
        spec.max_concurrent,
        spec.enabled,
        origin,
        &spec.maintenance,
        spec.coalesce_max_values,
    )
    .fetch_one(db)
    .await
    .map_err(|e| on_unique(e, "dhis2_servers_name_key", "name"))
}

async fn store(
    db: impl PgExecutor<'_>,
    key: Option<&CredentialsKey>,
    current: &ServerRow,
    spec: Spec,
) -> AppResult<()> {
    let (id, uid) = (current.id, current.uid.as_str());
    let (password, pat) = (seal(key, &spec.password, uid)?, seal(key, &spec.pat, uid)?);
    sqlx::query!(
        r#"UPDATE dhis2_servers SET name = $2, base_url = $3, auth_method = $4, username = $5,
               password_enc = CASE WHEN $6 THEN $7 ELSE password_enc END,
               pat_enc = CASE WHEN $8 THEN $9 ELSE pat_enc END,
               timeout_secs = $10, max_concurrent = $11, enabled = $12, maintenance = $13, coalesce_max_values = $14,
               dhis2_version = CASE WHEN base_url = $3 THEN dhis2_version END
           WHERE id = $1"#,
        id,
        spec.name,
        spec.base_url,
        spec.auth_method,
        spec.username,
        password.is_some(),
        password.flatten(),
        pat.is_some(),
        pat.flatten(),
        spec.timeout,
        spec.max_concurrent,
        spec.enabled,
        &spec.maintenance,
        spec.coalesce_max_values,
    )
    .execute(db)
    .await
    .map_err(|e| on_unique(e, "dhis2_servers_name_key", "name"))?;
    Ok(())
}

/// Adds a server through the API, with its audit entry. `allow_private`:
/// `server.allow_private_dhis2_addresses`. The gateway's own path is [`Registry::create`],
/// which also puts the server to use at once.
pub async fn create(
    db: &PgPool,
    key: Option<&CredentialsKey>,
    actor: Actor<'_>,
    input: ServerInput,
    allow_private: bool,
    zone: Tz,
) -> AppResult<Dhis2Server> {
    let spec = Spec::check(input, None, zone)?;
    if !allow_private {
        address::check_public(&spec.base_url).await?;
    }
    let mut tx = db.begin().await?;
    let id = insert(&mut *tx, key, spec, "api").await?;
    let server: Dhis2Server =
        rows(&mut *tx, None, Some(id)).await?.pop().ok_or_else(|| AppError::NotFound("server vanished".into()))?.into();
    let detail = json!({"name": server.name, "base_url": server.base_url});
    audit::record(&mut *tx, actor, "server.create", "server", &server.uid, detail).await?;
    tx.commit().await?;
    Ok(server)
}

/// Changes an admin-made server; the primary and conf.d servers may only be switched on or
/// off here (their settings live in files). Returns the server and whether it was resumed.
async fn update(
    db: &PgPool,
    key: Option<&CredentialsKey>,
    actor: Actor<'_>,
    uid: &str,
    input: ServerInput,
    allow_private: bool,
    zone: Tz,
) -> AppResult<(Dhis2Server, bool)> {
    let sent: Vec<&str> = [
        ("name", input.name.is_some()),
        ("base_url", input.base_url.is_some()),
        ("auth_method", input.auth_method.is_some()),
        ("username", input.username.is_some()),
        ("password", input.password.is_some()),
        ("pat", input.pat.is_some()),
        ("timeout", input.timeout.is_some()),
        ("max_concurrent", input.max_concurrent.is_some()),
        ("coalesce_max_values", input.coalesce_max_values.is_some()),
        ("enabled", input.enabled.is_some()),
        ("maintenance", input.maintenance.is_some()),
    ]
    .into_iter()
    .filter_map(|(field, sent)| sent.then_some(field))
    .collect();
    let current = row(db, uid).await?;
    let only_switch = ServerInput { enabled: input.enabled, ..Default::default() } == input;
    if current.origin == "config" && !only_switch {
        let file =
            if current.is_primary { "the api section of the configuration" } else { "its file in server.conf_dir" };
        return Err(AppError::Conflict(format!(
            "DHIS2 server {} is defined in {file}; change it there (only 'enabled' can be set here)",
            current.name
        )));
    }
    let resumed = !current.enabled && input.enabled == Some(true);
    let mut tx = db.begin().await?;
    match input.enabled.filter(|_| only_switch) {
        // A switch changes nothing else, so there is nothing else to check (the primary's
        // credentials live in the configuration, not in its row).
        Some(enabled) => {
            sqlx::query!("UPDATE dhis2_servers SET enabled = $2 WHERE id = $1", current.id, enabled)
                .execute(&mut *tx)
                .await?;
        }
        None => {
            let spec = Spec::check(input, Some(&current), zone)?;
            if !allow_private && spec.base_url != current.base_url {
                address::check_public(&spec.base_url).await?;
            }
            store(&mut *tx, key, &current, spec).await?;
        }
    }
    let server = get(&mut *tx, uid).await?;
    let detail = json!({"name": server.name, "changed": sent, "enabled": server.enabled});
    audit::record(&mut *tx, actor, "server.update", "server", uid, detail).await?;
    tx.commit().await?;
    Ok((server, resumed))
}

/// Deletes a server that never received anything; one with history can be switched off.
async fn delete(db: &PgPool, actor: Actor<'_>, uid: &str) -> AppResult<Dhis2Server> {
    let mut tx = db.begin().await?;
    let current = row(&mut *tx, uid).await?;
    if current.origin == "config" {
        return Err(AppError::Conflict(format!("DHIS2 server {} is defined in the configuration", current.name)));
    }
    let used =
        sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM submission_destinations WHERE server_id = $1"#, current.id)
            .fetch_one(&mut *tx)
            .await?;
    if used > 0 {
        return Err(AppError::Conflict(format!(
            "DHIS2 server {} has {used} deliveries on record; switch it off (enabled: false) to keep their history",
            current.name
        )));
    }
    sqlx::query!("DELETE FROM dhis2_servers WHERE id = $1", current.id).execute(&mut *tx).await?;
    audit::record(&mut *tx, actor, "server.delete", "server", uid, json!({"name": current.name})).await?;
    tx.commit().await?;
    Ok(current.into())
}

/// Brings forward the retries of a server that is reachable again (or whose maintenance
/// windows changed); how many.
pub async fn wake_retrying(db: &PgPool, server_id: i64) -> sqlx::Result<u64> {
    let woken = sqlx::query!(
        "UPDATE submission_destinations SET next_attempt_at = now() WHERE server_id = $1 AND status = 'retrying'",
        server_id
    )
    .execute(db)
    .await?;
    Ok(woken.rows_affected())
}

/// One server in a `server.conf_dir` file (the file holds `servers: [...]`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ServersFile {
    servers: Vec<ServerInput>,
}

/// Rewrites the servers defined in `server.conf_dir` files; a server no longer in any file is
/// switched off (its history stays). A missing directory (or `""`) defines none. A file without
/// `servers:` (the original dhis2gw shipped such files in /etc/dhis2gw/conf.d) is not ours: it is
/// left alone with a warning, so an upgraded host starts; one with `servers:` must be right.
pub async fn sync_conf_dir(db: &PgPool, config: &Config, key: Option<&CredentialsKey>) -> anyhow::Result<()> {
    if config.server.conf_dir.trim().is_empty() {
        return Ok(());
    }
    let dir = Path::new(&config.server.conf_dir);
    let mut defined = Vec::new();
    let mut files: Vec<_> = match std::fs::read_dir(dir) {
        Ok(entries) => entries.filter_map(Result::ok).map(|e| e.path()).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e).with_context(|| format!("server.conf_dir: cannot read {}", dir.display())),
    };
    files.sort();
    for file in files {
        let extension = file.extension().and_then(|e| e.to_str()).unwrap_or_default();
        if !matches!(extension, "yml" | "yaml" | "json") {
            continue;
        }
        let text = std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?;
        let ours =
            serde_yaml_ng::from_str::<serde_yaml_ng::Value>(&text).map(|v| v.get("servers").is_some()).unwrap_or(false);
        if !ours {
            tracing::warn!(
                file = %file.display(),
                "server.conf_dir: not a dhis2gw servers file (no `servers:` list); left alone"
            );
            continue;
        }
        let parsed: ServersFile = serde_yaml_ng::from_str(&text)
            .with_context(|| format!("{}: expected `servers:` with a list of DHIS2 servers", file.display()))?;
        for (index, input) in parsed.servers.into_iter().enumerate() {
            let invalid = |e: AppError| match e {
                AppError::BadRequest { detail, .. } => {
                    anyhow::anyhow!("{} servers[{index}]: {}", file.display(), detail.join("; "))
                }
                other => anyhow::anyhow!("{} servers[{index}]: {other}", file.display()),
            };
            let name = input.name.clone().unwrap_or_default();
            let existing = sqlx::query_as!(
                ServerRow,
                r#"SELECT id, uid, name, base_url, auth_method, username, password_enc, pat_enc, credentials_version, timeout_secs,
                       max_concurrent, coalesce_max_values, is_primary, origin, enabled, dhis2_version, last_checked_at, last_error,
                       metadata_problem, maintenance, 0::bigint AS "pending!"
                   FROM dhis2_servers WHERE name = $1"#,
                name.trim()
            )
            .fetch_optional(db)
            .await?;
            if existing.as_ref().is_some_and(|e| e.is_primary) {
                anyhow::bail!(
                    "{}: 'primary' is the server of the api section; name this one differently",
                    file.display()
                );
            }
            if existing.as_ref().is_some_and(|e| e.origin == "api") {
                anyhow::bail!("{}: server {name} already exists (made through the API); rename one", file.display());
            }
            // A file states everything: credentials it leaves out are removed. Only a switch
            // made through the API survives, unless the file says `enabled` itself.
            let input = ServerInput {
                password: Some(input.password.clone().unwrap_or_default()),
                pat: Some(input.pat.clone().unwrap_or_default()),
                enabled: input.enabled.or(existing.as_ref().map(|e| e.enabled)),
                ..input
            };
            let spec = Spec::check(input, None, config.server.timezone).map_err(invalid)?;
            match existing {
                Some(current) => store(db, key, &current, spec).await.map_err(invalid)?,
                None => {
                    insert(db, key, spec, "config").await.map_err(invalid)?;
                }
            }
            defined.push(name.trim().to_string());
        }
    }
    let retired = sqlx::query_scalar!(
        r#"UPDATE dhis2_servers SET enabled = false
           WHERE origin = 'config' AND NOT is_primary AND enabled AND NOT (name = ANY($1))
           RETURNING name"#,
        &defined
    )
    .fetch_all(db)
    .await?;
    for name in retired {
        tracing::warn!(server = %name, "DHIS2 server no longer in server.conf_dir; switched off, its history kept");
    }
    Ok(())
}

/// Re-seals credentials stored before each was bound to its server (see `credentials`).
/// Runs at start-up, where the key is known; a value that does not open is left as it was
/// and named in the log.
pub async fn reseal_unbound(db: &PgPool, key: Option<&CredentialsKey>) -> sqlx::Result<()> {
    let Some(key) = key else { return Ok(()) };
    let unbound =
        sqlx::query!("SELECT id, uid, name, password_enc, pat_enc FROM dhis2_servers WHERE credentials_version < 2")
            .fetch_all(db)
            .await?;
    for server in unbound {
        let reseal = |sealed: &Option<Vec<u8>>| {
            sealed.as_ref().map(|s| key.open(s, None).map(|plain| key.seal(&plain, &server.uid))).transpose()
        };
        match (reseal(&server.password_enc), reseal(&server.pat_enc)) {
            (Ok(password), Ok(pat)) => {
                sqlx::query!(
                    "UPDATE dhis2_servers SET password_enc = $2, pat_enc = $3, credentials_version = 2 WHERE id = $1",
                    server.id,
                    password,
                    pat
                )
                .execute(db)
                .await?;
                tracing::info!(server = %server.name, "stored DHIS2 credentials re-sealed, bound to their server");
            }
            _ => {
                tracing::warn!(server = %server.name, "stored DHIS2 credentials do not open with server.credentials_key; enter them again")
            }
        }
    }
    Ok(())
}

/// A server ready to deliver to.
#[derive(Clone)]
pub struct Connection {
    pub name: String,
    pub client: Arc<Dhis2Client>,
    /// How long one request to it may take.
    pub timeout: Duration,
    /// How many deliveries go to it at once (up to its `max_concurrent`), when, and whether.
    pub flow: Arc<Flow>,
    /// When it is not sent to.
    pub maintenance: Vec<maintenance::Window>,
    /// Values a request may carry when waiting submissions go together; below 2, each goes alone.
    pub coalesce_max_values: usize,
}

/// The servers' clients, built from their rows (credentials opened) and rebuilt when a row
/// changes; and the list of servers a new submission goes to.
pub struct Registry {
    db: PgPool,
    key: Option<CredentialsKey>,
    metrics: Arc<Metrics>,
    primary: Option<(i64, Arc<Dhis2Client>)>,
    cc_names: Vec<String>,
    /// `server.allow_private_dhis2_addresses`: servers added through the API may be inner.
    allow_private: bool,
    /// `server.timezone`: maintenance windows given without one are in it.
    zone: Tz,
    connections: Mutex<HashMap<i64, (String, Connection)>>,
    destinations: moka::sync::Cache<(), Vec<i64>>,
    /// CC names already reported as missing, so the log says it once.
    warned_missing: Mutex<std::collections::HashSet<String>>,
}

impl Registry {
    pub fn new(db: PgPool, config: &Config, primary: Option<(i64, Arc<Dhis2Client>)>, metrics: Arc<Metrics>) -> Self {
        Registry {
            db,
            key: CredentialsKey::from_config(&config.server.credentials_key),
            metrics,
            primary,
            cc_names: config.api.cc_dhis2_servers.clone(),
            allow_private: config.server.allow_private_dhis2_addresses,
            zone: config.server.timezone,
            connections: Mutex::new(HashMap::new()),
            destinations: moka::sync::Cache::builder().time_to_live(DESTINATIONS_TTL).build(),
            warned_missing: Mutex::default(),
        }
    }

    pub fn key(&self) -> Option<&CredentialsKey> {
        self.key.as_ref()
    }

    /// Adds a server through the API; new submissions go to it at once.
    pub async fn create(self: &Arc<Self>, actor: Actor<'_>, input: ServerInput) -> AppResult<Dhis2Server> {
        let server = create(&self.db, self.key(), actor, input, self.allow_private, self.zone).await?;
        self.changed();
        Ok(server)
    }

    /// Changes a server; switched on again, what waited for it is queued; with its maintenance
    /// windows changed, what waited for one to end is tried again now.
    pub async fn update(
        self: &Arc<Self>,
        queue: &Queue,
        actor: Actor<'_>,
        uid: &str,
        input: ServerInput,
    ) -> AppResult<Dhis2Server> {
        let windows_changed = input.maintenance.is_some();
        let (server, resumed) = update(&self.db, self.key(), actor, uid, input, self.allow_private, self.zone).await?;
        self.changed();
        if resumed {
            // Its deliveries waited in PostgreSQL (the feeder skips a switched-off server).
            tracing::info!(server = %server.name, "DHIS2 server switched on again");
        }
        if windows_changed {
            let id = row(&self.db, uid).await?.id;
            wake_retrying(&self.db, id).await?;
        }
        queue.nudge();
        Ok(server)
    }

    /// Deletes a server that never received anything.
    pub async fn delete(self: &Arc<Self>, actor: Actor<'_>, uid: &str) -> AppResult<Dhis2Server> {
        let server = delete(&self.db, actor, uid).await?;
        self.changed();
        Ok(server)
    }

    /// New destinations take effect at once; the health of a new or changed server shows
    /// without waiting for the minute's check.
    fn changed(self: &Arc<Self>) {
        self.destinations.invalidate_all();
        let servers = Arc::clone(self);
        tokio::spawn(async move {
            if let Err(e) = servers.check_health().await.map(drop) {
                tracing::warn!(error = %format!("{e:#}"), "DHIS2 server health check failed");
            }
        });
    }

    /// The primary and every CC server that exists (switched off ones too: their
    /// deliveries wait). Names in `api.cc_dhis2_servers` without a server are logged.
    pub async fn destinations(&self) -> sqlx::Result<Vec<i64>> {
        if let Some(ids) = self.destinations.get(&()) {
            return Ok(ids);
        }
        let found = sqlx::query!(
            "SELECT id, name FROM dhis2_servers WHERE name = ANY($1) AND NOT is_primary ORDER BY name",
            &self.cc_names
        )
        .fetch_all(&self.db)
        .await?;
        let mut warned = self.warned_missing.lock().expect("not poisoned");
        for missing in self.cc_names.iter().filter(|n| !found.iter().any(|f| &f.name == *n)) {
            if warned.insert(missing.clone()) {
                tracing::warn!(server = %missing, "api.cc_dhis2_servers names a server that does not exist; define it in server.conf_dir or through /servers");
            }
        }
        drop(warned);
        let ids: Vec<i64> = self.primary.iter().map(|(id, _)| *id).chain(found.iter().map(|f| f.id)).collect();
        self.destinations.insert((), ids.clone());
        Ok(ids)
    }

    /// The connection to a server, as its row now says.
    pub async fn connection(&self, server_id: i64) -> anyhow::Result<Connection> {
        let row = rows(&self.db, None, Some(server_id))
            .await?
            .pop()
            .with_context(|| format!("DHIS2 server {server_id} no longer exists"))?;
        if let Some((_, connection)) =
            self.connections.lock().expect("not poisoned").get(&server_id).filter(|(f, _)| *f == row.fingerprint())
        {
            return Ok(connection.clone());
        }
        let client = match &self.primary {
            Some((id, client)) if *id == server_id => client.clone(),
            _ => Arc::new(self.client_of(&row)?),
        };
        let timeout = Duration::from_secs(row.timeout_secs as u64);
        let flow = Arc::new(Flow::new(row.max_concurrent as usize));
        let maintenance = maintenance::stored(&row.maintenance);
        let coalesce_max_values = usize::try_from(row.coalesce_max_values).unwrap_or_default();
        let connection = Connection { name: row.name.clone(), client, timeout, flow, maintenance, coalesce_max_values };
        self.connections.lock().expect("not poisoned").insert(server_id, (row.fingerprint(), connection.clone()));
        Ok(connection)
    }

    /// The flow of every server this process has delivered to, by name (for the metrics).
    pub fn flows(&self) -> Vec<(String, Arc<Flow>)> {
        let connections = self.connections.lock().expect("not poisoned");
        connections.values().map(|(_, c)| (c.name.clone(), c.flow.clone())).collect()
    }

    fn client_of(&self, row: &ServerRow) -> anyhow::Result<Dhis2Client> {
        let owner = (row.credentials_version >= 2).then_some(row.uid.as_str());
        let open = |sealed: &Option<Vec<u8>>| -> anyhow::Result<String> {
            match (sealed, &self.key) {
                (None, _) => Ok(String::new()),
                (Some(sealed), Some(key)) => Ok(key.open(sealed, owner)?),
                (Some(_), None) => {
                    anyhow::bail!("server.credentials_key is not set; stored credentials cannot be used")
                }
            }
        };
        let auth = if row.auth_method == "pat" {
            Auth::Pat(open(&row.pat_enc)?)
        } else {
            Auth::Basic { user: row.username.clone(), password: open(&row.password_enc)? }
        };
        let timeout = Duration::from_secs(row.timeout_secs as u64);
        // Servers added through the API reach only public addresses, when they are connected
        // to as much as when they were added (the configuration files are the operator's word).
        let public_only = row.origin == "api" && !self.allow_private;
        if public_only && let Some(ip) = address::inner_literal(&row.base_url) {
            anyhow::bail!("{ip} is not a public address (server.allow_private_dhis2_addresses is off)");
        }
        let resolver = public_only.then(|| Arc::new(address::PublicOnly) as Arc<dyn reqwest::dns::Resolve>);
        Dhis2Client::new(&row.base_url, auth, timeout, self.metrics.clone(), resolver)
    }

    /// Asks every switched-on server for its version and records it, or why it failed.
    /// Returns the servers that answered again after failing: their retries can go now.
    pub async fn check_health(&self) -> anyhow::Result<Vec<i64>> {
        let servers =
            sqlx::query!("SELECT id, last_error FROM dhis2_servers WHERE enabled").fetch_all(&self.db).await?;
        let mut recovered = Vec::new();
        for server in servers {
            let id = server.id;
            let result = match self.connection(id).await {
                Ok(connection) => connection.client.check().await,
                Err(e) => Err(format!("{e:#}")),
            };
            let (version, error) = match result {
                Ok(version) => (Some(version), None),
                Err(error) => (None, Some(error)),
            };
            if server.last_error.is_some() && error.is_none() {
                recovered.push(id);
            }
            sqlx::query!(
                r#"UPDATE dhis2_servers SET dhis2_version = COALESCE($2, dhis2_version), last_error = $3,
                       last_checked_at = now(),
                       down_since = CASE WHEN $3::text IS NULL THEN NULL ELSE COALESCE(down_since, now()) END
                   WHERE id = $1"#,
                id,
                version,
                error,
            )
            .execute(&self.db)
            .await?;
        }
        Ok(recovered)
    }
}
