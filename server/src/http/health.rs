//! Liveness and readiness probes for load balancers and systemd.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use dhis2gw_wire::Health;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;

const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(live)).routes(routes!(ready))
}

/// The process is up and serving HTTP.
#[utoipa::path(get, path = "/health/live", tag = "health", responses((status = 200, body = Health)), security(()))]
async fn live() -> axum::Json<Health> {
    axum::Json(Health { status: "ok".into(), version: crate::VERSION.into(), checks: BTreeMap::new(), error: None })
}

/// PostgreSQL and Redis are reachable; 503 names what is down.
#[utoipa::path(
    get, path = "/health/ready", tag = "health",
    responses((status = 200, body = Health), (status = 503, body = Health, description = "A dependency is down")),
    security(())
)]
async fn ready(State(state): State<AppState>) -> (StatusCode, axum::Json<Health>) {
    let postgres = async {
        sqlx::query_scalar!(r#"SELECT 1 AS "one!""#).fetch_one(&state.db).await.map(drop).map_err(|e| e.to_string())
    };
    let redis = async {
        let mut conn = state.redis.get_multiplexed_async_connection().await.map_err(|e| e.to_string())?;
        redis::cmd("PING").query_async::<String>(&mut conn).await.map(drop).map_err(|e| e.to_string())
    };
    let (postgres, redis) = tokio::join!(within_timeout(postgres), within_timeout(redis));
    let checks: BTreeMap<String, String> =
        [("postgres", postgres), ("redis", redis)].into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    let down: Vec<&str> = checks.iter().filter(|(_, v)| *v != "ok").map(|(k, _)| k.as_str()).collect();
    let (status, label, error) = if down.is_empty() {
        (StatusCode::OK, "ok", None)
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "unavailable", Some(format!("not ready: {} down", down.join(" and "))))
    };
    let body = Health { status: label.into(), version: crate::VERSION.into(), checks, error };
    (status, axum::Json(body))
}

async fn within_timeout(check: impl Future<Output = Result<(), String>>) -> String {
    match tokio::time::timeout(CHECK_TIMEOUT, check).await {
        Ok(Ok(())) => "ok".into(),
        Ok(Err(e)) => format!("down: {e}"),
        Err(_) => format!("down: no answer within {} s", CHECK_TIMEOUT.as_secs()),
    }
}
