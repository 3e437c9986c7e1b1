//! Intake in standards: `POST /adx` (IHE ADX), `POST /fhir/MeasureReport` and `POST /fhir`
//! (FHIR R4 MeasureReports, alone or in a Bundle). Each document becomes ordinary
//! submissions ([`crate::submissions::document`]); each partner hears back in its standard:
//! ADX senders in the gateway's JSON, FHIR senders in `OperationOutcome`s and Bundles.

use axum::body::Bytes;
use axum::extract::{OriginalUri, State};
use axum::http::header::{CONTENT_TYPE, LOCATION};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use dhis2gw_wire::routes as paths;
use dhis2gw_wire::{AggregateAccepted, DocumentAccepted, ErrorBody};
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::aggregate::idempotency_key;
use super::error::status;
use super::extract::{Query, explicit_credentials};
use crate::app::AppState;
use crate::http::auth::{Authorized, Submitter};
use crate::infra::error::{AppError, AppResult};
use crate::submissions::document::{Format, Options, Problem, Refused, Resolver};
use crate::submissions::{self, adx, fhir};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(submit_adx)).routes(routes!(submit_fhir)).routes(routes!(submit_measure_report))
}

/// Submit an IHE ADX message (`application/adx+xml`).
///
/// Each `group` becomes a submission, as if posted to `/aggregate`: the data element code and
/// every category and option of a `dataValue` (its group's included) form its key,
/// `MAL01[AGE=0-4,SEX=F]`, which the mappings translate. Every group is checked before any is
/// stored; a problem refuses the message and is named by line and element. The message keeps
/// its groups' XML beside their submissions.
#[utoipa::path(
    post, path = paths::ADX, tag = "submissions", request_body(content = String, content_type = "application/adx+xml"),
    params(Options, ("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe key for the whole message")),
    responses(
        (status = 202, body = DocumentAccepted, description = "Every group stored and queued"),
        (status = 400, body = ErrorBody, description = "Not ADX, or a field is invalid; `detail` names each by line"),
        (status = 409, body = ErrorBody, description = "Idempotency-Key reused with a different message"),
        (status = 415, body = ErrorBody, description = "Not sent as XML"),
        (status = 422, body = ErrorBody, description = "Nothing in some group could be mapped"),
    ),
    security(("bearer" = []), ("token" = []), ("basic" = []))
)]
async fn submit_adx(
    State(state): State<AppState>,
    caller: Authorized<Submitter>,
    Query(options): Query<Options>,
    headers: HeaderMap,
    body: Bytes,
) -> AppResult<Response> {
    let mime = media_type(&headers);
    if !matches!(mime.as_str(), "application/adx+xml" | "application/xml" | "text/xml")
        && !explicit_credentials(&headers)
    {
        return Err(AppError::UnsupportedMediaType("Send the message with Content-Type: application/adx+xml".into()));
    }
    let key = idempotency_key(&headers)?;
    let text = utf8(&body)?;
    let schemes = options.schemes()?;
    let snapshot = state.metadata.snapshot();
    let resolver = Resolver { schemes, snapshot: &snapshot };
    let refused = |r: Refused| adx_refusal(r);
    let parts = adx::read(text, &resolver).map_err(|problems| refused(Refused::unreadable(problems)))?;
    let scope = options.scope();
    let accepted =
        submissions::accept_document(&state, &caller, Format::Adx, text, &parts, &scope, key).await.map_err(refused)?;
    let submissions: Vec<AggregateAccepted> = accepted
        .into_iter()
        .map(|(mut accepted, warnings)| {
            accepted.warnings = warnings.iter().map(placed).collect();
            accepted
        })
        .collect();
    let message = format!("ADX message with {} group(s) queued for processing", submissions.len());
    Ok((StatusCode::ACCEPTED, axum::Json(DocumentAccepted { message, submissions })).into_response())
}

/// `line 7 <dataValue>: dataValues.MAL01[SEX=F]: no mapping; left out`
fn placed(problem: &Problem) -> String {
    if problem.place.is_empty() { problem.detail.clone() } else { format!("{}: {}", problem.place, problem.detail) }
}

