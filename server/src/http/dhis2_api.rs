//! The DHIS2-compatible API (`server.dhis2_api_path`, `/dhis2` by default): clients built for
//! DHIS2 change one URL and their data goes through the gateway's queue, retries, fan-out
//! and log. Answers use DHIS2's own shapes.
//!
//! - `POST /api/dataValueSets` (JSON, or DHIS2's CSV columns): checked against the synced
//!   hierarchy and (for partners) the mapped data elements, stored as a submission, and only
//!   the query parameters the gateway checks go on to DHIS2 (id schemes, safe import options;
//!   never `force`, `skipAudit` or `skipExistingCheck`, and `importStrategy=DELETE` only for
//!   admins and `server.dhis2_api_delete_allowed`). `async=true` answers at once with DHIS2's job message;
//!   otherwise the gateway waits up to `server.dhis2_api_sync_wait` seconds and returns
//!   DHIS2's answer as DHIS2 gave it, or, if DHIS2 has not answered by then, **202 Accepted**
//!   with the same job message, so a client can tell "queued" from "rejected" (409).
//! - `GET /api/system/tasks/DATAVALUE_IMPORT/{id}` and `/api/system/taskSummaries/...`: the
//!   job's notifications and ImportSummary, from the submission log.
//! - `POST /api/tracker` (async by default, as in DHIS2), `GET /api/tracker/jobs/{id}` and
//!   `/report` likewise.
//! - Metadata reads clients make before posting ([`crate::infra::dhis2::proxy`]: exact resources,
//!   checked parameters, answers without user details) go to the primary DHIS2 and are
//!   cached; while DHIS2 is down the cached answers are served. `/api/me` is the caller's own
//!   gateway identity, in DHIS2's shape.

use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::client;
use crate::access::identity::AuthUser;
use crate::access::users;
use crate::app::{AppState, no_primary};
use crate::http::auth::{Authorized, Submitter};
use crate::infra::dhis2::proxy::{self, MetadataRead, Refusal, Unanswered};
use crate::infra::dhis2::{Answer, TrackerMode, TransportError};
use crate::infra::error::AppError;
use crate::infra::uid;
use crate::metadata::check::Problem;
use crate::submissions::data_value_set::{self, ImportOptions};
use crate::submissions::jobs::{self, Job};
use crate::submissions::screen::Screening;
use crate::submissions::{self, Intake, tracker};
const DATAVALUE_IMPORT: &str = "DATAVALUE_IMPORT";
const TRACKER_IMPORT: &str = "TRACKER_IMPORT_JOB";

pub fn router() -> Router<AppState> {
    // Other methods on these paths are unsupported too, in DHIS2's shape.
    Router::new()
        .route("/api/dataValueSets", post(post_data_value_set).fallback(unsupported))
        .route("/api/system/tasks/DATAVALUE_IMPORT/{id}", get(task_notifications).fallback(unsupported))
        .route("/api/system/taskSummaries/DATAVALUE_IMPORT/{id}", get(task_summary).fallback(unsupported))
        .route("/api/tracker", post(post_tracker).fallback(unsupported))
        .route("/api/tracker/jobs/{id}", get(tracker_notifications).fallback(unsupported))
        .route("/api/tracker/jobs/{id}/report", get(tracker_report).fallback(unsupported))
        .route("/api/{*path}", get(metadata).fallback(unsupported))
        .fallback(unsupported)
}

/// DHIS2 serves every path also with `.json` appended, and its clients use that (dhis2.py
/// does on every read). The suffix is dropped before routing, so every route has both forms.
pub fn without_json_suffix(mut request: Request) -> Request {
    let uri = request.uri();
    if let Some(path) = uri.path().strip_suffix(".json") {
        let path_and_query = match uri.query() {
            Some(query) => format!("{path}?{query}"),
            None => path.to_string(),
        };
        let mut parts = uri.clone().into_parts();
        parts.path_and_query = path_and_query.parse().ok();
        if let Ok(stripped) = axum::http::Uri::from_parts(parts) {
            *request.uri_mut() = stripped;
        }
    }
    request
}

