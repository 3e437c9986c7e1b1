//! DHIS2 servers: list and health for staff; create, change, switch off and delete for admins.

use axum::extract::State;
use axum::http::StatusCode;
use dhis2gw_wire::routes as paths;
use dhis2gw_wire::{Dhis2Server, ErrorBody, Message, ServerInput};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{Json, Path};
use crate::access::audit::Actor;
use crate::app::AppState;
use crate::http::auth::{Admin, Authorized, Staff};
use crate::infra::error::AppResult;
use crate::servers;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list, create)).routes(routes!(get, update, delete))
}

/// Every DHIS2 server, primary first, with its health and pending deliveries.
#[utoipa::path(
    get, path = paths::SERVERS, tag = "servers",
    responses((status = 200, body = Vec<Dhis2Server>)),
    security(("bearer" = []), ("token" = []), ("basic" = []))
)]
async fn list(State(state): State<AppState>, _caller: Authorized<Staff>) -> AppResult<axum::Json<Vec<Dhis2Server>>> {
    Ok(axum::Json(servers::list(&state.db).await?))
}

/// One DHIS2 server.
#[utoipa::path(
    get, path = paths::SERVER, tag = "servers", params(("uid" = String, Path)),
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
    post, path = paths::SERVERS, tag = "servers", request_body = ServerInput,
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
    let server = state.servers.create(Actor::User(&caller), input).await?;
    Ok((StatusCode::CREATED, axum::Json(server)))
}

/// Change a DHIS2 server; only what is sent changes. `{"enabled": false}` pauses its
/// deliveries (they wait, they do not fail); `{"enabled": true}` sends what waited.
#[utoipa::path(
    put, path = paths::SERVER, tag = "servers", params(("uid" = String, Path)), request_body = ServerInput,
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
    let server = state.servers.update(&state.queue, Actor::User(&caller), &uid, input).await?;
    Ok(axum::Json(server))
}

/// Delete a DHIS2 server that never received anything; switch off one that did.
#[utoipa::path(
    delete, path = paths::SERVER, tag = "servers", params(("uid" = String, Path)),
    responses((status = 200, body = Message), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = []), ("token" = []), ("basic" = []))
)]
async fn delete(
    State(state): State<AppState>,
    caller: Authorized<Admin>,
    Path(uid): Path<String>,
) -> AppResult<axum::Json<Message>> {
    let server = state.servers.delete(Actor::User(&caller), &uid).await?;
    Ok(axum::Json(Message { message: format!("Deleted DHIS2 server {}", server.name) }))
}
