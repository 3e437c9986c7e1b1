//! A strict test double of the DHIS2 Web API, for the gateway's black-box tests and
//! benchmarks.
//!
//! It serves the few endpoints the gateway talks to (`/api/system/info`, `/api/me`,
//! `POST /api/dataValueSets` with its async job endpoints) and answers them exactly as
//! DHIS2 2.37, 2.40 or 2.43 would: the same envelopes, HTTP status codes, error codes and
//! import counts (see [`Version`]; `src/import.rs` describes the three regimes and
//! `src/import/problem.rs` tabulates the error codes). The metadata is fixed, see
//! [`fixture`]. Values are kept in memory so tests can check what was delivered, and how
//! often.
//!
//! Tests can also make it misbehave: added latency, queued faults (error statuses, hangs,
//! connection resets) for the import endpoint, or a whole server that is "down".
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

pub mod fixture;
mod import;
mod model;
mod period;
mod server;

use std::collections::{HashMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::net::TcpListener;

/// The Basic-auth user name the double accepts.
pub const USERNAME: &str = "admin";
/// The Basic-auth password the double accepts.
pub const PASSWORD: &str = "district";
/// The personal access token the double accepts (`Authorization: ApiToken <PAT>`).
pub const PAT: &str = "d2pat_5xVA12xyUbWNedQxy4ohH77WlxRGVvZZ1151814092";

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

/// A misbehaviour queued with [`Dhis2Double::fail_next`] for `POST /api/dataValueSets`.
#[derive(Clone, Debug)]
pub enum Fault {
    /// Answer this HTTP status with a small HTML body, as a proxy in front of DHIS2 would.
    Status(u16),
    /// Wait this long, then answer normally (to trip client timeouts).
    Hang(Duration),
    /// Close the TCP connection without writing any HTTP response.
    Reset,
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

/// State shared by the handle and the server task.
struct Shared {
    base_url: String,
    version: Mutex<Version>,
    latency: Mutex<Duration>,
    faults: Mutex<VecDeque<Fault>>,
    down: AtomicBool,
    store: Mutex<import::Store>,
    requests: Mutex<Vec<RecordedRequest>>,
    import_requests: AtomicUsize,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    jobs: Mutex<HashMap<String, server::Job>>,
    next_uid: AtomicU64,
}

impl Shared {
    fn version(&self) -> Version {
        *lock(&self.version)
    }

    fn is_down(&self) -> bool {
        self.down.load(Ordering::SeqCst)
    }

    /// A fresh, valid DHIS2 UID: `prefix` (letters) padded with a counter to 11 chars.
    fn new_uid(&self, prefix: &str) -> String {
        let n = self.next_uid.fetch_add(1, Ordering::Relaxed);
        format!("{prefix}{n:0width$}", width = 11 - prefix.len())
    }
}

/// Locks a mutex, ignoring poisoning: a panicking test must not wedge the double.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

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

    /// Queues `fault` for the next `times` requests to `/api/dataValueSets`, after any
    /// faults already queued.
    pub fn fail_next(&self, fault: Fault, times: usize) {
        lock(&self.shared.faults).extend(std::iter::repeat_n(fault, times));
    }

    /// While down, every connection and request is reset without an answer.
    pub fn set_down(&self, down: bool) {
        self.shared.down.store(down, Ordering::SeqCst);
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

    /// The most `POST /api/dataValueSets` requests open at the same time so far.
    pub fn max_in_flight(&self) -> usize {
        self.shared.max_in_flight.load(Ordering::SeqCst)
    }

    /// Forgets recorded requests and counters; stored values stay.
    pub fn reset_counters(&self) {
        lock(&self.shared.requests).clear();
        self.shared.import_requests.store(0, Ordering::SeqCst);
        let open = self.shared.in_flight.load(Ordering::SeqCst);
        self.shared.max_in_flight.store(open, Ordering::SeqCst);
    }
}
