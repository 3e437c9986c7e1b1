//! Liveness and readiness probes for load balancers and systemd.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::http::request::Parts;
use dhis2gw_wire::Health;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::client;
use super::metrics::holds_metrics_token;
use crate::app::AppState;
use crate::http::auth::{Authorized, Staff};
use crate::infra::error::AppError;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(live)).routes(routes!(ready))
}

/// The process is up and serving HTTP.
#[utoipa::path(get, path = "/health/live", tag = "health", responses((status = 200, body = Health)), security(()))]
async fn live() -> axum::Json<Health> {
    axum::Json(Health { status: "ok".into(), version: crate::VERSION.into(), checks: BTreeMap::new(), error: None })
}

/// PostgreSQL and Redis are reachable (503 when not). Which one is down, and why, is told
/// only to a caller on this host, one with `server.metrics_token`, or signed-in staff.
#[utoipa::path(
    get, path = "/health/ready", tag = "health",
    responses((status = 200, body = Health), (status = 503, body = Health, description = "A dependency is down")),
    security((), ("bearer" = []))
)]
async fn ready(
    State(state): State<AppState>,
    staff: Result<Authorized<Staff>, AppError>,
    parts: Parts,
) -> (StatusCode, axum::Json<Health>) {
    let detailed = staff.is_ok()
        || holds_metrics_token(&state, &parts.headers)
        || client::origin(&parts, &state.config.server).is_some_and(|ip| ip.is_loopback());
    let checks = state.dependencies().await;
    let down: Vec<&str> = checks.iter().filter(|(_, v)| *v != "ok").map(|(k, _)| k.as_str()).collect();
    let (status, label, error) = if down.is_empty() {
        (StatusCode::OK, "ok", None)
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "unavailable", Some(format!("not ready: {} down", down.join(" and "))))
    };
    let body = if detailed {
        Health { status: label.into(), version: crate::VERSION.into(), checks, error }
    } else {
        Health { status: label.into(), version: String::new(), checks: BTreeMap::new(), error: None }
    };
    (status, axum::Json(body))
}
