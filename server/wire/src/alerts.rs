//! Alerts: the rules the gateway checks on its own, what fires now, and every notification it
//! sent (or could not send), by email or webhook.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What a rule watches. Each uses some of a rule's `threshold`, `window` and `after`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// Per DHIS2 server: more than `threshold` deliveries DHIS2 refused (failed or given up)
    /// within `window` seconds. Unreachability is `server_unavailable`'s, not this.
    Failures,
    /// Per DHIS2 server: more than `threshold` deliveries given up (dead letters) within
    /// `window` seconds.
    DeadLetters,
    /// Per DHIS2 server: failing its health checks, or switched off, for `after` seconds.
    ServerUnavailable,
    /// Per DHIS2 server: a delivery waiting to be sent for more than `after` seconds.
    QueueAge,
    /// Values on hold (closed period, approval) for more than `after` seconds.
    HeldAge,
    /// Per partner: nothing received for `threshold` times its usual interval between
    /// submissions, and at least `after` seconds.
    PartnerSilent,
    /// Per partner and data set its scope names: more than `threshold` of the reports it is
    /// expected to send missing in the last period whose timely days are over.
    ReportsMissing,
    /// Mappings whose DHIS2 metadata is missing or mismatched (more than `threshold`).
    MappingHealth,
    /// The database larger than `threshold` megabytes.
    DatabaseSize,
}

impl AlertKind {
    pub const ALL: [AlertKind; 9] = [
        AlertKind::Failures,
        AlertKind::DeadLetters,
        AlertKind::ServerUnavailable,
        AlertKind::QueueAge,
        AlertKind::HeldAge,
        AlertKind::PartnerSilent,
        AlertKind::ReportsMissing,
        AlertKind::MappingHealth,
        AlertKind::DatabaseSize,
    ];

    /// As in the API, the configuration and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::Failures => "failures",
            AlertKind::DeadLetters => "dead_letters",
            AlertKind::ServerUnavailable => "server_unavailable",
            AlertKind::QueueAge => "queue_age",
            AlertKind::HeldAge => "held_age",
            AlertKind::PartnerSilent => "partner_silent",
            AlertKind::ReportsMissing => "reports_missing",
            AlertKind::MappingHealth => "mapping_health",
            AlertKind::DatabaseSize => "database_size",
        }
    }

    /// What it watches, in a few words.
    pub fn title(self) -> &'static str {
        match self {
            AlertKind::Failures => "Deliveries refused by DHIS2",
            AlertKind::DeadLetters => "Deliveries given up",
            AlertKind::ServerUnavailable => "DHIS2 server unreachable or switched off",
            AlertKind::QueueAge => "Deliveries waiting too long",
            AlertKind::HeldAge => "Values on hold too long",
            AlertKind::PartnerSilent => "Partner stopped reporting",
            AlertKind::ReportsMissing => "Expected reports missing",
            AlertKind::MappingHealth => "Broken mappings",
            AlertKind::DatabaseSize => "Database size",
        }
    }

    /// Which of `threshold`, `window` and `after` the kind reads.
    pub fn uses(self) -> (bool, bool, bool) {
        match self {
            AlertKind::Failures | AlertKind::DeadLetters => (true, true, false),
            AlertKind::ServerUnavailable | AlertKind::QueueAge | AlertKind::HeldAge => (false, false, true),
            AlertKind::PartnerSilent => (true, false, true),
            AlertKind::ReportsMissing | AlertKind::MappingHealth | AlertKind::DatabaseSize => (true, false, false),
        }
    }
}

/// A rule: what to watch, when it fires, and who hears of it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AlertRule {
    /// Lower-case letters, digits, `-` and `_`; a rule named like a built-in one replaces it.
    pub name: String,
    pub kind: AlertKind,
    #[serde(default = "enabled")]
    pub enabled: bool,
    /// A count, a factor (`partner_silent`) or megabytes (`database_size`); see the kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// Seconds counted back from each check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<u64>,
    /// Seconds a condition must last before the rule fires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<u64>,
    /// Email addresses and webhook URLs (`https://…`); empty: `alerts.recipients`.
    #[serde(default)]
    pub recipients: Vec<String>,
}

fn enabled() -> bool {
    true
}

impl AlertRule {
    /// What is wrong with the rule, as (field, problem).
    pub fn problem(&self) -> Result<(), (&'static str, String)> {
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 63
            && self.name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && self.name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if !name_ok {
            return Err(("name", format!("'{}' must be 1 to 63 lower-case letters, digits, '-' or '_'", self.name)));
        }
        if let Some(threshold) = self.threshold
            && !(threshold.is_finite() && threshold >= 0.0)
        {
            return Err(("threshold", "must be a number, 0 or more".into()));
        }
        if self.kind == AlertKind::PartnerSilent && self.threshold.is_some_and(|t| t < 1.0) {
            return Err(("threshold", "a partner_silent factor must be at least 1".into()));
        }
        if self.window == Some(0) {
            return Err(("window", "must be at least 1 second".into()));
        }
        // A year is far beyond any useful window and keeps the arithmetic in range.
        for (field, seconds) in [("window", self.window), ("after", self.after)] {
            if seconds.is_some_and(|s| s > 366 * 86_400) {
                return Err((field, "must be at most a year (31622400 seconds)".into()));
            }
        }
        for recipient in &self.recipients {
            recipient_problem(recipient).map_err(|e| ("recipients", e))?;
        }
        Ok(())
    }
}

