//! `GET /metrics`: the Prometheus exposition, for a bearer token or, without one configured,
//! for loopback clients only.

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use dhis2gw_wire::ErrorBody;
use sha2::{Digest, Sha256};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use crate::error::{ApiError, ApiResult};

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
const QUEUE_TIMEOUT: Duration = Duration::from_secs(2);

/// Headers a reverse proxy adds: a request carrying one did not really start on this host.
const PROXY_HEADERS: [&str; 3] = ["forwarded", "x-forwarded-for", "x-real-ip"];

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(metrics))
}

/// Prometheus metrics of this gateway process (OpenMetrics text format).
#[utoipa::path(
    get, path = "/metrics", tag = "health",
    responses(
        (status = 200, description = "The metrics", content_type = "application/openmetrics-text"),
        (status = 401, body = ErrorBody, description = "`server.metrics_token` is set and was not sent"),
        (status = 403, body = ErrorBody, description = "No token configured and the client is not on this host"),
    ),
    security(("bearer" = []), ())
)]
async fn metrics(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    allowed(&state, peer, &headers)?;
    let m = &state.metrics;
    // A Redis outage must not cost the scrape: the gauge then keeps its last value.
    match tokio::time::timeout(QUEUE_TIMEOUT, state.queue.depth()).await {
        Ok(Ok((due, scheduled))) => m.set_queue_depth(due, scheduled),
        Ok(Err(e)) => tracing::debug!(error = %e, "queue depth unavailable"),
        Err(_) => tracing::debug!("queue depth: Redis did not answer in time"),
    }
    m.set_pool("api", &state.db);
    m.set_pool("workers", &state.worker_db);
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, OPENMETRICS)], m.render()).into_response())
}

fn allowed(state: &AppState, peer: SocketAddr, headers: &HeaderMap) -> ApiResult<()> {
    let token = &state.config.server.metrics_token;
    if !token.is_empty() {
        let sent = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .unwrap_or_default();
        // Comparing digests keeps the comparison's timing from revealing the token.
        return if Sha256::digest(sent) == Sha256::digest(token.expose()) {
            Ok(())
        } else {
            Err(ApiError::Unauthorized("GET /metrics needs Authorization: Bearer <server.metrics_token>".into()))
        };
    }
    let local = peer.ip().to_canonical().is_loopback();
    let proxied = PROXY_HEADERS.iter().any(|h| headers.contains_key(*h));
    if local && !proxied {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "Metrics are served only to clients on this host; set server.metrics_token to scrape from elsewhere".into(),
        ))
    }
}
