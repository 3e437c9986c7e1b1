//! The one error type of the gateway's operations. Each variant says whose fault a failure
//! is (the caller's input, their credentials or role, a conflict, an outage, or ours), so the
//! HTTP layer (`http/error.rs`), the CLI and the scheduler each turn it into their own
//! answer without looking inside.

pub type AppResult<T> = Result<T, AppError>;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
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
    /// Over one of a partner's limits, named by `limit`; may try again after `retry_after`.
    #[error("{message}")]
    OverLimit { limit: &'static str, message: String, retry_after: std::time::Duration },
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl AppError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        AppError::BadRequest { message: message.into(), detail: Vec::new() }
    }

    /// A validation failure naming one field.
    pub fn invalid_field(field: &str, problem: impl std::fmt::Display) -> Self {
        AppError::BadRequest { message: "Invalid request".into(), detail: vec![format!("{field}: {problem}")] }
    }
}

impl From<sqlx::Error> for AppError {
    fn from(e: sqlx::Error) -> Self {
        // Input PostgreSQL refuses to store is the client's problem, not an internal error.
        if let sqlx::Error::Database(db) = &e {
            match db.code().as_deref() {
                Some("22021") => {
                    return AppError::bad_request("A text value contains a NUL character, which cannot be stored");
                }
                Some("22003") => return AppError::bad_request("A number is out of range"),
                _ => {}
            }
        }
        AppError::Internal(e.into())
    }
}

/// Maps a unique-constraint violation to 409 naming the field it guards.
pub fn on_unique(e: sqlx::Error, constraint: &str, field: &str) -> AppError {
    match &e {
        sqlx::Error::Database(db) if db.constraint() == Some(constraint) => {
            AppError::Conflict(format!("{field} is already taken"))
        }
        _ => e.into(),
    }
}
