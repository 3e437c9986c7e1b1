//! Signing in and out: `POST /users/getToken`, `POST /users/refreshToken`,
//! `POST /users/signOut`, and `GET /me`.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use dhis2gw_wire::routes as paths;
use dhis2gw_wire::{PartnerToken, RefreshRequest, TokenRequest, TokenResponse, User};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::client::ClientAddr;
use super::extract::{Json, body_error, parse_json, require_json};
use crate::access::auth;
use crate::access::users;
use crate::app::AppState;
use crate::http::auth::{AnyRole, Authorized};
use crate::infra::error::{AppError, AppResult};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_token))
        .routes(routes!(refresh_token))
        .routes(routes!(sign_out))
        .routes(routes!(me))
}

/// Sign in with a username and password.
///
/// With JSON `{"username","password"}` (the console): a JWT access token and a refresh token.
/// With HTTP Basic and no body, as partners of the original dhis2gw do: 201 and a partner
/// token in the original's shape, for `Authorization: Token <token>` (or `Bearer`), living
/// `server.partner_token_ttl` (each call gives a new one; a user's ten newest work).
/// Repeated failures for one username from one address, for one username from anywhere, or
/// from one address lock that for 15 minutes (429 with `Retry-After`); so does a gateway busy
/// checking many passwords at once, for a moment.
#[utoipa::path(
    post, path = paths::SIGN_IN, tag = "auth",
    request_body(content = Option<TokenRequest>),
    responses(
        (status = 200, body = TokenResponse, description = "Signed in with JSON credentials"),
        (status = 201, body = PartnerToken, description = "A partner token, for Basic credentials and no body"),
        (status = 400, body = dhis2gw_wire::ErrorBody, description = "Malformed body"),
        (status = 401, body = dhis2gw_wire::ErrorBody, description = "Wrong username or password, or deactivated user"),
        (status = 415, body = dhis2gw_wire::ErrorBody, description = "A body that is not declared as JSON"),
        (status = 429, body = dhis2gw_wire::ErrorBody, description = "Too many failed sign-ins, or too many at once"),
    ),
    security((), ("basic" = []))
)]
async fn get_token(State(state): State<AppState>, request: Request) -> AppResult<Response> {
    let (parts, body) = request.into_parts();
    let bytes = Bytes::from_request(Request::from_parts(parts.clone(), body), &state).await.map_err(body_error)?;
    let (TokenRequest { username, password }, by_basic) = credentials(&parts, &bytes)?;
    let client = ClientAddr::of(&parts, &state.config.server).0;
    let user = auth::sign_in(&state.db, &state.sign_in, &state.credentials, &username, &password, client).await?;
    if by_basic {
        let created = users::issue_get_token(&state.db, &user, state.config.server.partner_token_ttl).await?;
        let answer = PartnerToken {
            message: "Token created successfully".into(),
            token: created.token,
            expires: created.info.expires_at.unwrap_or_default(),
        };
        return Ok((StatusCode::CREATED, axum::Json(answer)).into_response());
    }
    Ok(axum::Json(auth::issue_tokens(&state.db, &state.jwt, &state.config.server, &user, None).await?).into_response())
}

/// The credentials, and whether they came as HTTP Basic (no body).
fn credentials(parts: &Parts, body: &[u8]) -> AppResult<(TokenRequest, bool)> {
    if !body.iter().all(u8::is_ascii_whitespace) {
        require_json(&parts.headers)?;
        return Ok((parse_json(body)?, false));
    }
    crate::http::auth::basic_credentials(parts)
        .map(|(username, password)| (TokenRequest { username, password }, true))
        .ok_or_else(|| AppError::bad_request("Send {\"username\",\"password\"} as JSON, or HTTP Basic credentials"))
}

/// Exchange a refresh token for a new access token and refresh token.
///
/// Each refresh token works once. Presenting a used one again revokes every session that
/// descends from the same sign-in.
#[utoipa::path(
    post, path = paths::REFRESH, tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, body = TokenResponse),
        (status = 400, body = dhis2gw_wire::ErrorBody),
        (status = 401, body = dhis2gw_wire::ErrorBody, description = "Unknown, expired or reused refresh token"),
    ),
    security(())
)]
async fn refresh_token(
    State(state): State<AppState>,
    Json(body): Json<RefreshRequest>,
) -> AppResult<axum::Json<TokenResponse>> {
    Ok(axum::Json(auth::refresh(&state.db, &state.jwt, &state.config.server, &body.refresh_token).await?))
}

/// Sign out: the refresh token, and every other token of the same sign-in, stop working.
///
/// Access tokens already issued expire by themselves within `server.access_token_ttl`.
#[utoipa::path(
    post, path = paths::SIGN_OUT, tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 204, description = "Signed out (also when the token was already revoked or unknown)"),
        (status = 400, body = dhis2gw_wire::ErrorBody),
    ),
    security(())
)]
async fn sign_out(State(state): State<AppState>, Json(body): Json<RefreshRequest>) -> AppResult<StatusCode> {
    auth::sign_out(&state.db, &body.refresh_token).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The signed-in user.
#[utoipa::path(
    get, path = paths::ME, tag = "auth",
    responses((status = 200, body = User), (status = 401, body = dhis2gw_wire::ErrorBody)),
    security(("bearer" = []), ("token" = []), ("basic" = []))
)]
async fn me(State(state): State<AppState>, caller: Authorized<AnyRole>) -> AppResult<axum::Json<User>> {
    Ok(axum::Json(users::get(&state.db, &caller.uid).await?.to_wire()?))
}
