//! Pipeline benchmark: prints intake throughput and latency, delivery throughput and the
//! gateway's peak memory. Run with `cargo bench -p dhis2gw --bench pipeline`.
//!
//! The gateway runs as its own process (the release binary) against the local PostgreSQL and
//! Redis, delivering to the DHIS2 test double with 50 ms latency.
//! 1. Intake: 32 clients post `POST /aggregate` as fast as they can for 10 s, workers running.
//! 2. Delivery: the backlog left by the intake drains; deliveries per second are measured
//!    over 30 s of the drain and compared with `max_concurrent / latency`.
//!
//! Targets on a 2-core machine: intake ≥ 3,000 req/s with p99 ≤ 50 ms; delivery ≥ 90 % of
//! max_concurrent / latency; peak RSS ≤ 150 MB.

mod common;

use std::time::{Duration, Instant};

use dhis2_double::{Dhis2Double, Version};
use dhis2gw_test_support::TestDatabase;

const CLIENTS: usize = 32;
const INTAKE_SECONDS: u64 = 10;
const DRAIN_WINDOW: Duration = Duration::from_secs(30);
const LATENCY: Duration = Duration::from_millis(50);
/// The documented default of `server.max_concurrent`.
const MAX_CONCURRENT: u64 = 5;

async fn count_final(db: &sqlx::PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM submission_log WHERE status IN ('succeeded', 'warning', 'failed', 'dead')")
        .fetch_one(db)
        .await
        .unwrap()
}

#[tokio::main]
async fn main() {
    let run = uuid::Uuid::new_v4().simple().to_string()[..8].to_string();
    let intake_only = std::env::var("BENCH_INTAKE_ONLY").is_ok_and(|v| v == "1");
    let dhis2 = Dhis2Double::start(Version::V2_40).await;
    dhis2.set_latency(if intake_only { Duration::from_secs(3600) } else { LATENCY });
    let database = TestDatabase::new();
    let gateway = common::start_gateway(&dhis2, &run, &database, MAX_CONCURRENT, &[]).await;
    let token = common::prepare(&gateway).await;
    let db = sqlx::PgPool::connect(&database.url).await.unwrap();

    // 1. Intake.
    let (latencies, elapsed) = common::intake(&gateway, &token, CLIENTS, INTAKE_SECONDS).await;
    let accepted = latencies.len();

    println!(
        "dhis2gw pipeline benchmark ({CLIENTS} clients, {INTAKE_SECONDS} s, DHIS2 latency {LATENCY:?}, max_concurrent {MAX_CONCURRENT})"
    );
    println!(
        "intake:    {accepted} accepted in {elapsed:.1} s = {:.0} req/s (target >= 3000)",
        accepted as f64 / elapsed
    );
    println!(
        "latency:   p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms (target p99 <= 50 ms)",
        common::percentile(&latencies, 0.5).as_secs_f64() * 1e3,
        common::percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        latencies.last().unwrap().as_secs_f64() * 1e3
    );
    if intake_only {
        println!("(intake only: no delivery completed during the intake)");
    } else {
        deliveries(&dhis2, &db, accepted).await;
    }
    println!("peak RSS:  {:.0} MB (target <= 150 MB)", gateway.peak_rss_mb());
    drop(gateway);
    db.close().await;
}

/// Measures deliveries per second over the drain of the intake's backlog.
async fn deliveries(dhis2: &Dhis2Double, db: &sqlx::PgPool, accepted: usize) {
    let target = MAX_CONCURRENT as f64 / LATENCY.as_secs_f64();
    let drain_start = Instant::now();
    let delivered_at_start = count_final(db).await;
    let mut last = (drain_start, delivered_at_start);
    // Deliveries per second while a backlog remains, over at most DRAIN_WINDOW.
    while drain_start.elapsed() < DRAIN_WINDOW {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let delivered = count_final(db).await;
        if delivered as usize >= accepted {
            break;
        }
        last = (Instant::now(), delivered);
    }
    let delivery_rate =
        (last.1 - delivered_at_start) as f64 / last.0.duration_since(drain_start).as_secs_f64().max(1e-9);
    let twice = dhis2.values().iter().filter(|v| v.times_written > 1).count();

    println!(
        "delivery:  {delivery_rate:.0} deliveries/s = {:.0}% of max_concurrent/latency = {target:.0}/s (target >= 90%)",
        100.0 * delivery_rate / target
    );
    println!("most deliveries in flight at once: {} (max_concurrent {MAX_CONCURRENT})", dhis2.max_in_flight());
    println!("values written more than once: {twice}");
}
