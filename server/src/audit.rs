//! The append-only audit log: who did what, to what, and when.

use serde_json::Value;
use sqlx::PgExecutor;

use crate::auth::AuthUser;

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
