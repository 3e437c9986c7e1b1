//! Who is calling, from the `Authorization` header, and whether their role may use a route:
//! asking for [`Authorized<R>`] in a handler's signature is the access check.
//!
//! Accepted on every API route: `Bearer`, `Token` (and the original's `Token:`) and `ApiToken`
//! (how DHIS2 clients send PATs), each with an access token (JWT) or an API token, and,
//! unless disabled, `Basic`.

use std::marker::PhantomData;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use base64::Engine;
use dhis2gw_wire::Role;

use crate::access::identity::AuthUser;
use crate::access::{auth, partners};
use crate::app::AppState;
use crate::http::client::ClientAddr;
use crate::infra::error::{AppError, AppResult};

// ---------------------------------------------------------------------------------------------
// The Authorization header
// ---------------------------------------------------------------------------------------------

enum Credentials {
    Bearer(String),
    ApiToken(String),
    Basic { username: String, password: String },
}

fn parse_authorization(value: &str) -> Result<Credentials, AppError> {
    let value = value.trim();
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    let rest = rest.trim();
    // The original v1.0.0 sent `Token: <token>`.
    let scheme = scheme.trim_end_matches(':');
    if rest.is_empty() {
        return Err(AppError::Unauthorized(format!("Authorization header has no credentials after '{scheme}'")));
    }
    match scheme.to_ascii_lowercase().as_str() {
        // What `POST /users/getToken` gives is sent with any of these schemes: an access token
        // (a JWT: three dot-separated parts) is one whatever the scheme, anything else is an
        // API token (partners of the original send theirs as `Token`).
        "bearer" | "token" if rest.split('.').count() == 3 => Ok(Credentials::Bearer(rest.to_string())),
        "bearer" | "token" | "apitoken" => Ok(Credentials::ApiToken(rest.to_string())),
        "basic" => {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(rest)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| AppError::Unauthorized("Basic credentials are not valid base64 UTF-8".into()))?;
            let (username, password) = decoded
                .split_once(':')
                .ok_or_else(|| AppError::Unauthorized("Basic credentials must be username:password".into()))?;
            Ok(Credentials::Basic { username: username.to_string(), password: password.to_string() })
        }
        _ => Err(AppError::Unauthorized("Unknown authorization type; use Bearer, Token, ApiToken or Basic".into())),
    }
}

/// Basic credentials, if the request carries them (`POST /users/getToken` without a body).
pub fn basic_credentials(parts: &Parts) -> Option<(String, String)> {
    let value = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    match parse_authorization(value).ok()? {
        Credentials::Basic { username, password } => Some((username, password)),
        _ => None,
    }
}

async fn authenticate(parts: &Parts, state: &AppState) -> AppResult<AuthUser> {
    let header = parts
        .headers
        .get(AUTHORIZATION)
        .ok_or_else(|| AppError::Unauthorized("Authentication required: send an Authorization header".into()))?
        .to_str()
        .map_err(|_| AppError::Unauthorized("Authorization header is not valid text".into()))?;
    let client = ClientAddr::of(parts, &state.config.server).0;
    let mut token_scope = None;
    let user = match parse_authorization(header)? {
        Credentials::Bearer(jwt) => auth::access_token_user(&state.db, &state.jwt, &jwt).await?,
        Credentials::ApiToken(token) => {
            auth::api_token_user(&state.db, &state.credentials, &token, client).await?.map(|(user, scope)| {
                token_scope = Some(scope);
                user
            })
        }
        Credentials::Basic { username, password } => {
            if !state.config.server.allow_basic_auth {
                return Err(AppError::Unauthorized("Basic authentication is disabled on this gateway".into()));
            }
            Some(auth::sign_in(&state.db, &state.sign_in, &state.credentials, &username, &password, client).await?)
        }
    };
    // A deactivated or expired user's credentials are as good as none, and say no more than that.
    let user = user
        .filter(|u| u.is_current())
        .ok_or_else(|| AppError::Unauthorized("Invalid, expired or revoked credentials".into()))?;
    tracing::Span::current().record("user", user.username.as_str());
    let mut caller = user.identity()?;
    caller.scopes.extend(token_scope.filter(|s| !s.is_empty()));
    partners::check_network(&caller, client)?;
    state.limits.admit_request(&state.config, &caller)?;
    Ok(caller)
}

