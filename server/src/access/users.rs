//! Users and their partner API tokens: plain domain functions over PostgreSQL, used by the
//! HTTP handlers and by `dhis2gw create-user`.

use chrono::{DateTime, Utc};
use dhis2gw_wire::{
    ApiToken, CreateApiToken, CreateUser, CreatedApiToken, IntakeValidation, Page, RegisterCompletion, Role,
    UpdateUser, User, UserFilter,
};
use serde_json::{Value, json};
use sqlx::{PgExecutor, PgPool, Postgres, Transaction};

use crate::access::audit::{self, Actor};
use crate::access::identity::{self, AuthUser};
use crate::access::secrets;
use crate::infra::error::{AppError, AppResult, on_unique};
use crate::infra::query::{like_pattern, paging};
use crate::infra::uid;

const MIN_PASSWORD_CHARS: usize = 8;
const MAX_PASSWORD_CHARS: usize = 1024;

/// A `users` row, password hash included: it stays inside the server.
#[derive(Clone, Debug)]
pub struct UserRow {
    pub id: i64,
    pub uid: String,
    pub username: String,
    pub password: String,
    pub firstname: String,
    pub lastname: String,
    pub email: Option<String>,
    pub telephone: String,
    pub role: String,
    pub is_active: bool,
    pub last_login: Option<DateTime<Utc>>,
    pub created: DateTime<Utc>,
    pub updated: DateTime<Utc>,
    pub intake_validation: Option<String>,
    pub register_completion: Option<String>,
    /// A [`dhis2gw_wire::PartnerScope`] as stored (see [`partners`]).
    pub scope: Value,
    pub requests_per_second: Option<i32>,
    pub values_per_day: Option<i64>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_login_ip: Option<String>,
}

impl UserRow {
    pub fn role(&self) -> anyhow::Result<Role> {
        self.role.parse().map_err(anyhow::Error::msg)
    }

    /// The user's own intake validation, if set (the column allows only the three values).
    pub fn intake_validation(&self) -> Option<IntakeValidation> {
        self.intake_validation.as_deref().and_then(|v| v.parse().ok())
    }

    /// The user's own completion registration, if set (the column allows only the three values).
    pub fn register_completion(&self) -> Option<RegisterCompletion> {
        self.register_completion.as_deref().and_then(|v| v.parse().ok())
    }

    /// Who this user is when calling, once their credentials are proved.
    pub fn identity(&self) -> anyhow::Result<AuthUser> {
        Ok(AuthUser {
            id: self.id,
            uid: self.uid.clone(),
            username: self.username.clone(),
            role: self.role()?,
            intake_validation: self.intake_validation(),
            register_completion: self.register_completion(),
            scopes: [identity::stored_scope(&self.scope)].into_iter().filter(|s| !s.is_empty()).collect(),
            requests_per_second: self.requests_per_second.and_then(|r| u32::try_from(r).ok()),
            values_per_day: self.values_per_day,
        })
    }

    /// Whether the user may still sign in and call: active and not past its expiry.
    pub fn is_current(&self) -> bool {
        self.is_active && self.expires_at.is_none_or(|at| at > Utc::now())
    }

    pub fn to_wire(&self) -> anyhow::Result<User> {
        let role = self.role()?;
        Ok(User {
            uid: self.uid.clone(),
            username: self.username.clone(),
            firstname: self.firstname.clone(),
            lastname: self.lastname.clone(),
            email: self.email.clone(),
            telephone: self.telephone.clone(),
            role,
            is_active: self.is_active,
            is_admin_user: role == Role::Admin,
            intake_validation: self.intake_validation(),
            register_completion: self.register_completion(),
            last_login: self.last_login,
            created: self.created,
            updated: self.updated,
        })
    }

