//! `GET /metrics`: the Prometheus exposition, for whoever the configuration says: with
//! `server.metrics_token` set, its bearer; otherwise the clients `server.metrics_allow` names
//! (this host by default), never one relayed by a proxy that is not a trusted one.

use std::time::Duration;

use axum::extract::State;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use dhis2gw_wire::ErrorBody;
use sha2::{Digest, Sha256};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::client;
use crate::app::AppState;
use crate::infra::error::{AppError, AppResult};

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
const QUEUE_TIMEOUT: Duration = Duration::from_secs(2);

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(metrics))
}

/// Prometheus metrics of this gateway process (OpenMetrics text format).
#[utoipa::path(
    get, path = "/metrics", tag = "health",
    responses(
        (status = 200, description = "The metrics", content_type = "application/openmetrics-text"),
        (status = 401, body = ErrorBody, description = "`server.metrics_token` is set and was not sent"),
        (status = 403, body = ErrorBody, description = "No token configured and the client is not in `server.metrics_allow`"),
    ),
    security(("bearer" = []), ())
)]
async fn metrics(State(state): State<AppState>, parts: Parts) -> AppResult<Response> {
    let server = &state.config.server;
    if !server.metrics_token.is_empty() && !holds_metrics_token(&state, &parts.headers) {
        return Err(AppError::Unauthorized("GET /metrics needs Authorization: Bearer <server.metrics_token>".into()));
    }
    let allowed =
        || client::origin(&parts, server).is_some_and(|ip| server.metrics_allow.iter().any(|n| n.contains(&ip)));
    if server.metrics_token.is_empty() && !allowed() {
        return Err(AppError::Forbidden(
            "GET /metrics is served to the clients in server.metrics_allow; set server.metrics_token to scrape from elsewhere"
                .into(),
        ));
    }
    let m = &state.metrics;
    // A Redis outage must not cost the scrape: the gauge then keeps its last value.
    match tokio::time::timeout(QUEUE_TIMEOUT, state.queue.depth()).await {
        Ok(Ok(due)) => m.set_queue_depth(due),
        Ok(Err(e)) => tracing::debug!(error = %e, "queue depth unavailable"),
        Err(_) => tracing::debug!("queue depth: Redis did not answer in time"),
    }
    match crate::submissions::overview::deliveries_waiting(&state.db).await {
        Ok((_, pending, scheduled)) => m.set_pending(pending, scheduled),
        Err(e) => tracing::debug!(error = %e, "deliveries pending unavailable"),
    }
    match crate::holds::by_class(&state.db).await {
        Ok(held) => m.set_held(&held),
        Err(e) => tracing::debug!(error = %e, "held values unavailable"),
    }
    for (server, flow) in state.servers.flows() {
        m.set_flow(&server, flow.window(), flow.is_open());
    }
    match crate::access::partners::values_today(&state.db, &state.config).await {
        Ok(partners) => m.set_partner_values_today(&partners),
        Err(e) => tracing::debug!(error = %e, "partners' values unavailable"),
    }
    match crate::submissions::overview::storage(&state.db, &state.config).await {
        Ok(storage) => m.set_storage(&storage),
        Err(e) => tracing::debug!(error = %e, "storage figures unavailable"),
    }
    m.set_pool("api", &state.db);
    m.set_pool("workers", &state.worker_db);
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, OPENMETRICS)], m.render()).into_response())
}

/// `Authorization: Bearer <server.metrics_token>`, when a token is configured.
pub fn holds_metrics_token(state: &AppState, headers: &HeaderMap) -> bool {
    let token = &state.config.server.metrics_token;
    let sent = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .unwrap_or_default();
    // Comparing digests keeps the comparison's timing from revealing the token.
    !token.is_empty() && Sha256::digest(sent) == Sha256::digest(token.expose())
}
