//! Extractors whose rejections are [`AppError`]s naming the offending field, so no malformed
//! request ever gets axum's plain-text answers.

use axum::body::Bytes;
use axum::extract::multipart::{MultipartError, MultipartRejection};
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{FromRequest, FromRequestParts, Multipart, Request};
use axum::http::HeaderMap;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::infra::error::AppError;

/// A JSON body: declared as JSON (see [`require_json`]), parsed, and a type error names its
/// field.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        require_json(req.headers())?;
        let bytes = Bytes::from_request(req, state).await.map_err(body_error)?;
        parse_json(&bytes).map(Json)
    }
}

/// A body must say it is JSON (`application/json`, or `application/…+json`), unless the request
/// carries a credential no browser attaches by itself (`Bearer`, `Token`, `ApiToken`).
///
/// Why: a hostile page can make a browser post `text/plain` or a form to the gateway, with
/// `Basic` credentials the browser remembers; such a post must not act. A page cannot set
/// an Authorization header on a cross-site request, so partners that send a token keep
/// working whatever content type their client sets (the original accepted any).
pub fn require_json(headers: &HeaderMap) -> Result<(), AppError> {
    if declared_json(headers) || explicit_credentials(headers) {
        Ok(())
    } else {
        Err(AppError::UnsupportedMediaType("Send the body with Content-Type: application/json".into()))
    }
}

fn declared_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) else { return false };
    let mime = value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

/// An Authorization header that only the client itself can have set.
pub fn explicit_credentials(headers: &HeaderMap) -> bool {
    headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()).is_some_and(|value| {
        let scheme = value.trim().split(' ').next().unwrap_or_default().trim_end_matches(':');
        ["bearer", "token", "apitoken"].iter().any(|s| s.eq_ignore_ascii_case(scheme))
    })
}

/// Parses a JSON document into `T`, naming the field of a type error.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(AppError::bad_request("Request body is empty; a JSON object is expected"));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let inner = e.inner();
        if inner.is_syntax() || inner.is_eof() {
            AppError::bad_request(format!("Invalid JSON: {inner}"))
        } else if let Err(syntax) = serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
            // A type error can surface before a syntax error further on; the syntax comes first.
            AppError::bad_request(format!("Invalid JSON: {syntax}"))
        } else {
            let field = e.path().to_string();
            let field = if field == "." { "body".to_string() } else { field };
            AppError::BadRequest {
                message: "Request does not match required schema".into(),
                detail: vec![format!("{field}: {}", strip_position(&inner.to_string()))],
            }
        }
    })?;
    // Trailing garbage after the document is malformed too.
    de.end().map_err(|e| AppError::bad_request(format!("Invalid JSON: {e}")))?;
    Ok(value)
}

/// serde_json appends " at line 1 column 42", which means nothing to an API client.
fn strip_position(message: &str) -> &str {
    message.split(" at line ").next().unwrap_or(message)
}

pub fn body_error(rejection: BytesRejection) -> AppError {
    if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        AppError::PayloadTooLarge
    } else {
        AppError::bad_request(format!("Cannot read request body: {}", rejection.body_text()))
    }
}

/// Query-string parameters; a bad value names its parameter.
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, AppError> {
        let query = parts.uri.query().unwrap_or_default();
        // PostgreSQL cannot hold NUL in text; refuse it here where the parameter is known.
        if let Some((name, _)) = form_urlencoded::parse(query.as_bytes()).find(|(_, v)| v.contains('\0')) {
            return Err(AppError::invalid_field(&name, "must not contain NUL characters"));
        }
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de).map(Query).map_err(|e| {
            let field = e.path().to_string();
            let message = e.inner().to_string();
            // Unknown-field and missing-field errors already name the parameter.
            let detail = if field == "." { message } else { format!("{field}: {message}") };
            AppError::BadRequest { message: "Invalid query parameters".into(), detail: vec![detail] }
        })
    }
}

/// Path parameters; a bad value answers 400 naming the parameter.
#[derive(Debug, Clone, Copy, Default)]
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(v)| Path(v))
            .map_err(|e: PathRejection| AppError::invalid_field("path", e.body_text()))
    }
}

/// The file of a multipart upload (field `file`): its name and bytes.
pub async fn uploaded_file(multipart: Result<Multipart, MultipartRejection>) -> Result<(String, Bytes), AppError> {
    let mut multipart = multipart.map_err(|e| {
        AppError::invalid_field("file", format!("send the file as multipart/form-data: {}", e.body_text()))
    })?;
    let bad = |e: MultipartError| {
        if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            AppError::PayloadTooLarge
        } else {
            AppError::invalid_field("file", format!("the upload is not valid multipart/form-data: {}", e.body_text()))
        }
    };
    while let Some(field) = multipart.next_field().await.map_err(bad)? {
        if field.name() == Some("file") {
            let name = field.file_name().unwrap_or("upload").to_string();
            return Ok((name, field.bytes().await.map_err(bad)?));
        }
    }
    Err(AppError::invalid_field("file", "No file is received: send it as the multipart field `file`"))
}