    #[cfg(test)]
    pub fn test_user(uid: &str, username: &str, role: Role) -> Self {
        UserRow {
            id: 1,
            uid: uid.into(),
            username: username.into(),
            password: String::new(),
            firstname: String::new(),
            lastname: String::new(),
            email: None,
            telephone: String::new(),
            role: role.as_str().into(),
            is_active: true,
            last_login: None,
            created: Utc::now(),
            updated: Utc::now(),
            intake_validation: None,
            register_completion: None,
            scope: json!({}),
            requests_per_second: None,
            values_per_day: None,
            expires_at: None,
            last_login_ip: None,
        }
    }
}

pub async fn find_by_id(db: &PgPool, id: i64) -> sqlx::Result<Option<UserRow>> {
    sqlx::query_as!(UserRow, "SELECT * FROM users WHERE id = $1", id).fetch_optional(db).await
}

pub async fn find_by_uid(db: &PgPool, uid: &str) -> sqlx::Result<Option<UserRow>> {
    sqlx::query_as!(UserRow, "SELECT * FROM users WHERE uid = $1", uid).fetch_optional(db).await
}

pub async fn find_by_username(db: &PgPool, username: &str) -> sqlx::Result<Option<UserRow>> {
    sqlx::query_as!(UserRow, "SELECT * FROM users WHERE lower(username) = lower($1)", username).fetch_optional(db).await
}

/// The owner of an active, unexpired API token (given as its hash), and the token's own scope;
/// `client` is where the call came from, remembered as the token's last use.
pub async fn find_by_api_token(
    db: &PgPool,
    hash: &str,
    client: std::net::IpAddr,
) -> sqlx::Result<Option<(UserRow, dhis2gw_wire::PartnerScope)>> {
    let found = sqlx::query!(
        r#"SELECT id, user_id, last_used_at, last_used_ip, scope FROM user_apitoken
           WHERE token_hash = $1 AND is_active AND (expires_at IS NULL OR expires_at > now())"#,
        hash
    )
    .fetch_optional(db)
    .await?;
    let Some(token) = found else { return Ok(None) };
    // Written at most once a minute (or from a new address), so a busy partner's calls stay reads.
    let client = client.to_string();
    if token.last_used_at.is_none_or(|at| at < Utc::now() - chrono::Duration::minutes(1))
        || token.last_used_ip.as_deref() != Some(client.as_str())
    {
        sqlx::query!(
            "UPDATE user_apitoken SET last_used_at = now(), last_used_ip = $2 WHERE id = $1",
            token.id,
            client
        )
        .execute(db)
        .await?;
    }
    Ok(find_by_id(db, token.user_id).await?.map(|user| (user, identity::stored_scope(&token.scope))))
}

pub async fn count(db: &PgPool) -> sqlx::Result<i64> {
    sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM users"#).fetch_one(db).await
}

// ---------------------------------------------------------------------------------------------
// Field checks, collected so one answer names every bad field
// ---------------------------------------------------------------------------------------------

#[derive(Default)]
pub(crate) struct Problems(Vec<String>);

impl Problems {
    pub(crate) fn check(&mut self, ok: bool, field: &str, problem: &str) {
        if !ok {
            self.0.push(format!("{field}: {problem}"));
        }
    }

    /// A problem already worded `field: problem`.
    pub(crate) fn push(&mut self, problem: String) {
        self.0.push(problem);
    }

    fn username(&mut self, username: &str) {
        let ok = (1..=150).contains(&username.chars().count())
            && username.chars().all(|c| c.is_ascii_alphanumeric() || "._@-".contains(c));
        self.check(ok, "username", "1 to 150 characters: letters, digits and . _ @ - only");
    }

    fn password(&mut self, password: &str) {
        let n = password.chars().count();
        self.check(
            (MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&n),
            "password",
            &format!("must be {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters"),
        );
    }

    fn email(&mut self, email: &str) {
        let ok = email.is_empty()
            || (email.len() <= 254
                && email.split_once('@').is_some_and(|(l, d)| !l.is_empty() && d.contains('.') && !d.ends_with('.'))
                && !email.chars().any(|c| c.is_whitespace() || c.is_control()));
        self.check(ok, "email", "not an email address");
    }

