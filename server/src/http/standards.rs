//! Intake of documents: `POST /adx` (IHE ADX), `POST /fhir/MeasureReport` and `POST /fhir`
//! (FHIR R4 MeasureReports, alone or in a Bundle), and data values in a spreadsheet
//! (`POST /aggregate/file`, previewed by `POST /aggregate/file/preview`, as the console
//! uploads them). Each document becomes ordinary submissions
//! ([`crate::submissions::document`]); each sender hears back in its standard: ADX and
//! spreadsheets in the gateway's JSON, FHIR senders in `OperationOutcome`s and Bundles.

use axum::body::Bytes;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, OriginalUri, State};
use axum::http::header::{CONTENT_TYPE, LOCATION};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use dhis2gw_wire::routes as paths;
use dhis2gw_wire::{
    AggregateAccepted, DataFilePreview, DocumentAccepted, DocumentDryRun, DryRunResult, ErrorBody, PreviewedSubmission,
};
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::aggregate::idempotency_key;
use super::download::{XLSX, download};
use super::error::status;
use super::extract::{Query, explicit_credentials, uploaded_file};
use crate::app::AppState;
use crate::http::auth::{Authorized, Submitter};
use crate::infra::error::{AppError, AppResult};
use crate::infra::sheet;
use crate::orgunits;
use crate::submissions::document::{Format, Options, Part, Problem, Refused, Resolver};
use crate::submissions::{self, adx, data_file, fhir};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(submit_adx))
        .routes(routes!(submit_fhir))
        .routes(routes!(submit_measure_report))
        .routes(routes!(submit_file))
        .routes(routes!(preview_file))
        .routes(routes!(file_template))
}

/// Submit an IHE ADX message (`application/adx+xml`).
///
/// Each `group` becomes a submission, as if posted to `/aggregate`: the data element code and
/// every category and option of a `dataValue` (its group's included) form its key,
/// `MAL01[AGE=0-4,SEX=F]`, which the mappings translate. Every group is checked before any is
/// stored; a problem refuses the message and is named by line and element. The message keeps
/// its groups' XML beside their submissions. With `?dryRun=true` nothing is stored: each group
/// is checked, then DHIS2 is asked to import it with `dryRun=true`, as DHIS2's own ADX import
/// does.
#[utoipa::path(
    post, path = paths::ADX, tag = "submissions", request_body(content = String, content_type = "application/adx+xml"),
    params(Options, ("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe key for the whole message")),
    responses(
        (status = 200, body = DocumentDryRun, description = "With dryRun: each group's payload and DHIS2's verdict; nothing stored"),
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
    require_media(&headers, &["application/adx+xml", "application/xml", "text/xml"])?;
    let key = idempotency_key(&headers)?;
    let text = utf8(&body)?;
    let parts = read_document(&state, &options, &body, adx::read)
        .await?
        .map_err(|problems| placed_refusal(Refused::unreadable(problems)))?;
    let sent = Sent { format: Format::Adx, name: "ADX message", text, parts: &parts };
    take_placed(&state, &caller, sent, &options, key).await
}

/// A document answered in the gateway's JSON, as read.
struct Sent<'a> {
    format: Format,
    /// What answers call it: `ADX message`, the file's name.
    name: &'a str,
    text: &'a str,
    parts: &'a [Part],
}

