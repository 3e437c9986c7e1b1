//! A strict test double of the DHIS2 Web API, for the gateway's black-box tests and
//! benchmarks.
//!
//! It serves the few endpoints the gateway talks to and answers them exactly as DHIS2 2.37,
//! 2.40 or 2.43 would: the same envelopes, HTTP status codes, error codes and import counts
//! (see [`Version`]):
//!
//! * `/api/system/info`, `/api/me`; `/api/system/ping`, which answers `pong` without asking
//!   who is calling (derived from DHIS2's `SystemController` and its security configuration,
//!   not verified against a running server);
//! * `POST /api/dataValueSets` with its async job endpoints (`src/import.rs` describes the
//!   three regimes and `src/import/problem.rs` tabulates the error codes);
//! * `POST /api/tracker` with `/api/tracker/jobs/{id}` and `/report` (`src/tracker/mod.rs`,
//!   error codes in `src/tracker/validate.rs`);
//! * `GET /api/organisationUnits` (`/{id}`), `/api/organisationUnitLevels`,
//!   `/api/organisationUnitGroups` (`/{id}`), with `fields`, `filter`, `order` and paging
//!   (`src/orgunit/listing.rs`); `POST /api/metadata` for org units, levels and groups
//!   (`src/orgunit/metadata.rs`); `POST`/`DELETE
//!   /api/organisationUnitGroups/{group}/organisationUnits/{unit}`;
//! * `GET /api/dataSets`, `/api/dataElements`, `/api/categoryCombos`, `/api/optionSets`:
//!   the objects with the properties a metadata sync reads (data sets with `periodType`,
//!   attribute `categoryCombo`, `dataSetElements`, `organisationUnits`, `openFuturePeriods`,
//!   `expiryDays`, `timelyDays`, `dataInputPeriods`; elements with `valueType`,
//!   `zeroIsSignificant`, `categoryCombo`; combos with their `categoryOptionCombos`), with the
//!   same filters and paging as the org-unit lists. `fields` other than `id` answers with the
//!   whole object, as `fields=*` would (derived: DHIS2 trims to what was asked).
//!
//! * `GET`/`POST`/`DELETE /api/lockExceptions` and `GET`/`POST`/`DELETE /api/dataApprovals`
//!   (`src/server/entry.rs`): how an administrator opens a closed period or approves data.
//!
//! Data elements, data sets and programs are fixed, see [`fixture`], except which org units
//! a data set is assigned to ([`Dhis2Double::withdraw_data_set`] moves the data set's
//! `lastUpdated`), that a data element can be deleted ([`Dhis2Double::delete_data_element`]),
//! and each data set's entry settings. Imports enforce them as DHIS2 does (`src/entry.rs`):
//! expiry days ([`Dhis2Double::set_expiry_days`]) with lock exceptions, open future periods
//! (the fixture's 0 leaves the current period closed), data input periods and data approval
//! ([`Dhis2Double::approve`]), refused per value with E7640–E7643 up to 2.42 and per data set
//! with E8030/E8033 on 2.43. A data set's `timelyDays` ([`Dhis2Double::set_timely_days`], DHIS2's
//! default 15) is listed and never enforced, as in DHIS2, where only completeness reporting reads it. Org units start as the fixture hierarchy but can change (metadata imports, [`Dhis2Double::add_org_unit`], …).
//! Data values, tracker objects and org units are kept in memory so tests can check what
//! was delivered, and how often.
//!
//! Tests can also make it misbehave: added latency, queued faults (error statuses, hangs,
//! connection resets) for the write endpoints, a limited capacity (503 with `Retry-After`
//! above N concurrent imports, slower under load: what a proxy with a connection limit in
//! front of a busy DHIS2 answers; DHIS2 itself has no such limit), or a whole server that is
//! "down".
//!
//! ```no_run
//! # async fn demo() {
//! use dhis2_double::{Dhis2Double, Fault, Version, fixture};
//! let dhis2 = Dhis2Double::start(Version::V2_40).await;
//! dhis2.fail_next(Fault::Status(503), 1);
//! // … point the gateway at dhis2.base_url() and let it deliver …
//! let v = dhis2.value(fixture::DE_POSITIVES, "202401", fixture::OU_FACILITY_1, fixture::DEFAULT_COC);
//! # }
//! ```

