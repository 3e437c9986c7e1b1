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

pub mod feed;

use std::sync::Arc;
use std::time::Duration;

use apalis::prelude::{BackendExt, BoxDynError, Data, Monitor, WorkerBuilder, WorkerBuilderExt};
use chrono::{DateTime, Utc};
use dhis2gw_wire::ConflictView;
use rand::RngExt;
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::sync::Semaphore;

use crate::holds::values;
use crate::infra::config::Config;
use crate::infra::dhis2::summary::{self, Interpretation, Verdict};
use crate::infra::dhis2::{Answer, TrackerMode, TransportError};
use crate::infra::metrics::Metrics;
use crate::infra::queue::{DeliveryJob, Queue};
use crate::infra::windows as maintenance;
use crate::servers::flow::{Admission, Signal};
use crate::servers::{Connection, Registry};
use crate::submissions::verdict::conflict_view;

/// Polling a tracker job: first after this, then doubling up to the maximum.
const JOB_POLL_FIRST: Duration = Duration::from_millis(250);
const JOB_POLL_MAX: Duration = Duration::from_secs(5);

/// How often an idle worker looks for jobs (the feeder pushes them, perhaps from another process).
const IDLE_POLL: Duration = Duration::from_millis(100);

/// Longest wait between two attempts while a server is unavailable.
const OUTAGE_MAX_WAIT: Duration = Duration::from_secs(300);

/// Longest wait between two retries.
const MAX_BACKOFF: Duration = Duration::from_secs(3600);

/// Everything a delivery needs; shared by all workers of the process.
pub struct Deliverer {
    pub db: PgPool,
    pub servers: Arc<Registry>,
    pub queue: Queue,
    pub config: Arc<Config>,
    /// Caps deliveries in flight across the process at `max_concurrent`.
    pub permits: Arc<Semaphore>,
    /// This process; a lease names it and the claim.
    pub worker: String,
    pub metrics: Arc<Metrics>,
}

/// How long a claim lasts unless its heartbeat renews it: a delivery whose process died is
/// free again this long after its last heartbeat, whatever the server's timeout.
pub const LEASE: Duration = Duration::from_secs(20);

/// How often a delivery in progress renews its lease: three beats may be missed (a stalled
/// database, a paused machine) before it lapses.
const HEARTBEAT: Duration = Duration::from_secs(5);

impl Deliverer {
    /// Delay before retry number `retry` (1-based): the base interval doubling each time.
    pub fn backoff(&self, retry: i32) -> Duration {
        let base = Duration::from_secs(self.config.server.request_process_interval);
        let doubled = base.saturating_mul(1u32 << (retry.clamp(1, 20) - 1) as u32).min(MAX_BACKOFF);
        // Up to 10% jitter, so retries of a burst do not arrive together.
        let jitter = rand::rng().random_range(0.0..0.1);
        doubled + doubled.mul_f64(jitter)
    }
}

/// A claimed delivery.
struct Claim {
    submission_id: i64,
    server_id: i64,
    /// `aggregate`, `tracker` or `metadata`.
    kind: String,
    /// Import options for DHIS2 sent through the DHIS2-compatible API.
    dhis2_query: Option<String>,
    /// Attempts made before this one.
    attempts: i64,
    retry_count: i32,
    /// What is sent: the whole payload, or (a release) only the held values chosen to go.
    payload: Value,
    value_keys: Vec<String>,
    /// For each value sent, its position in the submission's payload.
    origin: Vec<usize>,
    /// Only the held values chosen for release are sent.
    release: bool,
    /// How many values the submission's payload has.
    total: usize,
}

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
    let heartbeat = Heartbeat::start(d.db.clone(), destination_id, lease.clone());
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
            record(d, destination_id, &lease, &claim, Utc::now(), Err(unusable), None).await?;
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
    // `max_concurrent` bounds what is in flight to DHIS2, not the bookkeeping around it: the
    // permit is held for the request alone, so recording one answer overlaps the next request.
    let permit = d.permits.acquire().await?;
    let in_flight = d.metrics.delivery_started();
    let started_at = Utc::now();
    let sent = match claim.kind.as_str() {
        "tracker" => send_tracker(&server, d.config.api.tracker_async_threshold, &claim.payload).await,
        "metadata" => send_metadata(&server, d.config.api.metadata_batch_size as usize, &claim.payload).await,
        _ => server.client.post_data_value_set(&claim.payload, claim.dhis2_query.as_deref().unwrap_or_default()).await,
    };
    drop((in_flight, permit));
    slot.finish(match &sent {
        Ok(answer) => Signal::of(Some(answer.status), false, answer.retry_after),
        Err(e) => Signal::of(None, !e.unreachable, None),
    });
    let version = server.client.version().await;
    // Stopped before recording, which releases the lease: a beat after that would find it gone.
    drop(heartbeat);
    record(d, destination_id, &lease, &claim, started_at, sent, version).await?;
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