/// Whether a recipient is an email address or a webhook URL (`http://` or `https://`).
pub fn recipient_problem(recipient: &str) -> Result<(), String> {
    let r = recipient.trim();
    if r.starts_with("https://") || r.starts_with("http://") {
        let host = r.split_once("://").map_or("", |(_, rest)| rest).split(['/', '?', '#']).next().unwrap_or("");
        return if host.is_empty() || r.contains(char::is_whitespace) {
            Err(format!("'{r}' is not a webhook URL"))
        } else {
            Ok(())
        };
    }
    match r.rsplit_once('@') {
        Some((local, domain))
            if !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !r.contains(char::is_whitespace)
                && !local.contains('<') =>
        {
            Ok(())
        }
        _ => Err(format!("'{r}' is neither an email address nor an http(s):// webhook URL")),
    }
}

/// A rule as `GET /alerts/rules` shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AlertRuleView {
    pub rule: AlertRule,
    /// `default` (built in), `config` (`alerts.rules`) or `console` (changed by an admin;
    /// deleting it brings back the built-in or configured rule, if any).
    pub origin: String,
    /// The kind's title.
    pub title: String,
    /// Who changed it last, for `console` rules.
    pub updated_by: Option<String>,
    pub updated: Option<DateTime<Utc>>,
    /// Subjects it fires for now.
    pub firing: i64,
    /// The recipients notifications go to (the rule's own, or `alerts.recipients`).
    pub effective_recipients: Vec<String>,
    /// The parameters checked: the rule's own, else the kind's defaults.
    pub in_force: AlertParameters,
    /// The kind's defaults.
    pub defaults: AlertParameters,
}

/// A rule's `threshold`, `window` and `after` with nothing left out.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AlertParameters {
    pub threshold: f64,
    pub window: u64,
    pub after: u64,
}

/// `PUT /alerts/rules/{name}`: the whole rule but its name. `kind` may be left out when a rule
/// of that name exists; a parameter left out takes the kind's default.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AlertRuleInput {
    pub kind: Option<AlertKind>,
    #[serde(default = "enabled")]
    pub enabled: bool,
    pub threshold: Option<f64>,
    pub window: Option<u64>,
    pub after: Option<u64>,
    #[serde(default)]
    pub recipients: Vec<String>,
}

/// A rule firing for one subject (a server, a partner, the database).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AlertFiring {
    pub rule: String,
    pub subject: String,
    pub message: String,
    pub value: Option<f64>,
    pub firing_since: DateTime<Utc>,
    pub last_notified_at: DateTime<Utc>,
}

/// What a rule finds now (`POST /alerts/rules/{name}/check`), without notifying anyone.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AlertFinding {
    pub subject: String,
    pub message: String,
    pub value: Option<f64>,
}

/// `GET /alerts`: what fires now and how notifications go out.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AlertsOverview {
    pub firing: Vec<AlertFiring>,
    /// `alerts.smtp_host`, or empty when email is not configured.
    pub smtp_host: String,
    /// Webhook bodies carry an HMAC signature (`alerts.webhook_secret` is set).
    pub webhook_signed: bool,
    /// `alerts.recipients`: who hears of rules without recipients of their own.
    pub recipients: Vec<String>,
    /// Seconds between reminders while a rule keeps firing (`alerts.alert_repeat`).
    pub repeat: u64,
    /// When the daily digest goes out (`HH:MM`, gateway time zone); empty: no digest.
    pub digest_time: String,
    /// Notifications not sent yet, and those given up in the last 24 hours.
    pub pending: i64,
    pub failed_today: i64,
}

/// One notification to one recipient.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AlertNotification {
    pub id: i64,
    pub created: DateTime<Utc>,
    pub rule: Option<String>,
    pub subject: Option<String>,
    /// `fired`, `reminder`, `recovered`, `digest`, `partner_digest` or `test`.
    pub event: String,
    /// `email` or `webhook`.
    pub channel: String,
    pub recipient: String,
    pub title: String,
    pub body: String,
    /// `pending` (tried again later), `sent` or `failed` (given up).
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    /// What the SMTP server or webhook answered.
    pub answer: Option<String>,
    /// Why the last try failed.
    pub error: Option<String>,
    pub sent_at: Option<DateTime<Utc>>,
}

/// Filters of `GET /alerts/notifications`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct NotificationFilter {
    /// `pending`, `sent` or `failed`.
    pub status: Option<String>,
    pub rule: Option<String>,
    /// `fired`, `reminder`, `recovered`, `digest`, `partner_digest` or `test`.
    pub event: Option<String>,
    pub page: Option<i64>,
    /// 1 to 500; 50 by default.
    pub page_size: Option<i64>,
}

/// `POST /alerts/test`: send a test notification to one recipient now.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AlertTest {
    /// An email address or a webhook URL.
    pub recipient: String,
}

/// What the SMTP server or webhook said to the test.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AlertTestResult {
    pub channel: String,
    pub recipient: String,
    pub sent: bool,
    pub answer: Option<String>,
    pub error: Option<String>,
}
