//! The DHIS2 servers submissions go to. The primary comes from the `api` section of the
//! configuration and is rewritten from it on every start; its credentials stay in the
//! configuration and are never stored in the database.

use sqlx::PgPool;

use crate::config::Config;
use crate::uid;

/// Records the configured primary server; returns its id, or `None` when none is configured.
pub async fn sync_primary(db: &PgPool, config: &Config) -> sqlx::Result<Option<i64>> {
    let api = &config.api;
    if api.dhis2_base_url.trim().is_empty() {
        return Ok(None);
    }
    let id = sqlx::query_scalar!(
        r#"INSERT INTO dhis2_servers (uid, name, base_url, auth_method, username, timeout_secs, max_concurrent, is_primary, origin)
           VALUES ($1, 'primary', $2, $3, $4, $5, $6, true, 'config')
           ON CONFLICT (name) DO UPDATE SET base_url = EXCLUDED.base_url, auth_method = EXCLUDED.auth_method,
               username = EXCLUDED.username, timeout_secs = EXCLUDED.timeout_secs,
               max_concurrent = EXCLUDED.max_concurrent, is_primary = true, origin = 'config'
           RETURNING id"#,
        uid::generate(),
        api.dhis2_base_url.trim(),
        api.effective_auth_method().as_str(),
        api.dhis2_user,
        api.dhis2_timeout as i32,
        config.server.max_concurrent as i32,
    )
    .fetch_one(db)
    .await?;
    Ok(Some(id))
}
