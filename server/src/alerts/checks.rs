//! What each kind of rule finds now: one finding per subject (a server, a partner, the
//! database) for which its condition holds.

use dhis2gw_wire::{AlertFinding, AlertKind, AlertRule, HealthState, MappingFilter};

use super::rules::parameters;
use crate::app::AppState;
use crate::infra::error::AppResult;

const MEGABYTE: f64 = 1024.0 * 1024.0;

pub async fn find(state: &AppState, rule: &AlertRule) -> AppResult<Vec<AlertFinding>> {
    let p = parameters(rule);
    let (threshold, window, after) = (p.threshold, p.window as f64, p.after as f64);
    let db = &state.db;
    let findings = match rule.kind {
        AlertKind::Failures | AlertKind::DeadLetters => {
            let outcome = if rule.kind == AlertKind::Failures { "failed" } else { "dead" };
            let rows = sqlx::query!(
                r#"SELECT s.name AS "server!", count(*) AS "n!"
                   FROM delivery_attempts a
                   JOIN submission_destinations d ON d.id = a.destination_id
                   JOIN dhis2_servers s ON s.id = d.server_id
                   -- The IN list matches delivery_attempts_trouble_idx, so only troubled attempts are read.
                   WHERE a.outcome IN ('failed', 'retry', 'dead') AND a.outcome = $1
                     AND a.started_at > now() - make_interval(secs => $2)
                   GROUP BY s.name ORDER BY s.name"#,
                outcome,
                window,
            )
            .fetch_all(db)
            .await?;
            let what = if rule.kind == AlertKind::Failures { "refused by DHIS2" } else { "given up" };
            rows.into_iter()
                .filter(|r| r.n as f64 > threshold)
                .map(|r| AlertFinding {
                    message: format!(
                        "{} deliveries to {} {what} in the last {} (more than {})",
                        r.n,
                        r.server,
                        span(window),
                        threshold
                    ),
                    subject: r.server,
                    value: Some(r.n as f64),
                })
                .collect()
        }
        AlertKind::ServerUnavailable => {
            let rows = sqlx::query!(
                r#"SELECT name, enabled, last_error,
                       extract(epoch FROM now() - COALESCE(paused_since, down_since))::float8 AS "seconds!"
                   FROM dhis2_servers
                   WHERE (NOT enabled AND paused_since < now() - make_interval(secs => $1))
                      OR (enabled AND down_since < now() - make_interval(secs => $1))
                   ORDER BY name"#,
                after,
            )
            .fetch_all(db)
            .await?;
            rows.into_iter()
                .map(|r| {
                    let how = if r.enabled {
                        format!("has not answered for {}: {}", span(r.seconds), r.last_error.unwrap_or_default())
                    } else {
                        format!("has been switched off for {}; its deliveries wait", span(r.seconds))
                    };
                    AlertFinding {
                        message: format!("DHIS2 server {} {how}", r.name),
                        subject: r.name,
                        value: Some(r.seconds),
                    }
                })
                .collect()
        }
        AlertKind::QueueAge => {
            let rows = sqlx::query!(
                r#"SELECT s.name AS "server!", count(*) AS "n!",
                       extract(epoch FROM now() - min(l.submitted_at))::float8 AS "seconds!"
                   FROM submission_destinations d
                   JOIN submission_log l ON l.id = d.submission_id
                   JOIN dhis2_servers s ON s.id = d.server_id
                   WHERE d.status IN ('queued', 'processing', 'retrying')
                     AND l.submitted_at < now() - make_interval(secs => $1)
                   GROUP BY s.name ORDER BY s.name"#,
                after,
            )
            .fetch_all(db)
            .await?;
            rows.into_iter()
                .map(|r| AlertFinding {
                    message: format!(
                        "{} deliveries to {} have waited more than {}; the oldest for {}",
                        r.n,
                        r.server,
                        span(after),
                        span(r.seconds)
                    ),
                    subject: r.server,
                    value: Some(r.seconds),
                })
                .collect()
        }
        AlertKind::HeldAge => {
            let row = sqlx::query!(
                r#"SELECT count(*) AS "n!", extract(epoch FROM now() - min(held_since))::float8 AS seconds
                   FROM held_values('{}') WHERE held_since < now() - make_interval(secs => $1)"#,
                after,
            )
            .fetch_one(db)
            .await?;
            match row.seconds.filter(|_| row.n > 0) {
                Some(seconds) => vec![AlertFinding {
                    subject: "held values".into(),
                    message: format!(
                        "{} values have been on hold for more than {} (the oldest for {}): a period to open or an approval to undo in DHIS2",
                        row.n,
                        span(after),
                        span(seconds)
                    ),
                    value: Some(seconds),
                }],
                None => Vec::new(),
            }
        }
        AlertKind::PartnerSilent => partners_silent(state, threshold, after).await?,
        AlertKind::ReportsMissing => crate::reports::missing_by_partner(state)
            .await?
            .into_iter()
            .filter(|m| m.missing as f64 > threshold)
            .map(|m| AlertFinding {
                message: format!(
                    "partner {} is missing {} of {} expected reports of {} for {} (timely until {})",
                    m.partner,
                    m.missing,
                    m.expected,
                    m.data_set,
                    m.period,
                    m.timely_until.format("%-d %b %Y")
                ),
                subject: format!("{} · {}", m.partner, m.data_set),
                value: Some(m.missing as f64),
            })
            .collect(),
        AlertKind::MappingHealth => {
            let snapshot = state.metadata.snapshot();
            if !snapshot.is_loaded() {
                return Ok(Vec::new());
            }
            let filter = MappingFilter { health: Some(HealthState::Broken), page_size: Some(1), ..Default::default() };
            let broken = crate::mappings::list(db, &snapshot, filter).await?.total;
            if broken as f64 > threshold {
                vec![AlertFinding {
                    subject: "mappings".into(),
                    message: format!(
                        "{broken} mappings name DHIS2 metadata that is missing or does not fit (Mappings, health: broken)"
                    ),
                    value: Some(broken as f64),
                }]
            } else {
                Vec::new()
            }
        }
        AlertKind::DatabaseSize => {
            let bytes =
                sqlx::query_scalar!(r#"SELECT pg_database_size(current_database()) AS "bytes!""#).fetch_one(db).await?;
            let megabytes = bytes as f64 / MEGABYTE;
            if megabytes > threshold {
                vec![AlertFinding {
                    subject: "database".into(),
                    message: format!("the database holds {megabytes:.0} MB, more than {threshold:.0} MB"),
                    value: Some(megabytes),
                }]
            } else {
                Vec::new()
            }
        }
    };
    Ok(findings)
}

/// Partners that send on some rhythm and have missed it: nothing for `factor` times their
/// usual interval (the mean gap between their submissions over the last 60 days, from at
/// least three), and for at least `least` seconds.
async fn partners_silent(state: &AppState, factor: f64, least: f64) -> AppResult<Vec<AlertFinding>> {
    let rows = sqlx::query!(
        r#"SELECT u.username, count(*) AS "n!",
               extract(epoch FROM max(l.submitted_at) - min(l.submitted_at))::float8 / (count(*) - 1) AS "usual!",
               extract(epoch FROM now() - max(l.submitted_at))::float8 AS "silent!"
           FROM submission_log l JOIN users u ON u.id = l.user_id
           WHERE u.role = 'partner' AND u.is_active AND l.submitted_at > now() - interval '60 days'
           GROUP BY u.username HAVING count(*) >= 3
           ORDER BY u.username"#
    )
    .fetch_all(&state.db)
    .await?;
    Ok(rows
        .into_iter()
        .filter(|r| r.silent > least && r.silent > factor * r.usual)
        .map(|r| AlertFinding {
            message: format!(
                "partner {} has sent nothing for {}; it usually sends every {}",
                r.username,
                span(r.silent),
                span(r.usual)
            ),
            subject: r.username,
            value: Some(r.silent),
        })
        .collect())
}

/// A duration in words: `45 s`, `12 min`, `3.5 h`, `2 days`.
pub fn span(seconds: f64) -> String {
    let s = seconds.max(0.0);
    if s < 120.0 {
        format!("{s:.0} s")
    } else if s < 7200.0 {
        format!("{:.0} min", s / 60.0)
    } else if s < 2.0 * 86_400.0 {
        let h = s / 3600.0;
        if (h - h.round()).abs() < 0.05 { format!("{h:.0} h") } else { format!("{h:.1} h") }
    } else {
        format!("{:.0} days", s / 86_400.0)
    }
}

#[cfg(test)]
mod tests {
    use super::span;

    #[test]
    fn spans_read_in_the_unit_that_fits() {
        assert_eq!(span(45.0), "45 s");
        assert_eq!(span(720.0), "12 min");
        assert_eq!(span(3.0 * 3600.0), "3 h");
        assert_eq!(span(3.5 * 3600.0), "3.5 h");
        assert_eq!(span(3.0 * 86_400.0), "3 days");
        assert_eq!(span(-1.0), "0 s");
    }
}