/// An ADX refusal: the gateway's JSON error, each problem with its line.
fn adx_refusal(refused: Refused) -> AppError {
    let detail = refused.problems.iter().map(placed).collect();
    match refused.error {
        AppError::BadRequest { message, .. } => AppError::BadRequest { message, detail },
        AppError::Unprocessable { message, .. } => AppError::Unprocessable { message, detail },
        other => other,
    }
}

/// Submit one FHIR R4 MeasureReport (`application/fhir+json`).
///
/// `measure` names the data set, `subject` (or `reporter`) the org unit, `period` the period;
/// group codes with their stratifier categories and options form the keys the mappings
/// translate. Answers 202 with `Location` (the submission in the log) and an
/// `OperationOutcome` with the submission's id and any warnings; problems come back as an
/// `OperationOutcome` with one issue per element, its FHIRPath in `expression`.
#[utoipa::path(
    post, path = paths::FHIR_MEASURE_REPORT, tag = "submissions",
    request_body(content = Object, content_type = "application/fhir+json"),
    params(Options, ("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe key")),
    responses(
        (status = 202, body = Object, description = "Stored and queued: an OperationOutcome naming the submission"),
        (status = 400, body = Object, description = "An OperationOutcome, an issue per bad element"),
        (status = 422, body = Object, description = "An OperationOutcome: nothing could be mapped"),
    ),
    security(("bearer" = []), ("token" = []), ("basic" = []))
)]
async fn submit_measure_report(
    state: State<AppState>,
    caller: Result<Authorized<Submitter>, AppError>,
    options: Result<Query<Options>, AppError>,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    fhir_intake(state, caller, options, uri, headers, body, fhir::read_measure_report).await.unwrap_or_else(outcome)
}

/// Submit FHIR R4 MeasureReports in a Bundle (`batch`, `transaction` or `collection`), or one alone.
///
/// Every report is checked before any is stored. A Bundle is answered with a `batch-response`
/// (or `transaction-response`) Bundle: per entry `202 Accepted`, the submission's `location`
/// and an `outcome` with its warnings.
#[utoipa::path(
    post, path = paths::FHIR, tag = "submissions", request_body(content = Object, content_type = "application/fhir+json"),
    params(Options, ("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe key for the whole Bundle")),
    responses(
        (status = 200, body = Object, description = "A Bundle answering each entry"),
        (status = 202, body = Object, description = "A MeasureReport alone: as POST /fhir/MeasureReport"),
        (status = 400, body = Object, description = "An OperationOutcome, an issue per bad element"),
        (status = 422, body = Object, description = "An OperationOutcome: nothing could be mapped"),
    ),
    security(("bearer" = []), ("token" = []), ("basic" = []))
)]
async fn submit_fhir(
    state: State<AppState>,
    caller: Result<Authorized<Submitter>, AppError>,
    options: Result<Query<Options>, AppError>,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    fhir_intake(state, caller, options, uri, headers, body, fhir::read).await.unwrap_or_else(outcome)
}

type Reader = fn(&str, &Resolver) -> Result<Vec<submissions::document::Part>, Vec<Problem>>;

