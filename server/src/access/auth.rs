//! Authentication: JWT access tokens, rotating refresh tokens, partner API tokens, and
//! throttled password sign-in, with plain arguments. Reading the `Authorization` header and
//! checking a route's role is the HTTP layer's (`http/auth.rs`); hashing is [`crate::access::secrets`]'.

use chrono::{DateTime, Duration, Utc};
use dhis2gw_wire::{PartnerScope, Role, TokenResponse};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::Rng;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use uuid::Uuid;

use crate::access::secrets::{hash_password, is_legacy_hash, random_token, token_hash, verify_password};
use crate::access::users;
use crate::infra::config::ServerConfig;
use crate::infra::error::{AppError, AppResult};

const ISSUER: &str = "dhis2gw";

// ---------------------------------------------------------------------------------------------
// JWT access tokens
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    name: String,
    role: Role,
    iss: String,
    iat: i64,
    exp: i64,
    jti: String,
}

/// Signs and checks access tokens (HS256 only: a token claiming `none` or another
/// algorithm is refused).
#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
}

impl JwtKeys {
    pub fn new(secret: &str, ttl_secs: u64) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iat", "sub", "iss"]);
        validation.leeway = 5;
        JwtKeys {
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            decoding: DecodingKey::from_secret(secret.as_bytes()),
            validation,
            ttl: Duration::seconds(ttl_secs as i64),
        }
    }

    fn issue(&self, user: &users::UserRow) -> anyhow::Result<(String, DateTime<Utc>)> {
        let now = Utc::now();
        let expires = now + self.ttl;
        let claims = Claims {
            sub: user.uid.clone(),
            name: user.username.clone(),
            role: user.role()?,
            iss: ISSUER.into(),
            iat: now.timestamp(),
            exp: expires.timestamp(),
            jti: Uuid::new_v4().to_string(),
        };
        Ok((jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?, expires))
    }

    /// The user uid a valid token was issued to.
    fn verify(&self, token: &str) -> Result<String, AppError> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).map(|data| data.claims.sub).map_err(
            |e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => {
                    AppError::Unauthorized("Access token has expired; refresh it or sign in again".into())
                }
                _ => AppError::Unauthorized("Invalid access token".into()),
            },
        )
    }
}

/// A sign-in's chain of refresh tokens: its id and when the sign-in happened.
pub struct Family {
    id: Uuid,
    started: DateTime<Utc>,
}

/// Issues an access token and a refresh token; `family` continues a sign-in's rotation chain.
/// No refresh token outlives the sign-in's `server.session_max_age`.
pub async fn issue_tokens(
    db: &PgPool,
    jwt: &JwtKeys,
    server: &ServerConfig,
    user: &users::UserRow,
    family: Option<Family>,
) -> AppResult<TokenResponse> {
    let (token, expires) = jwt.issue(user)?;
    let refresh_token = random_token("rt_");
    let family = family.unwrap_or_else(|| Family { id: Uuid::new_v4(), started: Utc::now() });
    let session_ends = family.started + Duration::seconds(server.session_max_age as i64);
    let refresh_expires = (Utc::now() + Duration::seconds(server.refresh_token_ttl as i64)).min(session_ends);
    sqlx::query!(
        r#"INSERT INTO refresh_tokens (user_id, family_id, family_started, token_hash, expires_at)
           VALUES ($1, $2, $3, $4, $5)"#,
        user.id,
        family.id,
        family.started,
        token_hash(&refresh_token),
        refresh_expires,
    )
    .execute(db)
    .await?;
    Ok(TokenResponse {
        token,
        refresh_token,
        token_type: "Bearer".into(),
        expires_in: (expires - Utc::now()).num_seconds().max(0),
        expires,
        user: user.to_wire()?,
    })
}