    fn intake_validation(&mut self, value: &str) {
        let ok = value.trim().is_empty() || value.parse::<IntakeValidation>().is_ok();
        self.check(ok, "intake_validation", "strict, partial or off (empty: the gateway's setting)");
    }

    fn register_completion(&mut self, value: &str) {
        let ok = value.trim().is_empty() || value.parse::<RegisterCompletion>().is_ok();
        self.check(ok, "register_completion", "always, when_requested or never (empty: the gateway's setting)");
    }

    fn text(&mut self, field: &str, value: &str) {
        self.check(value.chars().count() <= 200 && !value.contains('\0'), field, "at most 200 characters");
    }

    pub(crate) fn finish(self) -> AppResult<()> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(AppError::BadRequest { message: "Invalid user".into(), detail: self.0 })
        }
    }
}

fn blank_to_none(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

// ---------------------------------------------------------------------------------------------
// Users
// ---------------------------------------------------------------------------------------------

/// Checks and inserts a user, recording nothing: the building block of [`create`] and
/// [`bootstrap`] (and of test fixtures).
pub async fn insert(db: impl PgExecutor<'_>, input: CreateUser) -> AppResult<UserRow> {
    let username = input.username.trim().to_string();
    let email = blank_to_none(input.email);
    let mut problems = Problems::default();
    problems.username(&username);
    problems.password(&input.password);
    problems.email(email.as_deref().unwrap_or_default());
    for (field, value) in
        [("firstname", &input.firstname), ("lastname", &input.lastname), ("telephone", &input.telephone)]
    {
        problems.text(field, value);
    }
    problems.finish()?;
    let role = input.role.unwrap_or(if input.is_admin_user { Role::Admin } else { Role::Viewer });
    let hash = secrets::hash_password(input.password).await?;
    sqlx::query_as!(
        UserRow,
        r#"INSERT INTO users (uid, username, password, firstname, lastname, email, telephone, role, is_active)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING *"#,
        uid::generate(),
        username,
        hash,
        input.firstname.trim(),
        input.lastname.trim(),
        email,
        input.telephone.trim(),
        role.as_str(),
        input.is_active,
    )
    .fetch_one(db)
    .await
    .map_err(|e| on_unique(e, "users_username_key", "username"))
}

/// Creates a user, with its audit entry in the same transaction.
pub async fn create(db: &PgPool, actor: Actor<'_>, input: CreateUser) -> AppResult<UserRow> {
    created(db, actor, "user.create", input).await
}

/// Creates the first admin of an unattended install (`server.bootstrap_admin_*`).
pub async fn bootstrap(db: &PgPool, input: CreateUser) -> AppResult<UserRow> {
    created(db, Actor::Cli, "user.bootstrap", input).await
}

async fn created(db: &PgPool, actor: Actor<'_>, action: &str, input: CreateUser) -> AppResult<UserRow> {
    let mut tx = db.begin().await?;
    let row = insert(&mut *tx, input).await?;
    let detail = json!({"username": row.username, "role": row.role});
    audit::record(&mut *tx, actor, action, "user", &row.uid, detail).await?;
    tx.commit().await?;
    Ok(row)
}

pub async fn get(db: &PgPool, uid: &str) -> AppResult<UserRow> {
    find_by_uid(db, uid).await?.ok_or_else(|| AppError::NotFound(format!("User {uid} not found")))
}

pub async fn list(db: &PgPool, filter: UserFilter) -> AppResult<Page<User>> {
    let (page, size, offset) = paging(filter.page, filter.page_size, 50)?;
    let username = filter.username.as_deref().map(like_pattern);
    let email = filter.email.as_deref().map(like_pattern);
    let role = filter.role.map(Role::as_str);
    let total = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM users
           WHERE ($1::text IS NULL OR username ILIKE $1) AND ($2::text IS NULL OR email ILIKE $2)
             AND ($3::text IS NULL OR role = $3) AND ($4::bool IS NULL OR is_active = $4)"#,
        username,
        email,
        role,
        filter.is_active,
    )
    .fetch_one(db)
    .await?;
    let rows = sqlx::query_as!(
        UserRow,
        r#"SELECT * FROM users
           WHERE ($1::text IS NULL OR username ILIKE $1) AND ($2::text IS NULL OR email ILIKE $2)
             AND ($3::text IS NULL OR role = $3) AND ($4::bool IS NULL OR is_active = $4)
           ORDER BY created DESC, id DESC LIMIT $5 OFFSET $6"#,
        username,
        email,
        role,
        filter.is_active,
        size,
        offset,
    )
    .fetch_all(db)
    .await?;
    let items = rows.iter().map(UserRow::to_wire).collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Page::new(items, total, page, size))
}

