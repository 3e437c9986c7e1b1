//! Submissions as the DHIS2-compatible API shows them: DHIS2 jobs a client polls, each with
//! the primary DHIS2's answer once its delivery there is final.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::access::identity::AuthUser;
use crate::infra::error::AppResult;

/// How often a synchronous post looks whether DHIS2 has answered.
const WAIT_STEP: Duration = Duration::from_millis(100);

/// What DHIS2 answered the last delivery to the primary, once it is final.
pub struct Outcome {
    /// The delivery's final status (`succeeded`, `warning`, `failed`, `dead`), or `held`: DHIS2's
    /// answer is final for the client that posted, while the gateway keeps the values it
    /// refused for a closed period and sends them once DHIS2 opens it.
    pub status: String,
    pub http_status: u16,
    pub body: String,
    pub import_status: Option<String>,
    pub import_count: Option<Value>,
    pub at: DateTime<Utc>,
}

/// A job and where its submission stands.
pub struct Job {
    /// The submission's own status.
    pub status: String,
    pub outcome: Option<Outcome>,
}

/// The primary's final answer to `submission`, if there is one yet.
pub async fn outcome(db: &PgPool, submission: i64) -> AppResult<Option<Outcome>> {
    let row = sqlx::query!(
        r#"SELECT d.status, a.http_status, a.response_body, a.import_status, a.import_count, a.started_at, a.error
           FROM submission_destinations d JOIN dhis2_servers s ON s.id = d.server_id AND s.is_primary
           LEFT JOIN LATERAL (SELECT * FROM delivery_attempts a WHERE a.destination_id = d.id
                              ORDER BY a.id DESC LIMIT 1) a ON true
           WHERE d.submission_id = $1"#,
        submission
    )
    .fetch_optional(db)
    .await?;
    let answered = |status: &str| matches!(status, "succeeded" | "warning" | "failed" | "dead" | "held");
    let Some(row) = row.filter(|r| answered(&r.status)) else {
        return Ok(None);
    };
    let body = row.response_body.unwrap_or_else(|| {
        // Answers are not kept (api.save_response: false): say what is known.
        json!({"status": row.import_status, "importCount": row.import_count, "description": row.error}).to_string()
    });
    Ok(Some(Outcome {
        status: row.status,
        http_status: row.http_status.map_or(502, |s| s as u16),
        body,
        import_status: row.import_status,
        import_count: row.import_count,
        at: row.started_at.unwrap_or_else(Utc::now),
    }))
}

/// Waits up to `wait` for the primary's final answer to `submission`; `None` if it is still
/// pending then.
pub async fn wait_for_outcome(db: &PgPool, submission: i64, wait: Duration) -> AppResult<Option<Outcome>> {
    let deadline = Instant::now() + wait;
    loop {
        if let Some(outcome) = outcome(db, submission).await? {
            return Ok(Some(outcome));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        tokio::time::sleep(WAIT_STEP).await;
    }
}

/// The job `job` of `kind` (`aggregate`, `tracker`), if the caller may see it: partners see
/// only their own.
pub async fn find(db: &PgPool, caller: &AuthUser, job: &str, kind: &str) -> AppResult<Option<Job>> {
    let owner = (!caller.role.is_staff()).then_some(caller.id);
    let Some(found) = sqlx::query!(
        "SELECT id, status FROM submission_log WHERE job_uid = $1 AND kind = $2 AND ($3::bigint IS NULL OR user_id = $3)",
        job,
        kind,
        owner
    )
    .fetch_optional(db)
    .await?
    else {
        return Ok(None);
    };
    Ok(Some(Job { status: found.status, outcome: outcome(db, found.id).await? }))
}