/// A failure in DHIS2's WebMessage shape.
pub struct WebError(StatusCode, String);

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        web_message(self.0, "ERROR", &self.1, None)
    }
}

impl From<AppError> for WebError {
    fn from(e: AppError) -> Self {
        let status = super::error::status(&e);
        let message = match &e {
            AppError::BadRequest { message, detail } | AppError::Unprocessable { message, detail }
                if !detail.is_empty() =>
            {
                format!("{message}: {}", detail.join("; "))
            }
            AppError::Internal(_) => "Internal error; the gateway's log has the details".into(),
            other => other.to_string(),
        };
        WebError(status, message)
    }
}

fn web_message(status: StatusCode, outcome: &str, message: &str, response: Option<Value>) -> Response {
    let mut body = json!({
        "httpStatus": status.canonical_reason().unwrap_or_default(),
        "httpStatusCode": status.as_u16(),
        "status": outcome,
        "message": message,
    });
    if let Some(response) = response {
        body["response"] = response;
    }
    (status, axum::Json(body)).into_response()
}

/// A JSON body as DHIS2 gave it.
fn raw_json(status: u16, body: String) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

type Caller = Result<Authorized<Submitter>, AppError>;

fn json_body(headers: &axum::http::HeaderMap, body: &Bytes) -> Result<Value, WebError> {
    super::extract::require_json(headers)?;
    serde_json::from_slice(body).map_err(|e| WebError(StatusCode::BAD_REQUEST, format!("JSON parse error: {e}")))
}

/// The query's `key=value` pairs.
fn query_pairs(uri: &axum::http::Uri) -> Vec<(String, String)> {
    form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes()).into_owned().collect()
}

/// Where the client reaches this API, for absolute URLs; relative when only the client's own
/// Host header could say (it is never believed).
fn base_of(state: &AppState, parts: &axum::http::request::Parts) -> String {
    let base = client::public_base(&state.config.server, parts).unwrap_or_default();
    format!("{base}{}", state.config.server.dhis2_api_path.trim())
}

/// Whether the caller may delete data in DHIS2 through this API.
fn may_delete(state: &AppState, caller: &AuthUser) -> bool {
    caller.role == dhis2gw_wire::Role::Admin
        || state.config.server.dhis2_api_delete_allowed.iter().any(|u| u.eq_ignore_ascii_case(&caller.username))
}

