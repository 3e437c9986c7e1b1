//! Submissions: intake (validate, map, persist, enqueue), the submission log, and requeue.
//!
//! A submission is written to PostgreSQL, with one destination row per DHIS2 server, before
//! the partner gets an answer; only then is a queue job pushed. If the push fails the data is
//! safe and the sweeper pushes it later.

pub mod aggregate;
pub mod data_value_set;
pub mod jobs;
pub mod org_unit_push;
pub mod tracker;

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use dhis2gw_wire::{
    AggregateAccepted, Attempt, ConflictView, DeleteResult, DestinationView, DryRunResult, Page, RequeueRequest,
    RequeueResult, Role, Submission, SubmissionDetail,
};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::app::{AppState, no_primary};
use crate::audit::{self, Actor};
use crate::dhis2::{TrackerMode, summary};
use crate::error::{AppError, AppResult};
use crate::identity::AuthUser;
use crate::mappings::ScopeMappings;
use crate::query::{date_range, like_pattern, paging};
use crate::uid;
use data_value_set::ImportOptions;

/// Where the mappings of a submission come from (`?source_name=&instance_name=`).
#[derive(Clone, Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct Scope {
    /// The partner system's mapping scope; `default` when omitted.
    #[serde(default = "default_scope")]
    pub source_name: String,
    /// The DHIS2 instance's mapping scope; `default` when omitted.
    #[serde(default = "default_scope")]
    pub instance_name: String,
}

fn default_scope() -> String {
    "default".into()
}

/// What `POST /aggregate` answers.
pub enum Intake {
    Accepted(AggregateAccepted),
    DryRun(DryRunResult),
}

/// Validates, maps and stores a submission, then queues it.
pub async fn accept(
    state: &AppState,
    caller: &AuthUser,
    body: &Value,
    scope: &Scope,
    idempotency_key: Option<&str>,
) -> AppResult<Intake> {
    let repeat = Repeat::of(idempotency_key, format!("{}|{}|{body}", scope.source_name, scope.instance_name));
    if let Some(previous) = repeat.replay(state, caller).await? {
        return Ok(Intake::Accepted(previous));
    }
    let submission = aggregate::parse(body)?;
    let built = build(state, &submission, scope, false).await?;
    if submission.dry_run {
        return Ok(Intake::DryRun(dry_run(state, built).await));
    }
    let destinations = state.servers.destinations().await?;
    let new = NewSubmission {
        kind: "aggregate",
        body,
        payload: built.payload,
        value_keys: built.value_keys,
        warnings: built.warnings,
        scope,
        data_set: Some(&submission.data_set),
        period: Some(submission.period.as_str()),
        dhis2_query: None,
        job_uid: None,
    };
    store(state, Some(caller), new, &repeat, &destinations).await.map(Intake::Accepted)
}

/// A data value set already in DHIS2's terms (the DHIS2-compatible API): checked for shape
/// and against the synced hierarchy, stored with the checked query DHIS2 is to get, and
/// queued for every destination like any other.
pub async fn accept_data_value_set(
    state: &AppState,
    caller: &AuthUser,
    body: &Value,
    options: &ImportOptions,
    job_uid: String,
) -> AppResult<AggregateAccepted> {
    data_value_set::check(body)?;
    for org_unit in data_value_set::org_units(body) {
        state.hierarchy.check(&state.db, &org_unit, state.config.api.dhis2_facility_level).await?;
    }
    let destinations = state.servers.destinations().await?;
    let scope = Scope { source_name: default_scope(), instance_name: default_scope() };
    let new = NewSubmission {
        kind: "aggregate",
        body,
        payload: body.clone(),
        value_keys: data_value_set::keys(body),
        warnings: Vec::new(),
        scope: &scope,
        data_set: body["dataSet"].as_str(),
        period: body["period"].as_str(),
        dhis2_query: Some(options.dhis2_query.clone()),
        job_uid: Some(job_uid),
    };
    store(state, Some(caller), new, &Repeat::of(None, String::new()), &destinations).await
}

/// The values of a DHIS2-compatible data value set that the caller may not send, as
/// (index, data element): a partner reaches only the data elements the gateway's mappings
/// translate to, as through `/aggregate`. Staff may send any. Elements named by code or name
/// cannot be told apart until DHIS2's metadata is known to the gateway, so they pass here
/// and DHIS2 decides.
pub async fn elements_out_of_scope(
    state: &AppState,
    caller: &AuthUser,
    body: &Value,
    options: &ImportOptions,
) -> AppResult<Vec<(usize, String)>> {
    data_value_set::check(body)?;
    if caller.role.is_staff() || options.data_element_scheme_of(body) != "uid" {
        return Ok(Vec::new());
    }
    let mappings = state.mappings.scope(&state.db, &default_scope(), &default_scope()).await?;
    Ok(data_value_set::keys(body).into_iter().enumerate().filter(|(_, element)| !mappings.targets(element)).collect())
}

