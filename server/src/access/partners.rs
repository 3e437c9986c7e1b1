//! What a partner may do and how much: scopes (data sets, org-unit subtrees, client networks)
//! on the user and on each token, an expiry, and limits on requests per second and values
//! per day. Limits apply to partners; a user's own limit wins over the configuration's. The
//! network part of a scope is checked here, with the caller; its data sets and org units,
//! which need DHIS2's metadata, by [`crate::submissions::partner_scope`].
//!
//! Requests per second are counted in this process (a token bucket per partner, bursting up to
//! one second's worth): with several gateway processes behind a balancer a partner gets up to
//! that many times the limit. Values per day are counted in PostgreSQL, shared by all.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use dhis2gw_wire::{PartnerAccess, PartnerAccessView, Role};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use ipnet::IpNet;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::access::audit::{self, Actor};
use crate::access::identity::{self, AuthUser};
use crate::access::users::{self, Problems};
use crate::infra::config::Config;
use crate::infra::error::{AppError, AppResult};
use crate::infra::metrics::Metrics;

/// A CIDR network (`10.0.0.0/8`) or a single address (`192.0.2.7`, taken as `/32`).
pub fn parse_network(text: &str) -> Option<IpNet> {
    let text = text.trim();
    text.parse::<IpNet>().ok().or_else(|| text.parse::<std::net::IpAddr>().ok().map(IpNet::from))
}

/// Refuses a caller outside the networks of its user's or its token's scope.
pub fn check_network(caller: &AuthUser, client: std::net::IpAddr) -> AppResult<()> {
    for scope in &caller.scopes {
        if scope.networks.is_empty() {
            continue;
        }
        let inside = scope.networks.iter().filter_map(|n| parse_network(n)).any(|n| n.contains(&client));
        if !inside {
            return Err(AppError::Forbidden(format!(
                "Requests from {client} are not allowed for {}: its scope allows {}",
                caller.username,
                scope.networks.join(", ")
            )));
        }
    }
    Ok(())
}

/// The data values a DHIS2 payload carries: aggregate values, tracker data values and attributes.
pub fn count_values(value: &Value) -> i64 {
    match value {
        Value::Object(object) => object
            .iter()
            .map(|(key, inner)| match (key.as_str(), inner) {
                ("dataValues" | "attributes", Value::Array(items)) => {
                    items.len() as i64 + items.iter().map(count_values).sum::<i64>()
                }
                _ => count_values(inner),
            })
            .sum(),
        Value::Array(items) => items.iter().map(count_values).sum(),
        _ => 0,
    }
}

/// The partner limits of this process: request buckets and refusals counted.
pub struct Limits {
    /// Per user: the rate its bucket was made for, and the bucket.
    buckets: moka::sync::Cache<i64, Arc<(u32, DefaultDirectRateLimiter)>>,
    /// Per user: requests refused over a limit.
    refused: moka::sync::Cache<i64, Arc<AtomicU64>>,
    metrics: Arc<Metrics>,
}

/// What a limit refusal names.
pub const REQUESTS_PER_SECOND: &str = "requests_per_second";
pub const VALUES_PER_DAY: &str = "values_per_day";

impl Limits {
    pub fn new(metrics: Arc<Metrics>) -> Limits {
        Limits {
            buckets: moka::sync::Cache::builder().max_capacity(100_000).build(),
            refused: moka::sync::Cache::builder().max_capacity(100_000).build(),
            metrics,
        }
    }

