//! Delivering submissions to DHIS2.
//!
//! A worker takes a [`DeliveryJob`] from the queue and first *claims* the destination in
//! PostgreSQL (a lease): a job delivered twice by Redis, or a second gateway process, finds
//! it claimed and does nothing, so no submission is ever delivered twice at once. The lease is
//! short and renewed by a heartbeat while the delivery lasts, however long DHIS2 takes: one
//! cut by SIGKILL, OOM or power loss lapses within [`LEASE`] and the scheduler's lease check
//! ([`crate::scheduler::sweep::reclaim`]) queues it again. It then
//! sends the stored payload, records the attempt exactly (payload, status, body, summary,
//! conflicts against the partner's keys) and decides what happens next:
//! succeeded / warning / failed are final; transport errors, 5xx and 429 are retried with
//! exponential back-off up to `max_retries`, then the delivery is dead.

mod attempt;
mod coalesce;
pub mod feed;

use std::sync::Arc;
use std::time::Duration;

use apalis::prelude::{BackendExt, BoxDynError, Data, Monitor, WorkerBuilder, WorkerBuilderExt};
use chrono::{DateTime, Utc};

use self::attempt::{Attempted, Heartbeat, claim, record, send, signal};
pub use self::attempt::{Deliverer, LEASE};
use self::coalesce::Gathered;
use crate::infra::dhis2::TransportError;
use crate::infra::queue::DeliveryJob;
use crate::infra::windows as maintenance;
use crate::servers::flow::Admission;

/// How often an idle worker looks for jobs (the feeder pushes them, perhaps from another process).
const IDLE_POLL: Duration = Duration::from_millis(100);

/// The queue handler: claim, send, record, schedule what comes next.
pub async fn deliver(job: DeliveryJob, deliverer: Data<Arc<Deliverer>>) -> Result<(), BoxDynError> {
    let deliverer = Arc::clone(&*deliverer);
    // A task of its own: a queue worker that stops (Redis forgot its registration, say) drops
    // the handlers it runs, and a delivery dropped between sending and recording would be sent
    // again once its lease lapsed. Detached, it finishes and records whatever happens here.
    tokio::spawn(async move { deliver_destination(&deliverer, job.destination_id).await }).await??;
    Ok(())
}

async fn deliver_destination(d: &Deliverer, destination_id: i64) -> Result<(), BoxDynError> {
    // The claim's own name: two deliveries in this process never pass for each other.
    let lease = format!("{}/{}", d.worker, uuid::Uuid::new_v4().simple());
    let claimed = claim(d, destination_id, &lease).await;
    // Its job has left Redis either way: a place in its partner's share there.
    d.queue.nudge();
    let Some(claim) = claimed? else {
        // Already delivered, being delivered elsewhere, not due, or its server is switched
        // off (the delivery waits in PostgreSQL): nothing to do for this job, which the
        // feeder may give it again.
        sqlx::query!(
            "UPDATE submission_destinations SET in_queue = false WHERE id = $1 AND in_queue AND status IN ('queued', 'retrying')",
            destination_id
        )
        .execute(&d.db)
        .await?;
        return Ok(());
    };
    let heartbeat = Heartbeat::start(d.db.clone(), vec![destination_id], lease.clone());
    let server = match d.servers.connection(claim.server_id).await {
        Ok(server) => server,
        // E.g. credentials that no longer decrypt: recorded, and retried like an outage.
        Err(e) => {
            let unusable = TransportError {
                url: String::new(),
                message: format!("{e:#}"),
                duration: Duration::ZERO,
                unreachable: false,
            };
            drop(heartbeat);
            let attempt = Attempted { started_at: Utc::now(), sent: Err(unusable), version: None, share: None };
            record(d, &lease, &claim, attempt).await?;
            return Ok(());
        }
    };
    if let Some((end, window)) = maintenance::until(&server.maintenance, Utc::now()) {
        drop(heartbeat);
        let zone = d.config.server.timezone;
        let local_end = end.with_timezone(&zone).format("%Y-%m-%d %H:%M");
        let why = format!("{} is in its maintenance window {window} until {local_end} {zone}", server.name);
        let delay = (end - Utc::now()).to_std().unwrap_or_default();
        hold_back(d, destination_id, &lease, Wait { delay, why, behind: None }).await?;
        return Ok(());
    }
    if let Some(earlier) = earlier_delivery(d, destination_id).await? {
        drop(heartbeat);
        let why = format!(
            "waits for submission {}, stored earlier for the same data set, org unit and period, to be delivered to {} first",
            earlier.submission_id, server.name
        );
        // It wakes this one when it is final; until then, a look now and then in case it was deleted.
        let delay = (earlier.next_attempt_at.unwrap_or_else(Utc::now) - Utc::now()).to_std().unwrap_or_default();
        let delay = delay.clamp(Duration::from_secs(2), Duration::from_secs(60));
        hold_back(d, destination_id, &lease, Wait { delay, why, behind: Some(earlier.id) }).await?;
        return Ok(());
    }
    let slot = match server.flow.admit(&server.client).await {
        Admission::Send(slot) => slot,
        Admission::Wait { until, why } => {
            drop(heartbeat);
            let delay = until.saturating_duration_since(std::time::Instant::now());
            hold_back(d, destination_id, &lease, Wait { delay, why: format!("{}: {why}", server.name), behind: None })
                .await?;
            return Ok(());
        }
    };
    let claim = match coalesce::gather(d, &server, claim, &lease).await? {
        Gathered::Alone(claim) => claim,
        Gathered::Together(together) => {
            drop(heartbeat);
            let heartbeat = Heartbeat::start(d.db.clone(), together.destination_ids(), lease.clone());
            coalesce::deliver(d, &server, slot, together, &lease, heartbeat).await?;
            return Ok(());
        }
    };
    let (started_at, sent) = send(d, &server, &claim).await;
    slot.finish(signal(&sent));
    let version = server.client.version().await;
    // Stopped before recording, which releases the lease: a beat after that would find it gone.
    drop(heartbeat);
    record(d, &lease, &claim, Attempted { started_at, sent, version, share: None }).await?;
    Ok(())
}

