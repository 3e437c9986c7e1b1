//! DHIS2's answer shapes that several endpoints share: the `WebMessage` envelope and the
//! notifications of asynchronous jobs.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::Serialize;

/// One entry of `GET /api/system/tasks/{jobType}/{id}` (and of `/api/tracker/jobs/{id}`).
#[derive(Clone, Serialize)]
pub(crate) struct Notification {
    id: String,
    uid: String,
    level: &'static str,
    category: &'static str,
    time: String,
    message: String,
    completed: bool,
}

/// A notification of job category `category`, timestamped now; `uid` is a fresh UID.
pub(crate) fn notification(
    uid: String,
    category: &'static str,
    message: impl Into<String>,
    completed: bool,
) -> Notification {
    let time = Utc::now().format("%Y-%m-%dT%H:%M:%S%.3f").to_string();
    Notification { id: uid.clone(), uid, level: "INFO", category, time, message: message.into(), completed }
}

/// DHIS2's `WebMessage` envelope, in its JSON field order.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WebMessage<R> {
    http_status: &'static str,
    http_status_code: u16,
    status: &'static str,
    /// Left out when empty: DHIS2 sends no message with a successful metadata import.
    #[serde(skip_serializing_if = "String::is_empty")]
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    response: Option<R>,
}

impl WebMessage<()> {
    /// An envelope without `response`; `status` is OK, WARNING or ERROR.
    pub(crate) fn new(code: StatusCode, status: &'static str, message: impl Into<String>) -> Self {
        WebMessage {
            http_status: code.canonical_reason().unwrap_or_default(),
            http_status_code: code.as_u16(),
            status,
            message: message.into(),
            response: None,
        }
    }

    pub(crate) fn with_response<R>(self, response: R) -> WebMessage<R> {
        WebMessage {
            http_status: self.http_status,
            http_status_code: self.http_status_code,
            status: self.status,
            message: self.message,
            response: Some(response),
        }
    }
}

/// DHIS2's error `WebMessage` (`status: ERROR`) for non-import failures.
pub(crate) fn web_message(code: StatusCode, message: impl Into<String>) -> Response {
    (code, Json(WebMessage::new(code, "ERROR", message))).into_response()
}
