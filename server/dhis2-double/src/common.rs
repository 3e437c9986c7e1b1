//! What the double's users and its parts share: the credentials it accepts, the DHIS2
//! versions it imitates, the faults tests can queue, and what it records.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// The Basic-auth user name the double accepts.
pub const USERNAME: &str = "admin";
/// The Basic-auth password the double accepts.
pub const PASSWORD: &str = "district";
/// The personal access token the double accepts (`Authorization: ApiToken <PAT>`).
pub const PAT: &str = "d2pat_5xVA12xyUbWNedQxy4ohH77WlxRGVvZZ1151814092";

/// How long an async tracker job takes unless [`Dhis2Double::set_tracker_job_delay`] says
/// otherwise.
pub const DEFAULT_TRACKER_JOB_DELAY: Duration = Duration::from_millis(200);

/// The DHIS2 version being emulated; each stands for one answer regime.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    /// Plain `ImportSummary`, always HTTP 200.
    V2_37,
    /// `WebMessage` envelope, old validation: WARNING and ERROR answer HTTP 409.
    V2_40,
    /// `WebMessage` envelope, new data-entry pipeline: WARNING answers 200, ERROR 409.
    V2_43,
}

impl Version {
    /// The version string `GET /api/system/info` reports.
    pub fn as_str(&self) -> &'static str {
        match self {
            Version::V2_37 => "2.37.9",
            Version::V2_40 => "2.40.5",
            Version::V2_43 => "2.43.0",
        }
    }
}

/// A misbehaviour queued with [`Dhis2Double::fail_next`] for the write endpoints
/// (`POST /api/dataValueSets`, `/api/tracker`, `/api/metadata`).
#[derive(Clone, Debug)]
pub enum Fault {
    /// Answer this HTTP status with a small HTML body, as a proxy in front of DHIS2 would.
    Status(u16),
    /// Wait this long, then answer normally (to trip client timeouts).
    Hang(Duration),
    /// Close the TCP connection without writing any HTTP response.
    Reset,
}

/// See [`crate::Dhis2Double::set_capacity`].
#[derive(Clone, Copy, Debug)]
pub struct Capacity {
    /// Imports served at once; one more is refused with 503.
    pub limit: usize,
    /// Added to each import's time per other import running beside it.
    pub per_request: Duration,
    /// The `Retry-After` the 503 carries, in whole seconds (`None`: without the header).
    pub retry_after: Option<u64>,
}

/// One data value as the double stores it (all identifiers are UIDs).
#[derive(Clone, Debug, PartialEq)]
pub struct StoredValue {
    pub data_element: String,
    pub period: String,
    pub org_unit: String,
    pub category_option_combo: String,
    pub attribute_option_combo: String,
    /// The stored value; BOOLEAN values are normalised to `true`/`false` like DHIS2 does.
    pub value: String,
    pub comment: Option<String>,
    /// How many accepted imports delivered this key, including unchanged re-sends.
    pub times_written: u32,
}

/// A request as the double received it.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    /// The raw query string, without `?` (empty if none).
    pub query: String,
    pub authorization: Option<String>,
    /// The body, decoded as UTF-8 (lossily).
    pub body: String,
}

/// Locks a mutex, ignoring poisoning: a panicking test must not wedge the double.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