/// Checks a tracker payload, assigns UIDs to records sent by ref, stores and queues it for
/// the primary DHIS2 server. `validate_only` asks DHIS2 (`importMode=VALIDATE`) instead.
pub async fn accept_tracker(
    state: &AppState,
    caller: &AuthUser,
    body: &Value,
    validate_only: bool,
    idempotency_key: Option<&str>,
    job_uid: Option<String>,
) -> AppResult<Intake> {
    let built = tracker::build(body, caller.id)?;
    for org_unit in built.org_units() {
        state.hierarchy.check(&state.db, &org_unit, state.config.api.dhis2_facility_level).await?;
    }
    // A validation stores nothing, so there is nothing to replay either.
    if validate_only {
        return Ok(Intake::DryRun(validate_tracker(state, built).await));
    }
    let repeat = Repeat::of(idempotency_key, format!("tracker|{body}"));
    if let Some(previous) = repeat.replay(state, caller).await? {
        return Ok(Intake::Accepted(previous));
    }
    if !caller.role.is_staff() {
        tracker::claim(&state.db, caller.id, &built.object_uids()).await?;
    }
    let primary = state.primary_server_id.into_iter().collect::<Vec<_>>();
    let new = NewSubmission {
        kind: "tracker",
        body,
        payload: built.payload,
        value_keys: built.refs,
        warnings: Vec::new(),
        scope: &Scope { source_name: default_scope(), instance_name: default_scope() },
        data_set: None,
        period: None,
        dhis2_query: None,
        job_uid,
    };
    let mut accepted = store(state, Some(caller), new, &repeat, &primary).await?;
    accepted.message = format!("Tracker request with {} objects queued for processing", built.objects);
    Ok(Intake::Accepted(accepted))
}

/// Queues org-unit metadata for the named CC servers (as one submission of kind
/// `metadata`); `None` when none of them exists.
pub async fn queue_push(state: &AppState, what: &str, payload: Value, servers: &[String]) -> AppResult<Option<i64>> {
    let ids = sqlx::query_scalar!("SELECT id FROM dhis2_servers WHERE name = ANY($1) ORDER BY name", servers)
        .fetch_all(&state.db)
        .await?;
    if ids.is_empty() {
        tracing::warn!(push = what, servers = ?servers, "none of these CC servers exists; nothing pushed");
        return Ok(None);
    }
    let scope = Scope { source_name: default_scope(), instance_name: default_scope() };
    let body = json!({"push": what});
    let new = NewSubmission {
        kind: "metadata",
        body: &body,
        payload,
        value_keys: Vec::new(),
        warnings: Vec::new(),
        scope: &scope,
        data_set: None,
        period: None,
        dhis2_query: None,
        job_uid: None,
    };
    let stored = store(state, None, new, &Repeat::of(None, String::new()), &ids).await?;
    tracing::info!(push = what, submission_id = stored.submission_id, servers = ids.len(), "org-unit push queued");
    Ok(Some(stored.submission_id))
}

/// A submission ready to be stored.
struct NewSubmission<'a> {
    kind: &'static str,
    body: &'a Value,
    payload: Value,
    value_keys: Vec<String>,
    warnings: Vec<String>,
    scope: &'a Scope,
    data_set: Option<&'a str>,
    period: Option<&'a str>,
    /// Through the DHIS2-compatible API: the query DHIS2 gets, and the job id clients poll.
    dhis2_query: Option<String>,
    job_uid: Option<String>,
}

/// An Idempotency-Key and what makes a repeat "the same request".
struct Repeat<'a> {
    key: Option<&'a str>,
    hash: Option<String>,
}

impl<'a> Repeat<'a> {
    fn of(key: Option<&'a str>, request: String) -> Self {
        Repeat { key, hash: key.map(|_| hex::encode(Sha256::digest(request))) }
    }

    async fn replay(&self, state: &AppState, caller: &AuthUser) -> AppResult<Option<AggregateAccepted>> {
        match (self.key, &self.hash) {
            (Some(key), Some(hash)) => replay(state, caller, key, hash).await,
            _ => Ok(None),
        }
    }
}

/// Stores the submission with one destination per server, before anything is answered,
/// then queues the deliveries.
async fn store(
    state: &AppState,
    caller: Option<&AuthUser>,
    new: NewSubmission<'_>,
    repeat: &Repeat<'_>,
    destinations: &[i64],
) -> AppResult<AggregateAccepted> {
    if state.primary_server_id.is_none() {
        return Err(no_primary());
    }
    let mut accepted = AggregateAccepted {
        message: "Aggregate request queued for processing".into(),
        submission_id: 0,
        task_id: new_task_id(),
        payload: new.payload,
        warnings: new.warnings,
    };
    // One statement stores the submission, its destinations and (for an Idempotency-Key) the
    // answer to repeat, which gets its submission_id when replayed.
    let stored = sqlx::query!(
        r#"WITH s AS (
               INSERT INTO submission_log (kind, user_id, payload, dhis2_payload, value_keys, warnings, task_id, source_name,
                   instance_name, data_set, org_unit, period, idempotency_key, request_hash, idempotent_response,
                   dhis2_query, job_uid)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $17, $18)
               RETURNING id)
           INSERT INTO submission_destinations (submission_id, server_id)
           SELECT s.id, server FROM s, unnest($16::bigint[]) AS server
           RETURNING submission_id, id AS destination_id, generation"#,
        new.kind,
        caller.map(|c| c.id),
        new.body,
        accepted.payload,
        json!(new.value_keys),
        json!(accepted.warnings),
        accepted.task_id,
        new.scope.source_name,
        new.scope.instance_name,
        new.data_set,
        org_unit_of(&accepted.payload),
        new.period,
        repeat.key,
        repeat.hash,
        repeat.key.map(|_| replay_answer(&accepted)),
        destinations,
        new.dhis2_query,
        new.job_uid,
    )
    .fetch_all(&state.db)
    .await;
    let stored = match stored {
        Ok(rows) => rows,
        // The same key raced in from a parallel request: answer as for a repeat.
        Err(sqlx::Error::Database(e))
            if e.constraint() == Some("submission_log_idempotency_key")
                && let Some(caller) = caller =>
        {
            return repeat
                .replay(state, caller)
                .await?
                .ok_or_else(|| AppError::Conflict("Idempotency-Key is in use by a request being processed".into()));
        }
        Err(e) => return Err(e.into()),
    };
    accepted.submission_id = stored.first().map(|d| d.submission_id).unwrap_or_default();
    state.metrics.submission_received(new.kind);
    for destination in stored {
        if let Err(e) = state.queue.push(destination.destination_id, destination.generation, Duration::ZERO).await {
            let submission_id = destination.submission_id;
            tracing::warn!(submission_id, error = %e, "stored but not queued; the sweeper will queue it");
        }
    }
    Ok(accepted)
}

