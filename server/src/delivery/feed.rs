//! Fair scheduling across partners. Redis serves its jobs first in, first out, so a partner
//! that posts 100,000 submissions at once would have every later submission of every other
//! partner wait behind them. Instead a due delivery waits in PostgreSQL until the feeder gives
//! it a job, and Redis holds at most `share` jobs per partner and server: each partner's next
//! deliveries join the line in turn, and another partner's single submission has at most the
//! others' shares ahead of it, whatever their backlogs.
//!
//! Every process that delivers runs a feeder. It looks when [nudged](Queue::nudge) (a delivery
//! stored, requeued, released, woken, or claimed, which frees a place in its partner's share)
//! and every [`TICK`], when retries fall due. A delivery to a server in a maintenance window,
//! with an open circuit or a long pause is still fed: its claim puts it back saying why, due
//! when the wait is over, so every waiting delivery shows its reason.

use std::time::Duration;

use sqlx::PgPool;

use super::Deliverer;
use crate::infra::queue::Queue;

/// How often the feeder looks without being nudged: a retry falls due at most this late.
const TICK: Duration = Duration::from_millis(250);

/// Looks start at least this far apart when nudged: under a rush of submissions every one
/// nudges, and looking after each would keep a core busy with looks that find a handful.
const LEAST_GAP: Duration = Duration::from_millis(20);

/// Jobs pushed in one look at most; a full look is followed by another at once.
const BATCH: i64 = 2_000;

/// Gives due deliveries their jobs, round-robin across partners and servers, up to `share` in
/// Redis per partner and server; returns how many.
pub async fn feed(db: &PgPool, queue: &Queue, share: i64) -> anyhow::Result<usize> {
    // The (partner, server) pairs with waiting deliveries come from a skip scan of the waiting
    // index, so a backlog of any size costs one index probe per pair, not a scan.
    let fed = sqlx::query!(
        r#"WITH RECURSIVE pairs AS (
               (SELECT partner_id, server_id FROM submission_destinations
                WHERE status IN ('queued', 'retrying') AND NOT in_queue
                ORDER BY partner_id, server_id LIMIT 1)
               UNION ALL
               SELECT next.partner_id, next.server_id FROM pairs p CROSS JOIN LATERAL (
                   SELECT partner_id, server_id FROM submission_destinations
                   WHERE status IN ('queued', 'retrying') AND NOT in_queue
                     AND (partner_id, server_id) > (p.partner_id, p.server_id)
                   ORDER BY partner_id, server_id LIMIT 1) next),
           chosen AS (
               SELECT w.id, w.turn, p.partner_id
               FROM pairs p
               JOIN dhis2_servers s ON s.id = p.server_id AND s.enabled
               CROSS JOIN LATERAL (
                   SELECT count(*) AS jobs FROM submission_destinations q
                   WHERE q.partner_id = p.partner_id AND q.server_id = p.server_id
                     AND q.status IN ('queued', 'retrying') AND q.in_queue) queued
               CROSS JOIN LATERAL (
                   SELECT d.id, row_number() OVER (ORDER BY COALESCE(d.next_attempt_at, '-infinity'), d.id) AS turn
                   FROM submission_destinations d
                   WHERE d.partner_id = p.partner_id AND d.server_id = p.server_id
                     AND d.status IN ('queued', 'retrying') AND NOT d.in_queue
                     AND COALESCE(d.next_attempt_at, '-infinity') <= now()
                   ORDER BY COALESCE(d.next_attempt_at, '-infinity'), d.id
                   LIMIT greatest($1 - queued.jobs, 0)) w
               ORDER BY w.turn, p.partner_id
               LIMIT $2),
           fed AS (
               -- By primary key (a join would read the whole table for a few rows).
               UPDATE submission_destinations d SET in_queue = true, generation = d.generation + 1
               WHERE d.id = ANY(ARRAY(SELECT id FROM chosen)) AND d.status IN ('queued', 'retrying') AND NOT d.in_queue
               RETURNING d.id, d.generation)
           SELECT fed.id, fed.generation FROM fed JOIN chosen c ON c.id = fed.id ORDER BY c.turn, c.partner_id"#,
        share,
        BATCH,
    )
    .fetch_all(db)
    .await?;
    if fed.is_empty() {
        return Ok(0);
    }
    let due: Vec<(i64, i32)> = fed.iter().map(|r| (r.id, r.generation)).collect();
    if let Err(e) = queue.push_due(&due).await {
        // Not in Redis after all: they wait in PostgreSQL for the next look.
        let ids: Vec<i64> = due.iter().map(|(id, _)| *id).collect();
        sqlx::query!("UPDATE submission_destinations SET in_queue = false WHERE id = ANY($1) AND in_queue", &ids)
            .execute(db)
            .await?;
        return Err(e);
    }
    Ok(due.len())
}

/// Feeds until `shutdown` resolves.
pub async fn run_feeder(deliverer: std::sync::Arc<Deliverer>, shutdown: impl Future<Output = ()> + Send + 'static) {
    let d = &*deliverer;
    // Twice what one process fetches at once, so a second process finds work too.
    let share = 2 * i64::from(d.config.server.max_concurrent).max(1);
    let mut shutdown = std::pin::pin!(shutdown);
    let mut failing = false;
    loop {
        let look = tokio::time::Instant::now();
        let full = match feed(&d.db, &d.queue, share).await {
            Ok(fed) => {
                failing = false;
                fed as i64 >= BATCH
            }
            Err(e) => {
                // Said once per outage (Redis or PostgreSQL away); the deliveries wait meanwhile.
                if !failing {
                    tracing::warn!(error = %e, "cannot feed deliveries to the queue; they wait in PostgreSQL");
                }
                failing = true;
                false
            }
        };
        if full {
            continue;
        }
        tokio::select! {
            _ = &mut shutdown => return,
            _ = d.queue.nudged() => tokio::time::sleep_until(look + LEAST_GAP).await,
            _ = tokio::time::sleep(if failing { Duration::from_secs(2) } else { TICK }) => {}
        }
    }
}
