//! The HTTP side: accepting connections, faults, latency, authentication and the routes.
//!
//! Connections are served with hyper directly rather than `axum::serve`, so the double can
//! drop a connection without writing any response (`Fault::Reset`, `set_down`): the
//! per-request service returns an error, and hyper closes the connection.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, LOCATION, RETRY_AFTER};
use axum::http::{HeaderMap, Method, Request, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{SecondsFormat, Utc};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use serde::Serialize;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tower::ServiceExt;

use crate::common::{Fault, PASSWORD, PAT, RecordedRequest, USERNAME, Version, lock};
use crate::envelope::{Notification, WebMessage, notification, web_message};
use crate::import::{self, Options};
use crate::orgunit::listing::{Kind, Spec, list};
use crate::state::Shared;
use crate::{fixture, model};

mod entry;
mod orgunit;
mod tracker;

const IMPORT_PATH: &str = "/api/dataValueSets";
const TRACKER_PATH: &str = "/api/tracker";
const METADATA_PATH: &str = "/api/metadata";
const JOB_TYPE: &str = "DATAVALUE_IMPORT";
const PING_PATH: &str = "/api/system/ping";

/// The job descriptor an async import answers with.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JobConfiguration {
    response_type: &'static str,
    name: &'static str,
    id: String,
    created: String,
    job_type: &'static str,
    job_status: &'static str,
    job_parameters: Value,
    relative_notifier_endpoint: String,
}

/// The error a request service returns to make hyper drop the connection unanswered.
#[derive(Debug)]
struct Dropped;

impl fmt::Display for Dropped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("connection dropped by the DHIS2 double")
    }
}

impl std::error::Error for Dropped {}

/// Accepts connections until the runtime shuts down.
pub(crate) async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let router = routes(Arc::clone(&shared));
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(_) => {
                // Usually out of file descriptors; retrying at once would spin.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        if shared.is_down() {
            // Zero linger makes the close a RST, like a port nobody serves any more.
            let _ = stream.set_zero_linger();
            continue;
        }
        let shared = Arc::clone(&shared);
        let router = router.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| handle(Arc::clone(&shared), router.clone(), req));
            // Errors are our own deliberate drops or clients going away: nothing to report.
            let _ = Builder::new(TokioExecutor::new()).serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

/// Counts a `POST /api/dataValueSets` as in flight for as long as it lives.
struct InFlight(Arc<Shared>);

