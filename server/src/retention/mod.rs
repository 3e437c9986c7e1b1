//! Retention: finished submissions older than `retention.succeeded_days` (succeeded, partly
//! stored) or `retention.failed_days` (failed, given up) are written whole to an archive file
//! ([`archive`]) and then deleted in small batches, each its own statement, so intake never
//! waits and tables do not bloat; both steps are audited. `dhis2gw archive restore` brings an
//! archived submission back into the log, where it can be read and requeued again.
//!
//! One gateway process archives at a time (a PostgreSQL advisory lock).

pub mod archive;

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::access::audit::{self, Actor};
use crate::infra::config::Config;
use archive::{Manifest, Record, Writer};

/// The advisory lock an archiving run holds.
const LOCK: i64 = 0x6468_6973_3272_6574;
/// Submissions one archive file holds at most; a run writes as many files as it needs.
const PER_FILE: u64 = 100_000;
/// A pause between deletion batches, so other work gets the database in between.
const BETWEEN_BATCHES: Duration = Duration::from_millis(20);

/// What an archiving run did.
#[derive(Debug, Default, PartialEq)]
pub struct Archived {
    pub files: Vec<Manifest>,
    pub deleted: u64,
}

/// Archives and deletes what the retention settings say is old enough; nothing when another
/// process is at it.
pub async fn run(db: &PgPool, config: &Config) -> anyhow::Result<Archived> {
    run_as_of(db, config, Utc::now()).await
}

