//! The daily digest at `alerts.digest_time`: what fires, the last 24 hours in figures, and
//! the partners that did not report; and, with `alerts.partner_digests`, each partner's own
//! refused values to its email address. Composed once a day by whichever process checks first.

use chrono::{DateTime, Duration, TimeZone, Utc};
use sqlx::PgConnection;

use super::checks::span;
use crate::app::AppState;
use crate::infra::error::AppResult;
use crate::infra::notify;

/// A digest whose time passed longer ago than this (the gateway was down) is not sent late.
const LATE_AT_MOST: Duration = Duration::hours(12);
/// Refused values listed in a partner's digest; the rest are counted.
const PARTNER_LINES: i64 = 50;

pub async fn compose_when_due(state: &AppState, tx: &mut PgConnection, gateway: &str) -> AppResult<()> {
    let Ok(Some(at)) = state.config.alerts.digest_at() else { return Ok(()) };
    let tz = state.config.server.timezone;
    let now = Utc::now();
    let today = now.with_timezone(&tz).date_naive();
    let Some(due) = tz.from_local_datetime(&today.and_time(at)).earliest().map(|t| t.to_utc()) else {
        return Ok(());
    };
    if now < due || now - due > LATE_AT_MOST {
        return Ok(());
    }
    let claimed =
        sqlx::query_scalar!("INSERT INTO alert_digests (day) VALUES ($1) ON CONFLICT DO NOTHING RETURNING day", today)
            .fetch_optional(&mut *tx)
            .await?;
    if claimed.is_none() {
        return Ok(());
    }
    let since = due - Duration::days(1);
    let recipients = &state.config.alerts.recipients;
    if !recipients.is_empty() {
        let (title, body) = gateway_digest(tx, since, gateway, &today.to_string()).await?;
        notify::enqueue(&mut *tx, "digest", None, None, recipients, &title, &body).await?;
    }
    if state.config.alerts.partner_digests {
        partner_digests(tx, since, gateway).await?;
    }
    Ok(())
}

async fn gateway_digest(
    tx: &mut PgConnection,
    since: DateTime<Utc>,
    gateway: &str,
    day: &str,
) -> AppResult<(String, String)> {
    let firing = sqlx::query!("SELECT rule, message, firing_since FROM alert_states ORDER BY firing_since")
        .fetch_all(&mut *tx)
        .await?;
    let by_status = sqlx::query!(
        r#"SELECT status, count(*) AS "n!" FROM submission_log WHERE submitted_at >= $1 GROUP BY status ORDER BY status"#,
        since
    )
    .fetch_all(&mut *tx)
    .await?;
    let values = sqlx::query!(
        r#"SELECT count(*) FILTER (WHERE outcome = 'refused' AND decided_at >= $1) AS "refused!",
               count(*) FILTER (WHERE outcome = 'held') AS "held!"
           FROM value_outcomes WHERE outcome IN ('refused', 'held')"#,
        since
    )
    .fetch_one(&mut *tx)
    .await?;
    // Partners that reported in the month before and not since.
    let silent = sqlx::query!(
        r#"SELECT u.username, max(l.submitted_at) AS "last!"
           FROM users u JOIN submission_log l ON l.user_id = u.id
           WHERE u.role = 'partner' AND u.is_active AND l.submitted_at > $1::timestamptz - interval '30 days'
           GROUP BY u.username HAVING max(l.submitted_at) < $1
           ORDER BY u.username"#,
        since
    )
    .fetch_all(&mut *tx)
    .await?;
    let failed_notes = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM alert_notifications WHERE status = 'failed' AND created >= $1"#,
        since
    )
    .fetch_one(&mut *tx)
    .await?;
    let received: i64 = by_status.iter().map(|r| r.n).sum();
    let mut body = format!("dhis2gw at {gateway}: the 24 hours up to this digest.\n\n");
    body.push_str(&format!("Alerts firing now: {}\n", firing.len()));
    for f in &firing {
        body.push_str(&format!(
            "  - {} (since {}; rule {})\n",
            f.message,
            f.firing_since.format("%Y-%m-%d %H:%M UTC"),
            f.rule
        ));
    }
    body.push_str(&format!("\nSubmissions received: {received}\n"));
    for r in &by_status {
        body.push_str(&format!("  - {}: {}\n", r.status, r.n));
    }
    body.push_str(&format!("Values refused by DHIS2: {}\nValues on hold now: {}\n", values.refused, values.held));
    body.push_str(&format!("\nPartners that did not report: {}\n", silent.len()));
    for p in &silent {
        let quiet = span((Utc::now() - p.last).num_seconds() as f64);
        body.push_str(&format!("  - {} (last submission {} ago)\n", p.username, quiet));
    }
    if failed_notes > 0 {
        body.push_str(&format!("\nNotifications that could not be sent: {failed_notes} (see Alerts in the console)\n"));
    }
    let title = format!(
        "[dhis2gw] Daily digest {day}: {} alerts firing, {} submissions, {} partners did not report",
        firing.len(),
        received,
        silent.len()
    );
    Ok((title, body))
}

async fn partner_digests(tx: &mut PgConnection, since: DateTime<Utc>, gateway: &str) -> AppResult<()> {
    let partners = sqlx::query!(
        r#"SELECT u.id, u.username, u.email AS "email!", count(*) AS "n!"
           FROM value_outcomes v JOIN submission_log l ON l.id = v.submission_id JOIN users u ON u.id = l.user_id
           WHERE v.outcome = 'refused' AND v.decided_at >= $1 AND u.role = 'partner' AND u.is_active
             AND u.email IS NOT NULL AND u.email <> ''
           GROUP BY u.id, u.username, u.email ORDER BY u.username"#,
        since
    )
    .fetch_all(&mut *tx)
    .await?;
    for partner in partners {
        if dhis2gw_wire::recipient_problem(&partner.email).is_err() {
            tracing::warn!(partner = partner.username, "a partner's email address does not read; no digest for it");
            continue;
        }
        let lines = sqlx::query!(
            r#"SELECT v.submission_id, v.partner_key, v.data_element, v.org_unit, v.period, v.message
               FROM value_outcomes v JOIN submission_log l ON l.id = v.submission_id
               WHERE v.outcome = 'refused' AND v.decided_at >= $1 AND l.user_id = $2
               ORDER BY v.decided_at, v.id LIMIT $3"#,
            since,
            partner.id,
            PARTNER_LINES,
        )
        .fetch_all(&mut *tx)
        .await?;
        let mut body = format!(
            "DHIS2 refused {} of the values {} sent through dhis2gw at {gateway} in the last 24 hours.\n\n",
            partner.n, partner.username
        );
        for l in &lines {
            let key = l.partner_key.as_deref().or(l.data_element.as_deref()).unwrap_or("?");
            body.push_str(&format!(
                "  - submission {} · {key} · org unit {} · period {}: {}\n",
                l.submission_id,
                l.org_unit.as_deref().unwrap_or("?"),
                l.period.as_deref().unwrap_or("?"),
                l.message.as_deref().unwrap_or("refused")
            ));
        }
        if partner.n > lines.len() as i64 {
            body.push_str(&format!("  … and {} more\n", partner.n - lines.len() as i64));
        }
        body.push_str(
            "\nCorrect them at the source and send them again; the gateway's administrators can tell you more.\n",
        );
        let title = format!("[dhis2gw] {} values refused by DHIS2 in the last 24 hours", partner.n);
        notify::enqueue(&mut *tx, "partner_digest", None, Some(&partner.username), &[partner.email], &title, &body)
            .await?;
    }
    Ok(())
}