    /// Counts a partner's request against its requests-per-second limit.
    pub fn admit_request(&self, config: &Config, caller: &AuthUser) -> AppResult<()> {
        let Some(rate) = effective_requests_per_second(config, caller.role, caller.requests_per_second) else {
            return Ok(());
        };
        let per_second = NonZeroU32::new(rate).expect("limits are positive");
        let bucket = self.buckets.get(&caller.id).filter(|b| b.0 == rate).unwrap_or_else(|| {
            let bucket = Arc::new((rate, RateLimiter::direct(Quota::per_second(per_second))));
            self.buckets.insert(caller.id, bucket.clone());
            bucket
        });
        match bucket.1.check() {
            Ok(()) => Ok(()),
            Err(not_until) => {
                let wait =
                    not_until.wait_time_from(governor::clock::Clock::now(&governor::clock::DefaultClock::default()));
                self.refuse(caller, REQUESTS_PER_SECOND);
                Err(AppError::OverLimit {
                    limit: REQUESTS_PER_SECOND,
                    message: format!("{} may make {rate} requests per second ({REQUESTS_PER_SECOND})", caller.username),
                    retry_after: wait.max(Duration::from_secs(1)),
                })
            }
        }
    }

    /// Counts a refusal over a limit, for the console and `/metrics`.
    fn refuse(&self, caller: &AuthUser, limit: &'static str) {
        self.refused.get_with(caller.id, Arc::default).fetch_add(1, Ordering::Relaxed);
        self.metrics.partner_refused(&caller.username, limit);
    }

    pub fn refused(&self, user: i64) -> u64 {
        self.refused.get(&user).map_or(0, |n| n.load(Ordering::Relaxed))
    }
}

fn effective_requests_per_second(config: &Config, role: Role, own: Option<u32>) -> Option<u32> {
    if role != Role::Partner {
        return None;
    }
    own.or((config.api.partner_requests_per_second > 0).then_some(config.api.partner_requests_per_second))
}

fn effective_values_per_day(config: &Config, role: Role, own: Option<i64>) -> Option<i64> {
    if role != Role::Partner {
        return None;
    }
    own.or((config.api.partner_values_per_day > 0).then_some(config.api.partner_values_per_day as i64))
}

/// Whether the caller's submissions count against a values-per-day limit.
pub fn counts_values(config: &Config, caller: &AuthUser) -> bool {
    effective_values_per_day(config, caller.role, caller.values_per_day).is_some()
}

/// Counts `values` against the caller's values-per-day limit, in the same transaction as the
/// submission is stored: refused (429 until midnight in `server.timezone`) when they would
/// go over it.
pub async fn take_values(
    tx: &mut sqlx::PgConnection,
    config: &Config,
    limits: &Limits,
    caller: &AuthUser,
    values: i64,
) -> AppResult<()> {
    let Some(limit) = effective_values_per_day(config, caller.role, caller.values_per_day) else {
        return Ok(());
    };
    let today = today(config);
    let taken = sqlx::query_scalar!(
        r#"INSERT INTO partner_usage AS u (user_id, day, "values") VALUES ($1, $2, $3)
           ON CONFLICT (user_id, day) DO UPDATE SET "values" = u."values" + EXCLUDED."values"
           RETURNING "values""#,
        caller.id,
        today,
        values
    )
    .fetch_one(&mut *tx)
    .await?;
    if taken <= limit {
        return Ok(());
    }
    limits.refuse(caller, VALUES_PER_DAY);
    let midnight = today
        .succ_opt()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .and_then(|t| t.and_local_timezone(config.server.timezone).earliest())
        .map_or(Duration::from_secs(3600), |m| (m.with_timezone(&Utc) - Utc::now()).to_std().unwrap_or_default());
    Err(AppError::OverLimit {
        limit: VALUES_PER_DAY,
        message: format!(
            "{} may send {limit} data values a day ({VALUES_PER_DAY}); {} were accepted today and this submission has {values}",
            caller.username,
            taken - values
        ),
        retry_after: midnight,
    })
}

/// Every partner's values accepted today, for `/metrics`.
pub async fn values_today(db: &PgPool, config: &Config) -> sqlx::Result<Vec<(String, i64)>> {
    let rows = sqlx::query!(
        r#"SELECT u.username, p."values" FROM partner_usage p JOIN users u ON u.id = p.user_id WHERE p.day = $1"#,
        today(config)
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|r| (r.username, r.values)).collect())
}

