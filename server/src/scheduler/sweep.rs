//! The sweep, run on `retry_cron_expression`, at start-up and whenever Redis is found to have
//! lost its data: PostgreSQL is the truth, Redis only carries work, so anything the queue lost
//! is found here and given back to the feeder ([`crate::delivery::feed`]).
//!
//! - a delivery whose lease expired (its worker was killed mid-delivery) goes back to queued
//!   ([`reclaim`], which the lease check also runs every few seconds);
//! - a delivery whose job has not been taken long after it was pushed (it was consumed without
//!   effect, or lost with Redis) is fed again under a new generation: [`reclaim`] for one
//!   overdue, [`sweep`] for every one when Redis lost its jobs;
//! - finished jobs' bookkeeping is removed from Redis.

use sqlx::PgPool;

use crate::infra::queue::Queue;

/// How long a delivery's job may stay untaken before it is taken for lost. A process killed
/// with jobs fetched but not yet claimed takes them along, and they hold their partner's share
/// in Redis until then: short, so a crash stalls no partner for long. A job that was only
/// slow to be taken is then in Redis twice, and the second one finds it claimed.
const STALE: std::time::Duration = std::time::Duration::from_secs(20);

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Swept {
    /// Deliveries cut mid-way, queued again.
    pub reclaimed: u64,
    /// Deliveries whose jobs were lost, fed again.
    pub refed: u64,
}

/// Deliveries whose lease lapsed (their process died mid-delivery) are queued again, and those
/// whose job went untaken for [`STALE`] are fed again; how many of each.
pub async fn reclaim(db: &PgPool, queue: &Queue) -> anyhow::Result<Swept> {
    let reclaimed = sqlx::query!(
        r#"UPDATE submission_destinations
           SET status = 'queued', locked_by = NULL, locked_until = NULL
           WHERE status = 'processing' AND locked_until < now()
           RETURNING submission_id"#
    )
    .fetch_all(db)
    .await?;
    if !reclaimed.is_empty() {
        // A statement of its own, so the summaries see the destinations' new status.
        let submissions: Vec<i64> = reclaimed.iter().map(|r| r.submission_id).collect();
        sqlx::query!(
            "SELECT refresh_submission_status(s) FROM (SELECT DISTINCT unnest($1::bigint[]) AS s) AS touched",
            &submissions
        )
        .fetch_all(db)
        .await?;
        tracing::warn!(count = reclaimed.len(), "deliveries whose worker stopped mid-way are queued again");
    }
    let refed = unqueue(db, false).await?;
    if !reclaimed.is_empty() || refed > 0 {
        queue.nudge();
    }
    Ok(Swept { reclaimed: reclaimed.len() as u64, refed })
}

/// Marks deliveries whose jobs are lost as waiting for the feeder: all of them (`all`: Redis
/// lost its data) or those untaken for [`STALE`].
async fn unqueue(db: &PgPool, all: bool) -> sqlx::Result<u64> {
    let done = sqlx::query!(
        r#"UPDATE submission_destinations SET in_queue = false
           WHERE status IN ('queued', 'retrying') AND in_queue AND ($1 OR updated < now() - make_interval(secs => $2))"#,
        all,
        STALE.as_secs_f64(),
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}

/// The whole sweep; `lost`: Redis has lost this gateway's jobs.
pub async fn sweep(db: &PgPool, queue: &Queue, lost: bool) -> anyhow::Result<Swept> {
    let mut swept = reclaim(db, queue).await?;
    if lost {
        swept.refed += unqueue(db, true).await?;
        queue.nudge();
    }
    queue.tidy().await?;
    Ok(swept)
}
