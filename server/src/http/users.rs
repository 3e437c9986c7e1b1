//! User administration and partner API tokens (admins only).

use axum::extract::State;
use axum::http::StatusCode;
use dhis2gw_wire::routes as paths;
use dhis2gw_wire::{
    ApiToken, CreateApiToken, CreateUser, CreatedApiToken, ErrorBody, Page, PartnerAccess, PartnerAccessView,
    RotateApiToken, UpdateUser, User, UserCreated, UserFilter,
};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{Json, Path, Query};
use crate::access::audit::Actor;
use crate::access::{partners, users};
use crate::app::AppState;
use crate::http::auth::{Admin, Authorized};
use crate::infra::error::AppResult;
use crate::submissions::partner_scope;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_user_legacy))
        .routes(routes!(list_users, create_user))
        .routes(routes!(get_user, update_user, deactivate_user))
        .routes(routes!(list_tokens, create_token))
        .routes(routes!(revoke_token))
        .routes(routes!(rotate_token))
        .routes(routes!(get_access, set_access))
}

/// Create a user (the original's route; same as `POST /users`).
#[utoipa::path(
    post, path = paths::USER_LEGACY, tag = "users", request_body = CreateUser,
    responses(
        (status = 201, body = UserCreated),
        (status = 400, body = ErrorBody, description = "A field is invalid; `detail` names it"),
        (status = 409, body = ErrorBody, description = "Username taken"),
    ),
    security(("bearer" = []), ("token" = []), ("basic" = []))
)]
async fn create_user_legacy(
    state: State<AppState>,
    caller: Authorized<Admin>,
    body: Json<CreateUser>,
) -> AppResult<(StatusCode, axum::Json<UserCreated>)> {
    create_user(state, caller, body).await
}

/// Create a user.
#[utoipa::path(
    post, path = paths::USERS, tag = "users", request_body = CreateUser,
    responses(
        (status = 201, body = UserCreated),
        (status = 400, body = ErrorBody, description = "A field is invalid; `detail` names it"),
        (status = 409, body = ErrorBody, description = "Username taken"),
    ),
    security(("bearer" = []), ("token" = []), ("basic" = []))
)]
async fn create_user(
    State(state): State<AppState>,
    caller: Authorized<Admin>,
    Json(body): Json<CreateUser>,
) -> AppResult<(StatusCode, axum::Json<UserCreated>)> {
    let user = users::create(&state.db, Actor::User(&caller), body).await?.to_wire()?;
    Ok((
        StatusCode::CREATED,
        axum::Json(UserCreated { message: "User created successfully!".into(), uid: user.uid.clone(), user }),
    ))
}

/// List users, newest first.
#[utoipa::path(
    get, path = paths::USERS, tag = "users", params(UserFilter),
    responses((status = 200, body = Page<User>), (status = 400, body = ErrorBody)),
    security(("bearer" = []), ("token" = []), ("basic" = []))
)]
async fn list_users(
    State(state): State<AppState>,
    _caller: Authorized<Admin>,
    Query(filter): Query<UserFilter>,
) -> AppResult<axum::Json<Page<User>>> {
    Ok(axum::Json(users::list(&state.db, filter).await?))
}

/// One user.
#[utoipa::path(
    get, path = paths::USER, tag = "users", params(("uid" = String, Path)),
    responses((status = 200, body = User), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("token" = []), ("basic" = []))
)]
async fn get_user(
    State(state): State<AppState>,
    _caller: Authorized<Admin>,
    Path(uid): Path<String>,
) -> AppResult<axum::Json<User>> {
    Ok(axum::Json(users::get(&state.db, &uid).await?.to_wire()?))
}

/// Change a user: any subset of fields, including password, role and `is_active`.
/// A new password or deactivation ends the user's sessions. The last active admin stays one.
#[utoipa::path(
    put, path = paths::USER, tag = "users", params(("uid" = String, Path)), request_body = UpdateUser,
    responses(
        (status = 200, body = User),
        (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "Username taken, or the last active admin would stop being one"),
    ),
    security(("bearer" = []), ("token" = []), ("basic" = []))
)]
async fn update_user(
    State(state): State<AppState>,
    caller: Authorized<Admin>,
    Path(uid): Path<String>,
    Json(patch): Json<UpdateUser>,
) -> AppResult<axum::Json<User>> {
    let user = users::update(&state.db, &state.credentials, Actor::User(&caller), &uid, patch).await?;
    Ok(axum::Json(user.to_wire()?))
}

/// Deactivate a user (users are never deleted, so their history stays attributable).
#[utoipa::path(
    delete, path = paths::USER, tag = "users", params(("uid" = String, Path)),
    responses(
        (status = 200, body = User),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "The last active admin"),
    ),
    security(("bearer" = []), ("token" = []), ("basic" = []))
)]
async fn deactivate_user(
    State(state): State<AppState>,
    caller: Authorized<Admin>,
    Path(uid): Path<String>,
) -> AppResult<axum::Json<User>> {
    let user = users::deactivate(&state.db, &state.credentials, Actor::User(&caller), &uid).await?;
    Ok(axum::Json(user.to_wire()?))
}

