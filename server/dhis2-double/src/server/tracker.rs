//! The tracker importer's routes: `POST /api/tracker` (run now, or as a job after
//! [`crate::Dhis2Double::set_tracker_job_delay`]) and the job's notifications and report.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::common::{USERNAME, lock};
use crate::envelope::{Notification, WebMessage, notification, web_message};
use crate::import::query_pairs;
use crate::state::Shared;
use crate::tracker::payload::{self, Bundle};
use crate::tracker::{Job, Params, Report, report_mode, run};

const CATEGORY: &str = "TRACKER_IMPORT_JOB";

/// Runs an import under the store locks (tracker store, then org units).
fn run_locked(shared: &Shared, params: &Params, bundle: &Bundle) -> Report {
    let mut store = lock(&shared.tracker);
    let registry = lock(&shared.org_units);
    run(&mut store, &registry, params, bundle)
}

/// `POST /api/tracker`.
pub(crate) async fn import(State(shared): State<Arc<Shared>>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    shared.tracker_requests.fetch_add(1, Ordering::SeqCst);
    let content_type =
        headers.get(CONTENT_TYPE).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()).unwrap_or_default();
    let mime = content_type.split(';').next().unwrap_or_default().trim();
    if !mime.eq_ignore_ascii_case("application/json") {
        return web_message(StatusCode::UNSUPPORTED_MEDIA_TYPE, format!("Content type '{content_type}' not supported"));
    }
    let params = match Params::from_query(uri.query().unwrap_or_default()) {
        Ok(params) => params,
        Err(message) => return web_message(StatusCode::BAD_REQUEST, message),
    };
    let bundle = match payload::parse(&body) {
        Ok(bundle) => bundle,
        Err(message) => return web_message(StatusCode::BAD_REQUEST, message),
    };
    if !params.is_async {
        let report = run_locked(&shared, &params, &bundle);
        let code = if report.is_error() { StatusCode::CONFLICT } else { StatusCode::OK };
        return (code, Json(report.render(params.report_mode))).into_response();
    }
    let id = shared.new_uid("Job");
    let started = notification(shared.new_uid("Ntf"), CATEGORY, format!("({}) Import:Start", USERNAME), false);
    lock(&shared.tracker_jobs).insert(id.clone(), Job { notifications: vec![started], report: None });
    let delay = *lock(&shared.tracker_job_delay);
    let worker = Arc::clone(&shared);
    let job_id = id.clone();
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        let report = run_locked(&worker, &params, &bundle);
        let done = notification(worker.new_uid("Ntf"), CATEGORY, report.completion_message(), true);
        if let Some(job) = lock(&worker.tracker_jobs).get_mut(&job_id) {
            job.notifications.insert(0, done);
            job.report = Some(report);
        }
    });
    let response = json!({
        "responseType": "TrackerJobWebMessageResponse",
        "id": id,
        "location": format!("{}/api/tracker/jobs/{id}", shared.base_url),
    });
    let message = WebMessage::new(StatusCode::OK, "OK", "Tracker job added").with_response(response);
    (StatusCode::OK, Json(message)).into_response()
}

/// `GET /api/tracker/jobs/{id}`: the notifications, newest first; none for an unknown job.
pub(crate) async fn job(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Json<Vec<Notification>> {
    Json(lock(&shared.tracker_jobs).get(&id).map(|job| job.notifications.clone()).unwrap_or_default())
}

/// `GET /api/tracker/jobs/{id}/report`: the ImportReport of a completed job.
pub(crate) async fn job_report(State(shared): State<Arc<Shared>>, Path(id): Path<String>, uri: Uri) -> Response {
    let mode = match report_mode(&query_pairs(uri.query().unwrap_or_default())) {
        Ok(mode) => mode,
        Err(message) => return web_message(StatusCode::BAD_REQUEST, message),
    };
    let report = lock(&shared.tracker_jobs).get(&id).and_then(|job| job.report.clone());
    match report {
        Some(report) => Json(report.render(mode)).into_response(),
        None => web_message(StatusCode::NOT_FOUND, format!("Summary for job {id} does not exist")),
    }
}