/// A user's access settings, what is in force and today's use.
pub async fn view(db: &PgPool, config: &Config, limits: &Limits, uid: &str) -> AppResult<PartnerAccessView> {
    let user = users::get(db, uid).await?;
    let role = user.role()?;
    let today = today(config);
    let values_today =
        sqlx::query_scalar!(r#"SELECT "values" FROM partner_usage WHERE user_id = $1 AND day = $2"#, user.id, today)
            .fetch_optional(db)
            .await?
            .unwrap_or(0);
    let requests_per_second = user.requests_per_second.and_then(|r| u32::try_from(r).ok());
    Ok(PartnerAccessView {
        effective_requests_per_second: effective_requests_per_second(config, role, requests_per_second),
        effective_values_per_day: effective_values_per_day(config, role, user.values_per_day),
        values_today,
        refused_over_limit: limits.refused(user.id),
        last_login_ip: user.last_login_ip.clone(),
        access: PartnerAccess {
            scope: identity::stored_scope(&user.scope),
            requests_per_second,
            values_per_day: user.values_per_day,
            expires_at: user.expires_at,
        },
    })
}

/// Sets a user's scope (resolved by `submissions::partner_scope::resolve`), limits and expiry.
pub async fn update(
    db: &PgPool,
    known: &users::KnownCredentials,
    actor: Actor<'_>,
    uid: &str,
    input: PartnerAccess,
) -> AppResult<()> {
    let user = users::get(db, uid).await?;
    let mut problems = Problems::default();
    problems.check(input.requests_per_second.is_none_or(|r| r > 0), "requests_per_second", "must be at least 1");
    // Stored as a PostgreSQL integer: beyond it the update would fail as an internal error.
    let storable = input.requests_per_second.is_none_or(|r| i32::try_from(r).is_ok());
    problems.check(storable, "requests_per_second", "must be at most 2147483647");
    problems.check(input.values_per_day.is_none_or(|v| v > 0), "values_per_day", "must be at least 1");
    problems.check(expiry_ok(input.expires_at), "expires_at", "must be in the future");
    problems.finish()?;
    let scope = json!(input.scope);
    let mut tx = db.begin().await?;
    sqlx::query!(
        "UPDATE users SET scope = $2, requests_per_second = $3, values_per_day = $4, expires_at = $5 WHERE id = $1",
        user.id,
        scope,
        input.requests_per_second.and_then(|r| i32::try_from(r).ok()),
        input.values_per_day,
        input.expires_at,
    )
    .execute(&mut *tx)
    .await?;
    let detail = json!({
        "scope": scope, "requests_per_second": input.requests_per_second,
        "values_per_day": input.values_per_day, "expires_at": input.expires_at,
    });
    audit::record(&mut *tx, actor, "user.access", "user", uid, detail).await?;
    tx.commit().await?;
    known.forget_all();
    Ok(())
}

/// The day the values-per-day limit counts in: today in `server.timezone`.
fn today(config: &Config) -> chrono::NaiveDate {
    Utc::now().with_timezone(&config.server.timezone).date_naive()
}

fn expiry_ok(expires_at: Option<DateTime<Utc>>) -> bool {
    expires_at.is_none_or(|t| t > Utc::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_counted_in_aggregate_and_tracker_payloads() {
        assert_eq!(count_values(&json!({"dataValues": [{}, {}, {}]})), 3);
        let tracker = json!({"trackedEntities": [{"attributes": [{}, {}],
            "enrollments": [{"events": [{"dataValues": [{}, {}, {}]}]}]}]});
        assert_eq!(count_values(&tracker), 5);
        assert_eq!(count_values(&json!({"events": []})), 0);
    }

    #[test]
    fn networks_are_cidr_or_single_addresses() {
        assert_eq!(parse_network("10.0.0.0/8").unwrap().to_string(), "10.0.0.0/8");
        assert_eq!(parse_network(" 192.0.2.7 ").unwrap().to_string(), "192.0.2.7/32");
        assert_eq!(parse_network("2001:db8::/32").unwrap().to_string(), "2001:db8::/32");
        assert!(parse_network("10.0.0.0/33").is_none() && parse_network("example.org").is_none());
    }
}