/// The answer to repeat for an Idempotency-Key, without the DHIS2 payload: that is stored once,
/// as the submission's `dhis2_payload`, and put back when the answer is replayed.
fn replay_answer(accepted: &AggregateAccepted) -> Value {
    let mut answer = serde_json::to_value(accepted).expect("serialises");
    answer["payload"] = Value::Null;
    answer
}

/// The org unit a payload is about, for the log's filters: a data value set's, or the first
/// tracker object's.
fn org_unit_of(payload: &Value) -> Option<String> {
    if let Some(ou) = payload["orgUnit"].as_str() {
        return Some(ou.to_string());
    }
    ["trackedEntities", "enrollments", "events"]
        .iter()
        .find_map(|list| payload[list].as_array()?.iter().find_map(|o| o["orgUnit"].as_str()))
        .map(str::to_string)
}

/// A task id: a time-ordered UUID (v7), so its index grows at the end instead of at random.
fn new_task_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// The first answer for a repeated Idempotency-Key, or 409 when the body differs.
async fn replay(state: &AppState, caller: &AuthUser, key: &str, hash: &str) -> AppResult<Option<AggregateAccepted>> {
    let row = sqlx::query!(
        r#"SELECT id, request_hash, idempotent_response, dhis2_payload
           FROM submission_log WHERE user_id = $1 AND idempotency_key = $2"#,
        caller.id,
        key
    )
    .fetch_optional(&state.db)
    .await?;
    let Some(row) = row else { return Ok(None) };
    if row.request_hash.as_deref() != Some(hash) {
        return Err(AppError::Conflict(
            "Idempotency-Key was already used with a different request body; use a new key for new data".into(),
        ));
    }
    let mut first: Option<AggregateAccepted> = row.idempotent_response.and_then(|r| serde_json::from_value(r).ok());
    if let Some(first) = &mut first {
        first.submission_id = row.id;
        first.payload = row.dhis2_payload.unwrap_or_default();
    }
    Ok(first)
}

/// Translates a submission; `fresh` reads the mappings from the database instead of the
/// intake's cache (a requeue must see a mapping fixed a moment ago, wherever it was fixed).
async fn build(
    state: &AppState,
    submission: &aggregate::Aggregate,
    scope: &Scope,
    fresh: bool,
) -> AppResult<aggregate::Built> {
    let scheme = state.config.api.mapping_scheme;
    let mappings = if fresh {
        std::sync::Arc::new(ScopeMappings::load(&state.db, scheme, &scope.source_name, &scope.instance_name).await?)
    } else {
        state.mappings.scope(&state.db, &scope.source_name, &scope.instance_name).await?
    };
    let mut lookup = mappings.lookup(submission.values.keys(), &submission.org_unit);
    // An org-unit code the mappings do not know may be a code in the synced hierarchy.
    if lookup.org_unit.is_none()
        && !uid::is_valid(&submission.org_unit)
        && let Some(unit) = state.hierarchy.find(&state.db, &submission.org_unit).await?
    {
        lookup.org_unit = Some(unit.uid);
    }
    let built = aggregate::build(submission, &lookup, scheme, Some(&state.config.api.dhis2_attribute_option_combo))?;
    let org_unit = built.payload["orgUnit"].as_str().unwrap_or_default();
    state.hierarchy.check(&state.db, org_unit, state.config.api.dhis2_facility_level).await?;
    Ok(built)
}

/// Asks DHIS2 with `dryRun=true`; stores nothing.
async fn dry_run(state: &AppState, built: aggregate::Built) -> DryRunResult {
    let verdict = match &state.dhis2 {
        None => None,
        Some(client) => match client.post_data_value_set(&built.payload, "dryRun=true").await {
            Err(e) => {
                tracing::info!(error = %e, "dry run: DHIS2 unreachable");
                None
            }
            Ok(answer) => {
                Some(verdict_of(answer.status, summary::interpret(answer.status, &answer.body), &built.value_keys))
            }
        },
    };
    dry_run_result(verdict, built.payload, built.warnings)
}

/// Asks DHIS2 to validate a tracker payload (`importMode=VALIDATE`); stores nothing.
async fn validate_tracker(state: &AppState, built: tracker::Built) -> DryRunResult {
    let verdict = match &state.dhis2 {
        None => None,
        Some(client) => match client.post_tracker(&built.payload, TrackerMode::Validate).await {
            Err(e) => {
                tracing::info!(error = %e, "tracker validation: DHIS2 unreachable");
                None
            }
            Ok(answer) => {
                Some(verdict_of(answer.status, summary::interpret_tracker(answer.status, &answer.body), &built.refs))
            }
        },
    };
    dry_run_result(verdict, built.payload, Vec::new())
}

