//! The running double's state, shared by its handle ([`crate::Dhis2Double`]) and the
//! server's handlers.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::Value;

use crate::common::{Fault, RecordedRequest, Version, lock};
use crate::{entry, import, orgunit, tracker};

/// State shared by the handle and the server task.
pub(crate) struct Shared {
    pub(crate) base_url: String,
    pub(crate) version: Mutex<Version>,
    pub(crate) latency: Mutex<Duration>,
    pub(crate) faults: Mutex<VecDeque<Fault>>,
    pub(crate) down: AtomicBool,
    pub(crate) store: Mutex<import::Store>,
    pub(crate) requests: Mutex<Vec<RecordedRequest>>,
    pub(crate) import_requests: AtomicUsize,
    pub(crate) in_flight: AtomicUsize,
    pub(crate) max_in_flight: AtomicUsize,
    pub(crate) jobs: Mutex<HashMap<String, import::Job>>,
    pub(crate) next_uid: AtomicU64,
    pub(crate) org_units: Mutex<orgunit::Registry>,
    /// Expiry, future and input periods, lock exceptions, approvals.
    pub(crate) entry: Mutex<entry::Entry>,
    pub(crate) org_unit_requests: AtomicUsize,
    pub(crate) metadata_imports: Mutex<Vec<Value>>,
    pub(crate) tracker: Mutex<tracker::Store>,
    pub(crate) tracker_requests: AtomicUsize,
    pub(crate) tracker_jobs: Mutex<HashMap<String, tracker::Job>>,
    pub(crate) tracker_job_delay: Mutex<Duration>,
    /// Set: imports above its limit are refused with 503, and each is slower the more run.
    pub(crate) capacity: Mutex<Option<crate::common::Capacity>>,
}

impl Shared {
    pub(crate) fn version(&self) -> Version {
        *lock(&self.version)
    }

    pub(crate) fn is_down(&self) -> bool {
        self.down.load(Ordering::SeqCst)
    }

    /// A fresh, valid DHIS2 UID: `prefix` (letters) padded with a counter to 11 chars.
    pub(crate) fn new_uid(&self, prefix: &str) -> String {
        let n = self.next_uid.fetch_add(1, Ordering::Relaxed);
        format!("{prefix}{n:0width$}", width = 11 - prefix.len())
    }
}