impl InFlight {
    fn enter(shared: &Arc<Shared>) -> InFlight {
        let open = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        shared.max_in_flight.fetch_max(open, Ordering::SeqCst);
        InFlight(Arc::clone(shared))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// One request: record it, apply latency and faults, authenticate, then route.
async fn handle(shared: Arc<Shared>, router: Router, req: Request<Incoming>) -> Result<Response, Dropped> {
    if shared.is_down() {
        return Err(Dropped);
    }
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(Body::new(body), usize::MAX).await.map_err(|_| Dropped)?;
    lock(&shared.requests).push(RecordedRequest {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or_default().to_owned(),
        authorization: parts.headers.get(AUTHORIZATION).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
        body: String::from_utf8_lossy(&body).into_owned(),
    });

    let is_post = parts.method == Method::POST;
    let is_import = is_post && parts.uri.path() == IMPORT_PATH;
    let is_write = is_post && [IMPORT_PATH, TRACKER_PATH, METADATA_PATH].contains(&parts.uri.path());
    let _in_flight = is_import.then(|| InFlight::enter(&shared));
    let capacity = *lock(&shared.capacity);
    if let Some(capacity) = capacity.filter(|_| is_import) {
        let running = shared.in_flight.load(Ordering::SeqCst);
        if running > capacity.limit {
            let mut refused = fault_response(503);
            if let Some(seconds) = capacity.retry_after {
                refused.headers_mut().insert(RETRY_AFTER, seconds.into());
            }
            return Ok(refused);
        }
        tokio::time::sleep(capacity.per_request * u32::try_from(running - 1).unwrap_or(u32::MAX)).await;
    }
    // Faults are taken in arrival order, before the latency.
    let fault = if is_write { lock(&shared.faults).pop_front() } else { None };
    let latency = *lock(&shared.latency);
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    match fault {
        Some(Fault::Status(code)) => return Ok(fault_response(code)),
        Some(Fault::Hang(duration)) => tokio::time::sleep(duration).await,
        Some(Fault::Reset) => return Err(Dropped),
        None => {}
    }
    // The server may have gone down while this request waited.
    if shared.is_down() {
        return Err(Dropped);
    }
    // Anyone may ping (DHIS2's security configuration lets it through unauthenticated).
    if parts.method == Method::GET && parts.uri.path() == PING_PATH {
        return Ok((StatusCode::OK, [(CONTENT_TYPE, "text/plain;charset=UTF-8")], "pong").into_response());
    }
    if !authorized(&parts.headers) {
        return Ok(web_message(StatusCode::UNAUTHORIZED, "Unauthorized"));
    }
    let Ok(response) = router.oneshot(Request::from_parts(parts, Body::from(body))).await;
    Ok(response)
}

/// Basic with the fixed user, or the fixed personal access token; schemes are
/// case-insensitive.
fn authorized(headers: &HeaderMap) -> bool {
    let Some(header) = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let Some((scheme, credentials)) = header.trim().split_once(' ') else {
        return false;
    };
    let credentials = credentials.trim();
    if scheme.eq_ignore_ascii_case("Basic") {
        let expected = format!("{USERNAME}:{PASSWORD}");
        STANDARD.decode(credentials).is_ok_and(|decoded| decoded == expected.as_bytes())
    } else if scheme.eq_ignore_ascii_case("ApiToken") {
        credentials == PAT
    } else {
        false
    }
}

/// What a reverse proxy or servlet container in front of DHIS2 answers with.
fn fault_response(code: u16) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let title = format!("{} {}", status.as_u16(), status.canonical_reason().unwrap_or("Error"));
    let html = format!("<html><head><title>{title}</title></head><body><h1>{title}</h1></body></html>\n");
    (status, [(CONTENT_TYPE, "text/html")], html).into_response()
}

fn routes(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/api/system/info", get(system_info))
        .route("/api/system/info.json", get(system_info))
        .route("/api/me", get(me))
        .route("/api/me.json", get(me))
        .route("/api/{list}", get(metadata_list))
        .route(IMPORT_PATH, post(data_value_sets))
        .route("/api/system/tasks/DATAVALUE_IMPORT/{id}", get(job_notifications))
        .route("/api/system/taskSummaries/DATAVALUE_IMPORT/{id}", get(job_summary))
        .route(TRACKER_PATH, post(tracker::import))
        .route("/api/tracker/jobs/{id}", get(tracker::job))
        .route("/api/tracker/jobs/{id}/report", get(tracker::job_report))
        .route("/api/organisationUnits", get(orgunit::units))
        .route("/api/organisationUnits.json", get(orgunit::units))
        .route("/api/organisationUnits/{id}", get(orgunit::unit))
        .route("/api/organisationUnitLevels", get(orgunit::levels))
        .route("/api/organisationUnitGroups", get(orgunit::groups))
        .route("/api/organisationUnitGroups/{id}", get(orgunit::group))
        .route(
            "/api/organisationUnitGroups/{group}/organisationUnits/{unit}",
            post(orgunit::add_member).delete(orgunit::remove_member),
        )
        .route(METADATA_PATH, post(orgunit::import))
        .route("/api/lockExceptions", get(entry::list).post(entry::create).delete(entry::delete))
        .route("/api/dataApprovals", get(entry::state).post(entry::approve).delete(entry::unapprove))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        // Benchmarks post large data value sets; DHIS2 has no such limit either.
        .layer(DefaultBodyLimit::disable())
        .with_state(shared)
}

async fn system_info(State(shared): State<Arc<Shared>>) -> Json<Value> {
    Json(json!({
        "version": shared.version().as_str(),
        "revision": "abc1234",
        "serverDate": Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
        "contextPath": shared.base_url,
        "systemName": "DHIS2 test double",
    }))
}

async fn me() -> Json<Value> {
    Json(json!({ "id": fixture::USER_ID, "username": USERNAME, "name": "Admin" }))
}

/// `GET /api/dataSets`, `/api/dataElements`, `/api/categoryCombos`, `/api/optionSets` (also
/// with `.json`), with DHIS2's filters, order and paging.
async fn metadata_list(
    State(shared): State<Arc<Shared>>,
    Path(collection): Path<String>,
    method: Method,
    uri: Uri,
) -> Response {
    let kind = collection.trim_end_matches(".json");
    let deleted = lock(&shared.org_units).deleted_elements.clone();
    let assignment = |data_set: &str| lock(&shared.org_units).data_set_assignment(data_set);
    let settings = |data_set: &str| lock(&shared.entry).settings(data_set);
    let items = model::metadata_objects(kind, assignment, settings, &deleted);
    let (Some(spec), Some(items)) = (metadata_spec(kind), items) else {
        return not_found(method, uri).await;
    };
    match list(spec, items, uri.query().unwrap_or_default(), &[], &shared.base_url) {
        Ok(body) => Json(body).into_response(),
        Err(message) => web_message(StatusCode::BAD_REQUEST, message),
    }
}

/// What the metadata lists can be filtered and ordered on.
fn metadata_spec(kind: &str) -> Option<&'static Spec> {
    const PROPERTIES: &[(&str, Kind)] = &[
        ("id", Kind::Text),
        ("code", Kind::Text),
        ("name", Kind::Text),
        ("displayName", Kind::Text),
        ("created", Kind::Time),
        ("lastUpdated", Kind::Time),
    ];
    const fn spec(collection: &'static str, path: &'static str) -> Spec {
        Spec { collection, path, properties: PROPERTIES, default_order: &["name"] }
    }
    static SPECS: [Spec; 4] = [
        spec("dataSets", "/api/dataSets"),
        spec("dataElements", "/api/dataElements"),
        spec("categoryCombos", "/api/categoryCombos"),
        spec("optionSets", "/api/optionSets"),
    ];
    SPECS.iter().find(|s| s.collection == kind)
}

