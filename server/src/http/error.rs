//! How a failure leaves over HTTP: JSON `{"error": "...", "detail": [...]}` with the status
//! that tells the client whose fault it is. Internal errors are logged with the request id
//! and answered without internals.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use dhis2gw_wire::ErrorBody;

use crate::infra::error::AppError;

/// The HTTP status of a failure.
pub fn status(error: &AppError) -> StatusCode {
    match error {
        AppError::BadRequest { .. } => StatusCode::BAD_REQUEST,
        AppError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
        AppError::Forbidden(_) => StatusCode::FORBIDDEN,
        AppError::NotFound(_) => StatusCode::NOT_FOUND,
        AppError::Conflict(_) => StatusCode::CONFLICT,
        AppError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        AppError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        AppError::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        AppError::TooManyAttempts(_) | AppError::Busy(_) | AppError::OverLimit { .. } => StatusCode::TOO_MANY_REQUESTS,
        AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = status(&self);
        let retry_after = match self {
            AppError::TooManyAttempts(seconds) => Some(seconds.max(1)),
            AppError::Busy(seconds) => Some(seconds.max(1) as i64),
            // Whole seconds, rounded up: a client waiting that long finds room.
            AppError::OverLimit { retry_after, .. } => Some(retry_after.as_secs_f64().ceil().max(1.0) as i64),
            _ => None,
        };
        let (error, detail) = match self {
            AppError::OverLimit { limit, message, .. } => (message, vec![limit.to_string()]),
            AppError::BadRequest { message, detail } | AppError::Unprocessable { message, detail } => (message, detail),
            AppError::Internal(ref e) => {
                // The request id is on the current span, so this line ties back to the request.
                tracing::error!(error = format!("{e:#}"), "internal error");
                ("Internal server error".to_string(), Vec::new())
            }
            other => (other.to_string(), Vec::new()),
        };
        let mut response = (status, axum::Json(ErrorBody { error, detail })).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                // No `Basic` challenge: it would make browsers prompt for, and then silently
                // resend, credentials on any cross-site request (CSRF).
                HeaderValue::from_static(r#"Bearer realm="dhis2gw", Token realm="dhis2gw""#),
            );
        }
        if let Some(seconds) = retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, seconds.into());
        }
        response
    }
}