/// Applies a partial update; omitted fields keep their values. Changing the password or
/// deactivating the user ends their sessions; every credential is checked afresh after.
pub async fn update(
    db: &PgPool,
    known: &KnownCredentials,
    actor: Actor<'_>,
    uid: &str,
    patch: UpdateUser,
) -> AppResult<UserRow> {
    // What changed, never the password itself.
    let mut changed = serde_json::to_value(&patch).unwrap_or_default();
    if let Some(password) = changed.get_mut("password") {
        *password = json!("(changed)");
    }
    changed_user(db, known, actor, "user.update", changed, uid, patch).await
}

/// Deactivates a user (users are never deleted, so their history stays attributable).
pub async fn deactivate(db: &PgPool, known: &KnownCredentials, actor: Actor<'_>, uid: &str) -> AppResult<UserRow> {
    let patch = UpdateUser { is_active: Some(false), ..Default::default() };
    changed_user(db, known, actor, "user.deactivate", json!({}), uid, patch).await
}

async fn changed_user(
    db: &PgPool,
    known: &KnownCredentials,
    actor: Actor<'_>,
    action: &str,
    detail: Value,
    uid: &str,
    patch: UpdateUser,
) -> AppResult<UserRow> {
    let current = get(db, uid).await?;
    let username = patch.username.as_deref().map(str::trim);
    let email = patch.email.map(|e| e.trim().to_string());
    let mut problems = Problems::default();
    if let Some(u) = username {
        problems.username(u);
    }
    if let Some(p) = &patch.password {
        problems.password(p);
    }
    if let Some(e) = &email {
        problems.email(e);
    }
    if let Some(v) = &patch.intake_validation {
        problems.intake_validation(v);
    }
    if let Some(v) = &patch.register_completion {
        problems.register_completion(v);
    }
    for (field, value) in
        [("firstname", &patch.firstname), ("lastname", &patch.lastname), ("telephone", &patch.telephone)]
    {
        if let Some(v) = value {
            problems.text(field, v);
        }
    }
    problems.finish()?;
    let hash = match patch.password {
        Some(p) => Some(secrets::hash_password(p).await?),
        None => None,
    };
    let ends_sessions = hash.is_some() || patch.is_active == Some(false);
    let mut tx = db.begin().await?;
    let stops_being_admin = current.role == Role::Admin.as_str()
        && current.is_active
        && (patch.role.is_some_and(|r| r != Role::Admin) || patch.is_active == Some(false));
    if stops_being_admin {
        // Every active admin is locked, in one order, so two admins demoting each other at once
        // cannot both succeed (the second sees the first's change) nor deadlock.
        let admins =
            sqlx::query_scalar!("SELECT id FROM users WHERE role = 'admin' AND is_active ORDER BY id FOR UPDATE")
                .fetch_all(&mut *tx)
                .await?;
        let others = admins.iter().filter(|id| **id != current.id).count();
        if others == 0 {
            return Err(AppError::Conflict(format!(
                "{} is the last active admin: make another user an admin first, or nobody could manage users, tokens and servers",
                current.username
            )));
        }
    }
    let row = sqlx::query_as!(
        UserRow,
        r#"UPDATE users SET
             username  = COALESCE($2, username),
             password  = COALESCE($3, password),
             firstname = COALESCE($4, firstname),
             lastname  = COALESCE($5, lastname),
             email     = CASE WHEN $6::text IS NULL THEN email ELSE NULLIF($6, '') END,
             telephone = COALESCE($7, telephone),
             role      = COALESCE($8, role),
             is_active = COALESCE($9, is_active),
             intake_validation = CASE WHEN $10::text IS NULL THEN intake_validation ELSE NULLIF($10, '') END,
             register_completion = CASE WHEN $11::text IS NULL THEN register_completion ELSE NULLIF($11, '') END
           WHERE id = $1 RETURNING *"#,
        current.id,
        username,
        hash,
        patch.firstname.as_deref().map(str::trim),
        patch.lastname.as_deref().map(str::trim),
        email,
        patch.telephone.as_deref().map(str::trim),
        patch.role.map(Role::as_str),
        patch.is_active,
        patch.intake_validation.as_deref().map(|v| v.trim().to_ascii_lowercase()),
        patch.register_completion.as_deref().map(|v| v.trim().to_ascii_lowercase()),
    )
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| on_unique(e, "users_username_key", "username"))?;
    if ends_sessions {
        sqlx::query!("UPDATE refresh_tokens SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL", row.id)
            .execute(&mut *tx)
            .await?;
    }
    audit::record(&mut *tx, actor, action, "user", uid, detail).await?;
    tx.commit().await?;
    known.forget_all();
    Ok(row)
}

