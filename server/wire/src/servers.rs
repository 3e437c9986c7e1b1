//! DHIS2 servers the gateway delivers to: the primary (from the configuration) and further
//! servers, from `conf.d` files or created by admins, that receive copies (CC).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A DHIS2 server as the API shows it. Passwords and tokens are never returned.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Dhis2Server {
    pub uid: String,
    /// The name `api.cc_dhis2_servers` refers to.
    pub name: String,
    pub base_url: String,
    /// `basic` or `pat`.
    pub auth_method: String,
    pub username: String,
    pub has_password: bool,
    pub has_pat: bool,
    /// Seconds to wait for an answer.
    pub timeout: i32,
    /// Deliveries to this server in flight at once, per gateway process.
    pub max_concurrent: i32,
    /// A partner's waiting submissions of one data set go to it together, in requests of up
    /// to this many values (DHIS2 2.38 and later); 0: each submission in its own request.
    #[serde(default)]
    pub coalesce_max_values: i32,
    /// Off: deliveries to it wait (queued), they do not fail.
    pub enabled: bool,
    pub is_primary: bool,
    /// `config` (the `api` section or a conf.d file; edit the file) or `api`.
    pub origin: String,
    /// From `/api/system/info` at the last health check.
    pub dhis2_version: Option<String>,
    pub last_checked_at: Option<DateTime<Utc>>,
    /// Why the last health check failed; empty when it succeeded.
    pub last_error: Option<String>,
    /// A CC server: what it lacks of the primary's metadata that mappings use, as found at
    /// the last metadata sync (values sent there would be refused).
    #[serde(default)]
    pub metadata_problem: Option<String>,
    /// When it is not sent to (its nightly analytics, say), each window with its time zone:
    /// `00:00-04:00 Africa/Kampala`, `Sun 02:00-06:00 UTC`, `Mon-Fri 22:00-02:00 UTC`.
    #[serde(default)]
    pub maintenance: Vec<String>,
    /// Set while a maintenance window holds its deliveries back: when it ends.
    #[serde(default)]
    pub maintenance_until: Option<DateTime<Utc>>,
    /// Deliveries to this server not finished yet (queued, processing or retrying).
    pub pending: i64,
}

/// Body of `POST /servers` and `PUT /servers/{uid}`; on `PUT` every field is optional and
/// only what is sent changes. An empty `password` or `pat` removes it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ServerInput {
    pub name: Option<String>,
    pub base_url: Option<String>,
    /// `basic` or `pat`; by default `pat` when a `pat` is given, else `basic`.
    pub auth_method: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub pat: Option<String>,
    pub timeout: Option<i32>,
    pub max_concurrent: Option<i32>,
    /// 0, or 2 to 10000: see [`Dhis2Server::coalesce_max_values`].
    pub coalesce_max_values: Option<i32>,
    pub enabled: Option<bool>,
    /// Maintenance windows, `[days] HH:MM-HH:MM [Area/City]` (`00:00-04:00`, `Sun 02:00-06:00`,
    /// `Mon-Fri 22:00-02:00 Africa/Kampala`), in the gateway's `server.timezone` unless one is
    /// given; deliveries wait through them. Replaces the list; `[]` removes them.
    pub maintenance: Option<Vec<String>>,
}

/// Where one submission stands with one server.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DestinationView {
    /// The server's name.
    pub server: String,
    pub is_primary: bool,
    pub status: String,
    pub retry_count: i32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}
