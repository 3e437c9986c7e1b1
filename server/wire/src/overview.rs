//! The console's first screen: submissions by status over recent days, the queue, the last
//! delivery error and every DHIS2 server's health.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::Dhis2Server;

/// `GET /overview`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Overview {
    pub generated_at: DateTime<Utc>,
    /// The deployment time zone days are counted in (`server.timezone`).
    pub timezone: String,
    /// `today` (since local midnight), `7d`, `30d` (the last 7/30 local days including today).
    pub windows: Vec<StatusCounts>,
    /// One point per local day, oldest first, for the last 30 days including today (days
    /// with no submissions included, with empty maps).
    pub daily: Vec<DailyCounts>,
    pub queue: QueueDepth,
    pub last_error: Option<LastDeliveryError>,
    /// Every DHIS2 server, as `GET /servers` lists them (health, version, pending).
    pub servers: Vec<Dhis2Server>,
    /// The synced DHIS2 metadata and whether submissions are checked against it.
    pub metadata: crate::MetadataStatus,
    /// Values waiting for DHIS2 to open a closed period or undo an approval.
    #[serde(default)]
    pub held: HeldSummary,
    /// How much the database holds.
    #[serde(default)]
    pub storage: Storage,
}

/// The database's size, its largest tables and its oldest submission.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Storage {
    pub database_bytes: i64,
    /// Every table with its rows (PostgreSQL's running count) and bytes (indexes and TOAST
    /// included), largest first.
    pub tables: Vec<TableSize>,
    pub oldest_submission: Option<DateTime<Utc>>,
    /// Bytes the archive files take (`retention.archive_directory`).
    #[serde(default)]
    pub archive_bytes: i64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TableSize {
    pub table: String,
    pub rows: i64,
    pub bytes: i64,
}

/// The hold queue at a glance.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HeldSummary {
    pub values: i64,
    pub submissions: i64,
    /// Groups (server, data set, period, org unit, attribute option combo) DHIS2 opens as one.
    pub groups: i64,
    pub oldest: Option<DateTime<Utc>>,
}

/// Submissions received in a window, by their current status. Statuses with none are absent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StatusCounts {
    /// `today`, `7d` or `30d`.
    pub window: String,
    pub total: i64,
    pub by_status: BTreeMap<String, i64>,
}

/// Submissions received on one local day, by their current status. Statuses with none are
/// absent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DailyCounts {
    /// `YYYY-MM-DD`.
    pub day: String,
    pub by_status: BTreeMap<String, i64>,
}

/// Work waiting: jobs in Redis and deliveries not finished in PostgreSQL.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct QueueDepth {
    /// Jobs in Redis, due now (a partner's further deliveries wait in PostgreSQL for its turn).
    pub due: i64,
    /// Deliveries waiting in PostgreSQL for a later retry (back-off, maintenance window,
    /// a server that is down, or an earlier submission of the same values).
    pub scheduled: i64,
    /// Deliveries being sent now.
    pub in_flight: i64,
    /// Destinations not finished (queued, processing, retrying).
    pub pending: i64,
    /// Why Redis could not be asked; `due` is then 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redis_error: Option<String>,
}

/// The most recent delivery attempt that failed, is to be retried, or gave up.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LastDeliveryError {
    pub submission_id: i64,
    /// The DHIS2 server's name.
    pub server: Option<String>,
    pub at: DateTime<Utc>,
    pub http_status: Option<i32>,
    pub error: String,
}
