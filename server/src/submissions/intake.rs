//! Intake: a submission is validated, mapped and written to PostgreSQL, with one
//! destination row per DHIS2 server, before the partner gets an answer; the feeder
//! ([`crate::delivery::feed`]) then gives each delivery a queue job in its partner's turn.

use std::sync::LazyLock;

use chrono::Utc;
use dhis2gw_wire::{AggregateAccepted, DryRunResult, RegisterCompletion};
use futures_util::{StreamExt, stream};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::data_value_set::{self, ImportOptions};
use super::document::{Format, Part, Problem, Refused};
use super::screen::{self, Screened, Screening};
use super::verdict::{Check, check_with_dhis2};
use super::{aggregate, tracker};
use crate::access::identity::AuthUser;
use crate::access::partners;
use crate::app::{AppState, no_primary};
use crate::infra::error::{AppError, AppResult};
use crate::infra::intake_writer::{self, NewRow};
use crate::infra::uid;
use crate::mappings::ScopeMappings;
use crate::orgunits::Levels;
use crate::submissions::partner_scope;

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
    let submission = match aggregate::parse(body) {
        Ok(submission) => submission,
        Err(shape) => return Err(with_org_unit_problems(state, body, scope, shape).await?),
    };
    let mut built = build(state, &submission, scope, caller.register_completion, false).await?;
    screen::screen_aggregate(state, screen::mode_of(state, caller), &mut built).await?;
    if submission.dry_run {
        // A dry run answers as the real post would: out of scope is refused here too.
        partner_scope::check(&state.db, &state.hierarchy, caller, "aggregate", &built.payload).await?;
        return Ok(Intake::DryRun(
            check_with_dhis2(state, Check::DataValueSet, built.payload, &built.value_keys, built.warnings).await,
        ));
    }
    let destinations = state.servers.destinations().await?;
    let new = NewSubmission {
        value_keys: built.value_keys,
        warnings: built.warnings,
        scope,
        ..NewSubmission::new("aggregate", body, built.payload)
    };
    store(state, Some(caller), new, &repeat, &destinations).await.map(Intake::Accepted)
}

/// A standard document's parts (see [`document`]) as submissions, each keeping its part of
/// the document. Every part is checked before any is stored, and all are stored in one
/// transaction, so a document is taken whole or refused whole, with each problem placed in
/// it. An Idempotency-Key covers the document: part `i` is stored under `key#i` (the first
/// under `key`), so a retry gets the first answer. Each answer comes with its warnings placed.
pub async fn accept_document(
    state: &AppState,
    caller: &AuthUser,
    format: Format,
    text: &str,
    parts: &[Part],
    scope: &Scope,
    idempotency_key: Option<&str>,
) -> Result<Vec<(AggregateAccepted, Vec<Problem>)>, Refused> {
    let digest = hex::encode(Sha256::digest(text));
    let keys: Vec<Option<String>> = (0..parts.len())
        .map(|i| idempotency_key.map(|k| if i == 0 { k.to_string() } else { format!("{k}#{i}") }))
        .collect();
    let repeats: Vec<Repeat> = keys
        .iter()
        .enumerate()
        .map(|(i, key)| {
            let request = format!("{}|{i}|{}|{}|{digest}", format.name(), scope.source_name, scope.instance_name);
            Repeat::of(key.as_deref(), request)
        })
        .collect();
    let mut answers = Vec::with_capacity(parts.len());
    for repeat in &repeats {
        answers.push(repeat.replay(state, caller).await?);
    }
    let (mut built, mut refusals) = (Vec::new(), Vec::new());
    for (part, answer) in parts.iter().zip(&answers) {
        if answer.is_some() {
            built.push(None);
            continue;
        }
        match check_part(state, caller, part, scope).await? {
            Ok(part_built) => built.push(Some(part_built)),
            Err(part_refused) => {
                refusals.push(part_refused);
                built.push(None);
            }
        }
    }
    if let Some(refused) = document_refusal(refusals) {
        return Err(refused);
    }
    let destinations = state.servers.destinations().await?;
    // The parts not replayed, stored together.
    let (mut stored_at, mut news) = (Vec::new(), Vec::new());
    for (i, part_built) in built.into_iter().enumerate() {
        let Some(built) = part_built else { continue };
        let new = NewSubmission {
            value_keys: built.value_keys,
            warnings: built.warnings,
            scope,
            source: Some((format, parts[i].text.clone())),
            ..NewSubmission::new("aggregate", &parts[i].body, built.payload)
        };
        stored_at.push(i);
        news.push((new, &repeats[i]));
    }
    for (i, accepted) in stored_at.into_iter().zip(store_all(state, Some(caller), news, &destinations).await?) {
        answers[i] = Some(accepted);
    }
    Ok(parts
        .iter()
        .zip(answers)
        .map(|(part, answer)| {
            let accepted = answer.expect("every part replayed or stored");
            let warnings = part.placed(&accepted.warnings);
            (accepted, warnings)
        })
        .collect())
}