/// A document's parts taken (202, [`DocumentAccepted`]) or, with `dryRun`, checked by DHIS2
/// and not stored (200, [`DocumentDryRun`]); each warning placed (`line 7 <dataValue>: …`),
/// a refusal in the gateway's JSON with each problem placed.
async fn take_placed(
    state: &AppState,
    caller: &Authorized<Submitter>,
    sent: Sent<'_>,
    options: &Options,
    key: Option<&str>,
) -> AppResult<Response> {
    let Sent { format, name, text, parts } = sent;
    let scope = options.scope();
    if options.dry_run {
        let checked = submissions::check_document(state, caller, parts, &scope).await.map_err(placed_refusal)?;
        let submissions = with_placed_warnings(checked, |result: &mut DryRunResult| &mut result.warnings);
        let message = format!("Dry run: {name} checked as {} submission(s); nothing was stored", submissions.len());
        return Ok(axum::Json(DocumentDryRun { message, submissions }).into_response());
    }
    let accepted =
        submissions::accept_document(state, caller, format, text, parts, &scope, key).await.map_err(placed_refusal)?;
    let accepted = with_placed_warnings(accepted, |accepted: &mut AggregateAccepted| &mut accepted.warnings);
    let message = format!("{name}: {} submission(s) queued for processing", accepted.len());
    Ok((StatusCode::ACCEPTED, axum::Json(DocumentAccepted { message, submissions: accepted })).into_response())
}

/// Each answer with its `warnings` set to the problems given, placed (`line 7 <dataValue>: …`).
fn with_placed_warnings<T>(answers: Vec<(T, Vec<Problem>)>, warnings: fn(&mut T) -> &mut Vec<String>) -> Vec<T> {
    answers
        .into_iter()
        .map(|(mut answer, problems)| {
            *warnings(&mut answer) = problems.iter().map(placed).collect();
            answer
        })
        .collect()
}

/// `line 7 <dataValue>: dataValues.MAL01[SEX=F]: no mapping; left out`
fn placed(problem: &Problem) -> String {
    if problem.place.is_empty() { problem.detail.clone() } else { format!("{}: {}", problem.place, problem.detail) }
}

/// A refusal as the gateway's JSON error, each problem with its place.
fn placed_refusal(refused: Refused) -> AppError {
    let detail = refused.problems.iter().map(placed).collect();
    match refused.error {
        AppError::BadRequest { message, .. } => AppError::BadRequest { message, detail },
        AppError::Unprocessable { message, .. } => AppError::Unprocessable { message, detail },
        other => other,
    }
}