/// Renews a claim's lease every [`HEARTBEAT`] until dropped.
struct Heartbeat(tokio::task::JoinHandle<()>);

impl Heartbeat {
    fn start(db: PgPool, destination_id: i64, lease: String) -> Heartbeat {
        Heartbeat(tokio::spawn(async move {
            let mut beats = tokio::time::interval_at(tokio::time::Instant::now() + HEARTBEAT, HEARTBEAT);
            loop {
                beats.tick().await;
                let renewed = sqlx::query!(
                    "UPDATE submission_destinations SET locked_until = now() + make_interval(secs => $3)
                     WHERE id = $1 AND locked_by = $2",
                    destination_id,
                    lease,
                    LEASE.as_secs_f64(),
                )
                .execute(&db)
                .await;
                match renewed {
                    Ok(done) if done.rows_affected() == 0 => {
                        // It lapsed (the database was out of reach too long) and another
                        // worker took it: what this one finds out is recorded, not acted on.
                        tracing::warn!(destination_id, "delivery lease lost while sending");
                        return;
                    }
                    Ok(_) => {}
                    // The next beat tries again; the lease outlives three missed ones.
                    Err(e) => tracing::warn!(destination_id, error = %e, "could not renew a delivery lease"),
                }
            }
        }))
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A small tracker payload synchronously; a large one as a DHIS2 job, polled until it
/// finishes (at most the server's timeout, inside the lease), then its report.
async fn send_tracker(server: &Connection, threshold: usize, payload: &Value) -> Result<Answer, TransportError> {
    let client = &server.client;
    let size = serde_json::to_vec(payload).map(|b| b.len()).unwrap_or(usize::MAX);
    if size <= threshold {
        return client.post_tracker(payload, TrackerMode::Sync).await;
    }
    let started = std::time::Instant::now();
    let accepted = client.post_tracker(payload, TrackerMode::Async).await?;
    let job =
        serde_json::from_str::<Value>(&accepted.body).ok().and_then(|b| b["response"]["id"].as_str().map(String::from));
    let Some(job) = job.filter(|_| accepted.status == 200) else {
        // Refused before a job started: the answer says why.
        return Ok(accepted);
    };
    let limit = server.timeout;
    let mut pause = JOB_POLL_FIRST;
    loop {
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(JOB_POLL_MAX);
        let progress = client.tracker_job(&job).await?;
        let finished = serde_json::from_str::<Value>(&progress.body)
            .ok()
            .and_then(|notes| notes.as_array().map(|n| n.iter().any(|note| note["completed"] == true)))
            .unwrap_or(false);
        if finished {
            break;
        }
        if started.elapsed() > limit {
            return Err(TransportError {
                unreachable: false,
                url: accepted.url,
                message: format!(
                    "tracker job {job} did not finish within the server's timeout ({} s)",
                    limit.as_secs()
                ),
                duration: started.elapsed(),
            });
        }
    }
    let report = client.tracker_report(&job).await?;
    Ok(Answer {
        url: accepted.url,
        status: report.status,
        body: report.body,
        duration: started.elapsed(),
        retry_after: None,
    })
}

/// Org-unit metadata for a CC server: levels and units in batches of `api.metadata_batch_size`
/// (parents come first, so each batch finds its parents), or group memberships one by one.
/// The answers are combined into one ImportReport; an outage or a 5xx midway makes the whole
/// push a retry (sending a batch again only updates what it created).
async fn send_metadata(server: &Connection, batch_size: usize, payload: &Value) -> Result<Answer, TransportError> {
    let started = std::time::Instant::now();
    let mut combined = CombinedReport::default();
    let mut url = String::new();
    if let Some(memberships) = payload["groupMemberships"].as_array() {
        for m in memberships {
            let (group, unit) = (m["group"].as_str().unwrap_or_default(), m["orgUnit"].as_str().unwrap_or_default());
            let answer = server.client.add_group_member(group, unit).await?;
            url = answer.url.clone();
            if answer.status >= 500 {
                return Ok(answer);
            }
            combined.add_membership(group, unit, &answer);
        }
    } else {
        let units = payload["organisationUnits"].as_array().cloned().unwrap_or_default();
        let levels = payload.get("organisationUnitLevels").cloned().unwrap_or(Value::Array(Vec::new()));
        let mut batches: Vec<Value> =
            units.chunks(batch_size.max(1)).map(|b| json!({"organisationUnits": b})).collect();
        match batches.first_mut() {
            Some(first) => first["organisationUnitLevels"] = levels,
            None => batches.push(json!({"organisationUnitLevels": levels})),
        }
        for batch in &batches {
            let answer = server.client.post_metadata(batch).await?;
            url = answer.url.clone();
            match summary::metadata_report(&answer.body) {
                Some(report) => combined.add_report(&report),
                // No report: a 5xx, a proxy page, refused credentials; its own answer says why.
                None => return Ok(answer),
            }
        }
    }
    Ok(Answer { url, status: 200, body: combined.finish().to_string(), duration: started.elapsed(), retry_after: None })
}

/// The ImportReports of a batched metadata push, added up.
#[derive(Default)]
struct CombinedReport {
    stats: [i64; 4],
    objects: Vec<Value>,
    batches: usize,
}

impl CombinedReport {
    fn add_report(&mut self, report: &Value) {
        self.batches += 1;
        for (i, key) in ["created", "updated", "deleted", "ignored"].iter().enumerate() {
            self.stats[i] += report["stats"][key].as_i64().unwrap_or(0);
        }
        for type_report in report["typeReports"].as_array().into_iter().flatten() {
            let failed = type_report["objectReports"].as_array().into_iter().flatten();
            self.objects
                .extend(failed.filter(|o| o["errorReports"].as_array().is_some_and(|e| !e.is_empty())).cloned());
        }
    }

    fn add_membership(&mut self, group: &str, unit: &str, answer: &Answer) {
        self.batches += 1;
        if (200..300).contains(&answer.status) {
            self.stats[1] += 1;
            return;
        }
        self.stats[3] += 1;
        let message = serde_json::from_str::<Value>(&answer.body)
            .ok()
            .and_then(|b| b["message"].as_str().map(str::to_string))
            .unwrap_or_else(|| format!("HTTP {}", answer.status));
        self.objects.push(json!({"uid": unit, "errorReports": [{"message": format!("group {group}: {message}"), "errorCode": format!("HTTP{}", answer.status)}]}));
    }

    fn finish(self) -> Value {
        let [created, updated, deleted, ignored] = self.stats;
        let status = if self.objects.is_empty() { "OK" } else { "ERROR" };
        json!({
            "status": status,
            "batches": self.batches,
            "stats": {"created": created, "updated": updated, "deleted": deleted, "ignored": ignored,
                      "total": created + updated + deleted + ignored},
            "typeReports": [{"klass": "org.hisp.dhis.organisationunit.OrganisationUnit", "objectReports": self.objects}],
        })
    }
}

async fn claim(d: &Deliverer, destination_id: i64, lease: &str) -> sqlx::Result<Option<Claim>> {
    // One statement: take the lease, mark the submission processing (it wins over every other
    // destination state), and read what to send.
    let row = sqlx::query!(
        r#"WITH claimed AS (
               UPDATE submission_destinations
               SET status = 'processing', locked_by = $2, locked_until = now() + make_interval(secs => $3),
                   waits_for = NULL, in_queue = false
               WHERE id = $1
                 AND (status IN ('queued', 'retrying') OR (status = 'processing' AND locked_until < now()))
                 AND (next_attempt_at IS NULL OR next_attempt_at <= now() + interval '1 second')
                 AND (SELECT enabled FROM dhis2_servers WHERE id = server_id)
               RETURNING submission_id, server_id, retry_count)
           UPDATE submission_log s SET status = 'processing'
           FROM claimed c WHERE s.id = c.submission_id
           RETURNING c.submission_id, c.server_id, c.retry_count, s.kind, s.dhis2_payload AS "payload!", s.value_keys,
               s.dhis2_query, (SELECT count(*) FROM delivery_attempts a WHERE a.destination_id = $1) AS "attempts!",
               ARRAY(SELECT value_index FROM value_outcomes v
                     WHERE v.destination_id = $1 AND v.outcome = 'held' AND v.release
                     ORDER BY value_index) AS "held!""#,
        destination_id,
        lease,
        LEASE.as_secs_f64(),
    )
    .fetch_optional(&d.db)
    .await?;
    Ok(row.map(|row| {
        let keys: Vec<String> = serde_json::from_value(row.value_keys).unwrap_or_default();
        let held: Vec<usize> = row.held.iter().filter_map(|&i| usize::try_from(i).ok()).collect();
        let release = !held.is_empty();
        let total = row.payload["dataValues"].as_array().map_or(0, Vec::len);
        let (payload, value_keys, origin) = if release {
            let keys = held.iter().map(|&i| keys.get(i).cloned().unwrap_or_default()).collect();
            (values::subset(&row.payload, &held), keys, held)
        } else {
            (row.payload, keys, (0..total).collect())
        };
        Claim {
            submission_id: row.submission_id,
            server_id: row.server_id,
            kind: row.kind,
            dhis2_query: row.dhis2_query,
            attempts: row.attempts,
            retry_count: row.retry_count,
            payload,
            value_keys,
            origin,
            release,
            total,
        }
    }))
}

/// The outcome of one attempt, ready to be written.
struct Outcome {
    status: &'static str,
    retry_count: i32,
    next_attempt_at: Option<DateTime<Utc>>,
    error: Option<String>,
}

/// `lease`: the claim's, under which the outcome is written unless another worker took over.
async fn record(
    d: &Deliverer,
    destination_id: i64,
    lease: &str,
    claim: &Claim,
    started_at: DateTime<Utc>,
    sent: Result<Answer, TransportError>,
    version: Option<String>,
) -> anyhow::Result<()> {
    let retry_after = sent.as_ref().ok().and_then(|answer| answer.retry_after);
    let (url, http_status, body, duration, meaning) = match sent {
        Ok(answer) => {
            let meaning = match claim.kind.as_str() {
                "tracker" => summary::interpret_tracker(answer.status, &answer.body),
                "metadata" => summary::interpret_metadata(answer.status, &answer.body),
                _ => summary::interpret(answer.status, &answer.body),
            };
            (answer.url, Some(answer.status as i32), Some(answer.body), answer.duration, meaning)
        }
        Err(e) => {
            let meaning = Interpretation {
                verdict: if e.unreachable { Verdict::Unavailable } else { Verdict::Retry },
                import_status: None,
                import_count: None,
                conflicts: Vec::new(),
                error: Some(format!("DHIS2 could not be reached: {}", e.message)),
            };
            (e.url, None, None, e.duration, meaning)
        }
    };
    let mut outcome = decide(d, claim.retry_count, claim.attempts, &meaning, retry_after);
    let conflicts: Vec<ConflictView> = meaning.conflicts.iter().map(|c| conflict_view(c, &claim.value_keys)).collect();
    let saved_body = body.filter(|_| d.config.api.save_response);
    // Deliveries of one submission to several servers can finish at the same moment. Each
    // takes the submission's row lock first, so the summary below is computed (a statement
    // later, with a fresh snapshot) after the other one's destination state is committed.
    let mut tx = d.db.begin().await?;
    sqlx::query_scalar!("SELECT id FROM submission_log WHERE id = $1 FOR UPDATE", claim.submission_id)
        .fetch_optional(&mut *tx)
        .await?;
    // Locked until the end: a worker taking the lease over meanwhile waits for this outcome.
    let leased = sqlx::query_scalar!(
        "SELECT 1 FROM submission_destinations WHERE id = $1 AND locked_by = $2 FOR UPDATE",
        destination_id,
        lease
    )
    .fetch_optional(&mut *tx)
    .await?
    .is_some();
    let final_answer = matches!(outcome.status, "succeeded" | "warning" | "failed");
    if leased && final_answer && claim.kind == "aggregate" {
        let refused = values::refusals(&claim.payload, &meaning, http_status.and_then(|s| u16::try_from(s).ok()));
        let sent = values::Sent {
            payload: &claim.payload,
            origin: &claim.origin,
            keys: &claim.value_keys,
            release: claim.release,
        };
        let tally = values::record(&mut tx, claim.submission_id, destination_id, &sent, &refused).await?;
        outcome = settle(outcome, tally, claim.release, claim.total, &refused);
    }
    if leased && claim.release && outcome.status == "dead" {
        // Released values DHIS2 never answered for go back to waiting, not to a dead end.
        sqlx::query!("UPDATE value_outcomes SET release = false WHERE destination_id = $1", destination_id)
            .execute(&mut *tx)
            .await?;
        let error = outcome.error.map(|e| format!("{e}; the released values wait on hold again"));
        outcome = Outcome { status: "held", error, ..outcome };
    }
    let attempt_outcome = match outcome.status {
        "retrying" => "retry",
        other => other,
    };
    // The attempt, the destination's new state and the submission's summary: one statement.
    let recorded = sqlx::query!(
        r#"WITH attempt AS (
               INSERT INTO delivery_attempts (submission_id, destination_id, attempt, started_at, duration_ms, request_url,
                   request_payload, http_status, dhis2_version, response_body, import_status, import_count, conflicts,
                   outcome, error)
               VALUES ($1, $2, (SELECT count(*) + 1 FROM delivery_attempts WHERE destination_id = $2), $3, $4, $5,
                       $6, $7, $8, $9, $10, $11, $12, $13, $14)
               RETURNING id),
           submission AS (
               -- Summarised with this destination's new status, so the row is written once.
               UPDATE submission_log SET retry_count = $16, last_attempt_at = now(), errors = $14,
                   response = COALESCE($9, response), status = COALESCE(submission_status($1, $2, $15), status),
                   next_attempt_at = (SELECT min(CASE WHEN id = $2 THEN $17 ELSE next_attempt_at END)
                                      FROM submission_destinations
                                      WHERE submission_id = $1 AND CASE WHEN id = $2 THEN $15 ELSE status END = 'retrying')
               -- Only while this worker still holds the lease; otherwise the new holder decides.
               WHERE id = $1 AND EXISTS (SELECT 1 FROM submission_destinations WHERE id = $2 AND locked_by = $18)),
           destination AS (
               UPDATE submission_destinations
               SET status = $15, retry_count = $16, next_attempt_at = $17, last_error = $14, locked_by = NULL,
                   locked_until = NULL
               WHERE id = $2 AND locked_by = $18
               RETURNING id)
           SELECT attempt.id AS attempt_id FROM destination, attempt"#,
        claim.submission_id,
        destination_id,
        started_at,
        duration.as_millis().min(i32::MAX as u128) as i32,
        url,
        claim.payload,
        http_status,
        version,
        saved_body,
        meaning.import_status,
        meaning.import_count.as_ref().map(|c| serde_json::to_value(c).expect("counts serialise")),
        serde_json::to_value(&conflicts)?,
        attempt_outcome,
        outcome.error,
        outcome.status,
        outcome.retry_count,
        outcome.next_attempt_at,
        lease,
    )
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(recorded) = &recorded {
        values::link_attempt(&mut tx, destination_id, recorded.attempt_id).await?;
    }
    tx.commit().await?;
    if recorded.is_some() && outcome.next_attempt_at.is_none() {
        wake_waiting_behind(d, destination_id).await?;
    }
    // A retry is fed to the queue by the feeder once due.
    if recorded.is_none() {
        tracing::warn!(destination_id, "lease expired during delivery; attempt recorded, state left to the new holder");
    }
    d.metrics.delivery_finished(outcome.status);
    tracing::info!(
        submission_id = claim.submission_id,
        destination_id,
        status = outcome.status,
        http_status,
        duration_ms = duration.as_millis() as u64,
        "delivered"
    );
    Ok(())
}

