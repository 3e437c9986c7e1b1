//! Files the API hands out as downloads.

use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::infra::export::Export;

pub const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// `bytes` as an attachment named `file_name`.
pub fn download(bytes: Vec<u8>, content_type: &str, file_name: &str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{file_name}\"")),
        ],
        bytes,
    )
        .into_response()
}

/// An export streamed as it is written ([`crate::infra::export`]); no length is known ahead.
pub fn streamed(export: Export) -> Response {
    let chunks = futures_util::stream::unfold(export.chunks, |mut chunks| async move {
        chunks.recv().await.map(|chunk| (chunk, chunks))
    });
    (
        [
            (header::CONTENT_TYPE, export.content_type.to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{}\"", export.file_name)),
        ],
        axum::body::Body::from_stream(chunks),
    )
        .into_response()
}