mod common;
mod entry;
mod envelope;
pub mod fixture;
mod import;
mod model;
mod orgunit;
mod period;
mod server;
mod state;
mod stats;
mod time;
mod tracker;

pub use common::{
    Capacity, DEFAULT_TRACKER_JOB_DELAY, Fault, PASSWORD, PAT, RecordedRequest, StoredValue, USERNAME, Version,
};

use std::collections::{HashMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::net::TcpListener;

use common::lock;
use state::Shared;

/// A running DHIS2 double. Cloning is cheap; all clones control the same server.
#[derive(Clone)]
pub struct Dhis2Double {
    shared: Arc<Shared>,
}

impl Dhis2Double {
    /// Starts a double on `127.0.0.1` with a free port.
    ///
    /// # Panics
    /// If no loopback port can be bound.
    pub async fn start(version: Version) -> Dhis2Double {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        Dhis2Double::start_on(addr, version).await.expect("bind a free port on 127.0.0.1")
    }

    /// Starts a double on `addr`; it serves in a spawned task until the runtime stops.
    pub async fn start_on(addr: SocketAddr, version: Version) -> std::io::Result<Dhis2Double> {
        let listener = TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        // A wildcard bind is still reached through loopback.
        let host = if local.ip().is_unspecified() { Ipv4Addr::LOCALHOST.into() } else { local.ip() };
        let shared = Arc::new(Shared {
            base_url: format!("http://{}", SocketAddr::new(host, local.port())),
            version: Mutex::new(version),
            latency: Mutex::new(Duration::ZERO),
            faults: Mutex::new(VecDeque::new()),
            down: AtomicBool::new(false),
            store: Mutex::new(import::Store::new()),
            requests: Mutex::new(Vec::new()),
            import_requests: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            jobs: Mutex::new(HashMap::new()),
            next_uid: AtomicU64::new(1),
            org_units: Mutex::new(orgunit::Registry::fixture()),
            entry: Mutex::new(entry::Entry::default()),
            org_unit_requests: AtomicUsize::new(0),
            metadata_imports: Mutex::new(Vec::new()),
            tracker: Mutex::new(tracker::Store::default()),
            tracker_requests: AtomicUsize::new(0),
            tracker_jobs: Mutex::new(HashMap::new()),
            tracker_job_delay: Mutex::new(DEFAULT_TRACKER_JOB_DELAY),
            capacity: Mutex::new(None),
        });
        tokio::spawn(server::serve(listener, Arc::clone(&shared)));
        Ok(Dhis2Double { shared })
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash or `/api`.
    pub fn base_url(&self) -> String {
        self.shared.base_url.clone()
    }

    /// Switches the emulated version for the following requests.
    pub fn set_version(&self, v: Version) {
        *lock(&self.shared.version) = v;
    }

    /// Delay added to every request before it is answered.
    pub fn set_latency(&self, d: Duration) {
        *lock(&self.shared.latency) = d;
    }

    /// Queues `fault` for the next `times` write requests, after any faults already queued.
    /// Write requests are `POST /api/dataValueSets`, `POST /api/tracker` and
    /// `POST /api/metadata`; they take the queued faults in arrival order, whichever
    /// endpoint they are for.
    pub fn fail_next(&self, fault: Fault, times: usize) {
        lock(&self.shared.faults).extend(std::iter::repeat_n(fault, times));
    }

    /// While down, every connection and request is reset without an answer.
    pub fn set_down(&self, down: bool) {
        self.shared.down.store(down, Ordering::SeqCst);
    }

    /// Limits `POST /api/dataValueSets` to `capacity.limit` at a time, as a DHIS2 behind a
    /// proxy with a connection limit: one more is answered 503 at once with `Retry-After`, and
    /// each import takes `capacity.per_request` longer for every import running beside it.
    /// `None` lifts the limit.
    pub fn set_capacity(&self, capacity: Option<Capacity>) {
        *lock(&self.shared.capacity) = capacity;
    }

    /// Every stored value, sorted by (data element, period, org unit, COC, AOC).
    pub fn values(&self) -> Vec<StoredValue> {
        lock(&self.shared.store).values().cloned().collect()
    }

    /// The stored value for this key with the default attribute option combo.
    pub fn value(&self, de: &str, period: &str, ou: &str, coc: &str) -> Option<StoredValue> {
        let key = (de.to_owned(), period.to_owned(), ou.to_owned(), coc.to_owned(), fixture::DEFAULT_AOC.to_owned());
        lock(&self.shared.store).get(&key).cloned()
    }

    /// Every request received so far, in arrival order (faulted ones included).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.requests).clone()
    }

    /// How many authenticated `POST /api/dataValueSets` reached the import handler
    /// (faulted and unauthorised requests do not).
    pub fn import_requests(&self) -> usize {
        self.shared.import_requests.load(Ordering::SeqCst)
    }

    /// How many `POST /api/dataValueSets` requests are open right now.
    pub fn in_flight(&self) -> usize {
        self.shared.in_flight.load(Ordering::SeqCst)
    }

    /// The most `POST /api/dataValueSets` requests open at the same time so far.
    pub fn max_in_flight(&self) -> usize {
        self.shared.max_in_flight.load(Ordering::SeqCst)
    }

    /// Forgets recorded requests and counters (also [`Dhis2Double::tracker_requests`],
    /// [`Dhis2Double::org_unit_requests`] and [`Dhis2Double::metadata_imports`]); stored
    /// values, tracker objects and org units stay.
    pub fn reset_counters(&self) {
        lock(&self.shared.requests).clear();
        self.shared.import_requests.store(0, Ordering::SeqCst);
        self.shared.tracker_requests.store(0, Ordering::SeqCst);
        self.shared.org_unit_requests.store(0, Ordering::SeqCst);
        lock(&self.shared.metadata_imports).clear();
        let open = self.shared.in_flight.load(Ordering::SeqCst);
        self.shared.max_in_flight.store(open, Ordering::SeqCst);
    }

    /// Every stored tracked entity, flattened (without nested enrollments), by UID.
    pub fn tracked_entities(&self) -> Vec<Value> {
        lock(&self.shared.tracker).tracked_entities.values().cloned().collect()
    }

    /// Every stored enrollment, flattened (with its `trackedEntity`, without nested
    /// events), by UID.
    pub fn enrollments(&self) -> Vec<Value> {
        lock(&self.shared.tracker).enrollments.values().cloned().collect()
    }

    /// Every stored event, flattened (with `enrollment` for tracker programs and always
    /// `program`), by UID.
    pub fn events(&self) -> Vec<Value> {
        lock(&self.shared.tracker).events.values().cloned().collect()
    }

    /// How many authenticated `POST /api/tracker` reached the tracker handler (faulted and
    /// unauthorised requests do not).
    pub fn tracker_requests(&self) -> usize {
        self.shared.tracker_requests.load(Ordering::SeqCst)
    }

    /// How long an async tracker job runs before its report is available (default
    /// [`DEFAULT_TRACKER_JOB_DELAY`]); applies to jobs started afterwards.
    pub fn set_tracker_job_delay(&self, delay: Duration) {
        *lock(&self.shared.tracker_job_delay) = delay;
    }

    /// Every stored org unit as `GET /api/organisationUnits` shows it (with `path`, `level`,
    /// `parent`, `lastUpdated`, `organisationUnitGroups`, …), by level, then name.
    pub fn org_units(&self) -> Vec<Value> {
        lock(&self.shared.org_units).units_json()
    }

    /// One stored org unit, as [`Dhis2Double::org_units`] shows it.
    pub fn org_unit(&self, uid: &str) -> Option<Value> {
        let registry = lock(&self.shared.org_units);
        registry.units.get(uid).map(|unit| registry.unit_json(unit))
    }

    /// Adds an org unit as if someone created it in DHIS2 now: `lastUpdated` is now, so an
    /// incremental sync (`filter=lastUpdated:gt:…`) sees it. Its short name is the name;
    /// both fixture data sets and both programs are assigned to it, so data can be
    /// delivered to it.
    ///
    /// # Panics
    /// If `uid` is not a valid UID or already exists, `code` is taken, or `parent` does not
    /// exist.
    pub fn add_org_unit(&self, uid: &str, name: &str, code: &str, parent: Option<&str>) {
        if let Err(message) = lock(&self.shared.org_units).add(uid, name, code, parent) {
            panic!("add_org_unit: {message}");
        }
    }

    /// Renames an org unit (its short name stays) and sets its `lastUpdated` to now.
    ///
    /// # Panics
    /// If there is no org unit `uid`.
    pub fn rename_org_unit(&self, uid: &str, name: &str) {
        if let Err(message) = lock(&self.shared.org_units).rename(uid, name) {
            panic!("rename_org_unit: {message}");
        }
    }

    /// Deletes an org unit without children, as DHIS2's maintenance app does (it leaves its
    /// groups). An incremental sync (`lastUpdated:gt:`) does not see a deletion.
    ///
    /// # Panics
    /// If there is no org unit `uid`, or it has children.
    pub fn delete_org_unit(&self, uid: &str) {
        if let Err(message) = lock(&self.shared.org_units).delete(uid) {
            panic!("delete_org_unit: {message}");
        }
    }

    /// Moves an org unit (and its subtree) under `parent`; its `lastUpdated` becomes now, its
    /// descendants' paths change without theirs.
    ///
    /// # Panics
    /// If either unit does not exist, or `parent` is in the moved subtree.
    pub fn move_org_unit(&self, uid: &str, parent: &str) {
        if let Err(message) = lock(&self.shared.org_units).move_under(uid, parent) {
            panic!("move_org_unit: {message}");
        }
    }

    /// Takes data set `data_set` away from org unit `uid`, as an admin unticking it in the
    /// maintenance app: the data set's `lastUpdated` becomes now, and imports of its values
    /// for that unit are refused as not assigned (E7636 / E8022).
    ///
    /// # Panics
    /// If there is no org unit `uid` or the data set is not assigned to it.
    pub fn withdraw_data_set(&self, uid: &str, data_set: &str) {
        if let Err(message) = lock(&self.shared.org_units).withdraw_data_set(uid, data_set) {
            panic!("withdraw_data_set: {message}");
        }
    }

    /// Assigns data set `data_set` to org unit `uid` (at any level), as an admin ticking it in
    /// the maintenance app: the data set's `lastUpdated` becomes now, and imports of its values
    /// for that unit are accepted.
    ///
    /// # Panics
    /// If there is no org unit `uid` or the data set is assigned to it already.
    pub fn assign_data_set(&self, uid: &str, data_set: &'static str) {
        if let Err(message) = lock(&self.shared.org_units).assign_data_set(uid, data_set) {
            panic!("assign_data_set: {message}");
        }
    }

    /// Deletes data element `uid`, as an admin deleting it in the maintenance app: it is gone
    /// from `GET /api/dataElements` and from its data sets (whose `lastUpdated` becomes now),
    /// and imports of its values fail as for an unknown element (E7610 / E8101).
    pub fn delete_data_element(&self, uid: &str) {
        lock(&self.shared.org_units).delete_data_element(uid);
    }

    /// Sets data set `data_set`'s expiry days, as an admin in the maintenance app (its
    /// `lastUpdated` becomes now): with `days` > 0, a period's data is refused once today is
    /// after its end plus `days` (E7640 / E8030), unless a lock exception covers it.
    pub fn set_expiry_days(&self, data_set: &str, days: u32) {
        self.change_data_set(data_set, |s| s.expiry_days = i64::from(days));
    }

    /// Sets data set `data_set`'s timely days (DHIS2's default is 15), as an admin in the
    /// maintenance app (its `lastUpdated` becomes now). Entry ignores it, as DHIS2's does; it
    /// only tells a reporting client when a report stops being timely.
    pub fn set_timely_days(&self, data_set: &str, days: u32) {
        self.change_data_set(data_set, |s| s.timely_days = days);
    }

    /// Sets how many future periods data set `data_set` is open for (0, the fixture's value,
    /// leaves even the current period closed: E7641 / E8030).
    pub fn set_open_future_periods(&self, data_set: &str, periods: u32) {
        self.change_data_set(data_set, |s| s.open_future_periods = i64::from(periods));
    }

    /// Sets data set `data_set`'s data input periods: `(period, opening, closing)` with dates
    /// or timestamps DHIS2 reads (`2024-02-01`, `2024-02-01T08:00:00`); `None` means no limit.
    /// Only listed periods are then accepted, within their dates (E7643 / E8030).
    ///
    /// # Panics
    /// If a date cannot be read.
    pub fn set_input_periods(&self, data_set: &str, periods: &[(&str, Option<&str>, Option<&str>)]) {
        let read =
            |d: Option<&str>| d.map(|d| time::parse(d).unwrap_or_else(|| panic!("set_input_periods: bad date {d}")));
        let periods: Vec<model::InputPeriod> = periods
            .iter()
            .map(|(period, opening, closing)| model::InputPeriod {
                period: (*period).to_owned(),
                opening: read(*opening),
                closing: read(*closing),
            })
            .collect();
        self.change_data_set(data_set, |s| s.input_periods = periods);
    }

    fn change_data_set(&self, data_set: &str, change: impl FnOnce(&mut model::Settings)) {
        let uid = model::data_set(model::IdScheme::Uid, data_set)
            .unwrap_or_else(|| panic!("no data set {data_set} in the fixture"))
            .id
            .uid;
        change(lock(&self.shared.entry).settings_mut(uid));
        lock(&self.shared.org_units).data_sets_changed.insert(uid, time::now());
    }

    /// The lock exceptions, as `(data set, org unit, period)`, in the order they were added
    /// (`POST /api/lockExceptions` adds them as a DHIS2 admin would).
    pub fn lock_exceptions(&self) -> Vec<(String, String, String)> {
        let entry = lock(&self.shared.entry);
        entry.exceptions.iter().map(|e| (e.data_set.clone(), e.org_unit.clone(), e.period.clone())).collect()
    }

    /// Approves data of `data_set` for `period` and `org_unit` (default attribute option
    /// combo), as `POST /api/dataApprovals` does; then such data is refused (E7642; on 2.43
    /// E8033 for values naming the attribute option combo).
    pub fn approve(&self, data_set: &str, period: &str, org_unit: &str) {
        lock(&self.shared.entry).approve(data_set, period, org_unit, fixture::DEFAULT_AOC, time::now());
    }

    /// Undoes [`Dhis2Double::approve`].
    pub fn unapprove(&self, data_set: &str, period: &str, org_unit: &str) {
        lock(&self.shared.entry).unapprove(data_set, period, org_unit, fixture::DEFAULT_AOC);
    }

    /// Removes every org unit, level and group, as on a fresh server that is to receive
    /// the hierarchy through `POST /api/metadata`. Data values can no longer be imported
    /// until org units exist again.
    pub fn clear_org_units(&self) {
        lock(&self.shared.org_units).clear();
    }

    /// The bodies of the `POST /api/metadata` requests received so far (those that were
    /// JSON), in arrival order, whether the import succeeded or not.
    pub fn metadata_imports(&self) -> Vec<Value> {
        lock(&self.shared.metadata_imports).clone()
    }

    /// The UIDs of the org units in group `group_uid`, sorted; empty for an unknown group.
    pub fn group_members(&self, group_uid: &str) -> Vec<String> {
        let registry = lock(&self.shared.org_units);
        registry.groups.get(group_uid).map(|g| g.members.iter().cloned().collect()).unwrap_or_default()
    }

    /// How many authenticated `GET /api/organisationUnits` (and `/api/organisationUnits/{id}`)
    /// reached their handler.
    pub fn org_unit_requests(&self) -> usize {
        self.shared.org_unit_requests.load(Ordering::SeqCst)
    }
}