fn verdict_of(http_status: u16, meaning: summary::Interpretation, value_keys: &[String]) -> dhis2gw_wire::Dhis2Verdict {
    dhis2gw_wire::Dhis2Verdict {
        http_status: Some(http_status as i32),
        import_status: meaning.import_status,
        import_count: meaning.import_count.map(|c| serde_json::to_value(c).expect("serialises")),
        conflicts: meaning.conflicts.iter().map(|c| conflict_view(c, value_keys)).collect(),
        error: meaning.error,
    }
}

/// A DHIS2 conflict in the partner's terms: the `dataValues` keys its positions came from,
/// or the ref of the tracker record it names.
pub fn conflict_view(c: &summary::Conflict, value_keys: &[String]) -> ConflictView {
    let partner_keys = if c.indexes.is_empty() {
        let object = c.object.as_deref().unwrap_or_default();
        value_keys.iter().filter_map(|k| k.strip_prefix(object)?.strip_prefix('=')).map(str::to_string).collect()
    } else {
        aggregate::keys_of(&c.indexes, value_keys)
    };
    ConflictView {
        partner_keys,
        error_code: c.error_code.clone(),
        object: c.object.clone(),
        property: c.property.clone(),
        message: c.value.clone(),
        indexes: c.indexes.clone(),
    }
}

fn dry_run_result(verdict: Option<dhis2gw_wire::Dhis2Verdict>, payload: Value, warnings: Vec<String>) -> DryRunResult {
    let message = match &verdict {
        Some(_) => "Dry run: validated, mapped and checked by DHIS2; nothing was stored",
        None => "Dry run: validated and mapped; DHIS2 could not be asked; nothing was stored",
    };
    DryRunResult { message: message.into(), payload, warnings, dhis2: verdict }
}

// ---------------------------------------------------------------------------------------------
// The submission log
// ---------------------------------------------------------------------------------------------

/// Filters of `GET /logs` (and of batch requeue). Dates are whole days in the gateway's time
/// zone, inclusive, or RFC 3339 instants.
#[derive(Clone, Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LogFilter {
    /// One of queued, processing, succeeded, warning, failed, retrying, dead (the original's
    /// values such as SUCCESS, ERROR, pending, retry, archived are understood).
    pub status: Option<String>,
    pub from_date: Option<String>,
    pub to_date: Option<String>,
    pub task_id: Option<String>,
    /// The submission id.
    pub job_id: Option<i64>,
    pub data_set: Option<String>,
    pub org_unit: Option<String>,
    pub period: Option<String>,
    /// Username of the submitter.
    pub user: Option<String>,
    /// Text anywhere in the partner's payload.
    pub q: Option<String>,
    /// One of submitted_at (the default), status, period, org_unit, data_set, user,
    /// retry_count, last_attempt_at. Ties are broken by id, so pages never overlap.
    pub sort: Option<String>,
    /// `asc` or `desc` (the default). Empty values sort last either way.
    pub order: Option<String>,
    pub page: Option<i64>,
    /// 1 to 500; 10 by default.
    pub page_size: Option<i64>,
}

/// What `sort` may name: the columns of the log.
const SORT_KEYS: [&str; 8] =
    ["submitted_at", "status", "period", "org_unit", "data_set", "user", "retry_count", "last_attempt_at"];

/// A filter checked and ready for SQL.
struct Criteria {
    status: Option<String>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    task_id: Option<String>,
    job_id: Option<i64>,
    data_set: Option<String>,
    org_unit: Option<String>,
    period: Option<String>,
    user: Option<String>,
    q: Option<String>,
    /// Partners only ever see their own submissions.
    owner: Option<i64>,
    /// One of [`SORT_KEYS`].
    sort: &'static str,
    /// `asc` or `desc`.
    order: &'static str,
}

/// The original service's status words → ours.
fn status_of(word: &str) -> Option<&'static str> {
    Some(match word.trim().to_ascii_lowercase().as_str() {
        "queued" | "pending" | "scheduled" => "queued",
        "processing" | "active" => "processing",
        "succeeded" | "success" | "ok" | "completed" => "succeeded",
        "warning" => "warning",
        "failed" | "error" => "failed",
        "retrying" | "retry" => "retrying",
        "dead" | "archived" => "dead",
        _ => return None,
    })
}

impl LogFilter {
    fn criteria(self, caller: &AuthUser, tz: chrono_tz::Tz) -> AppResult<Criteria> {
        let status = match self.status.as_deref().filter(|s| !s.is_empty()) {
            None => None,
            Some(word) => Some(status_of(word).ok_or_else(|| {
                AppError::invalid_field(
                    "status",
                    format!("unknown status '{word}'; use one of {}", dhis2gw_wire::SUBMISSION_STATUSES.join(", ")),
                )
            })?),
        };
        let (from, to) = date_range(self.from_date.as_deref(), self.to_date.as_deref(), tz)?;
        let blank = |s: Option<String>| s.map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let sort = match blank(self.sort) {
            None => "submitted_at",
            Some(key) => SORT_KEYS.into_iter().find(|k| key.eq_ignore_ascii_case(k)).ok_or_else(|| {
                AppError::invalid_field("sort", format!("unknown column '{key}'; use one of {}", SORT_KEYS.join(", ")))
            })?,
        };
        let order = match blank(self.order).map(|o| o.to_ascii_lowercase()).as_deref() {
            None | Some("desc") => "desc",
            Some("asc") => "asc",
            Some(other) => return Err(AppError::invalid_field("order", format!("'{other}' is neither asc nor desc"))),
        };
        Ok(Criteria {
            status: status.map(str::to_string),
            from,
            to,
            task_id: blank(self.task_id),
            job_id: self.job_id,
            data_set: blank(self.data_set),
            org_unit: blank(self.org_unit),
            period: blank(self.period),
            user: blank(self.user),
            q: blank(self.q).map(|q| like_pattern(&q)),
            owner: (caller.role == Role::Partner).then_some(caller.id),
            sort,
            order,
        })
    }
}

