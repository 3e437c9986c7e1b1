//! PostgreSQL: connecting (creating the database when it is missing) and migrations.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgPool};

use crate::infra::config::Config;

/// The migrations built into the binary from the repository's `migrations/` folder.
static EMBEDDED: Migrator = sqlx::migrate!("../migrations");

/// The schema our tables live in on a database the original dhis2gw made: its own tables
/// (`users`, `submission_log`, …, same names as ours) stay untouched in `public` beside ours
/// until `dhis2gw migrate-from-v1 --finalize`, so going back to the old package stays possible.
pub const SCHEMA_BESIDE_V1: &str = "dhis2gw";

/// Connects, creating the database first if the server lacks it, with the search path set to
/// where our tables are (see [`our_schema`]).
pub async fn connect(config: &Config) -> anyhow::Result<PgPool> {
    let options = PgConnectOptions::from_str(&config.database.uri.0)
        .with_context(|| format!("database.uri {} is not a PostgreSQL URI", config.database.uri.masked()))?;
    create_database_if_missing(&options).await?;
    let schema = our_schema(&options).await?;
    if schema != "public" {
        tracing::info!(schema, "the original dhis2gw's tables are in public; ours are in their own schema");
    }
    PgPoolOptions::new()
        .max_connections(config.database.max_connections)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options.options([("search_path", schema)]))
        .await
        .with_context(|| format!("cannot connect to PostgreSQL at {}", config.database.uri.masked()))
}

/// `public` for a new database and for one this gateway has used there; [`SCHEMA_BESIDE_V1`]
/// (created here) for a database holding the original dhis2gw's schema, and from then on.
async fn our_schema(options: &PgConnectOptions) -> anyhow::Result<&'static str> {
    let mut conn = options.connect().await.context("cannot connect to PostgreSQL")?;
    let found = sqlx::query!(
        r#"SELECT to_regclass($1 || '._sqlx_migrations') IS NOT NULL AS "beside!",
                  to_regclass('public._sqlx_migrations') IS NOT NULL AS "ours_in_public!",
                  (to_regclass('public.schema_migrations') IS NOT NULL
                   OR to_regclass('public.submission_log') IS NOT NULL) AS "original!""#,
        SCHEMA_BESIDE_V1
    )
    .fetch_one(&mut conn)
    .await?;
    let schema = if found.beside || (found.original && !found.ours_in_public) { SCHEMA_BESIDE_V1 } else { "public" };
    if schema != "public" {
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA IF NOT EXISTS {schema}"))).execute(&mut conn).await?;
    }
    conn.close().await.ok();
    Ok(schema)
}

/// The delivery workers' own pool. Their writes (claims, attempt records) commit without
/// waiting for the WAL flush: should PostgreSQL itself crash, the last few milliseconds of
/// bookkeeping may be lost and a delivery repeated (DHIS2 imports are upserts), while every
/// accepted submission is still written with a synchronous commit by the main pool.
pub async fn connect_workers(db: &PgPool, config: &Config) -> anyhow::Result<PgPool> {
    let options = (*db.connect_options()).clone().options([("synchronous_commit", "off")]);
    PgPoolOptions::new()
        .max_connections(config.server.max_concurrent + 2)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options)
        .await
        .with_context(|| format!("cannot connect to PostgreSQL at {}", config.database.uri.masked()))
}

async fn create_database_if_missing(options: &PgConnectOptions) -> anyhow::Result<()> {
    let Err(e) = options.connect().await.map(|c| c.close()) else {
        return Ok(());
    };
    let missing = matches!(&e, sqlx::Error::Database(db) if db.code().as_deref() == Some("3D000"));
    if !missing {
        return Err(e).context("cannot connect to PostgreSQL");
    }
    let name = options.get_database().unwrap_or_default().to_string();
    let mut admin =
        options.clone().database("postgres").connect().await.context("cannot connect to the postgres database")?;
    // Identifiers cannot be bound as parameters; quote it as PostgreSQL does.
    let quoted = format!("\"{}\"", name.replace('"', "\"\""));
    match sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {quoted}"))).execute(&mut admin).await {
        Ok(_) => tracing::info!(database = %name, "created the database"),
        // Another process created it first.
        Err(sqlx::Error::Database(db)) if db.code().as_deref() == Some("42P04") => {}
        Err(e) => return Err(e).with_context(|| format!("cannot create database {name}")),
    }
    admin.close().await.ok();
    Ok(())
}