/// [`run`] as if it were `now` (the retention benchmark simulates a year with it).
pub async fn run_as_of(db: &PgPool, config: &Config, now: DateTime<Utc>) -> anyhow::Result<Archived> {
    let r = &config.retention;
    if r.succeeded_days == 0 && r.failed_days == 0 {
        return Ok(Archived::default());
    }
    let mut lock = db.acquire().await?;
    let locked =
        sqlx::query_scalar!(r#"SELECT pg_try_advisory_lock($1) AS "locked!""#, LOCK).fetch_one(&mut *lock).await?;
    if !locked {
        return Ok(Archived::default());
    }
    let result = archive_all(db, config, now).await;
    sqlx::query_scalar!("SELECT pg_advisory_unlock($1)", LOCK).fetch_one(&mut *lock).await?;
    result
}

async fn archive_all(db: &PgPool, config: &Config, now: DateTime<Utc>) -> anyhow::Result<Archived> {
    let r = &config.retention;
    let dir = Path::new(&r.archive_directory);
    let today = now.with_timezone(&config.server.timezone).date_naive();
    let mut done = Archived::default();
    let mut after = 0i64;
    loop {
        let mut writer = Writer::create(dir, today)?;
        // Whatever ends this round early (an error, nothing to archive) leaves no half file.
        let _unfinished = RemoveOnDrop(writer.part_path());
        let mut ids = Vec::new();
        while writer.records() < PER_FILE {
            let batch = sqlx::query_scalar!(
                r#"SELECT id FROM submission_log
                   WHERE id > $1
                     AND ((status IN ('succeeded', 'warning') AND $2 > 0 AND submitted_at < $5::timestamptz - make_interval(days => $2))
                       OR (status IN ('failed', 'dead') AND $3 > 0 AND submitted_at < $5 - make_interval(days => $3)))
                   ORDER BY id LIMIT $4"#,
                after,
                r.succeeded_days as i32,
                r.failed_days as i32,
                i64::from(r.batch_size),
                now,
            )
            .fetch_all(db)
            .await?;
            let Some(&last) = batch.last() else { break };
            after = last;
            let records = records(db, &batch).await?;
            writer = tokio::task::spawn_blocking(move || -> anyhow::Result<Writer> {
                for record in &records {
                    writer.add(record)?;
                }
                Ok(writer)
            })
            .await??;
            ids.extend(batch);
        }
        if ids.is_empty() {
            return Ok(done);
        }
        let manifest = tokio::task::spawn_blocking(move || writer.finish()).await??;
        let detail = serde_json::to_value(&manifest)?;
        audit::record(db, Actor::Scheduler, "archive.write", "archive", &manifest.file, detail).await?;
        let deleted = delete(db, &ids, r.batch_size as usize).await?;
        let detail = json!({"archived": ids.len(), "deleted": deleted, "first_id": manifest.first_id, "last_id": manifest.last_id});
        audit::record(db, Actor::Scheduler, "archive.delete", "archive", &manifest.file, detail).await?;
        tracing::info!(file = manifest.file, submissions = ids.len(), deleted, "archived old submissions");
        done.deleted += deleted;
        done.files.push(manifest);
    }
}

/// Removes a file when dropped, if it is still there.
struct RemoveOnDrop(std::path::PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The archived submissions, each with every row that belongs to it.
async fn records(db: &PgPool, ids: &[i64]) -> anyhow::Result<Vec<Record>> {
    let rows = sqlx::query_scalar!(
        r#"SELECT jsonb_build_object(
               'submission', to_jsonb(s),
               'destinations', COALESCE((SELECT jsonb_agg(to_jsonb(d) ORDER BY d.id) FROM submission_destinations d WHERE d.submission_id = s.id), '[]'),
               'attempts', COALESCE((SELECT jsonb_agg(to_jsonb(a) ORDER BY a.id) FROM delivery_attempts a WHERE a.submission_id = s.id), '[]'),
               'outcomes', COALESCE((SELECT jsonb_agg(to_jsonb(v) ORDER BY v.id) FROM value_outcomes v WHERE v.submission_id = s.id), '[]')
           ) AS "record!"
           FROM submission_log s WHERE s.id = ANY($1) ORDER BY s.id"#,
        ids,
    )
    .fetch_all(db)
    .await?;
    rows.into_iter().map(|r| serde_json::from_value(r).context("an archived row")).collect()
}

/// Deletes archived submissions (their destinations, attempts and outcomes go with them) in
/// batches; one requeued since it was archived is left alone.
async fn delete(db: &PgPool, ids: &[i64], batch: usize) -> anyhow::Result<u64> {
    let mut deleted = 0;
    for chunk in ids.chunks(batch.max(1)) {
        deleted += sqlx::query!(
            "DELETE FROM submission_log WHERE id = ANY($1) AND status IN ('succeeded', 'warning', 'failed', 'dead')",
            chunk
        )
        .execute(db)
        .await?
        .rows_affected();
        tokio::time::sleep(BETWEEN_BATCHES).await;
    }
    Ok(deleted)
}

/// What a restore did, or would do.
#[derive(Debug, Default, PartialEq)]
pub struct Restored {
    pub restored: u64,
    /// Already in the log (never deleted, or restored before).
    pub present: u64,
    /// Submissions that could not come back, and why (their DHIS2 server was deleted, say).
    pub failed: Vec<String>,
}

/// Brings an archive's submissions back into the log (`into_log`), or says what that would do.
pub async fn restore(db: &PgPool, path: &Path, into_log: bool) -> anyhow::Result<(Manifest, Restored)> {
    let manifest = archive::verify(path)?;
    let mut done = Restored::default();
    for record in archive::records(path)? {
        let record = record?;
        let id = record.id();
        let present =
            sqlx::query_scalar!(r#"SELECT EXISTS (SELECT 1 FROM submission_log WHERE id = $1) AS "present!""#, id)
                .fetch_one(db)
                .await?;
        if present {
            done.present += 1;
        } else if !into_log {
            done.restored += 1;
        } else {
            match insert(db, &record).await {
                Ok(()) => done.restored += 1,
                Err(e) => done.failed.push(format!("submission {id}: {e}")),
            }
        }
    }
    if into_log {
        let detail = json!({"restored": done.restored, "present": done.present, "failed": done.failed});
        audit::record(db, Actor::Cli, "archive.restore", "archive", &manifest.file, detail).await?;
    }
    Ok((manifest, done))
}

/// One archived submission back in its tables, every column as it was (a delivery it waited
/// for that is gone is forgotten).
async fn insert(db: &PgPool, r: &Record) -> sqlx::Result<()> {
    let mut tx = db.begin().await?;
    sqlx::query!(
        "INSERT INTO submission_log SELECT * FROM jsonb_populate_record(NULL::submission_log, $1)",
        r.submission
    )
    .execute(&mut *tx)
    .await?;
    let destinations = Value::from(r.destinations.clone());
    sqlx::query!(
        r#"INSERT INTO submission_destinations
           SELECT (jsonb_populate_record(NULL::submission_destinations, e || jsonb_build_object('waits_for',
                       CASE WHEN EXISTS (SELECT 1 FROM submission_destinations w WHERE w.id = (e->>'waits_for')::bigint)
                            THEN e->'waits_for' END))).*
           FROM jsonb_array_elements($1) e"#,
        destinations
    )
    .execute(&mut *tx)
    .await?;
    let attempts = Value::from(r.attempts.clone());
    sqlx::query!(
        "INSERT INTO delivery_attempts SELECT (jsonb_populate_record(NULL::delivery_attempts, e)).* FROM jsonb_array_elements($1) e",
        attempts
    )
    .execute(&mut *tx)
    .await?;
    let outcomes = Value::from(r.outcomes.clone());
    sqlx::query!(
        "INSERT INTO value_outcomes SELECT (jsonb_populate_record(NULL::value_outcomes, e)).* FROM jsonb_array_elements($1) e",
        outcomes
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}