// ---------------------------------------------------------------------------------------------
// Partner API tokens
// ---------------------------------------------------------------------------------------------

struct TokenRow {
    id: i64,
    name: String,
    token_prefix: String,
    is_active: bool,
    expires_at: Option<DateTime<Utc>>,
    last_used_at: Option<DateTime<Utc>>,
    last_used_ip: Option<String>,
    scope: Value,
    rotated_to: Option<i64>,
    created: DateTime<Utc>,
}

impl From<TokenRow> for ApiToken {
    fn from(r: TokenRow) -> Self {
        ApiToken {
            id: r.id,
            name: r.name,
            prefix: r.token_prefix,
            is_active: r.is_active,
            expires_at: r.expires_at,
            last_used_at: r.last_used_at,
            last_used_ip: r.last_used_ip,
            scope: identity::stored_scope(&r.scope),
            rotated_to: r.rotated_to,
            created: r.created,
        }
    }
}

/// The longest a rotated token keeps working beside its successor.
const MAX_ROTATION_OVERLAP_SECS: u64 = 30 * 24 * 3600;

/// A new API token for the user `uid`; the answer is the only time the token is shown.
/// `scope` is the input's, resolved by `submissions::partner_scope::resolve`.
pub async fn create_token(
    db: &PgPool,
    actor: Actor<'_>,
    uid: &str,
    input: CreateApiToken,
    scope: dhis2gw_wire::PartnerScope,
) -> AppResult<CreatedApiToken> {
    let user = get(db, uid).await?;
    let mut problems = Problems::default();
    problems.text("name", &input.name);
    problems.check(input.expires_at.is_none_or(|t| t > Utc::now()), "expires_at", "must be in the future");
    problems.finish()?;
    let mut tx = db.begin().await?;
    let new = NewToken { name: input.name.trim(), expires_at: input.expires_at, scope: json!(scope) };
    let created = insert_token(&mut tx, actor, &user, new, "token.create").await?;
    tx.commit().await?;
    Ok(created)
}

