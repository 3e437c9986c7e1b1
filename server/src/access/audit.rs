//! The append-only audit log: who did what, to what, and when; and reading it back.

use dhis2gw_wire::{AuditEntry, AuditFilter, Page};
use serde_json::Value;
use sqlx::{PgExecutor, PgPool};

use crate::access::identity::AuthUser;
use crate::infra::error::AppResult;
use crate::infra::export::{self, Export, Format};
use crate::infra::query::date_range;
use crate::infra::query::{like_pattern, paging};
use futures_util::TryStreamExt;

/// Who acted: a signed-in user, the command line, or the gateway on its own schedule.
pub enum Actor<'a> {
    User(&'a AuthUser),
    Cli,
    Scheduler,
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
        Actor::Scheduler => (None, "scheduler"),
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

/// The filter checked, as `matching_audit(jsonb)` takes it.
fn criteria(filter: &AuditFilter, tz: chrono_tz::Tz) -> AppResult<Value> {
    let (from, to) = date_range(filter.from_date.as_deref(), filter.to_date.as_deref(), tz)?;
    let blank = |s: &Option<String>| s.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_string);
    Ok(serde_json::json!({
        "actor": blank(&filter.actor),
        "action": blank(&filter.action),
        "target_type": blank(&filter.target_type),
        "target_id": blank(&filter.target_id),
        "from": from,
        "to": to,
        "q": blank(&filter.q).map(|q| like_pattern(&q)),
    }))
}

/// The audit log, newest first.
pub async fn list(db: &PgPool, tz: chrono_tz::Tz, filter: AuditFilter) -> AppResult<Page<AuditEntry>> {
    let (page, size, offset) = paging(filter.page, filter.page_size, 50)?;
    let c = criteria(&filter, tz)?;
    let total = sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM matching_audit($1)"#, c).fetch_one(db).await?;
    let items = sqlx::query_as!(
        AuditEntry,
        r#"SELECT id AS "id!", created AS "created!", actor AS "actor!", action AS "action!",
               target_type AS "target_type!", target_id AS "target_id!", detail AS "detail!"
           FROM matching_audit($1) ORDER BY created DESC, id DESC LIMIT $2 OFFSET $3"#,
        c,
        size,
        offset,
    )
    .fetch_all(db)
    .await?;
    Ok(Page::new(items, total, page, size))
}

const EXPORT_COLUMNS: &[&str] = &["id", "created", "actor", "action", "target_type", "target_id", "detail"];

/// Every entry the filter matches, newest first, streamed as CSV or XLSX.
pub fn export(db: &PgPool, tz: chrono_tz::Tz, filter: &AuditFilter) -> AppResult<Export> {
    let format = Format::parse(filter.format.as_deref())?;
    let c = criteria(filter, tz)?;
    let db = db.clone();
    Ok(export::start(format, "dhis2gw_audit_log", "Audit log", EXPORT_COLUMNS, move |mut rows| async move {
        let mut entries = sqlx::query!(
            r#"SELECT id AS "id!", created AS "created!", actor AS "actor!", action AS "action!",
                   target_type AS "target_type!", target_id AS "target_id!", detail AS "detail!"
               FROM matching_audit($1) ORDER BY created DESC, id DESC"#,
            c
        )
        .fetch(&db);
        while let Some(e) = entries.try_next().await? {
            let row = vec![
                e.id.to_string(),
                e.created.to_rfc3339(),
                e.actor,
                e.action,
                e.target_type,
                e.target_id,
                e.detail.to_string(),
            ];
            if rows.push(row).await.is_err() {
                break;
            }
        }
        drop(entries);
        Ok(rows)
    }))
}

/// Every action the audit log holds, in alphabetical order.
pub async fn actions(db: &PgPool) -> AppResult<Vec<String>> {
    Ok(sqlx::query_scalar!("SELECT DISTINCT action FROM audit_log ORDER BY action").fetch_all(db).await?)
}
