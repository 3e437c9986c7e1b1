//! The web console (the `ui/` crate, built by trunk) served at `/console/` from
//! `server.console_directory`, when `server.console_enabled`. The directory is looked at on
//! every request, so a console installed or removed later shows without a restart.
//!
//! trunk fingerprints every asset's name, so only `index.html` must never be cached. A path
//! without a file extension that is not a file (`/console/logs/42`, a route of the console's
//! own) gets `index.html` too, so the console's links can be bookmarked and reloaded.

use std::path::{Path, PathBuf};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use tower::ServiceExt;
use tower_http::services::{ServeDir, ServeFile};

use crate::app::AppState;
use crate::infra::error::AppError;

const PREFIX: &str = "/console";

/// No routes at all when the console is switched off: `/console/` is then a plain 404.
pub fn router(state: &AppState) -> Router<AppState> {
    if !state.config.server.console_enabled {
        return Router::new();
    }
    Router::new()
        // The console's asset links are relative: they need the trailing slash.
        .route(PREFIX, get(|| async { Redirect::permanent("/console/") }))
        .route("/console/", get(serve))
        .route("/console/{*path}", get(serve))
}

/// Whether the landing page should link to the console.
pub fn installed(state: &AppState) -> bool {
    state.config.server.console_enabled && Path::new(&state.config.server.console_directory).is_dir()
}

async fn serve(State(state): State<AppState>, request: Request) -> Response {
    let dir = PathBuf::from(&state.config.server.console_directory);
    if !tokio::fs::metadata(&dir).await.is_ok_and(|m| m.is_dir()) {
        return AppError::NotFound(format!(
            "The console is not installed here (server.console_directory '{}' does not exist)",
            dir.display()
        ))
        .into_response();
    }
    let method = request.method().clone();
    let (mut parts, body) = request.into_parts();
    let path = parts.uri.path().strip_prefix(PREFIX).unwrap_or("/").to_string();
    let inner = match parts.uri.query() {
        Some(query) => format!("{path}?{query}"),
        None => path.clone(),
    };
    parts.uri = inner.parse().unwrap_or_else(|_| Uri::from_static("/"));
    // ServeDir refuses `..` and anything outside the directory.
    let Ok(response) = ServeDir::new(&dir).oneshot(Request::from_parts(parts, body)).await;
    let mut response = response.map(Body::new);
    let last_segment = path.rsplit('/').next().unwrap_or_default();
    let index = if response.status() == StatusCode::NOT_FOUND && !last_segment.contains('.') {
        response = index_html(&dir, method).await;
        true
    } else {
        path.ends_with('/') || last_segment == "index.html"
    };
    if index && response.status().is_success() {
        response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        let page = tokio::fs::read_to_string(dir.join("index.html")).await.unwrap_or_default();
        if let Ok(policy) = HeaderValue::from_str(&policy(&page)) {
            response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, policy);
        }
    }
    // A directory asked for without its slash is redirected by ServeDir, which does not know
    // it is mounted under /console.
    if response.status().is_redirection()
        && let Some(location) = response.headers().get(header::LOCATION).and_then(|l| l.to_str().ok())
        && location.starts_with('/')
        && let Ok(prefixed) = HeaderValue::from_str(&format!("{PREFIX}{location}"))
    {
        response.headers_mut().insert(header::LOCATION, prefixed);
    }
    response
}

/// The console's Content-Security-Policy: its own files, WebAssembly, the inline script trunk
/// writes to start it (allowed by its hash, so no injected inline script runs), and calls to
/// gateways (the sign-in screen may name another one).
fn policy(index: &str) -> String {
    use base64::Engine;
    use sha2::Digest;
    let hashes: String = index
        .split("<script")
        .skip(1)
        .filter_map(|rest| {
            let (tag, rest) = rest.split_once('>')?;
            let (body, _) = rest.split_once("</script>")?;
            (!tag.contains("src=")).then(|| {
                let digest = sha2::Sha256::digest(body.as_bytes());
                format!(" 'sha256-{}'", base64::engine::general_purpose::STANDARD.encode(digest))
            })
        })
        .collect();
    format!(
        "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'{hashes}; style-src 'self' 'unsafe-inline'; \
         img-src 'self' data:; connect-src 'self' http: https:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
}

/// The console's `index.html`, for a route of its own.
async fn index_html(dir: &Path, method: Method) -> Response {
    let request = Request::builder().method(method).uri("/").body(Body::empty()).expect("a valid request");
    let Ok(response) = ServeFile::new(dir.join("index.html")).oneshot(request).await;
    response.map(Body::new)
}
