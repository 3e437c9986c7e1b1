//! Alerts, so nobody has to watch the console: rules checked every `alerts.check_interval`,
//! one notification when a rule fires for a subject, one when it recovers, a reminder at most
//! every `alerts.alert_repeat` in between, and a daily digest.
//!
//! One gateway process checks at a time (a PostgreSQL advisory lock held by the check's
//! transaction), so several processes never notify twice; what fires is kept in
//! `alert_states` and survives restarts.

pub mod checks;
mod digest;
pub mod rules;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use dhis2gw_wire::{AlertFiring, AlertNotification, AlertsOverview, NotificationFilter, Page};
use sqlx::PgPool;

use crate::app::AppState;
use crate::infra::error::{AppError, AppResult};
use crate::infra::notify::{self, Channels};
use crate::infra::query::paging;

/// The advisory lock the check holds; any constant no other part of the gateway uses.
const CHECK_LOCK: i64 = 0x6468_6973_3261_6c72;

/// Checks every rule and sends what follows from what changed; `false` when another process
/// was checking.
pub async fn check(state: &AppState, channels: &Channels) -> AppResult<bool> {
    let config = &state.config;
    let repeat = config.alerts.alert_repeat as f64;
    let mut tx = state.db.begin().await?;
    let locked = sqlx::query_scalar!(r#"SELECT pg_try_advisory_xact_lock($1) AS "locked!""#, CHECK_LOCK)
        .fetch_one(&mut *tx)
        .await?;
    if !locked {
        return Ok(false);
    }
    let rules = rules::in_force(&state.db, config).await?;
    let firing = sqlx::query!(
        r#"SELECT rule, subject, extract(epoch FROM now() - last_notified_at)::float8 AS "quiet!" FROM alert_states"#
    )
    .fetch_all(&mut *tx)
    .await?;
    let mut was: BTreeMap<(String, String), f64> = firing.into_iter().map(|r| ((r.rule, r.subject), r.quiet)).collect();
    let gateway = &channels.gateway;
    for (name, in_force) in rules.iter().filter(|(_, r)| r.rule.enabled) {
        let rule = &in_force.rule;
        let findings = match checks::find(state, rule).await {
            Ok(findings) => findings,
            Err(e) => {
                // What it fired for stays as it was until the check works again.
                tracing::warn!(rule = name, error = %e, "an alert rule could not be checked");
                was.retain(|(r, _), _| r != name);
                continue;
            }
        };
        let recipients = rules::recipients(rule, config);
        for finding in &findings {
            let key = (name.clone(), finding.subject.clone());
            let event = match was.remove(&key) {
                None => Some("fired"),
                Some(quiet) if quiet >= repeat => Some("reminder"),
                Some(_) => None,
            };
            sqlx::query!(
                r#"INSERT INTO alert_states (rule, subject, message, value) VALUES ($1, $2, $3, $4)
                   ON CONFLICT (rule, subject) DO UPDATE SET message = EXCLUDED.message, value = EXCLUDED.value,
                       last_notified_at = CASE WHEN $5 THEN now() ELSE alert_states.last_notified_at END"#,
                name,
                finding.subject,
                finding.message,
                finding.value,
                event.is_some(),
            )
            .execute(&mut *tx)
            .await?;
            if let Some(event) = event {
                let word = if event == "fired" { "FIRING" } else { "STILL FIRING" };
                let title = format!("[dhis2gw] {word}: {}", finding.message);
                let body = format!(
                    "{}\n\nRule: {name} ({})\nGateway: {gateway}\n\nYou will hear once more when this recovers{}.",
                    finding.message,
                    rule.kind.title(),
                    reminder_note(repeat)
                );
                notify::enqueue(&mut *tx, event, Some(name), Some(&finding.subject), recipients, &title, &body).await?;
                tracing::warn!(rule = name, subject = finding.subject, event, "{}", finding.message);
            }
        }
        let recovered: Vec<String> =
            was.keys().filter(|(r, _)| r == name).map(|(_, subject)| subject.clone()).collect();
        for subject in recovered {
            was.remove(&(name.clone(), subject.clone()));
            let since = sqlx::query_scalar!(
                "DELETE FROM alert_states WHERE rule = $1 AND subject = $2 RETURNING firing_since",
                name,
                subject
            )
            .fetch_one(&mut *tx)
            .await?;
            let lasted = checks::span((Utc::now() - since).num_seconds() as f64);
            let title = format!("[dhis2gw] RECOVERED: {} ({subject}) after {lasted}", rule.kind.title());
            let body = format!(
                "{} is back to normal for {subject}, after {lasted}.\n\nRule: {name}\nGateway: {gateway}",
                rule.kind.title()
            );
            notify::enqueue(&mut *tx, "recovered", Some(name), Some(&subject), recipients, &title, &body).await?;
            tracing::info!(rule = name, subject, "alert recovered");
        }
    }
    // Rules switched off or gone: what they fired for is forgotten without a word.
    for (rule, subject) in was.into_keys() {
        sqlx::query!("DELETE FROM alert_states WHERE rule = $1 AND subject = $2", rule, subject)
            .execute(&mut *tx)
            .await?;
    }
    digest::compose_when_due(state, &mut tx, gateway).await?;
    tx.commit().await?;
    channels.queued.notify_one();
    Ok(true)
}

fn reminder_note(repeat: f64) -> String {
    format!(", and be reminded every {} while it lasts", checks::span(repeat))
}

/// The checker: checks every `alerts.check_interval` until `stopping` resolves.
pub async fn run_checker(state: AppState, channels: Arc<Channels>, stopping: impl Future<Output = ()>) {
    let every = Duration::from_secs(state.config.alerts.check_interval);
    tokio::pin!(stopping);
    loop {
        if let Err(e) = check(&state, &channels).await {
            tracing::warn!(error = %e, "alert rules could not be checked; trying again");
        }
        tokio::select! {
            () = &mut stopping => return,
            () = tokio::time::sleep(every) => {}
        }
    }
}

/// What fires now, and how notifications go out.
pub async fn overview(state: &AppState) -> AppResult<AlertsOverview> {
    let firing = sqlx::query_as!(
        AlertFiring,
        "SELECT rule, subject, message, value, firing_since, last_notified_at FROM alert_states ORDER BY firing_since, rule, subject"
    )
    .fetch_all(&state.db)
    .await?;
    let counts = sqlx::query!(
        r#"SELECT count(*) FILTER (WHERE status = 'pending') AS "pending!",
               count(*) FILTER (WHERE status = 'failed' AND created > now() - interval '1 day') AS "failed!"
           FROM alert_notifications WHERE status <> 'sent'"#
    )
    .fetch_one(&state.db)
    .await?;
    let alerts = &state.config.alerts;
    Ok(AlertsOverview {
        firing,
        smtp_host: alerts.smtp_host.trim().to_string(),
        webhook_signed: !alerts.webhook_secret.is_empty(),
        recipients: alerts.recipients.clone(),
        repeat: alerts.alert_repeat,
        digest_time: alerts.digest_time.trim().to_string(),
        pending: counts.pending,
        failed_today: counts.failed,
    })
}

const STATUSES: [&str; 3] = ["pending", "sent", "failed"];
const EVENTS: [&str; 6] = ["fired", "reminder", "recovered", "digest", "partner_digest", "test"];

/// Notifications, newest first.
pub async fn notifications(db: &PgPool, filter: NotificationFilter) -> AppResult<Page<AlertNotification>> {
    let (page, size, offset) = paging(filter.page, filter.page_size, 50)?;
    let blank = |s: Option<String>| s.map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
    let (status, rule, event) = (blank(filter.status), blank(filter.rule), blank(filter.event));
    for (field, value, allowed) in [("status", &status, &STATUSES[..]), ("event", &event, &EVENTS[..])] {
        if let Some(value) = value.as_deref().filter(|v| !allowed.contains(v)) {
            return Err(AppError::BadRequest {
                message: format!("{field} '{value}' is not one of {}", allowed.join(", ")),
                detail: vec![field.into()],
            });
        }
    }
    let total = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM alert_notifications
           WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR rule = $2) AND ($3::text IS NULL OR event = $3)"#,
        status,
        rule,
        event,
    )
    .fetch_one(db)
    .await?;
    let items = sqlx::query_as!(
        AlertNotification,
        r#"SELECT id, created, rule, subject, event, channel, recipient, title, body, status, attempts,
               next_attempt_at, answer, error, sent_at
           FROM alert_notifications
           WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR rule = $2) AND ($3::text IS NULL OR event = $3)
           ORDER BY created DESC, id DESC LIMIT $4 OFFSET $5"#,
        status,
        rule,
        event,
        size,
        offset,
    )
    .fetch_all(db)
    .await?;
    Ok(Page::new(items, total, page, size))
}

/// How long sent and given-up notifications are kept.
const NOTIFICATIONS_KEPT_DAYS: i32 = 90;

/// Forgets notifications older than [`NOTIFICATIONS_KEPT_DAYS`] that are no longer being sent,
/// and which days' digests were composed a month ago; how many notifications went.
pub async fn prune(db: &PgPool) -> sqlx::Result<u64> {
    let notes = sqlx::query!(
        "DELETE FROM alert_notifications WHERE status <> 'pending' AND created < now() - make_interval(days => $1)",
        NOTIFICATIONS_KEPT_DAYS
    )
    .execute(db)
    .await?
    .rows_affected();
    sqlx::query!("DELETE FROM alert_digests WHERE day < current_date - 31").execute(db).await?;
    Ok(notes)
}

/// Starts the sender and the checker, each stopping when its future resolves.
pub fn start(
    state: &AppState,
    sender_stops: impl Future<Output = ()> + Send + 'static,
    checker_stops: impl Future<Output = ()> + Send + 'static,
) {
    let channels = state.alert_channels.clone();
    tokio::spawn(notify::run_sender(state.db.clone(), channels.clone(), sender_stops));
    tokio::spawn(run_checker(state.clone(), channels, checker_stops));
}
