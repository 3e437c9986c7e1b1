//! The sweep, run on `retry_cron_expression`, at start-up and whenever Redis is found to have
//! lost its data: PostgreSQL is the truth, Redis only carries work, so anything the queue lost
//! is found here and pushed again.
//!
//! - a delivery whose lease expired (its worker was killed mid-delivery) goes back to queued
//!   ([`reclaim`], which the lease check also runs every few seconds);
//! - every queued delivery, and every retry that is due, is pushed under its generation's job
//!   name: a job Redis still holds is not duplicated, one it lost (flush, restart) is recreated;
//! - finished jobs' bookkeeping is removed from Redis.

use sqlx::PgPool;

use crate::infra::queue::Queue;

/// How long a delivery may be overdue before its job is taken for lost.
const STALE: std::time::Duration = std::time::Duration::from_secs(60);

/// Deliveries pushed per sweep at most; the next sweep continues.
const BATCH: i64 = 20_000;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Swept {
    pub reclaimed: usize,
    pub pushed: usize,
}

/// Deliveries whose lease lapsed (their process died mid-delivery) are queued again under a new
/// generation and pushed at once; how many.
pub async fn reclaim(db: &PgPool, queue: &Queue) -> anyhow::Result<usize> {
    let reclaimed = sqlx::query!(
        r#"UPDATE submission_destinations
           SET status = 'queued', generation = generation + 1, locked_by = NULL, locked_until = NULL
           WHERE status = 'processing' AND locked_until < now()
           RETURNING id, submission_id, generation"#
    )
    .fetch_all(db)
    .await?;
    if reclaimed.is_empty() {
        return Ok(0);
    }
    // A statement of its own, so the summaries see the destinations' new status.
    let submissions: Vec<i64> = reclaimed.iter().map(|r| r.submission_id).collect();
    sqlx::query!(
        "SELECT refresh_submission_status(s) FROM (SELECT DISTINCT unnest($1::bigint[]) AS s) AS touched",
        &submissions
    )
    .fetch_all(db)
    .await?;
    tracing::warn!(count = reclaimed.len(), "deliveries whose worker stopped mid-way are queued again");
    let due: Vec<(i64, i32)> = reclaimed.iter().map(|r| (r.id, r.generation)).collect();
    // Redis away: they are queued in PostgreSQL, and the sweep pushes them once it is back.
    if let Err(e) = queue.push_due(&due).await {
        tracing::warn!(error = %e, "could not queue the reclaimed deliveries; the sweep will");
    }
    Ok(reclaimed.len())
}

pub async fn sweep(db: &PgPool, queue: &Queue) -> anyhow::Result<Swept> {
    let reclaimed = reclaim(db, queue).await?;
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
    Ok(Swept { reclaimed, pushed: due.len() })
}