/// Which roles a route admits.
pub trait Requirement: Send + Sync + 'static {
    fn admits(role: Role) -> bool;
    const WHO: &'static str;
}

/// Any authenticated user.
pub struct AnyRole;
/// Admins, operators and viewers: everyone who may read beyond their own submissions.
pub struct Staff;
/// Admins and operators: may change submissions and mappings.
pub struct Operator;
/// Admins only: users, tokens, servers, purge.
pub struct Admin;
/// Those who may submit data: partners, and admins and operators (e.g. to test).
pub struct Submitter;

impl Requirement for AnyRole {
    fn admits(_: Role) -> bool {
        true
    }
    const WHO: &'static str = "any user";
}
impl Requirement for Staff {
    fn admits(role: Role) -> bool {
        role.is_staff()
    }
    const WHO: &'static str = "admins, operators and viewers";
}
impl Requirement for Operator {
    fn admits(role: Role) -> bool {
        role.can_operate()
    }
    const WHO: &'static str = "admins and operators";
}
impl Requirement for Submitter {
    fn admits(role: Role) -> bool {
        role.can_submit()
    }
    const WHO: &'static str = "partners, admins and operators";
}
impl Requirement for Admin {
    fn admits(role: Role) -> bool {
        role == Role::Admin
    }
    const WHO: &'static str = "admins";
}

/// An authenticated caller whose role meets `R`: 401 without valid credentials, 403 when
/// the role falls short. Asking for it in a handler's signature is the access check.
pub struct Authorized<R: Requirement>(pub AuthUser, PhantomData<R>);

impl<R: Requirement> std::ops::Deref for Authorized<R> {
    type Target = AuthUser;
    fn deref(&self) -> &AuthUser {
        &self.0
    }
}

impl<R: Requirement> FromRequestParts<AppState> for Authorized<R> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> AppResult<Self> {
        let user = authenticate(parts, state).await?;
        if !R::admits(user.role) {
            return Err(AppError::Forbidden(format!(
                "Your role ({}) may not do this; it is for {}",
                user.role,
                R::WHO
            )));
        }
        Ok(Authorized(user, PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorization_schemes_parse_including_the_legacy_token_colon() {
        assert!(matches!(parse_authorization("Bearer eyJ.a.b"), Ok(Credentials::Bearer(t)) if t == "eyJ.a.b"));
        // What getToken gives a partner (an API token) works as a Bearer token too.
        assert!(matches!(parse_authorization("Bearer dgw_abc"), Ok(Credentials::ApiToken(t)) if t == "dgw_abc"));
        assert!(matches!(parse_authorization("Token abc"), Ok(Credentials::ApiToken(t)) if t == "abc"));
        assert!(matches!(parse_authorization("Token: abc"), Ok(Credentials::ApiToken(t)) if t == "abc"));
        assert!(matches!(parse_authorization("Token eyJ.a.b"), Ok(Credentials::Bearer(t)) if t == "eyJ.a.b"));
        assert!(matches!(parse_authorization("Token: eyJ.a.b"), Ok(Credentials::Bearer(t)) if t == "eyJ.a.b"));
        assert!(matches!(parse_authorization("ApiToken abc"), Ok(Credentials::ApiToken(t)) if t == "abc"));
        let basic = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("u:p:q"));
        assert!(matches!(parse_authorization(&basic),
            Ok(Credentials::Basic { username, password }) if username == "u" && password == "p:q"));
    }

    #[test]
    fn malformed_authorization_is_unauthorized_not_a_panic() {
        let no_colon = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("nocolon"));
        for bad in ["", "Bearer", "Basic !!!", no_colon.as_str(), "Digest x", "Token:"] {
            assert!(matches!(parse_authorization(bad), Err(AppError::Unauthorized(_))), "{bad}");
        }
    }
}
