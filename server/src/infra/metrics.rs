//! Prometheus metrics: what one gateway process has done since it started (counters and
//! histograms), plus gauges read at scrape time (queue depth, database pools).
//!
//! Counters are per process; with several gateways, sum them in PromQL.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub method: String,
    /// The route pattern (`/api/v2/logs/{id}`), never the raw path, so labels stay few.
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Dhis2Labels {
    /// The HTTP status, or `error` when no answer came (refused, reset, timeout).
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueueLabel {
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClassLabel {
    class: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabels {
    pool: &'static str,
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ServerLabel {
    server: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TableLabel {
    table: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PartnerLabel {
    partner: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PartnerLimitLabels {
    partner: String,
    limit: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabel {
    pool: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

pub struct Metrics {
    registry: Registry,
    http_requests: Family<HttpLabels, Counter>,
    http_duration: HistogramFamily<HttpLabels>,
    submissions_received: Family<KindLabel, Counter>,
    deliveries: Family<OutcomeLabel, Counter>,
    deliveries_in_flight: Gauge,
    dhis2_duration: HistogramFamily<Dhis2Labels>,
    queue_depth: Family<QueueLabel, Gauge>,
    deliveries_pending: Family<QueueLabel, Gauge>,
    held_values: Family<ClassLabel, Gauge>,
    pool_connections: Family<PoolLabels, Gauge>,
    pool_max: Family<PoolLabel, Gauge>,
    concurrency_window: Family<ServerLabel, Gauge>,
    circuit_open: Family<ServerLabel, Gauge>,
    partner_refused: Family<PartnerLimitLabels, Counter>,
    partner_values_today: Family<PartnerLabel, Gauge>,
    database_bytes: Gauge,
    table_bytes: Family<TableLabel, Gauge>,
    table_rows: Family<TableLabel, Gauge>,
    oldest_submission: Gauge,
    archive_bytes: Gauge,
}

/// Buckets from 5 ms to about 41 s: gateway requests are fast, DHIS2 imports can be slow.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 2.0, 14))
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("dhis2gw");
        let http_requests = Family::default();
        registry.register("http_requests", "HTTP requests answered, by route and status", http_requests.clone());
        let http_duration = HistogramFamily::new_with_constructor(latency_histogram as fn() -> Histogram);
        registry.register("http_request_duration_seconds", "Time to answer an HTTP request", http_duration.clone());
        let submissions_received = Family::default();
        registry.register(
            "submissions_received",
            "Submissions accepted and stored (dry runs and idempotent repeats excluded)",
            submissions_received.clone(),
        );
        let deliveries = Family::default();
        registry.register(
            "deliveries",
            "Delivery attempts by outcome: succeeded, warning, failed, retrying (will be retried) or dead",
            deliveries.clone(),
        );
        let deliveries_in_flight = Gauge::default();
        registry.register("deliveries_in_flight", "Deliveries waiting for DHIS2 now", deliveries_in_flight.clone());
        let dhis2_duration = HistogramFamily::new_with_constructor(latency_histogram as fn() -> Histogram);
        registry.register(
            "dhis2_request_duration_seconds",
            "Time DHIS2 took to answer, by HTTP status (`error`: no answer)",
            dhis2_duration.clone(),
        );
        let queue_depth = Family::default();
        registry.register(
            "queue_depth",
            "Jobs in the Redis queue, all due now (later retries, and partners' deliveries beyond their share, wait in PostgreSQL)",
            queue_depth.clone(),
        );
        let deliveries_pending = Family::default();
        registry.register(
            "deliveries_pending",
            "Deliveries not finished, in PostgreSQL: all of them, and those scheduled for a later retry",
            deliveries_pending.clone(),
        );
        let database_bytes = Gauge::default();
        registry.register("database_bytes", "Size of the gateway's PostgreSQL database", database_bytes.clone());
        let table_bytes = Family::default();
        registry.register("table_bytes", "Size of each table, its indexes and TOAST included", table_bytes.clone());
        let table_rows = Family::default();
        registry.register("table_rows", "Rows in each table, as PostgreSQL counts them as it goes", table_rows.clone());
        let oldest_submission = Gauge::default();
        registry.register(
            "oldest_submission_timestamp_seconds",
            "When the oldest submission kept was received (0: none)",
            oldest_submission.clone(),
        );
        let archive_bytes = Gauge::default();
        registry.register(
            "archive_bytes",
            "Size of the archive files (retention.archive_directory)",
            archive_bytes.clone(),
        );
        let held_values = Family::default();
        registry.register(
            "held_values",
            "Values waiting for DHIS2 to open their period or undo an approval, by class (closed_period, approved)",
            held_values.clone(),
        );
        let pool_connections = Family::default();
        registry.register("db_pool_connections", "PostgreSQL connections by pool and state", pool_connections.clone());
        let pool_max = Family::default();
        registry.register("db_pool_max_connections", "Size limit of each PostgreSQL pool", pool_max.clone());
        let concurrency_window = Family::default();
        registry.register(
            "server_concurrency_window",
            "Deliveries this process lets go to a DHIS2 server at once, as its answers allow (1 to max_concurrent)",
            concurrency_window.clone(),
        );
        let partner_refused = Family::default();
        registry.register(
            "partner_refused_over_limit",
            "Requests refused with 429 because a partner went over a limit (requests_per_second, values_per_day)",
            partner_refused.clone(),
        );
        let partner_values_today = Family::default();
        registry.register(
            "partner_values_today",
            "Data values each partner had accepted today (server.timezone), against its values_per_day",
            partner_values_today.clone(),
        );
        let circuit_open = Family::default();
        registry.register(
            "server_circuit_open",
            "1 while deliveries to a DHIS2 server are held back because it stopped answering, until a ping answers",
            circuit_open.clone(),
        );
        Metrics {
            registry,
            http_requests,
            http_duration,
            submissions_received,
            deliveries,
            deliveries_in_flight,
            dhis2_duration,
            queue_depth,
            deliveries_pending,
            held_values,
            pool_connections,
            pool_max,
            concurrency_window,
            circuit_open,
            partner_refused,
            partner_values_today,
            database_bytes,
            table_bytes,
            table_rows,
            oldest_submission,
            archive_bytes,
        }
    }
}

/// Keeps [`Metrics::deliveries_in_flight`] right however the delivery ends.
pub struct InFlight(Gauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

impl Metrics {
    pub fn http_request(&self, labels: HttpLabels, elapsed: Duration) {
        self.http_duration.get_or_create(&labels).observe(elapsed.as_secs_f64());
        self.http_requests.get_or_create(&labels).inc();
    }

    pub fn submission_received(&self, kind: &'static str) {
        self.submissions_received.get_or_create(&KindLabel { kind }).inc();
    }

    pub fn delivery_started(&self) -> InFlight {
        self.deliveries_in_flight.inc();
        InFlight(self.deliveries_in_flight.clone())
    }

    pub fn delivery_finished(&self, outcome: &'static str) {
        self.deliveries.get_or_create(&OutcomeLabel { outcome }).inc();
    }

    /// One request to DHIS2: `status` is `None` when no HTTP answer came.
    pub fn dhis2_answered(&self, status: Option<u16>, elapsed: Duration) {
        let status = status.map_or_else(|| "error".to_string(), |s| s.to_string());
        self.dhis2_duration.get_or_create(&Dhis2Labels { status }).observe(elapsed.as_secs_f64());
    }

    pub fn set_queue_depth(&self, due: i64) {
        self.queue_depth.get_or_create(&QueueLabel { state: "due" }).set(due);
    }

    /// Deliveries not finished, and those of them waiting for a later retry.
    pub fn set_pending(&self, pending: i64, scheduled: i64) {
        self.deliveries_pending.get_or_create(&QueueLabel { state: "all" }).set(pending);
        self.deliveries_pending.get_or_create(&QueueLabel { state: "scheduled" }).set(scheduled);
    }

    /// Held values by class; classes with none read 0.
    pub fn set_held(&self, held: &[(dhis2gw_wire::RefusalClass, i64)]) {
        for class in dhis2gw_wire::RefusalClass::ALL.into_iter().filter(|c| c.is_held()) {
            let n = held.iter().find(|(c, _)| *c == class).map_or(0, |(_, n)| *n);
            self.held_values.get_or_create(&ClassLabel { class: class.as_str() }).set(n);
        }
    }

    /// A DHIS2 server's flow in this process: its window and whether its circuit is open.
    pub fn set_flow(&self, server: &str, window: usize, open: bool) {
        let label = ServerLabel { server: server.to_string() };
        self.concurrency_window.get_or_create(&label).set(window as i64);
        self.circuit_open.get_or_create(&label).set(i64::from(open));
    }

    /// A partner went over `limit`.
    pub fn partner_refused(&self, partner: &str, limit: &'static str) {
        self.partner_refused.get_or_create(&PartnerLimitLabels { partner: partner.to_string(), limit }).inc();
    }

    /// Every partner's values accepted today; those with none today drop out (after midnight).
    pub fn set_partner_values_today(&self, partners: &[(String, i64)]) {
        self.partner_values_today.clear();
        for (partner, values) in partners {
            self.partner_values_today.get_or_create(&PartnerLabel { partner: partner.clone() }).set(*values);
        }
    }

    pub fn set_storage(&self, storage: &dhis2gw_wire::Storage) {
        self.database_bytes.set(storage.database_bytes);
        self.table_bytes.clear();
        self.table_rows.clear();
        for t in &storage.tables {
            self.table_bytes.get_or_create(&TableLabel { table: t.table.clone() }).set(t.bytes);
            self.table_rows.get_or_create(&TableLabel { table: t.table.clone() }).set(t.rows);
        }
        self.oldest_submission.set(storage.oldest_submission.map_or(0, |t| t.timestamp()));
        self.archive_bytes.set(storage.archive_bytes);
    }

    pub fn set_pool(&self, pool: &'static str, db: &sqlx::PgPool) {
        let (size, idle) = (i64::from(db.size()), db.num_idle() as i64);
        self.pool_connections.get_or_create(&PoolLabels { pool, state: "idle" }).set(idle);
        self.pool_connections.get_or_create(&PoolLabels { pool, state: "in_use" }).set(size - idle);
        self.pool_max.get_or_create(&PoolLabel { pool }).set(i64::from(db.options().get_max_connections()));
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}