/// A user's API tokens (the secrets themselves are never shown again).
#[utoipa::path(
    get, path = paths::USER_TOKENS, tag = "users", params(("uid" = String, Path)),
    responses((status = 200, body = Vec<ApiToken>), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("token" = []), ("basic" = []))
)]
async fn list_tokens(
    State(state): State<AppState>,
    _caller: Authorized<Admin>,
    Path(uid): Path<String>,
) -> AppResult<axum::Json<Vec<ApiToken>>> {
    let user = users::get(&state.db, &uid).await?;
    Ok(axum::Json(users::list_tokens(&state.db, &user).await?))
}

/// Create an API token for a user, to be sent as `Authorization: Token <token>`.
/// The answer is the only time the token is shown.
#[utoipa::path(
    post, path = paths::USER_TOKENS, tag = "users", params(("uid" = String, Path)), request_body = CreateApiToken,
    responses((status = 201, body = CreatedApiToken), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("token" = []), ("basic" = []))
)]
async fn create_token(
    State(state): State<AppState>,
    caller: Authorized<Admin>,
    Path(uid): Path<String>,
    Json(body): Json<CreateApiToken>,
) -> AppResult<(StatusCode, axum::Json<CreatedApiToken>)> {
    let scope =
        partner_scope::resolve(&state.db, &state.metadata, &state.hierarchy, "scope", body.scope.clone()).await?;
    let created = users::create_token(&state.db, Actor::User(&caller), &uid, body, scope).await?;
    Ok((StatusCode::CREATED, axum::Json(created)))
}

/// Rotate an API token: a new one with the same name, scope and expiry, shown this once; the
/// old one keeps working for `overlap_secs` more, then stops.
#[utoipa::path(
    post, path = paths::USER_TOKEN_ROTATE, tag = "users",
    params(("uid" = String, Path), ("id" = i64, Path)), request_body = RotateApiToken,
    responses((status = 201, body = CreatedApiToken), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("token" = []), ("basic" = []))
)]
async fn rotate_token(
    State(state): State<AppState>,
    caller: Authorized<Admin>,
    Path((uid, id)): Path<(String, i64)>,
    Json(body): Json<RotateApiToken>,
) -> AppResult<(StatusCode, axum::Json<CreatedApiToken>)> {
    let actor = Actor::User(&caller);
    let created = users::rotate_token(&state.db, &state.credentials, actor, &uid, id, body.overlap_secs).await?;
    Ok((StatusCode::CREATED, axum::Json(created)))
}

/// A user's scope, limits and expiry, the limits in force and today's use.
#[utoipa::path(
    get, path = paths::USER_ACCESS, tag = "users", params(("uid" = String, Path)),
    responses((status = 200, body = PartnerAccessView), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("token" = []), ("basic" = []))
)]
async fn get_access(
    State(state): State<AppState>,
    _caller: Authorized<Admin>,
    Path(uid): Path<String>,
) -> AppResult<axum::Json<PartnerAccessView>> {
    Ok(axum::Json(partners::view(&state.db, &state.config, &state.limits, &uid).await?))
}

/// Set a user's scope (data sets and org-unit subtrees by UID or code, client networks),
/// limits (requests per second, values per day; `null` follows the configuration) and expiry.
#[utoipa::path(
    put, path = paths::USER_ACCESS, tag = "users", params(("uid" = String, Path)), request_body = PartnerAccess,
    responses(
        (status = 200, body = PartnerAccessView),
        (status = 400, body = ErrorBody, description = "A field is invalid or names nothing synced; `detail` says which"),
        (status = 404, body = ErrorBody),
    ),
    security(("bearer" = []), ("token" = []), ("basic" = []))
)]
async fn set_access(
    State(state): State<AppState>,
    caller: Authorized<Admin>,
    Path(uid): Path<String>,
    Json(mut body): Json<PartnerAccess>,
) -> AppResult<axum::Json<PartnerAccessView>> {
    body.scope = partner_scope::resolve(&state.db, &state.metadata, &state.hierarchy, "scope", body.scope).await?;
    partners::update(&state.db, &state.credentials, Actor::User(&caller), &uid, body).await?;
    Ok(axum::Json(partners::view(&state.db, &state.config, &state.limits, &uid).await?))
}

/// Revoke an API token: it stops working at once.
#[utoipa::path(
    delete, path = paths::USER_TOKEN, tag = "users",
    params(("uid" = String, Path), ("id" = i64, Path)),
    responses((status = 200, body = ApiToken), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("token" = []), ("basic" = []))
)]
async fn revoke_token(
    State(state): State<AppState>,
    caller: Authorized<Admin>,
    Path((uid, id)): Path<(String, i64)>,
) -> AppResult<axum::Json<ApiToken>> {
    let token = users::revoke_token(&state.db, &state.credentials, Actor::User(&caller), &uid, id).await?;
    Ok(axum::Json(token))
}