/// Replaces a token with a new one of the same name, scope and expiry; the old one keeps
/// working for `overlap_secs` more (so the partner system can switch without a gap), then
/// stops. The answer is the only time the new token is shown.
pub async fn rotate_token(
    db: &PgPool,
    known: &KnownCredentials,
    actor: Actor<'_>,
    uid: &str,
    token_id: i64,
    overlap_secs: u64,
) -> AppResult<CreatedApiToken> {
    let user = get(db, uid).await?;
    let mut problems = Problems::default();
    let most = MAX_ROTATION_OVERLAP_SECS;
    problems.check(overlap_secs <= most, "overlap_secs", &format!("at most {most} (30 days)"));
    problems.finish()?;
    let mut tx = db.begin().await?;
    let old = sqlx::query!(
        r#"SELECT name, expires_at, scope FROM user_apitoken
           WHERE id = $1 AND user_id = $2 AND is_active AND rotated_to IS NULL
             AND (expires_at IS NULL OR expires_at > now())
           FOR UPDATE"#,
        token_id,
        user.id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| {
        AppError::NotFound(format!("No working, unrotated token {token_id} of user {} to rotate", user.uid))
    })?;
    let new = NewToken { name: &old.name, expires_at: old.expires_at, scope: old.scope };
    let created = insert_token(&mut tx, actor, &user, new, "token.rotate").await?;
    sqlx::query!(
        r#"UPDATE user_apitoken
           SET rotated_to = $2, expires_at = LEAST(expires_at, now() + make_interval(secs => $3))
           WHERE id = $1"#,
        token_id,
        created.info.id,
        overlap_secs as f64,
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    known.forget_all();
    Ok(created)
}

/// The name of the tokens `POST /users/getToken` gives for Basic credentials.
pub const GET_TOKEN_NAME: &str = "getToken";
/// How many of those a user keeps working at once.
const GET_TOKENS_KEPT: i64 = 10;

/// A token for the original dhis2gw's `POST /users/getToken` with Basic credentials, living
/// `ttl_secs`. Each call makes a new one: the original revoked the caller's other tokens,
/// which broke integrations sharing a user; here only those of this kind beyond the newest
/// [`GET_TOKENS_KEPT`] stop working, so a script asking before every post cannot pile them up.
pub async fn issue_get_token(db: &PgPool, user: &UserRow, ttl_secs: u64) -> AppResult<CreatedApiToken> {
    let caller = user.identity()?;
    let expires = Utc::now() + chrono::Duration::seconds(ttl_secs as i64);
    let mut tx = db.begin().await?;
    let new = NewToken { name: GET_TOKEN_NAME, expires_at: Some(expires), scope: json!({}) };
    let created = insert_token(&mut tx, Actor::User(&caller), user, new, "token.create").await?;
    sqlx::query!(
        r#"UPDATE user_apitoken SET is_active = false
           WHERE user_id = $1 AND name = $2 AND is_active
             AND id NOT IN (SELECT id FROM user_apitoken WHERE user_id = $1 AND name = $2 AND is_active
                            ORDER BY created DESC, id DESC LIMIT $3)"#,
        user.id,
        GET_TOKEN_NAME,
        GET_TOKENS_KEPT
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(created)
}

/// What a new token is: its name, expiry and scope (as stored).
struct NewToken<'a> {
    name: &'a str,
    expires_at: Option<DateTime<Utc>>,
    scope: Value,
}

async fn insert_token(
    tx: &mut Transaction<'_, Postgres>,
    actor: Actor<'_>,
    user: &UserRow,
    new: NewToken<'_>,
    action: &str,
) -> AppResult<CreatedApiToken> {
    let token = secrets::random_token("dgw_");
    let row = sqlx::query_as!(
        TokenRow,
        r#"INSERT INTO user_apitoken (user_id, name, token_hash, token_prefix, expires_at, scope)
           VALUES ($1, $2, $3, $4, $5, $6)
           RETURNING id, name, token_prefix, is_active, expires_at, last_used_at, last_used_ip, scope, rotated_to, created"#,
        user.id,
        new.name,
        secrets::token_hash(&token),
        token.chars().take(10).collect::<String>(),
        new.expires_at,
        new.scope,
    )
    .fetch_one(&mut **tx)
    .await?;
    let detail = json!({"token_id": row.id, "name": row.name, "expires_at": row.expires_at, "scope": row.scope});
    audit::record(&mut **tx, actor, action, "user", &user.uid, detail).await?;
    Ok(CreatedApiToken { token, info: row.into() })
}

pub async fn list_tokens(db: &PgPool, user: &UserRow) -> AppResult<Vec<ApiToken>> {
    let rows = sqlx::query_as!(
        TokenRow,
        r#"SELECT id, name, token_prefix, is_active, expires_at, last_used_at, last_used_ip, scope, rotated_to, created
           FROM user_apitoken WHERE user_id = $1 ORDER BY created DESC, id DESC"#,
        user.id
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(ApiToken::from).collect())
}

/// Revokes an API token of the user `uid`: it stops working at once.
pub async fn revoke_token(
    db: &PgPool,
    known: &KnownCredentials,
    actor: Actor<'_>,
    uid: &str,
    token_id: i64,
) -> AppResult<ApiToken> {
    let user = get(db, uid).await?;
    let mut tx = db.begin().await?;
    let token = sqlx::query_as!(
        TokenRow,
        r#"UPDATE user_apitoken SET is_active = false WHERE id = $1 AND user_id = $2
           RETURNING id, name, token_prefix, is_active, expires_at, last_used_at, last_used_ip, scope, rotated_to, created"#,
        token_id,
        user.id
    )
    .fetch_optional(&mut *tx)
    .await?
    .map(ApiToken::from)
    .ok_or_else(|| AppError::NotFound(format!("Token {token_id} of user {} not found", user.uid)))?;
    audit::record(&mut *tx, actor, "token.revoke", "user", uid, json!({"token_id": token_id})).await?;
    tx.commit().await?;
    known.forget_all();
    Ok(token)
}

/// Credentials verified recently, so repeated requests skip the lookup or the hashing; every
/// change to a user or a token forgets them all, so the change counts at once.
pub struct KnownCredentials {
    /// Partner API token hash → its owner; short-lived, as another gateway process may revoke.
    pub api_tokens: moka::sync::Cache<String, (UserRow, dhis2gw_wire::PartnerScope)>,
    /// Password sign-ins by their fingerprint (see `auth::SignInGuard`) → the user.
    pub passwords: moka::sync::Cache<String, UserRow>,
}

/// How long a verified API token is trusted without a lookup.
const KNOWN_TOKEN_TTL: std::time::Duration = std::time::Duration::from_secs(5);
/// How long verified password credentials are remembered while unused.
const KNOWN_PASSWORD_IDLE: std::time::Duration = std::time::Duration::from_secs(10 * 60);

impl Default for KnownCredentials {
    fn default() -> Self {
        KnownCredentials {
            api_tokens: moka::sync::Cache::builder().max_capacity(10_000).time_to_live(KNOWN_TOKEN_TTL).build(),
            passwords: moka::sync::Cache::builder().max_capacity(10_000).time_to_idle(KNOWN_PASSWORD_IDLE).build(),
        }
    }
}

impl KnownCredentials {
    pub fn forget_all(&self) {
        self.api_tokens.invalidate_all();
        self.passwords.invalidate_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bad_field_is_named_at_once() {
        let mut p = Problems::default();
        p.username("bad name!");
        p.password("short");
        p.email("nope");
        let Err(AppError::BadRequest { detail, .. }) = p.finish() else { panic!("expected 400") };
        let fields: Vec<_> = detail.iter().map(|d| d.split(':').next().unwrap()).collect();
        assert_eq!(fields, ["username", "password", "email"]);
    }
}