/// The ids of every submission matching a filter (for batch requeue), newest first.
async fn matching_ids(state: &AppState, c: &Criteria) -> sqlx::Result<Vec<i64>> {
    sqlx::query_scalar!(
        r#"SELECT id AS "id!" FROM matching_submissions($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
           ORDER BY submitted_at DESC, id DESC"#,
        c.status,
        c.from,
        c.to,
        c.task_id,
        c.job_id,
        c.data_set,
        c.org_unit,
        c.period,
        c.user,
        c.q,
        c.owner,
    )
    .fetch_all(&state.db)
    .await
}

struct SubmissionRow {
    id: i64,
    kind: String,
    submitted_at: DateTime<Utc>,
    username: Option<String>,
    payload: Value,
    dhis2_payload: Option<Value>,
    status: String,
    retry_count: i32,
    last_attempt_at: Option<DateTime<Utc>>,
    next_attempt_at: Option<DateTime<Utc>>,
    task_id: Option<String>,
    response: Option<String>,
    errors: Option<String>,
    data_set: Option<String>,
    org_unit: Option<String>,
    period: Option<String>,
    warnings: Value,
}

impl From<SubmissionRow> for Submission {
    fn from(r: SubmissionRow) -> Self {
        Submission {
            id: r.id,
            kind: r.kind,
            submitted_at: r.submitted_at,
            user: r.username,
            payload: r.payload,
            dhis2_payload: r.dhis2_payload,
            status: r.status,
            retry_count: r.retry_count,
            last_attempt_at: r.last_attempt_at,
            next_attempt_at: r.next_attempt_at,
            task_id: r.task_id,
            response: r.response,
            errors: r.errors,
            data_set: r.data_set,
            org_unit: r.org_unit,
            period: r.period,
            warnings: serde_json::from_value(r.warnings).unwrap_or_default(),
        }
    }
}

pub async fn list(state: &AppState, caller: &AuthUser, filter: LogFilter) -> AppResult<Page<Submission>> {
    let (page, size, offset) = paging(filter.page, filter.page_size, 10)?;
    let c = filter.criteria(caller, state.config.timezone())?;
    let total = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM matching_submissions($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"#,
        c.status,
        c.from,
        c.to,
        c.task_id,
        c.job_id,
        c.data_set,
        c.org_unit,
        c.period,
        c.user,
        c.q,
        c.owner,
    )
    .fetch_one(&state.db)
    .await?;
    let rows = sqlx::query_as!(
        SubmissionRow,
        r#"SELECT s.id AS "id!", s.kind AS "kind!", s.submitted_at AS "submitted_at!", u.username AS "username?",
               s.payload AS "payload!", s.dhis2_payload, s.status AS "status!", s.retry_count AS "retry_count!",
               s.last_attempt_at, s.next_attempt_at, s.task_id, s.response, s.errors, s.data_set, s.org_unit, s.period,
               s.warnings AS "warnings!"
           FROM matching_submissions($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) s LEFT JOIN users u ON u.id = s.user_id
           -- One key per column type and direction; the others are NULL for every row. PostgreSQL
           -- folds them away when it plans with the values, so the default order still walks the
           -- (submitted_at, id) index and stops after one page.
           ORDER BY
               CASE WHEN $14::text = 'submitted_at' AND $15::text = 'asc' THEN s.submitted_at END ASC,
               CASE WHEN $14 = 'submitted_at' AND $15 = 'desc' THEN s.submitted_at END DESC,
               CASE WHEN $15 = 'asc' THEN CASE $14 WHEN 'status' THEN s.status WHEN 'period' THEN s.period
                   WHEN 'org_unit' THEN s.org_unit WHEN 'data_set' THEN s.data_set WHEN 'user' THEN u.username END
               END ASC NULLS LAST,
               CASE WHEN $15 = 'desc' THEN CASE $14 WHEN 'status' THEN s.status WHEN 'period' THEN s.period
                   WHEN 'org_unit' THEN s.org_unit WHEN 'data_set' THEN s.data_set WHEN 'user' THEN u.username END
               END DESC NULLS LAST,
               CASE WHEN $14 = 'retry_count' AND $15 = 'asc' THEN s.retry_count END ASC,
               CASE WHEN $14 = 'retry_count' AND $15 = 'desc' THEN s.retry_count END DESC,
               CASE WHEN $14 = 'last_attempt_at' AND $15 = 'asc' THEN s.last_attempt_at END ASC NULLS LAST,
               CASE WHEN $14 = 'last_attempt_at' AND $15 = 'desc' THEN s.last_attempt_at END DESC NULLS LAST,
               CASE WHEN $15 = 'asc' THEN s.id END ASC,
               s.id DESC
           LIMIT $12 OFFSET $13"#,
        c.status, c.from, c.to, c.task_id, c.job_id, c.data_set, c.org_unit, c.period, c.user, c.q, c.owner, size, offset,
        c.sort, c.order,
    )
    .fetch_all(&state.db)
    .await?;
    Ok(Page::new(rows.into_iter().map(Submission::from).collect(), total, page, size))
}

