//! The console's overview: submissions by status over the last 30 local days, the work
//! waiting in Redis and PostgreSQL, the last delivery error, every DHIS2 server's health and
//! how much the database holds.
//! Read-only, and cheap enough for a console to poll.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{Days, NaiveDate, NaiveTime, Utc};
use dhis2gw_wire::{DailyCounts, LastDeliveryError, Overview, QueueDepth, StatusCounts, Storage, TableSize};

use crate::app::AppState;
use crate::infra::config::Config;
use crate::infra::error::AppResult;
use crate::infra::query::start_of_day;

/// Days the daily series covers, today included.
const DAYS: u64 = 30;
/// The windows summed up, by name and days covered (today included).
const WINDOWS: [(&str, u64); 3] = [("today", 1), ("7d", 7), ("30d", 30)];
/// How long Redis may take to say how many jobs it holds before the overview goes without.
const REDIS_TIMEOUT: Duration = Duration::from_secs(2);

pub async fn overview(state: &AppState) -> AppResult<Overview> {
    let generated_at = Utc::now();
    let tz = state.config.server.timezone;
    let today = generated_at.with_timezone(&tz).date_naive();
    let first = today - Days::new(DAYS - 1);
    let (counts, waiting, last_error, servers, redis) = tokio::join!(
        counts_by_day(state, tz, first),
        deliveries_waiting(&state.db),
        last_error(state),
        crate::servers::list(&state.db),
        tokio::time::timeout(REDIS_TIMEOUT, state.queue.depth()),
    );
    let (counts, (in_flight, pending, scheduled)) = (counts?, waiting?);
    let (due, redis_error) = match redis {
        Ok(Ok(due)) => (due, None),
        Ok(Err(e)) => (0, Some(format!("{e:#}"))),
        Err(_) => (0, Some(format!("no answer within {} s", REDIS_TIMEOUT.as_secs()))),
    };
    if let Some(e) = &redis_error {
        tracing::warn!(error = %e, "overview without the Redis queue depth");
    }
    let windows = WINDOWS
        .iter()
        .map(|&(window, days)| {
            let since = today - Days::new(days - 1);
            let mut by_status = BTreeMap::new();
            for (_, statuses) in counts.range(since..=today) {
                for (status, n) in statuses {
                    *by_status.entry(status.clone()).or_insert(0) += n;
                }
            }
            StatusCounts { window: window.into(), total: by_status.values().sum(), by_status }
        })
        .collect();
    let daily = first
        .iter_days()
        .take_while(|day| *day <= today)
        .map(|day| DailyCounts {
            day: day.format("%Y-%m-%d").to_string(),
            by_status: counts.get(&day).cloned().unwrap_or_default(),
        })
        .collect();
    Ok(Overview {
        generated_at,
        timezone: tz.name().to_string(),
        windows,
        daily,
        queue: QueueDepth { due, scheduled, in_flight, pending, redis_error },
        last_error: last_error?,
        servers: servers?,
        metadata: crate::metadata::status(&state.db, &state.metadata, &state.config).await?,
        held: crate::holds::summary(&state.db, &serde_json::json!({})).await?,
        storage: storage(&state.db, &state.config).await?,
    })
}

/// The database's size, each table's rows and bytes, the oldest submission kept, and what the
/// archives take.
pub async fn storage(db: &sqlx::PgPool, config: &Config) -> sqlx::Result<Storage> {
    let database_bytes =
        sqlx::query_scalar!(r#"SELECT pg_database_size(current_database()) AS "bytes!""#).fetch_one(db).await?;
    let tables = sqlx::query_as!(
        TableSize,
        r#"SELECT relname::text AS "table!", n_live_tup AS "rows!", pg_total_relation_size(relid) AS "bytes!"
           FROM pg_stat_user_tables WHERE schemaname = current_schema()
           ORDER BY 3 DESC, 1"#
    )
    .fetch_all(db)
    .await?;
    let oldest_submission = sqlx::query_scalar!("SELECT min(submitted_at) FROM submission_log").fetch_one(db).await?;
    let dir = std::path::PathBuf::from(&config.retention.archive_directory);
    let archive_bytes = tokio::task::spawn_blocking(move || crate::retention::archive::size(&dir)).await.unwrap_or(0);
    Ok(Storage {
        database_bytes,
        tables,
        oldest_submission,
        archive_bytes: i64::try_from(archive_bytes).unwrap_or(i64::MAX),
    })
}

/// Submissions received since the start of `first` (a local day), by local day and status,
/// counted by PostgreSQL in the deployment's time zone.
async fn counts_by_day(
    state: &AppState,
    tz: chrono_tz::Tz,
    first: NaiveDate,
) -> AppResult<BTreeMap<NaiveDate, BTreeMap<String, i64>>> {
    // A midnight skipped by a clock change: start a day early; rows before `first` are dropped.
    let since = start_of_day(tz, first).unwrap_or_else(|| first.and_time(NaiveTime::MIN).and_utc() - Days::new(1));
    let rows = sqlx::query!(
        r#"SELECT (submitted_at AT TIME ZONE $1)::date AS "day!", status, count(*) AS "n!"
           FROM submission_log WHERE submitted_at >= $2
           GROUP BY 1, 2"#,
        tz.name(),
        since,
    )
    .fetch_all(&state.db)
    .await?;
    let mut days: BTreeMap<NaiveDate, BTreeMap<String, i64>> = BTreeMap::new();
    for row in rows.into_iter().filter(|r| r.day >= first) {
        days.entry(row.day).or_default().insert(row.status, row.n);
    }
    Ok(days)
}

/// Deliveries being sent now, and every delivery not finished.
/// Deliveries being sent, not finished, and waiting for a later retry.
pub async fn deliveries_waiting(db: &sqlx::PgPool) -> AppResult<(i64, i64, i64)> {
    let row = sqlx::query!(
        r#"SELECT count(*) FILTER (WHERE status = 'processing') AS "in_flight!", count(*) AS "pending!",
               count(*) FILTER (WHERE status = 'retrying' AND next_attempt_at > now()) AS "scheduled!"
           FROM submission_destinations WHERE status IN ('queued', 'processing', 'retrying')"#
    )
    .fetch_one(db)
    .await?;
    Ok((row.in_flight, row.pending, row.scheduled))
}

/// The most recent attempt that failed, is to be retried, or gave up.
async fn last_error(state: &AppState) -> AppResult<Option<LastDeliveryError>> {
    Ok(sqlx::query_as!(
        LastDeliveryError,
        r#"SELECT a.submission_id, s.name AS "server?", a.started_at AS at, a.http_status,
               COALESCE(NULLIF(a.error, ''), a.import_status, a.outcome) AS "error!"
           FROM delivery_attempts a
           LEFT JOIN submission_destinations d ON d.id = a.destination_id
           LEFT JOIN dhis2_servers s ON s.id = d.server_id
           WHERE a.outcome IN ('failed', 'retry', 'dead')
           ORDER BY a.started_at DESC, a.id DESC
           LIMIT 1"#
    )
    .fetch_optional(&state.db)
    .await?)
}
