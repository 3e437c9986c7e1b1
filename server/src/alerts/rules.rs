//! The rules in force: the built-in ones, replaced or joined by `alerts.rules` from the
//! configuration, then by what admins changed through the API (stored in `alert_rules`).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use dhis2gw_wire::{AlertKind, AlertParameters, AlertRule, AlertRuleInput, AlertRuleView};
use sqlx::PgPool;

use crate::access::audit::{self, Actor};
use crate::access::identity::AuthUser;
use crate::app::AppState;
use crate::infra::config::Config;
use crate::infra::error::{AppError, AppResult};

/// A rule and where it comes from.
#[derive(Clone, Debug)]
pub struct InForce {
    pub rule: AlertRule,
    pub origin: &'static str,
    pub updated_by: Option<String>,
    pub updated: Option<DateTime<Utc>>,
}

/// The kind's parameters where a rule leaves them out.
pub fn defaults(kind: AlertKind) -> AlertParameters {
    const HOUR: u64 = 3600;
    let (threshold, window, after) = match kind {
        AlertKind::Failures => (20.0, HOUR, 0),
        AlertKind::DeadLetters => (0.0, HOUR, 0),
        AlertKind::ServerUnavailable => (0.0, 0, 10 * 60),
        AlertKind::QueueAge => (0.0, 0, 2 * HOUR),
        AlertKind::HeldAge => (0.0, 0, 7 * 24 * HOUR),
        AlertKind::PartnerSilent => (3.0, 0, 24 * HOUR),
        AlertKind::ReportsMissing => (0.0, 0, 0),
        AlertKind::MappingHealth => (0.0, 0, 0),
        AlertKind::DatabaseSize => (10_240.0, 0, 0),
    };
    AlertParameters { threshold, window, after }
}

/// The parameters a check uses: the rule's own, else the kind's.
pub fn parameters(rule: &AlertRule) -> AlertParameters {
    let d = defaults(rule.kind);
    AlertParameters {
        threshold: rule.threshold.unwrap_or(d.threshold),
        window: rule.window.unwrap_or(d.window),
        after: rule.after.unwrap_or(d.after),
    }
}

/// One built-in rule per kind, named like it and using its defaults.
fn built_in() -> impl Iterator<Item = AlertRule> {
    AlertKind::ALL.into_iter().map(|kind| AlertRule {
        name: kind.as_str().replace('_', "-"),
        kind,
        enabled: true,
        threshold: None,
        window: None,
        after: None,
        recipients: Vec::new(),
    })
}

/// Every rule, by name.
pub async fn in_force(db: &PgPool, config: &Config) -> AppResult<BTreeMap<String, InForce>> {
    let mut rules: BTreeMap<String, InForce> = built_in()
        .map(|rule| (rule.name.clone(), InForce { rule, origin: "default", updated_by: None, updated: None }))
        .collect();
    for rule in &config.alerts.rules {
        rules.insert(
            rule.name.clone(),
            InForce { rule: rule.clone(), origin: "config", updated_by: None, updated: None },
        );
    }
    let stored = sqlx::query!("SELECT name, rule, updated_by, updated FROM alert_rules").fetch_all(db).await?;
    for row in stored {
        // A stored rule that no longer reads (written by a later version) is left out, not fatal.
        match serde_json::from_value::<AlertRule>(row.rule) {
            Ok(rule) => {
                let entry =
                    InForce { rule, origin: "console", updated_by: Some(row.updated_by), updated: Some(row.updated) };
                rules.insert(row.name, entry);
            }
            Err(e) => tracing::warn!(rule = row.name, error = %e, "a stored alert rule does not read; left out"),
        }
    }
    Ok(rules)
}

/// Who hears of a rule: its own recipients, else `alerts.recipients`.
pub fn recipients<'a>(rule: &'a AlertRule, config: &'a Config) -> &'a [String] {
    if rule.recipients.is_empty() { &config.alerts.recipients } else { &rule.recipients }
}