/// One submission with every attempt; partners only their own.
pub async fn get(state: &AppState, caller: &AuthUser, id: i64) -> AppResult<SubmissionDetail> {
    let owner = (caller.role == Role::Partner).then_some(caller.id);
    let row = sqlx::query_as!(
        SubmissionRow,
        r#"SELECT s.id, s.kind, s.submitted_at, u.username AS "username?", s.payload, s.dhis2_payload, s.status, s.retry_count,
               s.last_attempt_at, s.next_attempt_at, s.task_id, s.response, s.errors, s.data_set, s.org_unit, s.period, s.warnings
           FROM submission_log s LEFT JOIN users u ON u.id = s.user_id
           WHERE s.id = $1 AND ($2::bigint IS NULL OR s.user_id = $2)"#,
        id,
        owner
    )
    .fetch_optional(&state.db)
    .await?
    .ok_or_else(|| AppError::NotFound(format!("Submission {id} not found")))?;
    let destinations = sqlx::query_as!(
        DestinationView,
        r#"SELECT s.name AS server, s.is_primary, d.status, d.retry_count, d.next_attempt_at, d.last_error
           FROM submission_destinations d JOIN dhis2_servers s ON s.id = d.server_id
           WHERE d.submission_id = $1 ORDER BY s.is_primary DESC, s.name"#,
        id
    )
    .fetch_all(&state.db)
    .await?;
    let attempts = sqlx::query!(
        r#"SELECT s.name AS "server?", a.attempt, a.started_at, a.duration_ms, a.request_url, a.request_payload,
               a.http_status, a.dhis2_version, a.response_body, a.import_status, a.import_count, a.conflicts, a.outcome,
               a.error
           FROM delivery_attempts a
           LEFT JOIN submission_destinations d ON d.id = a.destination_id
           LEFT JOIN dhis2_servers s ON s.id = d.server_id
           WHERE a.submission_id = $1 ORDER BY a.started_at, a.id"#,
        id
    )
    .fetch_all(&state.db)
    .await?
    .into_iter()
    .map(|a| Attempt {
        server: a.server,
        attempt: a.attempt,
        started_at: a.started_at,
        duration_ms: a.duration_ms,
        request_url: a.request_url,
        request_payload: a.request_payload,
        http_status: a.http_status,
        dhis2_version: a.dhis2_version,
        response_body: a.response_body,
        import_status: a.import_status,
        import_count: a.import_count,
        conflicts: serde_json::from_value(a.conflicts).unwrap_or_default(),
        outcome: a.outcome,
        error: a.error,
    })
    .collect();
    Ok(SubmissionDetail { submission: row.into(), destinations, attempts })
}

/// Deletes one submission and its attempts, unless it is being delivered right now.
pub async fn delete(state: &AppState, caller: &AuthUser, id: i64) -> AppResult<()> {
    remove(state, id, Some(Actor::User(caller))).await
}