async fn fhir_intake(
    State(state): State<AppState>,
    caller: Result<Authorized<Submitter>, AppError>,
    options: Result<Query<Options>, AppError>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
    read: Reader,
) -> Result<Response, Refused> {
    let caller = caller?;
    let Query(options) = options?;
    let mime = media_type(&headers);
    if !matches!(mime.as_str(), "application/fhir+json" | "application/json") && !explicit_credentials(&headers) {
        return Err(AppError::UnsupportedMediaType(
            "Send the resource with Content-Type: application/fhir+json".into(),
        )
        .into());
    }
    let key = idempotency_key(&headers)?;
    let text = utf8(&body)?;
    let schemes = options.schemes()?;
    let snapshot = state.metadata.snapshot();
    let parts = read(text, &Resolver { schemes, snapshot: &snapshot }).map_err(Refused::unreadable)?;
    let scope = options.scope();
    let accepted = submissions::accept_document(&state, &caller, Format::Fhir, text, &parts, &scope, key).await?;
    // Submissions are read at `…/logs/{id}` beside wherever this route is mounted.
    let base = uri.path().rsplit_once("/fhir").map_or("", |(base, _)| base).to_string();
    let location = |id: i64| format!("{base}{}", paths::fill(paths::LOG, &[&id]));
    let is_bundle = serde_json::from_str::<Value>(text).is_ok_and(|v| v["resourceType"] == "Bundle");
    if !is_bundle {
        let (accepted, warnings) = accepted.into_iter().next().expect("a report is one part");
        let mut response = fhir_json(StatusCode::ACCEPTED, success_outcome(&accepted, &warnings)).into_response();
        if let Ok(value) = HeaderValue::from_str(&location(accepted.submission_id)) {
            response.headers_mut().insert(LOCATION, value);
        }
        return Ok(response);
    }
    let kind = serde_json::from_str::<Value>(text)
        .ok()
        .and_then(|v| v["type"].as_str().map(str::to_string))
        .filter(|t| t == "transaction")
        .map_or("batch-response", |_| "transaction-response");
    let entries: Vec<Value> = accepted
        .iter()
        .map(|(accepted, warnings)| {
            json!({"response": {
                "status": "202 Accepted",
                "location": location(accepted.submission_id),
                "outcome": success_outcome(accepted, warnings),
            }})
        })
        .collect();
    Ok(fhir_json(StatusCode::OK, json!({"resourceType": "Bundle", "type": kind, "entry": entries})))
}

/// An OperationOutcome for a stored report: its submission, then each warning.
fn success_outcome(accepted: &AggregateAccepted, warnings: &[Problem]) -> Value {
    let mut issues = vec![json!({
        "severity": "information",
        "code": "informational",
        "diagnostics": format!("Stored as submission {} (task {}); queued for DHIS2", accepted.submission_id, accepted.task_id),
    })];
    issues.extend(warnings.iter().map(|w| issue("warning", "not-found", w)));
    json!({"resourceType": "OperationOutcome", "issue": issues})
}

fn issue(severity: &str, code: &str, problem: &Problem) -> Value {
    let mut issue = json!({"severity": severity, "code": code, "diagnostics": problem.detail});
    if !problem.place.is_empty() {
        issue["expression"] = json!([problem.place]);
    }
    issue
}

/// A refusal as an OperationOutcome, with the status and headers (`Retry-After`,
/// `WWW-Authenticate`) the gateway's JSON error would have had.
fn outcome(refused: Refused) -> Response {
    let code = status(&refused.error);
    let issue_code = match code.as_u16() {
        400 => "invalid",
        401 => "login",
        403 => "forbidden",
        404 => "not-found",
        409 => "conflict",
        413 => "too-costly",
        415 => "not-supported",
        422 => "processing",
        429 => "throttled",
        503 => "transient",
        _ => "exception",
    };
    let message = match &refused.error {
        AppError::Internal(_) => "Internal server error".to_string(),
        other => other.to_string(),
    };
    let problems = match &refused.error {
        AppError::BadRequest { detail, .. } | AppError::Unprocessable { detail, .. } if refused.problems.is_empty() => {
            detail.iter().map(|d| Problem::new("", d.clone())).collect()
        }
        _ => refused.problems,
    };
    // The JSON answer's headers; it also logs an internal error once.
    let mut headers = refused.error.into_response().headers().clone();
    headers.remove(CONTENT_TYPE);
    let mut issues: Vec<Value> = problems.iter().map(|p| issue("error", issue_code, p)).collect();
    if issues.is_empty() {
        issues.push(json!({"severity": "error", "code": issue_code, "diagnostics": message}));
    }
    let mut response = fhir_json(code, json!({"resourceType": "OperationOutcome", "issue": issues}));
    response.headers_mut().extend(headers);
    response
}

fn fhir_json(code: StatusCode, body: Value) -> Response {
    let mut response = (code, axum::Json(body)).into_response();
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/fhir+json"));
    response
}

/// The body's media type, lower case, without parameters.
fn media_type(headers: &HeaderMap) -> String {
    let value = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase()
}

fn utf8(body: &[u8]) -> AppResult<&str> {
    let text = std::str::from_utf8(body).map_err(|e| AppError::invalid_field("body", format!("is not UTF-8: {e}")))?;
    if text.trim().is_empty() {
        return Err(AppError::invalid_field("body", "is empty"));
    }
    Ok(text)
}
