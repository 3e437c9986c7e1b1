//! One attempt of a claimed delivery: claiming it (a lease in PostgreSQL, kept by a heartbeat
//! while DHIS2 answers), sending it, and recording the answer and what comes next.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use dhis2gw_wire::ConflictView;
use rand::RngExt;
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::sync::Semaphore;

use crate::holds::values;
use crate::infra::config::Config;
use crate::infra::dhis2::share::Share;
use crate::infra::dhis2::summary::{self, Interpretation, Verdict};
use crate::infra::dhis2::{Answer, TrackerMode, TransportError};
use crate::infra::metrics::Metrics;
use crate::infra::queue::Queue;
use crate::servers::flow::Signal;
use crate::servers::{Connection, Registry};
use crate::submissions::verdict::conflict_view;

/// Polling a tracker job: first after this, then doubling up to the maximum.
const JOB_POLL_FIRST: Duration = Duration::from_millis(250);
const JOB_POLL_MAX: Duration = Duration::from_secs(5);

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
#[derive(Clone)]
pub(super) struct Claim {
    pub(super) destination_id: i64,
    pub(super) submission_id: i64,
    pub(super) server_id: i64,
    /// `aggregate`, `tracker` or `metadata`.
    pub(super) kind: String,
    /// Import options for DHIS2 sent through the DHIS2-compatible API.
    pub(super) dhis2_query: Option<String>,
    /// Attempts made before this one.
    pub(super) attempts: i64,
    pub(super) retry_count: i32,
    /// What is sent: the whole payload, or (a release) only the held values chosen to go.
    pub(super) payload: Value,
    pub(super) value_keys: Vec<String>,
    /// For each value sent, its position in the submission's payload.
    pub(super) origin: Vec<usize>,
    /// Only the held values chosen for release are sent.
    pub(super) release: bool,
    /// How many values the submission's payload has.
    pub(super) total: usize,
}

/// Sends one claimed delivery; when it started and what came back.
pub(super) async fn send(
    d: &Deliverer,
    server: &Connection,
    claim: &Claim,
) -> (DateTime<Utc>, Result<Answer, TransportError>) {
    // `max_concurrent` bounds what is in flight to DHIS2, not the bookkeeping around it: the
    // permit is held for the request alone, so recording one answer overlaps the next request.
    let permit = d.permits.acquire().await.expect("the permits are never closed");
    let in_flight = d.metrics.delivery_started();
    let started_at = Utc::now();
    let sent = match claim.kind.as_str() {
        "tracker" => send_tracker(server, d.config.api.tracker_async_threshold, &claim.payload).await,
        "metadata" => send_metadata(server, d.config.api.metadata_batch_size as usize, &claim.payload).await,
        _ => server.client.post_data_value_set(&claim.payload, claim.dhis2_query.as_deref().unwrap_or_default()).await,
    };
    drop((in_flight, permit));
    (started_at, sent)
}

/// What an answer (or its absence) tells the server's flow control.
pub(super) fn signal(sent: &Result<Answer, TransportError>) -> Signal {
    match sent {
        Ok(answer) => Signal::of(Some(answer.status), false, answer.retry_after),
        Err(e) => Signal::of(None, !e.unreachable, None),
    }
}

/// Renews a claim's lease (on every delivery it holds) every [`HEARTBEAT`] until dropped.
pub(super) struct Heartbeat(tokio::task::JoinHandle<()>);

impl Heartbeat {
    pub(super) fn start(db: PgPool, destination_ids: Vec<i64>, lease: String) -> Heartbeat {
        Heartbeat(tokio::spawn(async move {
            let mut beats = tokio::time::interval_at(tokio::time::Instant::now() + HEARTBEAT, HEARTBEAT);
            loop {
                beats.tick().await;
                match renew(&db, &destination_ids, &lease).await {
                    Ok(0) => {
                        // It lapsed (the database was out of reach too long) and another
                        // worker took it: what this one finds out is recorded, not acted on.
                        tracing::warn!(?destination_ids, "delivery lease lost while sending");
                        return;
                    }
                    Ok(_) => {}
                    // The next beat tries again; the lease outlives three missed ones.
                    Err(e) => tracing::warn!(?destination_ids, error = %e, "could not renew a delivery lease"),
                }
            }
        }))
    }
}