/// Submit data values in a spreadsheet (multipart field `file`: `.csv`, `.xlsx`, `.xls`, `.ods`).
///
/// A row per value: `data_element` (a data element code or mapping code), optional
/// `category_option_combo` (the key is then `CODE.COC`), `org_unit`, `period`, `value`, and
/// optional `attribute_option_combo`, `comment` and `data_set`. The rows of each data set, org
/// unit, period and attribute option combo become one submission, checked as `/aggregate`
/// checks a body; every one is checked before any is stored, and problems name their rows.
/// With `?dryRun=true` nothing is stored and DHIS2 checks each submission (`dryRun=true`).
#[utoipa::path(
    post, path = paths::AGGREGATE_FILE, tag = "submissions", params(Options,
        ("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe key for the whole file")),
    request_body(content_type = "multipart/form-data", description = "field `file`: the spreadsheet"),
    responses(
        (status = 200, body = DocumentDryRun, description = "With dryRun: each submission's payload and DHIS2's verdict; nothing stored"),
        (status = 202, body = DocumentAccepted, description = "Every submission of the file stored and queued"),
        (status = 400, body = ErrorBody, description = "A file or row that cannot be taken; `detail` names each row"),
        (status = 422, body = ErrorBody, description = "Nothing could be mapped for some org unit and period"),
    ),
    security(("bearer" = []), ("token" = []), ("basic" = []))
)]
async fn submit_file(
    State(state): State<AppState>,
    caller: Authorized<Submitter>,
    Query(options): Query<Options>,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> AppResult<Response> {
    let key = idempotency_key(&headers)?;
    let (name, parts) = file_parts(&state, &options, multipart).await?;
    // What makes a repeat the same file: its rows as kept.
    let text: String = parts.iter().map(|p| p.text.as_str()).collect();
    let sent = Sent { format: Format::Spreadsheet, name: &name, text: &text, parts: &parts };
    take_placed(&state, &caller, sent, &options, key).await
}

/// What a data file would become (as `POST /aggregate/file`), submission by submission, with
/// the same checks; nothing is stored.
#[utoipa::path(
    post, path = paths::AGGREGATE_FILE_PREVIEW, tag = "submissions", params(Options),
    request_body(content_type = "multipart/form-data", description = "field `file`: the spreadsheet"),
    responses(
        (status = 200, body = DataFilePreview),
        (status = 400, body = ErrorBody, description = "A file or row that cannot be read; `detail` names each row"),
    ),
    security(("bearer" = []), ("token" = []), ("basic" = []))
)]
async fn preview_file(
    State(state): State<AppState>,
    caller: Authorized<Submitter>,
    Query(options): Query<Options>,
    multipart: Result<Multipart, MultipartRejection>,
) -> AppResult<axum::Json<DataFilePreview>> {
    if options.dry_run {
        return Err(AppError::invalid_field(
            "dryRun",
            "a preview never stores anything; send dryRun=true to POST /aggregate/file to have DHIS2 check the file",
        ));
    }
    let (_, parts) = file_parts(&state, &options, multipart).await?;
    let previews = submissions::preview_document(&state, &caller, &parts, &options.scope()).await?;
    let snapshot = state.metadata.snapshot();
    let mut units: Vec<String> =
        previews.iter().flatten().filter_map(|b| b.payload["orgUnit"].as_str().map(str::to_string)).collect();
    units.sort();
    units.dedup();
    let names = orgunits::names(&state.db, &units).await?;
    let mut preview = DataFilePreview { submissions: Vec::with_capacity(parts.len()), ready: true };
    for (part, outcome) in parts.iter().zip(previews) {
        let text = |field: &str| part.body[field].as_str().map(str::to_string);
        let mut shown = PreviewedSubmission {
            rows: part.place.clone(),
            data_set: text("dataSet"),
            org_unit: text("orgUnit"),
            period: text("period"),
            ..Default::default()
        };
        match outcome {
            Ok(built) => {
                let payload = &built.payload;
                shown.data_set = payload["dataSet"].as_str().map(str::to_string);
                shown.org_unit = payload["orgUnit"].as_str().map(str::to_string);
                shown.values = payload["dataValues"].as_array().map_or(0, Vec::len);
                shown.warnings = part.placed(&built.warnings).iter().map(placed).collect();
                shown.payload = Some(built.payload);
            }
            Err(refused) => {
                preview.ready = false;
                shown.problems = refused.problems.iter().map(placed).collect();
            }
        }
        shown.data_set_name = shown.data_set.as_deref().and_then(|d| snapshot.name_of(d)).map(str::to_string);
        shown.org_unit_name = shown.org_unit.as_ref().and_then(|o| names.get(o)).map(|(name, _)| name.clone());
        preview.submissions.push(shown);
    }
    Ok(axum::Json(preview))
}

/// An empty data file (xlsx) with the header row, to fill in and upload.
#[utoipa::path(
    get, path = paths::AGGREGATE_FILE_TEMPLATE, tag = "submissions",
    responses((status = 200, content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", description = "dhis2gw_data_values.xlsx")),
    security(("bearer" = []), ("token" = []), ("basic" = []))
)]
async fn file_template(_caller: Authorized<Submitter>) -> AppResult<Response> {
    let bytes = sheet::with_header("Data values", &data_file::COLUMNS)
        .and_then(|mut workbook| workbook.save_to_buffer())
        .map_err(|e| AppError::Internal(e.into()))?;
    Ok(download(bytes, XLSX, "dhis2gw_data_values.xlsx"))
}

