//! The append-only audit log: who did what, to what, and when; and reading it back.

use dhis2gw_wire::{AuditEntry, AuditFilter, Page};
use serde_json::Value;
use sqlx::{PgExecutor, PgPool};

use crate::access::identity::AuthUser;
use crate::infra::error::AppResult;
use crate::infra::query::date_range;
use crate::infra::query::{like_pattern, paging};

/// Who acted: a signed-in user, or the command line.
pub enum Actor<'a> {
    User(&'a AuthUser),
    Cli,
}

pub async fn record<'e>(
    db: impl PgExecutor<'e>,
    actor: Actor<'_>,
    action: &str,
    target_type: &str,
    target_id: &str,
    detail: Value,
) -> sqlx::Result<()> {
    let (actor_id, actor_name) = match actor {
        Actor::User(u) => (Some(u.id), u.username.as_str()),
        Actor::Cli => (None, "cli"),
    };
    sqlx::query!(
        "INSERT INTO audit_log (actor_id, actor, action, target_type, target_id, detail) VALUES ($1, $2, $3, $4, $5, $6)",
        actor_id,
        actor_name,
        action,
        target_type,
        target_id,
        detail,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// The audit log, newest first.
pub async fn list(db: &PgPool, tz: chrono_tz::Tz, filter: AuditFilter) -> AppResult<Page<AuditEntry>> {
    let (page, size, offset) = paging(filter.page, filter.page_size, 50)?;
    let (from, to) = date_range(filter.from_date.as_deref(), filter.to_date.as_deref(), tz)?;
    let blank = |s: Option<String>| s.map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
    let (actor, action, target_type) = (blank(filter.actor), blank(filter.action), blank(filter.target_type));
    let target_id = blank(filter.target_id);
    let q = blank(filter.q).map(|q| like_pattern(&q));
    let total = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM audit_log
           WHERE ($1::text IS NULL OR lower(actor) = lower($1)) AND ($2::text IS NULL OR action = $2)
             AND ($3::text IS NULL OR target_type = $3) AND ($4::text IS NULL OR target_id = $4)
             AND ($5::timestamptz IS NULL OR created >= $5) AND ($6::timestamptz IS NULL OR created < $6)
             AND ($7::text IS NULL OR concat_ws(' ', actor, action, target_type, target_id, detail::text) ILIKE $7)"#,
        actor,
        action,
        target_type,
        target_id,
        from,
        to,
        q,
    )
    .fetch_one(db)
    .await?;
    let items = sqlx::query_as!(
        AuditEntry,
        r#"SELECT id, created, actor, action, target_type, target_id, detail FROM audit_log
           WHERE ($1::text IS NULL OR lower(actor) = lower($1)) AND ($2::text IS NULL OR action = $2)
             AND ($3::text IS NULL OR target_type = $3) AND ($4::text IS NULL OR target_id = $4)
             AND ($5::timestamptz IS NULL OR created >= $5) AND ($6::timestamptz IS NULL OR created < $6)
             AND ($7::text IS NULL OR concat_ws(' ', actor, action, target_type, target_id, detail::text) ILIKE $7)
           ORDER BY created DESC, id DESC LIMIT $8 OFFSET $9"#,
        actor,
        action,
        target_type,
        target_id,
        from,
        to,
        q,
        size,
        offset,
    )
    .fetch_all(db)
    .await?;
    Ok(Page::new(items, total, page, size))
}

/// Every action the audit log holds, in alphabetical order.
pub async fn actions(db: &PgPool) -> AppResult<Vec<String>> {
    Ok(sqlx::query_scalar!("SELECT DISTINCT action FROM audit_log ORDER BY action").fetch_all(db).await?)
}