/// Every rule as the API shows it, with how many subjects each fires for.
pub async fn views(state: &AppState) -> AppResult<Vec<AlertRuleView>> {
    let firing: BTreeMap<String, i64> =
        sqlx::query!(r#"SELECT rule, count(*) AS "n!" FROM alert_states GROUP BY rule"#)
            .fetch_all(&state.db)
            .await?
            .into_iter()
            .map(|r| (r.rule, r.n))
            .collect();
    Ok(in_force(&state.db, &state.config)
        .await?
        .into_values()
        .map(|r| AlertRuleView {
            title: r.rule.kind.title().to_string(),
            firing: firing.get(&r.rule.name).copied().unwrap_or(0),
            effective_recipients: recipients(&r.rule, &state.config).to_vec(),
            in_force: parameters(&r.rule),
            defaults: defaults(r.rule.kind),
            origin: r.origin.to_string(),
            updated_by: r.updated_by,
            updated: r.updated,
            rule: r.rule,
        })
        .collect())
}

/// The rule named `name`.
pub async fn get(state: &AppState, name: &str) -> AppResult<InForce> {
    in_force(&state.db, &state.config)
        .await?
        .remove(name)
        .ok_or_else(|| AppError::NotFound(format!("no alert rule is named '{name}'")))
}

/// Stores an admin's version of a rule (a new one, or one replacing the rule of that name).
pub async fn put(state: &AppState, caller: &AuthUser, name: &str, input: AlertRuleInput) -> AppResult<AlertRuleView> {
    let existing = in_force(&state.db, &state.config).await?.remove(name);
    let kind = match (input.kind, &existing) {
        (Some(kind), _) => kind,
        (None, Some(existing)) => existing.rule.kind,
        (None, None) => {
            return Err(AppError::BadRequest {
                message: format!("'{name}' is a new rule: say which kind it is"),
                detail: vec!["kind".into()],
            });
        }
    };
    let rule = AlertRule {
        name: name.to_string(),
        kind,
        enabled: input.enabled,
        threshold: input.threshold,
        window: input.window,
        after: input.after,
        recipients: input.recipients.iter().map(|r| r.trim().to_string()).collect(),
    };
    rule.problem().map_err(|(field, problem)| AppError::BadRequest {
        message: format!("{field}: {problem}"),
        detail: vec![field.to_string()],
    })?;
    let stored = serde_json::to_value(&rule).map_err(|e| AppError::Internal(e.into()))?;
    let mut tx = state.db.begin().await?;
    sqlx::query!(
        r#"INSERT INTO alert_rules (name, rule, updated_by) VALUES ($1, $2, $3)
           ON CONFLICT (name) DO UPDATE SET rule = EXCLUDED.rule, updated_by = EXCLUDED.updated_by, updated = now()"#,
        name,
        stored,
        caller.username,
    )
    .execute(&mut *tx)
    .await?;
    let before = existing.map(|e| serde_json::to_value(&e.rule).unwrap_or_default());
    let detail = serde_json::json!({"before": before, "after": stored});
    audit::record(&mut *tx, Actor::User(caller), "alert_rule.update", "alert_rule", name, detail).await?;
    tx.commit().await?;
    views(state)
        .await?
        .into_iter()
        .find(|v| v.rule.name == name)
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("the rule '{name}' was stored but is not in force")))
}

/// Forgets an admin's version of a rule: the built-in or configured one of that name, if any,
/// is in force again. What the rule fired for is forgotten with it.
pub async fn delete(state: &AppState, caller: &AuthUser, name: &str) -> AppResult<String> {
    let mut tx = state.db.begin().await?;
    let removed = sqlx::query_scalar!("DELETE FROM alert_rules WHERE name = $1 RETURNING rule", name)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no rule named '{name}' was changed through the API")))?;
    sqlx::query!("DELETE FROM alert_states WHERE rule = $1", name).execute(&mut *tx).await?;
    audit::record(
        &mut *tx,
        Actor::User(caller),
        "alert_rule.delete",
        "alert_rule",
        name,
        serde_json::json!({"before": removed}),
    )
    .await?;
    tx.commit().await?;
    Ok(match in_force(&state.db, &state.config).await?.get(name) {
        Some(rule) => format!(
            "The {} rule '{name}' is in force again",
            if rule.origin == "config" { "configured" } else { "built-in" }
        ),
        None => format!("The rule '{name}' is removed"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_a_built_in_rule_that_is_valid() {
        let rules: Vec<AlertRule> = built_in().collect();
        assert_eq!(rules.len(), AlertKind::ALL.len());
        for rule in &rules {
            rule.problem().unwrap();
            let AlertParameters { threshold, window, after } = parameters(rule);
            let (uses_threshold, uses_window, uses_after) = rule.kind.uses();
            assert!(!uses_window || window > 0, "{} needs a window", rule.name);
            assert!(uses_threshold || threshold == 0.0, "{}", rule.name);
            assert!(uses_after || after == 0, "{}", rule.name);
        }
        assert_eq!(rules[2].name, "server-unavailable");
    }
}