/// A document's dry run: every part checked as [`accept_document`] checks it, then DHIS2
/// asked to import each with `dryRun=true`, no more at once than `server.max_concurrent`
/// allows deliveries. Nothing is stored and an Idempotency-Key is not used up. Each result,
/// in the parts' order, comes with its warnings placed.
pub async fn check_document(
    state: &AppState,
    caller: &AuthUser,
    parts: &[Part],
    scope: &Scope,
) -> Result<Vec<(DryRunResult, Vec<Problem>)>, Refused> {
    let (mut built, mut refusals) = (Vec::with_capacity(parts.len()), Vec::new());
    for checked in preview_document(state, caller, parts, scope).await? {
        match checked {
            Ok(part_built) => built.push(part_built),
            Err(part_refused) => refusals.push(part_refused),
        }
    }
    if let Some(refused) = document_refusal(refusals) {
        return Err(refused);
    }
    let at_once = state.config.server.max_concurrent.max(1) as usize;
    let checks: Vec<_> = parts.iter().zip(built).map(|(part, built)| dry_run_part(state, part, built)).collect();
    Ok(stream::iter(checks).buffered(at_once).collect().await)
}

/// DHIS2's dry run of one checked part, with the part's warnings placed.
async fn dry_run_part(state: &AppState, part: &Part, built: aggregate::Built) -> (DryRunResult, Vec<Problem>) {
    let warnings = part.placed(&built.warnings);
    let result = check_with_dhis2(state, Check::DataValueSet, built.payload, &built.value_keys, built.warnings).await;
    (result, warnings)
}

/// The refusal of a document whose `refusals` are its refused parts': every problem of every
/// part; a bad field anywhere makes the document a 400, else a 422.
fn document_refusal(refusals: Vec<Refused>) -> Option<Refused> {
    refusals.into_iter().reduce(|mut document, part| {
        document.problems.extend(part.problems);
        if !matches!(document.error, AppError::BadRequest { .. }) {
            document.error = part.error;
        }
        document
    })
}

/// What each part of a document would become (the DHIS2 payload and warnings), or why it
/// would be refused, checked as [`accept_document`] checks it; nothing is stored.
pub async fn preview_document(
    state: &AppState,
    caller: &AuthUser,
    parts: &[Part],
    scope: &Scope,
) -> AppResult<Vec<Result<aggregate::Built, Refused>>> {
    let mut previews = Vec::with_capacity(parts.len());
    for part in parts {
        previews.push(check_part(state, caller, part, scope).await?);
    }
    Ok(previews)
}

/// A part of a document checked as `POST /aggregate` checks a body, partner scope included:
/// what it becomes, or why not with each problem placed in the document. Failures that are
/// not the part's (the database, no DHIS2 server) are the outer error.
pub async fn check_part(
    state: &AppState,
    caller: &AuthUser,
    part: &Part,
    scope: &Scope,
) -> AppResult<Result<aggregate::Built, Refused>> {
    match build_part(state, caller, part, scope).await {
        Ok(built) => Ok(Ok(built)),
        Err(AppError::BadRequest { detail, .. }) => Ok(Err(Refused {
            error: AppError::BadRequest { message: "The document is not valid".into(), detail: Vec::new() },
            problems: part.placed(&detail),
        })),
        Err(AppError::Unprocessable { message, detail }) => Ok(Err(Refused {
            error: AppError::Unprocessable { message, detail: Vec::new() },
            problems: part.placed(&detail),
        })),
        Err(other) => Err(other),
    }
}