/// An uploaded data file's name and parts; a 400 naming each row that cannot be read.
async fn file_parts(
    state: &AppState,
    options: &Options,
    multipart: Result<Multipart, MultipartRejection>,
) -> AppResult<(String, Vec<Part>)> {
    let (name, bytes) = uploaded_file(multipart).await?;
    let schemes = options.schemes()?;
    let format = sheet::Format::of_name(&name);
    // Parsing a large workbook is CPU work: keep it off the async runtime's threads.
    let rows = tokio::task::spawn_blocking(move || sheet::read(&bytes, format, &data_file::LAYOUT))
        .await
        .map_err(|e| AppError::Internal(e.into()))??;
    let snapshot = state.metadata.snapshot();
    let parts = data_file::parts(rows, &Resolver { schemes, snapshot: &snapshot })
        .map_err(|problems| placed_refusal(Refused::unreadable(problems)))?;
    Ok((name, parts))
}

/// Submit one FHIR R4 MeasureReport (`application/fhir+json`).
///
/// `measure` names the data set, `subject` (or `reporter`) the org unit, `period` the period;
/// group codes with their stratifier categories and options form the keys the mappings
/// translate. Answers 202 with `Location` (the submission in the log) and an
/// `OperationOutcome` with the submission's id and any warnings; problems come back as an
/// `OperationOutcome` with one issue per element, its FHIRPath in `expression`. With
/// `?dryRun=true` nothing is stored: DHIS2 checks the report (`dryRun=true`) and the answer is
/// 200 with an `OperationOutcome` of its verdict, each conflict at its element.
#[utoipa::path(
    post, path = paths::FHIR_MEASURE_REPORT, tag = "submissions",
    request_body(content = Object, content_type = "application/fhir+json"),
    params(Options, ("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe key")),
    responses(
        (status = 200, body = Object, description = "With dryRun: an OperationOutcome with DHIS2's verdict; nothing stored"),
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
/// and an `outcome` with its warnings; with `?dryRun=true`, `200 OK` and the dry run's outcome.
#[utoipa::path(
    post, path = paths::FHIR, tag = "submissions", request_body(content = Object, content_type = "application/fhir+json"),
    params(Options, ("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe key for the whole Bundle")),
    responses(
        (status = 200, body = Object, description = "A Bundle answering each entry; with dryRun, a report alone gets its OperationOutcome"),
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

type Reader = fn(&str, &Resolver) -> Result<Vec<Part>, Vec<Problem>>;

/// A document (checked to be UTF-8 text) read into its parts, off the async runtime's threads:
/// a message of thousands of values is parsed and resolved against the metadata for long
/// enough to hold up every other request on the thread.
async fn read_document(
    state: &AppState,
    options: &Options,
    body: &Bytes,
    read: Reader,
) -> AppResult<Result<Vec<Part>, Vec<Problem>>> {
    let schemes = options.schemes()?;
    let snapshot = state.metadata.snapshot();
    let body = body.clone();
    tokio::task::spawn_blocking(move || {
        let text = std::str::from_utf8(&body).unwrap_or_default();
        read(text, &Resolver { schemes, snapshot: &snapshot })
    })
    .await
    .map_err(|e| AppError::Internal(e.into()))
}

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
    require_media(&headers, &["application/fhir+json", "application/json"])?;
    let key = idempotency_key(&headers)?;
    let text = utf8(&body)?;
    let parts = read_document(&state, &options, &body, read).await?.map_err(Refused::unreadable)?;
    let scope = options.scope();
    // Submissions are read at `…/logs/{id}` beside wherever this route is mounted.
    let base = uri.path().rsplit_once("/fhir").map_or("", |(base, _)| base).to_string();
    // Each report's answer: where the submission is in the log (none in a dry run), its outcome.
    let answers: Vec<(Option<String>, Value)> = if options.dry_run {
        let checked = submissions::check_document(&state, &caller, &parts, &scope).await?;
        checked
            .iter()
            .zip(&parts)
            .map(|((result, warnings), part)| (None, dry_run_outcome(result, part, warnings)))
            .collect()
    } else {
        let accepted = submissions::accept_document(&state, &caller, Format::Fhir, text, &parts, &scope, key).await?;
        accepted
            .iter()
            .map(|(accepted, warnings)| {
                let location = format!("{base}{}", paths::fill(paths::LOG, &[&accepted.submission_id]));
                (Some(location), success_outcome(accepted, warnings))
            })
            .collect()
    };
    // A Bundle's type, read as it was taken; none for a report alone.
    let bundle_type = serde_json::from_str::<Value>(text)
        .ok()
        .filter(|v| v["resourceType"] == "Bundle")
        .map(|v| v["type"].as_str().unwrap_or_default().to_string());
    let Some(bundle_type) = bundle_type else {
        let (location, outcome) = answers.into_iter().next().expect("a report is one part");
        let Some(location) = location else { return Ok(fhir_json(StatusCode::OK, outcome)) };
        let mut response = fhir_json(StatusCode::ACCEPTED, outcome);
        if let Ok(value) = HeaderValue::from_str(&location) {
            response.headers_mut().insert(LOCATION, value);
        }
        return Ok(response);
    };
    let kind = if bundle_type == "transaction" { "transaction-response" } else { "batch-response" };
    let entries: Vec<Value> = answers
        .into_iter()
        .map(|(location, outcome)| {
            let mut response = json!({"status": "200 OK", "outcome": outcome});
            if let Some(location) = location {
                response["status"] = json!("202 Accepted");
                response["location"] = json!(location);
            }
            json!({"response": response})
        })
        .collect();
    Ok(fhir_json(StatusCode::OK, json!({"resourceType": "Bundle", "type": kind, "entry": entries})))
}

/// An OperationOutcome for a report checked and not stored: the dry run's message, each
/// conflict at the elements of the values it names (or, without conflicts, what DHIS2 said of
/// the whole report), then each warning.
fn dry_run_outcome(result: &DryRunResult, part: &Part, warnings: &[Problem]) -> Value {
    let mut issues = vec![json!({"severity": "information", "code": "informational", "diagnostics": result.message})];
    if let Some(verdict) = &result.dhis2 {
        // The verdict in words: a refusal unless DHIS2 took it (then, say, nothing new). With
        // conflicts it only repeats them, or DHIS2's "Import process completed successfully".
        if let (true, Some(said)) = (verdict.conflicts.is_empty(), &verdict.error) {
            let (severity, code) = if verdict.import_status.as_deref() == Some("SUCCESS") {
                ("information", "informational")
            } else {
                ("error", "processing")
            };
            issues.push(issue(severity, code, &Problem::new(part.place.clone(), said.clone())));
        }
        for conflict in &verdict.conflicts {
            let mut places: Vec<&str> =
                conflict.partner_keys.iter().map(|key| part.place_of(&format!("dataValues.{key}:"))).collect();
            places.dedup();
            if places.is_empty() {
                places.push(&part.place);
            }
            let said = [conflict.error_code.as_deref(), conflict.described.as_deref().or(conflict.message.as_deref())];
            let diagnostics = said.into_iter().flatten().collect::<Vec<_>>().join(": ");
            issues.push(
                json!({"severity": "error", "code": "business-rule", "diagnostics": diagnostics, "expression": places}),
            );
        }
    }
    issues.extend(warnings.iter().map(|w| issue("warning", "not-found", w)));
    json!({"resourceType": "OperationOutcome", "issue": issues})
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

/// The body must be of one of `types` (the first is the standard's own), unless the request
/// carries a credential no browser attaches by itself (see [`super::extract::require_json`]).
fn require_media(headers: &HeaderMap, types: &[&str]) -> AppResult<()> {
    let value = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let mime = value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    if types.contains(&mime.as_str()) || explicit_credentials(headers) {
        Ok(())
    } else {
        Err(AppError::UnsupportedMediaType(format!("Send the body with Content-Type: {}", types[0])))
    }
}

fn utf8(body: &[u8]) -> AppResult<&str> {
    let text = std::str::from_utf8(body).map_err(|e| AppError::invalid_field("body", format!("is not UTF-8: {e}")))?;
    if text.trim().is_empty() {
        return Err(AppError::invalid_field("body", "is empty"));
    }
    Ok(text)
}