/// Deletes one submission, unless it is being delivered right now; `audited` by whom when it
/// is a change of its own (a batch is audited as one).
async fn remove(state: &AppState, id: i64, audited: Option<Actor<'_>>) -> AppResult<()> {
    let mut tx = state.db.begin().await?;
    let status = sqlx::query_scalar!("SELECT status FROM submission_log WHERE id = $1", id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("Submission {id} not found")))?;
    if status == "processing" {
        return Err(AppError::Conflict(format!("Submission {id} is being delivered right now; try again in a moment")));
    }
    sqlx::query!("DELETE FROM submission_log WHERE id = $1 AND status <> 'processing'", id).execute(&mut *tx).await?;
    if let Some(actor) = audited {
        audit::record(&mut *tx, actor, "submission.delete", "submission", &id.to_string(), json!({})).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Deletes every finished submission older than `date` (RFC 3339); returns how many, and
/// the instant read.
pub async fn purge(state: &AppState, caller: &AuthUser, date: Option<&str>) -> AppResult<(u64, DateTime<Utc>)> {
    let text =
        date.ok_or_else(|| AppError::invalid_field("date", "is required (RFC 3339, e.g. 2024-01-01T00:00:00Z)"))?;
    let before = DateTime::parse_from_rfc3339(text)
        .map_err(|_| AppError::invalid_field("date", format!("'{text}' is not RFC 3339, e.g. 2024-01-01T00:00:00Z")))?
        .with_timezone(&Utc);
    let mut tx = state.db.begin().await?;
    let deleted = sqlx::query!(
        "DELETE FROM submission_log WHERE submitted_at < $1 AND status IN ('succeeded', 'warning', 'failed', 'dead')",
        before
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let detail = json!({"before": text, "deleted": deleted});
    audit::record(&mut *tx, Actor::User(caller), "submission.purge", "submission", "", detail).await?;
    tx.commit().await?;
    Ok((deleted, before))
}

// ---------------------------------------------------------------------------------------------
// Requeue
// ---------------------------------------------------------------------------------------------

/// Which submissions a batch requeue or delete is for.
enum Selection {
    Ids(Vec<i64>),
    TaskIds(Vec<String>),
    Filter(Box<LogFilter>),
}

impl Selection {
    /// From the body of `POST /aggregate/reenqueue/batch` or `POST /logs/delete`.
    fn from_request(request: RequeueRequest) -> AppResult<Selection> {
        let chosen = [!request.ids.is_empty(), !request.task_ids.is_empty(), request.filter.is_some()];
        match chosen {
            [true, false, false] => Ok(Selection::Ids(request.ids)),
            [false, true, false] => Ok(Selection::TaskIds(request.task_ids)),
            [false, false, true] => {
                let map: BTreeMap<String, String> = request.filter.unwrap_or_default();
                let filter = LogFilter::from_strings(&map).map_err(|e| AppError::invalid_field("filter", e))?;
                // `{}` would resend (or delete) every submission ever made.
                if filter.selects_everything() {
                    return Err(AppError::invalid_field(
                        "filter",
                        "give at least one criterion (status, from_date, data_set, …); an empty filter would select every submission",
                    ));
                }
                Ok(Selection::Filter(Box::new(filter)))
            }
            _ => Err(AppError::bad_request("Give exactly one of ids, task_ids or filter")),
        }
    }
}

impl LogFilter {
    fn selects_everything(&self) -> bool {
        let LogFilter { status, from_date, to_date, task_id, job_id, data_set, org_unit, period, user, q, .. } = self;
        [status, from_date, to_date, task_id, data_set, org_unit, period, user, q]
            .iter()
            .all(|v| v.as_deref().is_none_or(|v| v.trim().is_empty()))
            && job_id.is_none()
    }

    /// A filter from string values (`job_id`, `page` are numbers in JSON but strings in forms).
    fn from_strings(map: &BTreeMap<String, String>) -> Result<LogFilter, String> {
        let query = form_urlencoded::Serializer::new(String::new()).extend_pairs(map).finish();
        serde_urlencoded::from_str(&query).map_err(|e| e.to_string())
    }
}

/// The submissions a selection names, and why any part of it names none.
struct Selected {
    ids: Vec<i64>,
    missing: Vec<String>,
}

impl Selection {
    /// The ids of the submissions selected; a filter is read as `caller` may see the log.
    async fn resolve(self, state: &AppState, caller: &AuthUser) -> AppResult<Selected> {
        Ok(match self {
            Selection::Ids(ids) => Selected { ids, missing: Vec::new() },
            Selection::TaskIds(task_ids) => {
                let found = sqlx::query!("SELECT id, task_id FROM submission_log WHERE task_id = ANY($1)", &task_ids)
                    .fetch_all(&state.db)
                    .await?;
                let missing = task_ids
                    .iter()
                    .filter(|t| !found.iter().any(|f| f.task_id.as_deref() == Some(t.as_str())))
                    .map(|t| format!("Task {t}: no submission has this task id"))
                    .collect();
                Selected { ids: found.into_iter().map(|f| f.id).collect(), missing }
            }
            Selection::Filter(filter) => {
                let criteria = filter.criteria(caller, state.config.timezone())?;
                Selected { ids: matching_ids(state, &criteria).await?, missing: Vec::new() }
            }
        })
    }
}

/// Does `act` to each selected submission; returns how many it did, and why it did not do
/// the others (`Submission 7: …`).
async fn for_each_selected<F, Fut>(
    state: &AppState,
    caller: &AuthUser,
    selection: Selection,
    act: F,
) -> AppResult<(usize, Vec<String>)>
where
    F: Fn(i64) -> Fut,
    Fut: Future<Output = AppResult<()>>,
{
    let Selected { ids, missing } = selection.resolve(state, caller).await?;
    let mut problems = missing;
    let mut done = 0;
    for id in ids {
        match act(id).await {
            Ok(()) => done += 1,
            Err(AppError::NotFound(_)) => problems.push(format!("Submission {id}: not found")),
            // The rest of the batch still goes ahead; internals stay in the log.
            Err(AppError::Internal(e)) => {
                tracing::error!(submission_id = id, error = format!("{e:#}"), "batch action on a submission failed");
                problems.push(format!("Submission {id}: internal error (see the gateway's log)"));
            }
            Err(e) => {
                let (why, name) = (describe(&e), format!("Submission {id}"));
                problems.push(if why.starts_with(&name) { why } else { format!("{name}: {why}") });
            }
        }
    }
    Ok((done, problems))
}

/// Requeues: rebuilds each payload from the current mappings (so a fixed mapping fixes a
/// failed submission), resets its destinations, and queues them. History is kept; the batch
/// is audited as one entry.
pub async fn requeue(state: &AppState, caller: &AuthUser, request: RequeueRequest) -> AppResult<RequeueResult> {
    let asked = serde_json::to_value(&request).unwrap_or_default();
    let selection = Selection::from_request(request)?;
    let (re_enqueued, errors) = for_each_selected(state, caller, selection, |id| resend(state, id, None, None)).await?;
    let detail = json!({"selection": asked, "re_enqueued": re_enqueued, "failed": errors.len()});
    audit::record(&state.db, Actor::User(caller), "submission.requeue_batch", "submission", "", detail).await?;
    Ok(RequeueResult { re_enqueued, failed: errors.len(), errors })
}

/// Deletes each selected submission as `DELETE /logs/{id}` would; what that refuses (a
/// submission being delivered right now) or cannot find is skipped and explained.
pub async fn delete_many(state: &AppState, caller: &AuthUser, request: RequeueRequest) -> AppResult<DeleteResult> {
    let asked = serde_json::to_value(&request).unwrap_or_default();
    let selection = Selection::from_request(request)?;
    let (deleted, errors) = for_each_selected(state, caller, selection, |id| remove(state, id, None)).await?;
    let detail = json!({"selection": asked, "deleted": deleted, "skipped": errors.len()});
    audit::record(&state.db, Actor::User(caller), "submission.delete_batch", "submission", "", detail).await?;
    Ok(DeleteResult { deleted, skipped: errors.len(), errors })
}

fn describe(e: &AppError) -> String {
    match e {
        AppError::BadRequest { message, detail } | AppError::Unprocessable { message, detail }
            if !detail.is_empty() =>
        {
            format!("{message}: {}", detail.join("; "))
        }
        other => other.to_string(),
    }
}

/// Requeues the submission with this task id.
pub async fn requeue_task(state: &AppState, caller: &AuthUser, task_id: &str) -> AppResult<()> {
    let id = sqlx::query_scalar!("SELECT id FROM submission_log WHERE task_id = $1", task_id)
        .fetch_optional(&state.db)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("Job log not found for task ID: {task_id}")))?;
    resend(state, id, None, Some((Actor::User(caller), json!({"task_id": task_id})))).await
}