/// Exchanges a refresh token for new tokens. The presented token stops working; presenting
/// an already-rotated token again means it leaked, so every token of its family is revoked.
pub async fn refresh(db: &PgPool, jwt: &JwtKeys, server: &ServerConfig, presented: &str) -> AppResult<TokenResponse> {
    let invalid = || AppError::Unauthorized("Invalid or expired refresh token".into());
    let mut tx = db.begin().await?;
    let row = sqlx::query!(
        r#"SELECT id, user_id, family_id, family_started, expires_at, revoked_at
           FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE"#,
        token_hash(presented),
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(invalid)?;
    if row.revoked_at.is_some() {
        sqlx::query!(
            "UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL",
            row.family_id
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        tracing::warn!(user_id = row.user_id, "refresh token reused; its whole family is revoked");
        return Err(AppError::Unauthorized(
            "Refresh token was already used; every session of that sign-in is now revoked. Sign in again".into(),
        ));
    }
    if row.expires_at <= Utc::now() {
        return Err(invalid());
    }
    if row.family_started + Duration::seconds(server.session_max_age as i64) <= Utc::now() {
        return Err(AppError::Unauthorized("This session has reached its maximum length; sign in again".into()));
    }
    sqlx::query!("UPDATE refresh_tokens SET revoked_at = now() WHERE id = $1", row.id).execute(&mut *tx).await?;
    tx.commit().await?;
    let user = users::find_by_id(db, row.user_id).await?.filter(|u| u.is_current()).ok_or_else(invalid)?;
    issue_tokens(db, jwt, server, &user, Some(Family { id: row.family_id, started: row.family_started })).await
}

/// Signs out: every refresh token of the presented one's sign-in stops working. An unknown
/// or already revoked token is not an error (signing out twice is still signed out).
pub async fn sign_out(db: &PgPool, presented: &str) -> AppResult<()> {
    sqlx::query!(
        r#"UPDATE refresh_tokens SET revoked_at = now()
           WHERE revoked_at IS NULL
             AND family_id = (SELECT family_id FROM refresh_tokens WHERE token_hash = $1)"#,
        token_hash(presented)
    )
    .execute(db)
    .await?;
    Ok(())
}

/// The active or inactive user an access token names; an invalid token is a 401.
pub async fn access_token_user(db: &PgPool, jwt: &JwtKeys, token: &str) -> AppResult<Option<users::UserRow>> {
    let uid = jwt.verify(token)?;
    Ok(users::find_by_uid(db, &uid).await?)
}

/// The user a partner API token belongs to, and the token's scope; `known` remembers verified
/// tokens for a moment. `client` is the caller's address.
pub async fn api_token_user(
    db: &PgPool,
    known: &users::KnownCredentials,
    token: &str,
    client: std::net::IpAddr,
) -> AppResult<Option<(users::UserRow, PartnerScope)>> {
    let hash = token_hash(token);
    if let Some(found) = known.api_tokens.get(&hash) {
        return Ok(Some(found));
    }
    let found = users::find_by_api_token(db, &hash, client).await?;
    if let Some(found) = &found {
        known.api_tokens.insert(hash, found.clone());
    }
    Ok(found)
}

// ---------------------------------------------------------------------------------------------
// Sign-in with a password: throttled per client address and per username, hashing bounded
// ---------------------------------------------------------------------------------------------

/// Attempts counted within this window; a key over its limit is locked for as long.
const THROTTLE_WINDOW_SECS: i64 = 15 * 60;
/// Failed attempts for one username from one address before that pair is locked.
const MAX_FAILURES_PER_USER_AND_ADDRESS: i32 = 5;
/// Failed attempts for one username from anywhere: many addresses guessing one password.
/// High, so that strangers cannot lock a partner out cheaply; and a partner whose Basic
/// credentials were verified recently is not asked again (see [`SignInGuard`]).
const MAX_FAILURES_PER_USER: i32 = 50;
/// Failed attempts from one address, whatever the username.
const MAX_FAILURES_PER_ADDRESS: i32 = 30;
/// Password hashes computed at once (argon2 takes about 19 MiB each); more wait briefly,
/// then get 429.
const HASHING_SLOTS: usize = 4;
const HASHING_WAIT: std::time::Duration = std::time::Duration::from_secs(2);
/// Verified Basic credentials are trusted without hashing again while they keep being used.
const VERIFIED_IDLE: std::time::Duration = std::time::Duration::from_secs(10 * 60);

/// What keeps password checking from being a denial of service: a bound on concurrent
/// hashing, one check at a time per username, and a memory of credentials already verified
/// (keyed by a keyed hash, so neither the password nor a plain digest of it is kept).
pub struct SignInGuard {
    hashing: tokio::sync::Semaphore,
    per_username: moka::sync::Cache<String, std::sync::Arc<tokio::sync::Mutex<()>>>,
    key: aws_lc_rs::hmac::Key,
}

impl Default for SignInGuard {
    fn default() -> Self {
        let mut secret = [0u8; 32];
        rand::rng().fill_bytes(&mut secret);
        SignInGuard {
            hashing: tokio::sync::Semaphore::new(HASHING_SLOTS),
            per_username: moka::sync::Cache::builder().max_capacity(10_000).time_to_idle(VERIFIED_IDLE).build(),
            key: aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &secret),
        }
    }
}

impl SignInGuard {
    /// The same credentials from the same address: a partner's integration runs from its own
    /// host, and a stranger who learns the password elsewhere gains nothing here.
    fn fingerprint(&self, username: &str, password: &str, client: std::net::IpAddr) -> String {
        let message = [username.as_bytes(), b"\0", password.as_bytes(), b"\0", client.to_string().as_bytes()].concat();
        hex::encode(aws_lc_rs::hmac::sign(&self.key, &message))
    }
}

/// Checks a username and password from `client`.
///
/// Each attempt is counted before the password is looked at, in one statement per key, and
/// one username is checked at a time in this process, so parallel guesses cannot slip past a
/// limit; a success takes its attempt back. The username-and-address and address limits come
/// first: strangers elsewhere cannot touch them. Credentials verified recently from the same
/// address pass without hashing and without the username's own limit, so many addresses
/// guessing a partner's password lock out everyone but the partner that keeps working. Unknown users, wrong
/// passwords and deactivated users get the same answer.
pub async fn sign_in(
    db: &PgPool,
    guard: &SignInGuard,
    known: &users::KnownCredentials,
    username: &str,
    password: &str,
    client: std::net::IpAddr,
) -> AppResult<users::UserRow> {
    let name = username.trim().to_lowercase();
    let one_at_a_time = guard.per_username.get_with(name.clone(), Default::default);
    let _turn = one_at_a_time.lock().await;
    let local = [
        (format!("user:{name}|ip:{client}"), MAX_FAILURES_PER_USER_AND_ADDRESS),
        (format!("ip:{client}"), MAX_FAILURES_PER_ADDRESS),
    ];
    count_attempt(db, &local).await?;
    let fingerprint = guard.fingerprint(&name, password, client);
    if let Some(verified) = known.passwords.get(&fingerprint) {
        // Still the same password, still active: a change made through another gateway
        // process counts at once, without hashing again.
        match users::find_by_id(db, verified.id).await? {
            Some(user) if user.is_current() && user.password == verified.password => {
                forgive(db, &local, None).await?;
                return Ok(user);
            }
            _ => known.passwords.invalidate(&fingerprint),
        }
    }
    let global = (format!("user:{name}"), MAX_FAILURES_PER_USER);
    count_attempt(db, std::slice::from_ref(&global)).await?;
    let _slot = tokio::time::timeout(HASHING_WAIT, guard.hashing.acquire())
        .await
        .map_err(|_| AppError::Busy(HASHING_WAIT.as_secs()))?
        .expect("the semaphore is never closed");
    let user = users::find_by_username(db, username.trim()).await?;
    let ok = verify_password(password.to_string(), user.as_ref().map(|u| u.password.clone())).await;
    match user {
        Some(mut user) if ok && user.is_current() => {
            forgive(db, &local, Some(&global.0)).await?;
            if is_legacy_hash(&user.password) {
                // A password the original dhis2gw hashed with bcrypt, proved: argon2id from now on.
                let upgraded = hash_password(password.to_string()).await?;
                sqlx::query!(
                    "UPDATE users SET password = $2 WHERE id = $1 AND password = $3",
                    user.id,
                    upgraded,
                    user.password
                )
                .execute(db)
                .await?;
                user.password = upgraded;
            }
            sqlx::query!(
                "UPDATE users SET last_login = now(), last_login_ip = $2 WHERE id = $1",
                user.id,
                client.to_string()
            )
            .execute(db)
            .await?;
            known.passwords.insert(fingerprint, user.clone());
            Ok(user)
        }
        _ => Err(AppError::Unauthorized("Invalid username or password".into())),
    }
}

/// A successful sign-in: the username's counts start again; the address's own attempt is
/// taken back (not all of them: a guesser must not reset its count with an account of its own).
async fn forgive(db: &PgPool, local: &[(String, i32); 2], username: Option<&str>) -> AppResult<()> {
    let [(pair, _), (address, _)] = local;
    let cleared: Vec<&str> = std::iter::once(pair.as_str()).chain(username).collect();
    sqlx::query!(
        r#"WITH cleared AS (DELETE FROM sign_in_attempts WHERE key = ANY($1))
           UPDATE sign_in_attempts SET failures = greatest(failures - 1, 0) WHERE key = $2"#,
        &cleared as &[&str],
        address
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Counts an attempt against every key; refuses (429) when any key is locked or goes over
/// its limit with this attempt, which then locks it for the window.
async fn count_attempt(db: &PgPool, keys: &[(String, i32)]) -> AppResult<()> {
    let names: Vec<String> = keys.iter().map(|(k, _)| k.clone()).collect();
    let counted = sqlx::query!(
        r#"INSERT INTO sign_in_attempts AS a (key, failures) SELECT k, 1 FROM unnest($1::text[]) AS k
           ON CONFLICT (key) DO UPDATE SET
             failures = CASE WHEN a.window_start < now() - make_interval(secs => $2) THEN 1 ELSE a.failures + 1 END,
             locked_until = CASE WHEN a.window_start < now() - make_interval(secs => $2) THEN NULL ELSE a.locked_until END,
             window_start = CASE WHEN a.window_start < now() - make_interval(secs => $2) THEN now() ELSE a.window_start END
           RETURNING key AS "key!", failures AS "failures!",
                     EXTRACT(EPOCH FROM (locked_until - now()))::bigint AS locked_for"#,
        &names,
        THROTTLE_WINDOW_SECS as f64,
    )
    .fetch_all(db)
    .await?;
    if let Some(seconds) = counted.iter().filter_map(|c| c.locked_for).filter(|s| *s > 0).max() {
        return Err(AppError::TooManyAttempts(seconds));
    }
    let over: Vec<String> = counted
        .iter()
        .filter(|c| keys.iter().any(|(key, limit)| *key == c.key && c.failures > *limit))
        .map(|c| c.key.clone())
        .collect();
    if over.is_empty() {
        return Ok(());
    }
    sqlx::query!(
        "UPDATE sign_in_attempts SET locked_until = now() + make_interval(secs => $2) WHERE key = ANY($1)",
        &over,
        THROTTLE_WINDOW_SECS as f64,
    )
    .execute(db)
    .await?;
    Err(AppError::TooManyAttempts(THROTTLE_WINDOW_SECS))
}

/// Forgets attempts whose window and lock are over, and refresh tokens that can no longer
/// be used; run by the scheduler.
pub async fn prune(db: &PgPool) -> sqlx::Result<(u64, u64)> {
    let attempts = sqlx::query!(
        r#"DELETE FROM sign_in_attempts WHERE window_start < now() - make_interval(secs => $1)
           AND (locked_until IS NULL OR locked_until < now())"#,
        THROTTLE_WINDOW_SECS as f64,
    )
    .execute(db)
    .await?
    .rows_affected();
    // Revoked ones are kept a day: presenting one again must still be recognised as reuse.
    let tokens =
        sqlx::query!("DELETE FROM refresh_tokens WHERE expires_at < now() OR revoked_at < now() - interval '1 day'")
            .execute(db)
            .await?
            .rows_affected();
    Ok((attempts, tokens))
}

#[cfg(test)]
mod tests {
    use base64::Engine;

    use super::*;

    #[test]
    fn jwt_round_trips_and_rejects_tampering_and_other_algorithms() {
        let keys = JwtKeys::new("0123456789abcdef0123456789abcdef", 900);
        let user = users::UserRow::test_user("Abcdefghijk", "alice", Role::Viewer);
        let (token, _) = keys.issue(&user).unwrap();
        assert_eq!(keys.verify(&token).unwrap(), "Abcdefghijk");
        let other = JwtKeys::new("another secret of at least 32 bytes!!", 900);
        assert!(other.verify(&token).is_err());
        // {"alg":"none"} with the same claims and no signature.
        let claims = token.split('.').nth(1).unwrap();
        let none = format!(
            "{}.{claims}.",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#)
        );
        assert!(keys.verify(&none).is_err());
    }
}