/// Later deliveries held back behind this one, now final, go at once.
async fn wake_waiting_behind(d: &Deliverer, destination_id: i64) -> anyhow::Result<()> {
    let woken = sqlx::query!(
        r#"UPDATE submission_destinations SET next_attempt_at = now(), waits_for = NULL
           WHERE waits_for = $1 AND status = 'retrying'"#,
        destination_id
    )
    .execute(&d.db)
    .await?;
    if woken.rows_affected() > 0 {
        d.queue.nudge();
    }
    Ok(())
}

/// `attempts`: how many attempts this delivery had before this one; `retry_after`: how long
/// the server asked to be left alone, which the next attempt honours.
fn decide(
    d: &Deliverer,
    retry_count: i32,
    attempts: i64,
    meaning: &Interpretation,
    retry_after: Option<Duration>,
) -> Outcome {
    let final_outcome = |status| Outcome { status, retry_count, next_attempt_at: None, error: meaning.error.clone() };
    match meaning.verdict {
        Verdict::Succeeded => final_outcome("succeeded"),
        Verdict::Warning => final_outcome("warning"),
        Verdict::Failed => final_outcome("failed"),
        // Retries are not used up while the server is away; the wait stays short so that
        // delivery resumes soon after it is back (its health check wakes them sooner still).
        Verdict::Unavailable => {
            let streak = i32::try_from(attempts + 1).unwrap_or(i32::MAX);
            let wait = retry_after.unwrap_or_else(|| d.backoff(streak)).min(OUTAGE_MAX_WAIT);
            let at = Utc::now() + wait;
            Outcome { status: "retrying", retry_count, next_attempt_at: Some(at), error: meaning.error.clone() }
        }
        Verdict::Retry => {
            let retry = retry_count + 1;
            if retry > d.config.server.max_retries as i32 {
                let error = meaning.error.clone().map(|e| format!("{e} (gave up after {retry_count} retries)"));
                Outcome { status: "dead", retry_count, next_attempt_at: None, error }
            } else {
                let at = Utc::now() + d.backoff(retry).max(retry_after.unwrap_or_default());
                Outcome {
                    status: "retrying",
                    retry_count: retry,
                    next_attempt_at: Some(at),
                    error: meaning.error.clone(),
                }
            }
        }
    }
}

/// The destination's status once its values' outcomes are known: held while any value waits
/// for DHIS2 to open its period or undo an approval; after a release, from every value of the
/// submission (`total` of them were sent in the first place).
fn settle(outcome: Outcome, tally: values::Tally, release: bool, total: usize, refused: &[values::Refusal]) -> Outcome {
    let status = if tally.held > 0 {
        "held"
    } else if !release {
        return outcome;
    } else if tally.dropped == 0 {
        "succeeded"
    } else if tally.dropped < total as i64 {
        "warning"
    } else {
        "failed"
    };
    let error = match status {
        "held" => refused.iter().find(|r| r.class.is_held()).map(|r| {
            format!("{} value(s) on hold: {}", tally.held, dhis2gw_wire::refusal_sentence(&r.message, r.class))
        }),
        "succeeded" => None,
        _ => outcome.error,
    };
    Outcome { status, error, ..outcome }
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
