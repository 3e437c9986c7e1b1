//! DHIS2 servers: list and health for staff; create, change, switch off and delete for admins.

use axum::extract::State;
use axum::http::StatusCode;
use dhis2gw_wire::{Dhis2Server, ErrorBody, Message, ServerInput};
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{Json, Path};
use crate::app::AppState;
use crate::audit::{self, Actor};
use crate::error::AppResult;
use crate::http::auth::{Admin, Authorized, Staff};
use crate::servers;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list, create)).routes(routes!(get, update, delete))
}

/// Every DHIS2 server, primary first, with its health and pending deliveries.
#[utoipa::path(
    get, path = "/servers", tag = "servers",
    responses((status = 200, body = Vec<Dhis2Server>)),
    security(("bearer" = []), ("token" = []), ("basic" = []))
)]
async fn list(State(state): State<AppState>, _caller: Authorized<Staff>) -> AppResult<axum::Json<Vec<Dhis2Server>>> {
    Ok(axum::Json(servers::list(&state.db).await?))
}

/// One DHIS2 server.
#[utoipa::path(
    get, path = "/servers/{uid}", tag = "servers", params(("uid" = String, Path)),
    responses((status = 200, body = Dhis2Server), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("token" = []), ("basic" = []))
)]
async fn get(
    State(state): State<AppState>,
    _caller: Authorized<Staff>,
    Path(uid): Path<String>,
) -> AppResult<axum::Json<Dhis2Server>> {
    Ok(axum::Json(servers::get(&state.db, &uid).await?))
}

/// Add a DHIS2 server (name it in `api.cc_dhis2_servers` to send it copies). Credentials are
/// stored encrypted and never returned.
#[utoipa::path(
    post, path = "/servers", tag = "servers", request_body = ServerInput,
    responses(
        (status = 201, body = Dhis2Server), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 503, body = ErrorBody, description = "No server.credentials_key to encrypt credentials with"),
    ),
    security(("bearer" = []), ("token" = []), ("basic" = []))
)]
async fn create(
    State(state): State<AppState>,
    caller: Authorized<Admin>,
    Json(input): Json<ServerInput>,
) -> AppResult<(StatusCode, axum::Json<Dhis2Server>)> {
    let server =
        servers::create(&state.db, state.servers.key(), input, state.config.server.allow_private_dhis2_addresses)
            .await?;
    changed_servers(&state);
    let detail = json!({"name": server.name, "base_url": server.base_url});
    audit::record(&state.db, Actor::User(&caller), "server.create", "server", &server.uid, detail).await?;
    Ok((StatusCode::CREATED, axum::Json(server)))
}

/// Change a DHIS2 server; only what is sent changes. `{"enabled": false}` pauses its
/// deliveries (they wait, they do not fail); `{"enabled": true}` sends what waited.
#[utoipa::path(
    put, path = "/servers/{uid}", tag = "servers", params(("uid" = String, Path)), request_body = ServerInput,
    responses(
        (status = 200, body = Dhis2Server), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "Defined in the configuration, or the name is taken"),
    ),
    security(("bearer" = []), ("token" = []), ("basic" = []))
)]
async fn update(
    State(state): State<AppState>,
    caller: Authorized<Admin>,
    Path(uid): Path<String>,
    Json(input): Json<ServerInput>,
) -> AppResult<axum::Json<Dhis2Server>> {
    let changed: Vec<&str> = [
        ("name", input.name.is_some()),
        ("base_url", input.base_url.is_some()),
        ("auth_method", input.auth_method.is_some()),
        ("username", input.username.is_some()),
        ("password", input.password.is_some()),
        ("pat", input.pat.is_some()),
        ("timeout", input.timeout.is_some()),
        ("max_concurrent", input.max_concurrent.is_some()),
        ("enabled", input.enabled.is_some()),
    ]
    .into_iter()
    .filter_map(|(field, sent)| sent.then_some(field))
    .collect();
    let (server, resumed) =
        servers::update(&state.db, state.servers.key(), &uid, input, state.config.server.allow_private_dhis2_addresses)
            .await?;
    changed_servers(&state);
    if resumed {
        let waiting = servers::wake_waiting_deliveries(&state.db, &uid).await?;
        // If Redis is down now, the sweeper pushes them.
        if let Err(e) = state.queue.push_due(&waiting).await {
            tracing::warn!(server = %server.name, error = %e, "resumed; the sweeper will queue what waited");
        }
        tracing::info!(server = %server.name, waiting = waiting.len(), "DHIS2 server switched on again");
    }
    let detail = json!({"name": server.name, "changed": changed, "enabled": server.enabled});
    audit::record(&state.db, Actor::User(&caller), "server.update", "server", &uid, detail).await?;
    Ok(axum::Json(server))
}

/// Delete a DHIS2 server that never received anything; switch off one that did.
#[utoipa::path(
    delete, path = "/servers/{uid}", tag = "servers", params(("uid" = String, Path)),
    responses((status = 200, body = Message), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = []), ("token" = []), ("basic" = []))
)]
async fn delete(
    State(state): State<AppState>,
    caller: Authorized<Admin>,
    Path(uid): Path<String>,
) -> AppResult<axum::Json<Message>> {
    let server = servers::get(&state.db, &uid).await?;
    servers::delete(&state.db, &uid).await?;
    changed_servers(&state);
    audit::record(&state.db, Actor::User(&caller), "server.delete", "server", &uid, json!({"name": server.name}))
        .await?;
    Ok(axum::Json(Message { message: format!("Deleted DHIS2 server {}", server.name) }))
}

/// New destinations take effect at once here; the health of a new or changed server shows
/// without waiting for the minute's check.
fn changed_servers(state: &AppState) {
    state.servers.invalidate();
    let servers = state.servers.clone();
    tokio::spawn(async move {
        if let Err(e) = servers.check_health().await.map(drop) {
            tracing::warn!(error = %format!("{e:#}"), "DHIS2 server health check failed");
        }
    });
}