async fn build_part(state: &AppState, caller: &AuthUser, part: &Part, scope: &Scope) -> AppResult<aggregate::Built> {
    let submission = match aggregate::parse(&part.body) {
        Ok(submission) => submission,
        Err(shape) => return Err(with_org_unit_problems(state, &part.body, scope, shape).await?),
    };
    let mut built = build(state, &submission, scope, caller.register_completion, false).await?;
    screen::screen_aggregate(state, screen::mode_of(state, caller), &mut built).await?;
    partner_scope::check(&state.db, &state.hierarchy, caller, "aggregate", &built.payload).await?;
    Ok(built)
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
    warnings: Vec<String>,
) -> AppResult<AggregateAccepted> {
    data_value_set::check(body)?;
    for org_unit in data_value_set::org_units(body) {
        state.hierarchy.check(&state.db, &org_unit, levels_unless_assigned(state, body["dataSet"].as_str())).await?;
    }
    let destinations = state.servers.destinations().await?;
    let new = NewSubmission {
        value_keys: data_value_set::keys(body),
        warnings,
        dhis2_query: Some(options.dhis2_query.clone()),
        job_uid: Some(job_uid),
        ..NewSubmission::new("aggregate", body, body.clone())
    };
    store(state, Some(caller), new, &Repeat::NONE, &destinations).await
}

/// Screens a DHIS2-compatible data value set against the metadata, naming values by position
/// (`dataValues[3]`) as DHIS2's conflicts do. Values left out in `partial` mode are gone from
/// `body`, and `warnings` says why.
pub async fn screen_data_value_set(
    state: &AppState,
    caller: &AuthUser,
    body: &mut Value,
    options: &ImportOptions,
    warnings: &mut Vec<String>,
) -> AppResult<Screening> {
    if !options.checkable(body) {
        return Ok(Screening::Passed);
    }
    let mut keys = data_value_set::keys(body);
    let labels: Vec<String> = (0..keys.len()).map(|i| format!("dataValues[{i}]")).collect();
    let set = Screened { payload: body, keys: &mut keys, warnings };
    screen::screen(state, screen::mode_of(state, caller), &labels, set).await
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
        state.hierarchy.check(&state.db, &org_unit, levels_unless_assigned(state, None)).await?;
    }
    // A validation stores nothing, so there is nothing to replay either.
    if validate_only {
        partner_scope::check(&state.db, &state.hierarchy, caller, "tracker", &built.payload).await?;
        return Ok(Intake::DryRun(
            check_with_dhis2(state, Check::Tracker, built.payload, &built.refs, Vec::new()).await,
        ));
    }
    let repeat = Repeat::of(idempotency_key, format!("tracker|{body}"));
    if let Some(previous) = repeat.replay(state, caller).await? {
        return Ok(Intake::Accepted(previous));
    }
    if !caller.role.is_staff() {
        tracker::claim(&state.db, caller.id, &built.object_uids()).await?;
    }
    let primary = state.primary_server_id.into_iter().collect::<Vec<_>>();
    let new = NewSubmission { value_keys: built.refs, job_uid, ..NewSubmission::new("tracker", body, built.payload) };
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
    let body = json!({"push": what});
    let new = NewSubmission::new("metadata", &body, payload);
    let stored = store(state, None, new, &Repeat::NONE, &ids).await?;
    tracing::info!(push = what, submission_id = stored.submission_id, servers = ids.len(), "org-unit push queued");
    Ok(Some(stored.submission_id))
}

