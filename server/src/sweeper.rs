//! The sweeper, run on `retry_cron_expression` (and once at start-up): PostgreSQL is the
//! truth, Redis only carries work, so anything the queue lost is found here and pushed again.
//!
//! - a delivery whose lease expired (its worker was killed mid-delivery) goes back to queued;
//! - every queued delivery, and every retry that is due, is pushed under its generation's job
//!   name: a job Redis still holds is not duplicated, one it lost (flush, restart) is recreated;
//! - finished jobs' bookkeeping is removed from Redis.

use sqlx::PgPool;
use std::sync::Arc;
use tokio::sync::Mutex;
use tokio_cron_scheduler::{Job, JobScheduler};

use crate::app::AppState;
use crate::error::AppError;
use crate::queue::Queue;

/// How long a delivery may be overdue before its job is taken for lost.
const STALE: std::time::Duration = std::time::Duration::from_secs(60);

/// Deliveries pushed per sweep at most; the next sweep continues.
const BATCH: i64 = 20_000;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Swept {
    pub reclaimed: usize,
    pub pushed: usize,
}

pub async fn sweep(db: &PgPool, queue: &Queue) -> anyhow::Result<Swept> {
    let reclaimed = sqlx::query!(
        r#"WITH expired AS (
               UPDATE submission_destinations
               SET status = 'queued', generation = generation + 1, locked_by = NULL, locked_until = NULL
               WHERE status = 'processing' AND locked_until < now()
               RETURNING submission_id)
           SELECT DISTINCT submission_id FROM expired"#
    )
    .fetch_all(db)
    .await?;
    for row in &reclaimed {
        sqlx::query_scalar!("SELECT refresh_submission_status($1)", row.submission_id).fetch_one(db).await?;
    }
    if !reclaimed.is_empty() {
        tracing::warn!(count = reclaimed.len(), "deliveries whose worker stopped mid-way are queued again");
    }
    // A delivery overdue for longer than STALE had its job consumed without effect (it ran a
    // moment early, or while its server was off): that job name stays taken in Redis, so it
    // gets a new generation. The others are pushed under their own, which Redis ignores when
    // it still holds the job.
    let due = sqlx::query!(
        r#"WITH due AS (
               SELECT d.id, (COALESCE(d.next_attempt_at, d.updated) < now() - make_interval(secs => $2)) AS stale
               FROM submission_destinations d JOIN dhis2_servers s ON s.id = d.server_id
               WHERE s.enabled AND (d.status = 'queued' OR (d.status = 'retrying' AND d.next_attempt_at <= now()))
               ORDER BY d.id LIMIT $1),
           renewed AS (
               UPDATE submission_destinations d SET generation = d.generation + 1
               FROM due WHERE d.id = due.id AND due.stale
               RETURNING d.id, d.generation)
           SELECT d.id AS "id!", COALESCE(r.generation, d.generation) AS "generation!"
           FROM submission_destinations d JOIN due ON due.id = d.id LEFT JOIN renewed r ON r.id = d.id"#,
        BATCH,
        STALE.as_secs_f64(),
    )
    .fetch_all(db)
    .await?;
    let due: Vec<(i64, i32)> = due.iter().map(|r| (r.id, r.generation)).collect();
    queue.push_due(&due).await?;
    queue.tidy().await?;
    Ok(Swept { reclaimed: reclaimed.len(), pushed: due.len() })
}

/// A 5-field expression runs at second 0; tokio-cron-scheduler wants the seconds field.
fn with_seconds(expression: &str) -> String {
    if expression.split_whitespace().count() == 5 { format!("0 {expression}") } else { expression.to_string() }
}

/// How often every switched-on DHIS2 server is asked for its version (its health); a server
/// seen down and then up again has its retries brought forward, so data flows within this
/// long of DHIS2 coming back.
const HEALTH_CHECK: &str = "*/15 * * * * *";

/// Hourly: sign-in attempts whose window is over and refresh tokens that can no longer be used.
const PRUNE: &str = "0 17 * * * *";

/// Starts the scheduler: the sweep (one still running when the next is due is skipped) and
/// the servers' health checks.
pub async fn start(state: &AppState) -> anyhow::Result<JobScheduler> {
    let (config, db, queue, servers) = (&state.config, state.db.clone(), state.queue.clone(), state.servers.clone());
    let scheduler = JobScheduler::new().await?;
    let running = Arc::new(Mutex::new(()));
    let run = move || {
        let (db, queue, running) = (db.clone(), queue.clone(), running.clone());
        async move {
            let Ok(_guard) = running.try_lock() else { return };
            match sweep(&db, &queue).await {
                Ok(swept) if swept != Swept::default() => tracing::info!(?swept, "sweep"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %format!("{e:#}"), "sweep failed; next time then"),
            }
        }
    };
    tokio::spawn(run());
    let expression = with_seconds(&config.api.retry_cron_expression);
    let job = Job::new_async_tz(expression.as_str(), config.timezone(), move |_, _| Box::pin(run()))?;
    scheduler.add(job).await?;
    let (health_db, health_queue) = (state.db.clone(), state.queue.clone());
    let check = move || {
        let (servers, db, queue) = (servers.clone(), health_db.clone(), health_queue.clone());
        async move {
            let recovered = match servers.check_health().await {
                Ok(recovered) => recovered,
                Err(e) => return tracing::warn!(error = %format!("{e:#}"), "DHIS2 server health check failed"),
            };
            for server in recovered {
                match crate::servers::wake_retrying(&db, server).await {
                    Ok(due) => {
                        tracing::info!(server, deliveries = due.len(), "DHIS2 server is back; its retries go now");
                        if let Err(e) = queue.push_due(&due).await {
                            tracing::warn!(error = %e, "could not queue the retries; the sweeper will");
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "could not bring the retries forward"),
                }
            }
        }
    };
    tokio::spawn(check());
    scheduler.add(Job::new_async(HEALTH_CHECK, move |_, _| Box::pin(check()))?).await?;
    let prune_db = state.db.clone();
    let prune = move |_, _| {
        let db = prune_db.clone();
        Box::pin(async move {
            match crate::auth::prune(&db).await {
                Ok((attempts, tokens)) if attempts + tokens > 0 => {
                    tracing::info!(attempts, tokens, "forgot old sign-in attempts and unusable refresh tokens")
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "pruning sign-in records failed; next time then"),
            }
        }) as std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>
    };
    scheduler.add(Job::new_async(PRUNE, prune)?).await?;
    if state.dhis2.is_some() {
        let state = state.clone();
        let expression = with_seconds(&config.api.sync_cron_expression);
        let job = Job::new_async_tz(expression.as_str(), config.timezone(), move |_, _| {
            let state = state.clone();
            Box::pin(async move {
                match crate::submissions::org_unit_push::sync_and_push(&state, None).await {
                    Ok(_) => {}
                    // Another gateway process is syncing: nothing to do here.
                    Err(AppError::Conflict(_)) => {}
                    Err(e) => tracing::warn!(error = %e, "org-unit sync failed; next time then"),
                }
            })
        })?;
        scheduler.add(job).await?;
    }
    scheduler.start().await?;
    Ok(scheduler)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_field_expressions_get_a_seconds_field() {
        assert_eq!(with_seconds("*/5 * * * *"), "0 */5 * * * *");
        assert_eq!(with_seconds("*/2 * * * * *"), "*/2 * * * * *");
    }
}