/// Why a claimed delivery is not sent now, and when it is tried again.
struct Wait {
    delay: Duration,
    why: String,
    /// The earlier delivery it waits for, which wakes it when final.
    behind: Option<i64>,
}

/// Puts a claimed delivery back without sending it, its retries untouched: its server is in a
/// maintenance window or its circuit is open, or an earlier submission of the same values is
/// still to be delivered there.
async fn hold_back(d: &Deliverer, destination_id: i64, lease: &str, wait: Wait) -> anyhow::Result<()> {
    let Wait { delay, why, behind } = wait;
    let waiting = sqlx::query!(
        r#"UPDATE submission_destinations
           SET status = 'retrying', next_attempt_at = now() + make_interval(secs => $3), last_error = $4,
               locked_by = NULL, locked_until = NULL, waits_for = $5
           WHERE id = $1 AND locked_by = $2
           RETURNING submission_id"#,
        destination_id,
        lease,
        delay.as_secs_f64(),
        format!("Not sent: {why}"),
        behind,
    )
    .fetch_optional(&d.db)
    .await?;
    let Some(waiting) = waiting else { return Ok(()) };
    // The feeder gives it a job again once `delay` is over.
    sqlx::query_scalar!("SELECT refresh_submission_status($1)", waiting.submission_id).fetch_one(&d.db).await?;
    Ok(())
}

/// An earlier submission's delivery to the same server of the same data set, org unit and
/// period that is not final yet: a later correction must not reach DHIS2 before it, or the
/// earlier one's retry would overwrite it.
struct Earlier {
    id: i64,
    submission_id: i64,
    next_attempt_at: Option<DateTime<Utc>>,
}

async fn earlier_delivery(d: &Deliverer, destination_id: i64) -> sqlx::Result<Option<Earlier>> {
    sqlx::query_as!(
        Earlier,
        r#"SELECT e.id, e.submission_id, e.next_attempt_at
           FROM submission_destinations d
           JOIN submission_log s ON s.id = d.submission_id
           JOIN submission_log es ON es.period = s.period AND es.org_unit = s.org_unit AND es.data_set = s.data_set
                AND es.kind = 'aggregate' AND es.id < s.id
           JOIN submission_destinations e ON e.submission_id = es.id AND e.server_id = d.server_id
           WHERE d.id = $1 AND s.kind = 'aggregate' AND e.status IN ('queued', 'processing', 'retrying')
           ORDER BY es.id LIMIT 1"#,
        destination_id
    )
    .fetch_optional(&d.db)
    .await
}

/// Runs the queue workers until `shutdown` resolves; in-flight deliveries get the
/// configured shutdown time to finish.
pub async fn run_workers(deliverer: Arc<Deliverer>, shutdown: impl Future<Output = ()> + Send + 'static) {
    let storage = loop {
        match deliverer.queue.storage().await {
            Ok(storage) => break storage,
            Err(e) => {
                tracing::warn!(error = %e, "Redis unavailable; deliveries wait in PostgreSQL until it is back");
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }
    };
    // Twice the deliveries in flight: while `max_concurrent` requests are out, as many more
    // are claimed and checked or have their answers recorded.
    let concurrency = 2 * deliverer.config.server.max_concurrent as usize;
    let grace = Duration::from_secs(deliverer.config.server.shutdown_timeout);
    let name = deliverer.worker.clone();
    let monitor = Monitor::new()
        .register(move |restarts| {
            // A fresh name per (re)start: apalis refuses a name that heart-beat recently.
            WorkerBuilder::new(format!("{name}-{restarts}"))
                // Poll even when idle: a job pushed by another process wakes no one here.
                .backend(storage.clone().poll_with_interval(IDLE_POLL))
                .data(deliverer.clone())
                .concurrency(concurrency)
                .build(deliver)
        })
        .should_restart(|_, error| {
            tracing::warn!(%error, "delivery worker stopped; restarting");
            true
        })
        .shutdown_timeout(grace);
    if let Err(e) = monitor
        .run_with_signal(async move {
            shutdown.await;
            Ok(())
        })
        .await
    {
        tracing::error!(error = %e, "delivery workers stopped");
    }
}