/// The mapping scope of submissions that do not name one.
static DEFAULT_SCOPE: LazyLock<Scope> =
    LazyLock::new(|| Scope { source_name: default_scope(), instance_name: default_scope() });

/// A submission ready to be stored.
struct NewSubmission<'a> {
    kind: &'static str,
    body: &'a Value,
    payload: Value,
    value_keys: Vec<String>,
    warnings: Vec<String>,
    scope: &'a Scope,
    /// Through the DHIS2-compatible API: the query DHIS2 gets, and the job id clients poll.
    dhis2_query: Option<String>,
    job_uid: Option<String>,
    /// Sent as a standard document: its format and its part of the document.
    source: Option<(Format, String)>,
}

impl<'a> NewSubmission<'a> {
    /// A submission of `kind` as sent (`body`) and as DHIS2 is to get it (`payload`), in the
    /// default mapping scope, with nothing else known about it yet.
    fn new(kind: &'static str, body: &'a Value, payload: Value) -> Self {
        NewSubmission {
            kind,
            body,
            payload,
            value_keys: Vec::new(),
            warnings: Vec::new(),
            scope: &DEFAULT_SCOPE,
            dhis2_query: None,
            job_uid: None,
            source: None,
        }
    }
}

/// An Idempotency-Key and what makes a repeat "the same request".
struct Repeat<'a> {
    key: Option<&'a str>,
    hash: Option<String>,
}