/// Gives the deliveries held under `lease` a full [`LEASE`] from now; how many it still held.
pub(super) async fn renew(db: &PgPool, destination_ids: &[i64], lease: &str) -> sqlx::Result<u64> {
    let renewed = sqlx::query!(
        "UPDATE submission_destinations SET locked_until = now() + make_interval(secs => $3)
         WHERE id = ANY($1) AND locked_by = $2",
        destination_ids,
        lease,
        LEASE.as_secs_f64(),
    )
    .execute(db)
    .await?;
    Ok(renewed.rows_affected())
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

/// A claimed delivery as read from PostgreSQL.
pub(super) struct ClaimRow {
    pub(super) destination_id: i64,
    pub(super) submission_id: i64,
    pub(super) server_id: i64,
    pub(super) retry_count: i32,
    pub(super) kind: String,
    pub(super) payload: Value,
    pub(super) value_keys: Value,
    pub(super) dhis2_query: Option<String>,
    pub(super) attempts: i64,
    /// Positions of the held values released to go now.
    pub(super) held: Vec<i32>,
}

impl From<ClaimRow> for Claim {
    fn from(row: ClaimRow) -> Claim {
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
            destination_id: row.destination_id,
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
    }
}

pub(super) async fn claim(d: &Deliverer, destination_id: i64, lease: &str) -> sqlx::Result<Option<Claim>> {
    // One statement: take the lease, mark the submission processing (it wins over every other
    // destination state), and read what to send.
    let row = sqlx::query_as!(
        ClaimRow,
        r#"WITH claimed AS (
               UPDATE submission_destinations
               SET status = 'processing', locked_by = $2, locked_until = now() + make_interval(secs => $3),
                   waits_for = NULL, in_queue = false
               WHERE id = $1
                 AND (status IN ('queued', 'retrying') OR (status = 'processing' AND locked_until < now()))
                 AND (next_attempt_at IS NULL OR next_attempt_at <= now() + interval '1 second')
                 AND (SELECT enabled FROM dhis2_servers WHERE id = server_id)
               RETURNING id, submission_id, server_id, retry_count)
           UPDATE submission_log s SET status = 'processing'
           FROM claimed c WHERE s.id = c.submission_id
           RETURNING c.id AS destination_id, c.submission_id, c.server_id, c.retry_count, s.kind,
               s.dhis2_payload AS "payload!", s.value_keys,
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
    Ok(row.map(Claim::from))
}

/// The outcome of one attempt, ready to be written.
struct Outcome {
    status: &'static str,
    retry_count: i32,
    next_attempt_at: Option<DateTime<Utc>>,
    error: Option<String>,
}

/// A member's part of a coalesced request, recorded with its attempt.
pub(super) struct Part {
    /// Which request, how many members and values it had, where this member's values began.
    pub(super) batch: Value,
    /// The answer DHIS2 would have given this member alone; none when the request's answer
    /// (no summary, or no answer at all) is every member's as it is.
    pub(super) own: Option<Share>,
}

/// One request to DHIS2 for a claimed delivery, ready to be recorded.
pub(super) struct Attempted {
    pub(super) started_at: DateTime<Utc>,
    pub(super) sent: Result<Answer, TransportError>,
    /// The server's DHIS2 version.
    pub(super) version: Option<String>,
    /// Sent with other submissions in one request: this one's part of the answer.
    pub(super) share: Option<Part>,
}

/// `lease`: the claim's, under which the outcome is written unless another worker took over.
pub(super) async fn record(d: &Deliverer, lease: &str, claim: &Claim, attempted: Attempted) -> anyhow::Result<()> {
    let Attempted { started_at, sent, version, share } = attempted;
    let destination_id = claim.destination_id;
    let retry_after = sent.as_ref().ok().and_then(|answer| answer.retry_after);
    // The status the claim's values were answered with (its own part's, when coalesced).
    let mut answered_status = None;
    let own = share.as_ref().and_then(|part| part.own.as_ref());
    let (url, http_status, body, duration, meaning) = match sent {
        Ok(answer) => {
            let meaning = match (own, claim.kind.as_str()) {
                (Some(own), _) => summary::interpret(own.status, &own.body),
                (None, "tracker") => summary::interpret_tracker(answer.status, &answer.body),
                (None, "metadata") => summary::interpret_metadata(answer.status, &answer.body),
                (None, _) => summary::interpret(answer.status, &answer.body),
            };
            answered_status = Some(own.map_or(answer.status, |own| own.status));
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
        let refused = values::refusals(&claim.payload, &meaning, answered_status);
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
                   outcome, error, batch)
               VALUES ($1, $2, (SELECT count(*) + 1 FROM delivery_attempts WHERE destination_id = $2), $3, $4, $5,
                       $6, $7, $8, $9, $10, $11, $12, $13, $14, $19)
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
        share.map(|part| part.batch),
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
