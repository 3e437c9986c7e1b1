//! Sign-in and token refresh.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenRequest {
    pub username: String,
    pub password: String,
}

/// Answer of `POST /users/getToken` with HTTP Basic credentials and no body, in the original
/// dhis2gw's shape (201): a partner token for `Authorization: Token <token>` (or `Token:`,
/// or `Bearer`), living `server.partner_token_ttl`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PartnerToken {
    /// Always "Token created successfully".
    pub message: String,
    pub token: String,
    pub expires: DateTime<Utc>,
}

/// Answer of `POST /users/getToken` (with JSON credentials) and `POST /users/refreshToken`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenResponse {
    /// JWT access token, sent as `Authorization: Bearer <token>`.
    pub token: String,
    /// Opaque, single-use token for `POST /users/refreshToken`.
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until `token` expires.
    pub expires_in: i64,
    /// When `token` expires.
    pub expires: DateTime<Utc>,
    /// The signed-in user, so a client knows its role without decoding the JWT.
    pub user: crate::User,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RefreshRequest {
    pub refresh_token: String,
}