impl<'a> Repeat<'a> {
    /// No Idempotency-Key: every request is new.
    const NONE: Repeat<'static> = Repeat { key: None, hash: None };

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
/// then queues the deliveries. A partner's scope and values-per-day limit are checked here,
/// where every kind of submission passes.
async fn store(
    state: &AppState,
    caller: Option<&AuthUser>,
    new: NewSubmission<'_>,
    repeat: &Repeat<'_>,
    destinations: &[i64],
) -> AppResult<AggregateAccepted> {
    let mut stored = store_all(state, caller, vec![(new, repeat)], destinations).await?;
    Ok(stored.remove(0))
}

/// Stores submissions as [`store`] does, all or none: several (a document's parts) in one
/// transaction, so a failure or a values-per-day limit crossed by the last leaves none stored.
async fn store_all(
    state: &AppState,
    caller: Option<&AuthUser>,
    news: Vec<(NewSubmission<'_>, &Repeat<'_>)>,
    destinations: &[i64],
) -> AppResult<Vec<AggregateAccepted>> {
    if state.primary_server_id.is_none() {
        return Err(no_primary());
    }
    if news.is_empty() {
        return Ok(Vec::new());
    }
    let (mut answers, mut rows, mut repeats) = (Vec::new(), Vec::new(), Vec::new());
    for (new, repeat) in news {
        let accepted = AggregateAccepted {
            message: "Aggregate request queued for processing".into(),
            submission_id: 0,
            task_id: new_task_id(),
            payload: new.payload,
            warnings: new.warnings,
        };
        if let Some(caller) = caller {
            partner_scope::check(&state.db, &state.hierarchy, caller, new.kind, &accepted.payload).await?;
        }
        rows.push(NewRow {
            kind: new.kind,
            user_id: caller.map(|c| c.id),
            payload: new.body.clone(),
            dhis2_payload: accepted.payload.clone(),
            value_keys: json!(new.value_keys),
            warnings: json!(accepted.warnings),
            task_id: accepted.task_id.clone(),
            source_name: new.scope.source_name.clone(),
            instance_name: new.scope.instance_name.clone(),
            // The data set and period a data value set is for, where it names them (a bulk one may not).
            data_set: accepted.payload["dataSet"].as_str().map(str::to_string),
            org_unit: org_unit_of(&accepted.payload),
            period: accepted.payload["period"].as_str().map(str::to_string),
            idempotency_key: repeat.key.map(str::to_string),
            request_hash: repeat.hash.clone(),
            idempotent_response: repeat.key.map(|_| replay_answer(&accepted)),
            dhis2_query: new.dhis2_query.clone(),
            job_uid: new.job_uid.clone(),
            source_format: new.source.as_ref().map(|(format, _)| format.name()),
            source_document: new.source.map(|(_, text)| text),
            destinations: destinations.to_vec(),
        });
        answers.push(accepted);
        repeats.push(repeat);
    }
    let kinds: Vec<&'static str> = rows.iter().map(|r| r.kind).collect();
    let limited = caller.filter(|c| partners::counts_values(&state.config, c));
    let stored = match (limited, rows.len()) {
        // Together, or with a values-per-day limit taken in the same transaction. Nothing but
        // the transaction's connection is used until it ends: a request holding one connection
        // while waiting for another would starve the pool under load.
        (Some(_), _) | (None, 2..) => {
            let mut tx = state.db.begin().await?;
            if let Some(caller) = limited {
                let values = answers.iter().map(|a| partners::count_values(&a.payload)).sum();
                partners::take_values(&mut tx, &state.config, &state.limits, caller, values).await?;
            }
            let stored = intake_writer::insert(&mut *tx, &rows).await;
            if stored.is_ok() {
                tx.commit().await?;
            }
            stored
        }
        // Alone: a key already taken fails this submission only.
        (None, _) if repeats[0].key.is_some() => {
            intake_writer::insert_one(&state.db, &rows[0]).await.map(|id| vec![id])
        }
        (None, _) => {
            let row = rows.pop().expect("one submission");
            state.intake.store(row).await.map(|id| vec![id])
        }
    };
    let ids = match stored {
        Ok(ids) => ids,
        // The same key raced in from a parallel request: answer as for a repeat.
        Err(sqlx::Error::Database(e))
            if e.constraint() == Some("submission_log_idempotency_key")
                && let Some(caller) = caller =>
        {
            let mut replayed = Vec::with_capacity(repeats.len());
            for repeat in repeats {
                replayed.push(repeat.replay(state, caller).await?.ok_or_else(|| {
                    AppError::Conflict("Idempotency-Key is in use by a request being processed".into())
                })?);
            }
            return Ok(replayed);
        }
        Err(e) => return Err(e.into()),
    };
    for (accepted, id) in answers.iter_mut().zip(ids) {
        accepted.submission_id = id;
    }
    for kind in kinds {
        state.metrics.submission_received(kind);
    }
    // Fed to the queue in its partner's turn.
    state.queue.nudge();
    Ok(answers)
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
pub(super) fn org_unit_of(payload: &Value) -> Option<String> {
    if let Some(ou) = payload["orgUnit"].as_str() {
        return Some(ou.to_string());
    }
    ["trackedEntities", "enrollments", "events"]
        .iter()
        .find_map(|list| payload[list].as_array()?.iter().find_map(|o| o["orgUnit"].as_str()))
        .map(str::to_string)
}

/// A task id: a time-ordered UUID (v7), so its index grows at the end instead of at random.
pub(super) fn new_task_id() -> String {
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

/// An attribute option combo given by code becomes its UID, through the synced metadata.
fn resolve_attribute_option_combo(state: &AppState, payload: &mut Value) -> AppResult<()> {
    let Some(aoc) = payload["attributeOptionCombo"].as_str().filter(|a| !uid::is_valid(a)) else { return Ok(()) };
    let snapshot = state.metadata.snapshot();
    let found = snapshot.option_combo(aoc).map(|c| c.uid.clone()).ok_or_else(|| {
        let why = if snapshot.is_loaded() {
            "is neither a UID nor the code of an attribute option combo in DHIS2"
        } else {
            "is not a UID; codes can be used once DHIS2's metadata has been synced"
        };
        AppError::invalid_field("attributeOptionCombo", format!("'{aoc}' {why}"))
    })?;
    payload["attributeOptionCombo"] = Value::String(found);
    Ok(())
}

/// Translates a submission, registering completion as its submitter's setting (or the
/// gateway's) says; `fresh` reads the mappings from the database instead of the intake's cache
/// (a requeue must see a mapping fixed a moment ago, wherever it was fixed).
pub(super) async fn build(
    state: &AppState,
    submission: &aggregate::Aggregate,
    scope: &Scope,
    submitters_completion: Option<RegisterCompletion>,
    fresh: bool,
) -> AppResult<aggregate::Built> {
    let scheme = state.config.api.mapping_scheme;
    let mappings = if fresh {
        std::sync::Arc::new(ScopeMappings::load(&state.db, scheme, &scope.source_name, &scope.instance_name).await?)
    } else {
        state.mappings.scope(&state.db, &scope.source_name, &scope.instance_name).await?
    };
    let mut lookup = mappings.lookup(submission.values.keys(), &submission.org_unit);
    lookup.org_unit = translated_org_unit(state, &mappings, &submission.org_unit).await?;
    let api = &state.config.api;
    let defaults = aggregate::Defaults {
        data_set: Some(api.dhis2_data_set.as_str()).filter(|s| !s.is_empty()),
        attribute_option_combo: Some(api.dhis2_attribute_option_combo.as_str()).filter(|s| !s.is_empty()),
        register_completion: submitters_completion.or(api.register_completion).unwrap_or_default(),
        today: Utc::now().with_timezone(&state.config.server.timezone).date_naive(),
    };
    let mut built = aggregate::build(submission, &lookup, scheme, &defaults)?;
    resolve_attribute_option_combo(state, &mut built.payload)?;
    let org_unit = built.payload["orgUnit"].as_str().unwrap_or_default();
    let levels = levels_unless_assigned(state, built.payload["dataSet"].as_str());
    state.hierarchy.check(&state.db, org_unit, levels).await?;
    Ok(built)
}

/// The UID an org unit sent as something else stands for: an org-unit mapping's, or a code in
/// the synced hierarchy's.
async fn translated_org_unit(state: &AppState, mappings: &ScopeMappings, org_unit: &str) -> AppResult<Option<String>> {
    let mapped = mappings.lookup(std::iter::empty(), org_unit).org_unit;
    if mapped.is_some() || uid::is_valid(org_unit) {
        return Ok(mapped);
    }
    Ok(state.hierarchy.find(&state.db, org_unit).await?.map(|unit| unit.uid))
}

/// A body refused for its shape, with what is wrong with its org unit added: that is otherwise
/// checked only once the rest is sound, and one answer should name every bad field.
async fn with_org_unit_problems(
    state: &AppState,
    body: &Value,
    scope: &Scope,
    mut shape: AppError,
) -> AppResult<AppError> {
    let org_unit = body["orgUnit"].as_str().map(str::trim).filter(|o| !o.is_empty());
    let (AppError::BadRequest { detail, .. }, Some(org_unit)) = (&mut shape, org_unit) else {
        return Ok(shape);
    };
    let mappings = state.mappings.scope(&state.db, &scope.source_name, &scope.instance_name).await?;
    let unit = translated_org_unit(state, &mappings, org_unit).await?;
    let unit = unit.or_else(|| uid::is_valid(org_unit).then(|| org_unit.to_string()));
    let data_set =
        body["dataSet"].as_str().or(Some(state.config.api.dhis2_data_set.as_str()).filter(|d| !d.is_empty()));
    let problem = match unit {
        Some(unit) => state.hierarchy.check(&state.db, &unit, levels_unless_assigned(state, data_set)).await.err(),
        None => Some(aggregate::unmapped_org_unit(org_unit)),
    };
    match problem {
        Some(AppError::BadRequest { detail: more, .. }) => detail.extend(more),
        Some(other) => return Err(other),
        None => {}
    }
    Ok(shape)
}

/// The levels an org unit must be at, unless DHIS2's metadata says which units `data_set` is
/// for (then the screening checks that, at any level: a district's data set goes to districts).
fn levels_unless_assigned<'a>(state: &'a AppState, data_set: Option<&str>) -> Option<Levels<'a>> {
    let assigned = data_set.is_some_and(|ds| state.metadata.snapshot().data_set(ds).is_some());
    let api = &state.config.api;
    (!assigned).then_some(Levels { facility: api.dhis2_facility_level, allowed: &api.submission_levels })
}