async fn post_data_value_set(
    State(state): State<AppState>,
    caller: Caller,
    OriginalUri(uri): OriginalUri,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Result<Response, WebError> {
    let caller = caller?;
    let options = ImportOptions::parse(&query_pairs(&uri), may_delete(&state, &caller))?;
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let body = if content_type.contains("csv") {
        data_value_set::from_csv(&body, options.first_row_is_header)?
    } else {
        json_body(&headers, &body)?
    };
    let refused = submissions::elements_out_of_scope(&state, &caller, &body, &options).await?;
    if !refused.is_empty() {
        return Ok(out_of_scope(&refused));
    }
    let mut body = body;
    let mut warnings = Vec::new();
    let values = body["dataValues"].as_array().map_or(0, Vec::len);
    if let Screening::Refused { problems, .. } =
        submissions::screen_data_value_set(&state, &caller, &mut body, &options, &mut warnings).await?
    {
        return Ok(refused_by_metadata(&problems, values));
    }
    if options.dry_run {
        // A dry run stores nothing: it is DHIS2's answer or nothing.
        let client = state.primary()?.clone();
        let query = [options.dhis2_query.as_str(), "dryRun=true"]
            .into_iter()
            .filter(|q| !q.is_empty())
            .collect::<Vec<_>>()
            .join("&");
        return dhis2s_answer(client.post_data_value_set(&body, &query).await, "for the dry run");
    }
    let job = uid::generate();
    let accepted = submissions::accept_data_value_set(&state, &caller, &body, &options, job.clone(), warnings).await?;
    let job_message = data_value_job(&job, &caller);
    if options.run_async {
        return Ok(web_message(StatusCode::OK, "OK", &format!("Initiated {DATAVALUE_IMPORT}"), Some(job_message)));
    }
    answer_or_queued(&state, accepted.submission_id, &job, job_message).await
}

/// DHIS2's answer as it gave it, to a request passed on that stores nothing (a dry run, a
/// validation); 503 saying `why` it was asked when DHIS2 could not be reached.
fn dhis2s_answer(answer: Result<Answer, TransportError>, why: &str) -> Result<Response, WebError> {
    match answer {
        Ok(answer) => Ok(raw_json(answer.status, answer.body)),
        Err(e) => {
            Err(WebError(StatusCode::SERVICE_UNAVAILABLE, format!("DHIS2 could not be reached {why}: {}", e.message)))
        }
    }
}

/// DHIS2's own answer to values whose data element the caller cannot reach (E7610, HTTP 409
/// with an ImportSummary naming each value by index), so a DHIS2 client reads it as usual.
fn out_of_scope(refused: &[(usize, String)]) -> Response {
    let conflicts: Vec<Value> = refused
        .iter()
        .map(|(index, element)| {
            json!({"object": element, "objects": {"dataElement": element},
                   "value": format!("Data element not found or not accessible: `{element}`"),
                   "errorCode": "E7610", "property": "dataElement", "indexes": [index]})
        })
        .collect();
    let description = "Import process completed with errors: data elements that no mapping of this gateway reaches";
    conflicts_answer(conflicts, refused.len(), description)
}

/// What a strict DHIS2 would answer to values the synced metadata refuses: every conflict
/// with DHIS2 2.43's code, the message in words and the values' indexes; nothing was stored.
fn refused_by_metadata(problems: &[Problem], values: usize) -> Response {
    if problems.is_empty() {
        // Only zeros DHIS2 does not store: it ignores them and calls that a success.
        let summary = json!({"responseType": "ImportSummary", "status": "SUCCESS",
            "description": "Import process completed successfully",
            "importCount": {"imported": 0, "updated": 0, "ignored": values, "deleted": 0}, "conflicts": []});
        return web_message(StatusCode::OK, "OK", "Import was successful.", Some(summary));
    }
    let conflicts = problems
        .iter()
        .map(|p| {
            json!({"object": p.field, "objects": {"field": p.field}, "value": p.reason, "errorCode": p.code.current,
                   "property": p.field, "indexes": p.indexes})
        })
        .collect();
    conflicts_answer(conflicts, values, "Import refused by the gateway: DHIS2's metadata does not allow these values")
}

/// An ImportSummary with status ERROR in DHIS2's 409 envelope.
fn conflicts_answer(conflicts: Vec<Value>, ignored: usize, description: &str) -> Response {
    let summary = json!({
        "responseType": "ImportSummary",
        "status": "ERROR",
        "description": description,
        "importCount": {"imported": 0, "updated": 0, "ignored": ignored, "deleted": 0},
        "conflicts": conflicts,
    });
    web_message(
        StatusCode::CONFLICT,
        "ERROR",
        "One more conflicts encountered, please check import summary.",
        Some(summary),
    )
}

/// DHIS2's job descriptor for a data value import.
fn data_value_job(job: &str, caller: &AuthUser) -> Value {
    json!({
        "responseType": "JobConfiguration",
        "name": DATAVALUE_IMPORT,
        "id": job,
        "created": chrono::Utc::now(),
        "jobType": DATAVALUE_IMPORT,
        "jobStatus": "SCHEDULED",
        "userUid": caller.uid,
        "relativeNotifierEndpoint": format!("/api/system/tasks/{DATAVALUE_IMPORT}/{job}"),
    })
}

/// 202: stored and queued in the gateway, DHIS2 has not answered yet.
fn queued(state: &AppState, job: &str, response: Value) -> Response {
    let wait = state.config.server.dhis2_api_sync_wait;
    let message = format!(
        "Queued in the gateway: DHIS2 did not answer within {wait} s. It will be delivered when DHIS2 is back; follow job {job}"
    );
    web_message(StatusCode::ACCEPTED, "OK", &message, Some(response))
}

/// DHIS2's notification list, newest first.
fn notifications(job_id: &str, job: Job, category: &str) -> Value {
    let note = |message: String, completed: bool, time: chrono::DateTime<chrono::Utc>| json!({"uid": uid::generate(), "level": "INFO", "category": category, "time": time, "message": message, "completed": completed});
    let queued = note(format!("Import queued in the gateway (job {job_id})"), false, chrono::Utc::now());
    match job.outcome {
        Some(outcome) => {
            let count = |k: &str| outcome.import_count.as_ref().and_then(|c| c[k].as_i64()).unwrap_or(0);
            let message = format!(
                "Import complete with status {}, {} created, {} updated, {} deleted, {} ignored",
                outcome.import_status.as_deref().unwrap_or(&outcome.status.to_uppercase()),
                count("imported"),
                count("updated"),
                count("deleted"),
                count("ignored"),
            );
            json!([note(message, true, outcome.at), queued])
        }
        None => json!([
            note(format!("Waiting for DHIS2 (the gateway's status: {})", job.status), false, chrono::Utc::now()),
            queued
        ]),
    }
}

async fn task_notifications(state: State<AppState>, caller: Caller, job: Path<String>) -> Result<Response, WebError> {
    job_notifications(state, caller, job, "aggregate", DATAVALUE_IMPORT).await
}

/// The bare ImportSummary DHIS2 gave, once delivered.
async fn task_summary(state: State<AppState>, caller: Caller, job: Path<String>) -> Result<Response, WebError> {
    let outcome = delivered(state, caller, job, "aggregate").await?;
    let body: Value = serde_json::from_str(&outcome.body).unwrap_or(Value::Null);
    let summary = if body["response"]["responseType"] == "ImportSummary" { body["response"].clone() } else { body };
    Ok(axum::Json(summary).into_response())
}

/// A job's notifications, newest first.
async fn job_notifications(
    State(state): State<AppState>,
    caller: Caller,
    Path(job): Path<String>,
    kind: &str,
    category: &str,
) -> Result<Response, WebError> {
    let caller = caller?;
    let found = find_job(&state, &caller, &job, kind).await?;
    Ok(axum::Json(notifications(&job, found, category)).into_response())
}

/// DHIS2's answer to the job's submission; 404 until there is one.
async fn delivered(
    State(state): State<AppState>,
    caller: Caller,
    Path(job): Path<String>,
    kind: &str,
) -> Result<jobs::Outcome, WebError> {
    let caller = caller?;
    find_job(&state, &caller, &job, kind)
        .await?
        .outcome
        .ok_or_else(|| WebError(StatusCode::NOT_FOUND, format!("Job {job} has no summary yet: DHIS2 has not answered")))
}

/// The job, if the caller may see it; DHIS2's 404 otherwise.
async fn find_job(state: &AppState, caller: &AuthUser, job: &str, kind: &str) -> Result<Job, WebError> {
    jobs::find(&state.db, caller, job, kind)
        .await?
        .ok_or_else(|| WebError(StatusCode::NOT_FOUND, format!("Job {job} not found")))
}

/// DHIS2's answer once the primary's delivery is final, or 202 with `job_message` if it is
/// not within `server.dhis2_api_sync_wait`.
async fn answer_or_queued(
    state: &AppState,
    submission: i64,
    job: &str,
    job_message: Value,
) -> Result<Response, WebError> {
    let wait = Duration::from_secs(state.config.server.dhis2_api_sync_wait);
    Ok(match jobs::wait_for_outcome(&state.db, submission, wait).await? {
        Some(outcome) => raw_json(outcome.http_status, outcome.body),
        None => queued(state, job, job_message),
    })
}

async fn post_tracker(
    State(state): State<AppState>,
    caller: Caller,
    OriginalUri(uri): OriginalUri,
    request: Request,
) -> Result<Response, WebError> {
    let caller = caller?;
    let (parts, body) = request.into_parts();
    let options = tracker::ImportOptions::parse(&query_pairs(&uri))?;
    let body =
        axum::body::to_bytes(body, state.config.server.max_body_size).await.map_err(|_| AppError::PayloadTooLarge)?;
    let body = json_body(&parts.headers, &body)?;
    if options.validate_only {
        let client = state.primary()?.clone();
        return dhis2s_answer(client.post_tracker(&body, TrackerMode::Validate).await, "to validate");
    }
    let job = uid::generate();
    let Intake::Accepted(accepted) =
        submissions::accept_tracker(&state, &caller, &body, false, None, Some(job.clone())).await?
    else {
        unreachable!("only validation answers without storing");
    };
    let location = format!("{}/api/tracker/jobs/{job}", base_of(&state, &parts));
    let job_message = json!({"responseType": "TrackerJobWebMessageResponse", "id": job, "location": location});
    if options.run_async {
        return Ok(web_message(StatusCode::OK, "OK", "Tracker job added", Some(job_message)));
    }
    answer_or_queued(&state, accepted.submission_id, &job, job_message).await
}

async fn tracker_notifications(
    state: State<AppState>,
    caller: Caller,
    job: Path<String>,
) -> Result<Response, WebError> {
    job_notifications(state, caller, job, "tracker", TRACKER_IMPORT).await
}

async fn tracker_report(state: State<AppState>, caller: Caller, job: Path<String>) -> Result<Response, WebError> {
    Ok(raw_json(200, delivered(state, caller, job, "tracker").await?.body))
}

/// Metadata reads, checked ([`MetadataRead`]), from DHIS2 through a cache; stale answers
/// while DHIS2 is down.
async fn metadata(State(state): State<AppState>, caller: Caller, request: Request) -> Result<Response, WebError> {
    let caller = caller?;
    // The path as it came on the wire, still encoded: it is checked before anything decodes it.
    let raw_path = request.uri().path().strip_prefix("/api/").unwrap_or_default();
    let read = match MetadataRead::parse(raw_path, request.uri().query()) {
        Ok(read) => read,
        Err(Refusal::NotSupported) => return Err(unsupported_error()),
        Err(Refusal::BadParameter(message)) => return Err(WebError(StatusCode::BAD_REQUEST, message)),
    };
    let Some(upstream) = read.upstream() else {
        return me(&state, &caller).await;
    };
    let ttl = Duration::from_secs(state.config.server.dhis2_api_cache_ttl);
    match proxy::read_through(state.dhis2.as_deref(), &state.dhis2_api_cache, ttl, &read, &upstream).await {
        Ok((status, body)) => Ok(raw_json(status, body)),
        Err(Unanswered::NoServer) => Err(no_primary().into()),
        Err(Unanswered::Down(why)) => Err(WebError(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("DHIS2 is unavailable ({why}) and nothing is cached for this request"),
        )),
    }
}

/// `/api/me`: the caller as the gateway knows it, in DHIS2's shape. DHIS2's own `/me` would
/// describe the gateway's service account, which is none of a partner's business.
async fn me(state: &AppState, caller: &AuthUser) -> Result<Response, WebError> {
    let user = users::get(&state.db, &caller.uid).await?;
    let name = format!("{} {}", user.firstname, user.lastname).trim().to_string();
    let name = if name.is_empty() { user.username.clone() } else { name };
    let authorities: &[&str] = if caller.role == dhis2gw_wire::Role::Viewer {
        &[]
    } else {
        &["F_DATAVALUE_ADD", "F_TRACKED_ENTITY_INSTANCE_ADD"]
    };
    Ok(axum::Json(json!({
        "id": user.uid,
        "username": user.username,
        "firstName": user.firstname,
        "surname": user.lastname,
        "name": name,
        "displayName": name,
        "email": user.email,
        "phoneNumber": user.telephone,
        "authorities": authorities,
        "organisationUnits": [],
        "userRoles": [],
        "userGroups": [],
        "settings": {},
    }))
    .into_response())
}

fn unsupported_error() -> WebError {
    WebError(
        StatusCode::NOT_FOUND,
        "Not supported by the dhis2gw gateway. It serves POST /api/dataValueSets, GET /api/system/tasks/DATAVALUE_IMPORT/{id}, \
         GET /api/system/taskSummaries/DATAVALUE_IMPORT/{id}, POST /api/tracker, GET /api/tracker/jobs/{id}[/report], and reads \
         of /api/system/info, /api/me, /api/dataSets, /api/dataElements, /api/categoryCombos and /api/organisationUnits"
            .into(),
    )
}

async fn unsupported() -> WebError {
    unsupported_error()
}