/// Requeues one submission whatever its final status, to every server or (by name) to one;
/// refused while that delivery is queued or under way.
pub async fn requeue_one(state: &AppState, caller: &AuthUser, id: i64, server: Option<&str>) -> AppResult<()> {
    resend(state, id, server, Some((Actor::User(caller), json!({"server": server})))).await
}

/// Requeues one submission; `audited` by whom, with what detail, when it is a change of its
/// own (a batch is audited as one).
async fn resend(state: &AppState, id: i64, server: Option<&str>, audited: Option<(Actor<'_>, Value)>) -> AppResult<()> {
    let row = sqlx::query!(
        r#"SELECT kind, payload, dhis2_payload, dhis2_query, value_keys, warnings, status, source_name, instance_name
           FROM submission_log WHERE id = $1"#,
        id
    )
    .fetch_optional(&state.db)
    .await?
    .ok_or_else(|| AppError::NotFound(format!("Submission {id} not found")))?;
    let targets = sqlx::query!(
        r#"SELECT d.status FROM submission_destinations d JOIN dhis2_servers s ON s.id = d.server_id
           WHERE d.submission_id = $1 AND ($2::text IS NULL OR s.name = $2)"#,
        id,
        server
    )
    .fetch_all(&state.db)
    .await?;
    if let Some(server) = server.filter(|_| targets.is_empty()) {
        return Err(AppError::NotFound(format!("Submission {id} does not go to a DHIS2 server named {server}")));
    }
    if targets.iter().all(|t| matches!(t.status.as_str(), "queued" | "processing")) {
        let status = if server.is_some() { &targets[0].status } else { &row.status };
        return Err(AppError::Conflict(format!(
            "Submission {id} is {status} already; requeue it once this delivery has finished"
        )));
    }
    // Only aggregate data translated through mappings is rebuilt (a fixed mapping fixes it).
    // Tracker data (UIDs already assigned), org-unit pushes and data sent in DHIS2's own terms
    // are sent again as they were.
    let (payload, value_keys, warnings) = if row.kind == "aggregate" && row.dhis2_query.is_none() {
        let submission = aggregate::parse(&row.payload)?;
        let scope = Scope { source_name: row.source_name, instance_name: row.instance_name };
        let built = build(state, &submission, &scope, true).await?;
        (built.payload, built.value_keys, built.warnings)
    } else {
        let keys: Vec<String> = serde_json::from_value(row.value_keys).unwrap_or_default();
        let warnings: Vec<String> = serde_json::from_value(row.warnings).unwrap_or_default();
        (row.dhis2_payload.unwrap_or(row.payload), keys, warnings)
    };
    let mut tx = state.db.begin().await?;
    sqlx::query!(
        r#"UPDATE submission_log SET dhis2_payload = $2, value_keys = $3, warnings = $4, task_id = $5, retry_count = 0,
               errors = NULL, org_unit = $6
           WHERE id = $1"#,
        id,
        payload,
        json!(value_keys),
        json!(warnings),
        new_task_id(),
        org_unit_of(&payload),
    )
    .execute(&mut *tx)
    .await?;
    let destinations = sqlx::query!(
        r#"UPDATE submission_destinations
           SET status = 'queued', retry_count = 0, next_attempt_at = NULL, last_error = NULL, generation = generation + 1
           WHERE submission_id = $1 AND status NOT IN ('queued', 'processing')
             AND ($2::text IS NULL OR server_id = (SELECT id FROM dhis2_servers WHERE name = $2))
           RETURNING id, generation"#,
        id,
        server
    )
    .fetch_all(&mut *tx)
    .await?;
    sqlx::query_scalar!("SELECT refresh_submission_status($1)", id).fetch_one(&mut *tx).await?;
    if let Some((actor, detail)) = audited {
        audit::record(&mut *tx, actor, "submission.requeue", "submission", &id.to_string(), detail).await?;
    }
    tx.commit().await?;
    for d in destinations {
        if let Err(e) = state.queue.push(d.id, d.generation, Duration::ZERO).await {
            tracing::warn!(submission_id = id, error = %e, "requeued in PostgreSQL; the sweeper will queue it");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_originals_status_words_are_understood() {
        assert_eq!(status_of("SUCCESS"), Some("succeeded"));
        assert_eq!(status_of("OK"), Some("succeeded"));
        assert_eq!(status_of("ERROR"), Some("failed"));
        assert_eq!(status_of("archived"), Some("dead"));
        assert_eq!(status_of("retry"), Some("retrying"));
        assert_eq!(status_of("bogus"), None);
    }
}