/// Applies pending migrations: from `server.migrations_dir` when it names an existing
/// directory, else the set embedded in the binary.
pub async fn migrate(pool: &PgPool, config: &Config) -> anyhow::Result<()> {
    let configured = &config.server.migrations_dir;
    let dir = PathBuf::from(configured.strip_prefix("file://").unwrap_or(configured));
    let from_dir;
    let migrator = if configured == "embedded" || configured.is_empty() {
        &EMBEDDED
    } else if dir.is_dir() && holds_original_migrations(&dir) {
        // The original dhis2gw's golang-migrate files (`000001_initial.up.sql`), left where
        // its configuration points: never ours to run.
        tracing::warn!(dir = %dir.display(), "server.migrations_dir holds the original dhis2gw's migrations; using the built-in ones");
        &EMBEDDED
    } else if dir.is_dir() {
        from_dir = Migrator::new(dir.clone())
            .await
            .with_context(|| format!("server.migrations_dir: cannot read migrations in {}", dir.display()))?;
        &from_dir
    } else if *configured == crate::infra::config::ServerConfig::default().migrations_dir {
        // The documented default only exists where the Debian package is installed.
        &EMBEDDED
    } else {
        anyhow::bail!("server.migrations_dir: {} is not a directory", dir.display());
    };
    migrator.run(pool).await.context("applying database migrations failed")?;
    Ok(())
}

fn holds_original_migrations(dir: &std::path::Path) -> bool {
    std::fs::read_dir(dir).into_iter().flatten().flatten().any(|entry| {
        let name = entry.file_name().to_string_lossy().into_owned();
        name.ends_with(".up.sql") || name.ends_with(".down.sql")
    })
}

/// This database's installation id, made on first use: it tells its queue jobs apart from
/// those of an earlier database that used the same Redis.
pub async fn installation_id(pool: &PgPool) -> sqlx::Result<String> {
    sqlx::query!(
        r#"INSERT INTO job_state (name, value) VALUES ('installation', jsonb_build_object('id', $1::text))
           ON CONFLICT (name) DO NOTHING"#,
        uuid::Uuid::new_v4().simple().to_string(),
    )
    .execute(pool)
    .await?;
    sqlx::query_scalar!(r#"SELECT value->>'id' AS "id!" FROM job_state WHERE name = 'installation'"#)
        .fetch_one(pool)
        .await
}

/// What a named job keeps between runs (a sync's watermarks, when it last finished), if it
/// has run.
pub async fn job_state(db: &PgPool, name: &str) -> sqlx::Result<Option<serde_json::Value>> {
    sqlx::query_scalar!("SELECT value FROM job_state WHERE name = $1", name).fetch_optional(db).await
}

/// Replaces what a named job keeps.
pub async fn set_job_state(db: &PgPool, name: &str, value: &serde_json::Value) -> sqlx::Result<()> {
    sqlx::query!(
        r#"INSERT INTO job_state (name, value) VALUES ($1, $2)
           ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value, updated = now()"#,
        name,
        value
    )
    .execute(db)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_uri_without_a_user_connects_as_the_os_user_for_peer_authentication() {
        let options = PgConnectOptions::from_str("postgres:///dhis2gw?host=/var/run/postgresql").unwrap();
        let os_user = std::process::Command::new("id").arg("-un").output().unwrap().stdout;
        assert_eq!(options.get_username(), String::from_utf8_lossy(&os_user).trim());
    }
}
