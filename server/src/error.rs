//! The one error type of the HTTP API. Every failure, whatever its cause, leaves as JSON
//! `{"error": "...", "detail": [...]}` with a status that tells the client whose fault it is.
//! Internal errors are logged with the request id and answered without internals.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use dhis2gw_wire::ErrorBody;

pub type ApiResult<T> = Result<T, ApiError>;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed or a field is invalid; `detail` names each field.
    #[error("{message}")]
    BadRequest { message: String, detail: Vec<String> },
    /// No credentials, or credentials that do not authenticate.
    #[error("{0}")]
    Unauthorized(String),
    /// Authenticated, but the role does not allow this.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("Request body is larger than the gateway accepts (server.max_body_size)")]
    PayloadTooLarge,
    /// The body is not of a media type the route takes.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// Understood, but cannot be processed (e.g. nothing in a submission could be mapped).
    #[error("{message}")]
    Unprocessable { message: String, detail: Vec<String> },
    #[error("too many sign-in attempts; try again in {0} seconds")]
    TooManyAttempts(i64),
    /// Too many passwords are being checked at once; the client should retry shortly.
    #[error("the gateway is busy checking other sign-ins; try again in {0} seconds")]
    Busy(u64),
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::BadRequest { message: message.into(), detail: Vec::new() }
    }

    /// A validation failure naming one field.
    pub fn invalid_field(field: &str, problem: impl std::fmt::Display) -> Self {
        ApiError::BadRequest { message: "Invalid request".into(), detail: vec![format!("{field}: {problem}")] }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooManyAttempts(_) | ApiError::Busy(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        // Input PostgreSQL refuses to store is the client's problem, not an internal error.
        if let sqlx::Error::Database(db) = &e {
            match db.code().as_deref() {
                Some("22021") => {
                    return ApiError::bad_request("A text value contains a NUL character, which cannot be stored");
                }
                Some("22003") => return ApiError::bad_request("A number is out of range"),
                _ => {}
            }
        }
        ApiError::Internal(e.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let retry_after = match self {
            ApiError::TooManyAttempts(seconds) => Some(seconds.max(1)),
            ApiError::Busy(seconds) => Some(seconds.max(1) as i64),
            _ => None,
        };
        let (error, detail) = match self {
            ApiError::BadRequest { message, detail } | ApiError::Unprocessable { message, detail } => (message, detail),
            ApiError::Internal(ref e) => {
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

/// Maps a unique-constraint violation to 409 naming the field it guards.
pub fn on_unique(e: sqlx::Error, constraint: &str, field: &str) -> ApiError {
    match &e {
        sqlx::Error::Database(db) if db.constraint() == Some(constraint) => {
            ApiError::Conflict(format!("{field} is already taken"))
        }
        _ => e.into(),
    }
}