async fn not_found(method: Method, uri: Uri) -> Response {
    web_message(StatusCode::NOT_FOUND, format!("No handler found for {method} {}", uri.path()))
}

async fn method_not_allowed(method: Method) -> Response {
    web_message(StatusCode::METHOD_NOT_ALLOWED, format!("Request method '{method}' is not supported"))
}

async fn data_value_sets(State(shared): State<Arc<Shared>>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    shared.import_requests.fetch_add(1, Ordering::SeqCst);
    let version = shared.version();
    let content_type =
        headers.get(CONTENT_TYPE).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()).unwrap_or_default();
    let mime = content_type.split(';').next().unwrap_or_default().trim();
    if !mime.eq_ignore_ascii_case("application/json") {
        return web_message(StatusCode::UNSUPPORTED_MEDIA_TYPE, format!("Content type '{content_type}' not supported"));
    }
    let opts = match Options::from_query(uri.query().unwrap_or_default()) {
        Ok(opts) => opts,
        Err(message) => return web_message(StatusCode::BAD_REQUEST, message),
    };
    if opts.is_async {
        return start_job(&shared, version, &opts, &body);
    }
    let result =
        import::run(&mut lock(&shared.store), &lock(&shared.org_units), &lock(&shared.entry), version, &opts, &body);
    match result {
        Ok(summary) => import::respond(version, &summary),
        Err(message) => web_message(StatusCode::BAD_REQUEST, message),
    }
}

/// Runs an async import to completion right away and answers with the job descriptor;
/// the outcome is then available from the task endpoints.
fn start_job(shared: &Shared, version: Version, opts: &Options, body: &[u8]) -> Response {
    let id = shared.new_uid("Job");
    let summary =
        import::run(&mut lock(&shared.store), &lock(&shared.org_units), &lock(&shared.entry), version, opts, body)
            .unwrap_or_else(|message| import::failed(version, opts, &message));
    let now = Utc::now().format("%Y-%m-%dT%H:%M:%S%.3f").to_string();
    let started = notification(shared.new_uid("Ntf"), JOB_TYPE, "Process started", false);
    let finished = notification(shared.new_uid("Ntf"), JOB_TYPE, summary.completion_message(), true);
    let job_configuration = JobConfiguration {
        response_type: "JobConfiguration",
        name: JOB_TYPE,
        id: id.clone(),
        created: now.clone(),
        job_type: JOB_TYPE,
        job_status: "SCHEDULED",
        job_parameters: summary.import_options().clone(),
        relative_notifier_endpoint: format!("/api/system/tasks/{JOB_TYPE}/{id}"),
    };
    let body = WebMessage::new(StatusCode::OK, "OK", format!("Initiated {JOB_TYPE}")).with_response(job_configuration);
    let job = import::Job { summary, notifications: vec![finished, started] };
    lock(&shared.jobs).insert(id, job);
    let location = format!("{}/api/system/tasks/{JOB_TYPE}", shared.base_url);
    (StatusCode::OK, [(LOCATION, location)], Json(body)).into_response()
}

/// `GET /api/system/tasks/DATAVALUE_IMPORT/{id}`: notifications, newest first; an
/// unknown job has none.
async fn job_notifications(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Json<Vec<Notification>> {
    let jobs = lock(&shared.jobs);
    Json(jobs.get(&id).map(|job| job.notifications.clone()).unwrap_or_default())
}

/// `GET /api/system/taskSummaries/DATAVALUE_IMPORT/{id}`: the bare ImportSummary.
async fn job_summary(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    let summary = lock(&shared.jobs).get(&id).map(|job| job.summary.clone());
    match summary {
        Some(summary) => Json(summary).into_response(),
        None => web_message(StatusCode::NOT_FOUND, format!("No summary found for job `{id}`")),
    }
}
