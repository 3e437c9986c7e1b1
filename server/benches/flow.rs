//! Flow-control benchmark: the gateway against a DHIS2 that takes only `CAPACITY` imports at
//! once (one more is answered 503 at once, as by a proxy with a connection limit) and slows
//! down the more it runs, with a gateway allowed three times as many. Prints the delivered
//! throughput against the double's capacity, attempts per delivery, dead deliveries and how
//! many imports DHIS2 saw at once; exits non-zero when a target is missed.
//!
//! Run with `cargo bench -p dhis2gw --bench flow`. Targets (issue 17): throughput ≥ 0.9 × the
//! double's capacity, no delivery dead, attempts per delivery ≤ 1.2 on average.

mod common;

use std::time::{Duration, Instant};

use dhis2_double::{Capacity, Dhis2Double, Version};
use dhis2gw_test_support::TestDatabase;

/// Imports the double serves at once.
const CAPACITY: usize = 10;
/// Its latency alone, and what each other import running beside one adds.
const LATENCY: Duration = Duration::from_millis(50);
const PER_REQUEST: Duration = Duration::from_millis(5);
/// What the gateway may send at once: three times too many.
const MAX_CONCURRENT: u64 = 30;
const CLIENTS: usize = 8;
const INTAKE_SECONDS: u64 = 4;
/// Throughput is measured over this much of the drain, after the first seconds.
const SETTLE: Duration = Duration::from_secs(3);
const WINDOW: Duration = Duration::from_secs(20);

async fn scalar(db: &sqlx::PgPool, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(db).await.unwrap()
}

async fn delivered(db: &sqlx::PgPool) -> i64 {
    scalar(
        db,
        "SELECT count(*) FROM submission_destinations WHERE status IN ('succeeded', 'warning', 'failed', 'dead')",
    )
    .await
}

#[tokio::main]
async fn main() {
    let run = uuid::Uuid::new_v4().simple().to_string()[..8].to_string();
    let dhis2 = Dhis2Double::start(Version::V2_40).await;
    dhis2.set_latency(LATENCY);
    dhis2.set_capacity(Some(Capacity { limit: CAPACITY, per_request: PER_REQUEST, retry_after: None }));
    let capacity = CAPACITY as f64 / (LATENCY + PER_REQUEST * (CAPACITY as u32 - 1)).as_secs_f64();
    let database = TestDatabase::new();
    let gateway = common::start_gateway(&dhis2, &run, &database, MAX_CONCURRENT, &[]).await;
    let token = common::prepare(&gateway).await;
    let db = sqlx::PgPool::connect(&database.url).await.unwrap();

    let (latencies, _) = common::intake(&gateway, &token, CLIENTS, INTAKE_SECONDS, common::Form::Hiv).await;
    let accepted = latencies.len() as i64;
    tokio::time::sleep(SETTLE).await;
    let (before, started) = (delivered(&db).await, Instant::now());
    tokio::time::sleep(WINDOW).await;
    let throughput = (delivered(&db).await - before) as f64 / started.elapsed().as_secs_f64();
    let drain_started = Instant::now();
    while delivered(&db).await < accepted {
        assert!(drain_started.elapsed() < Duration::from_secs(600), "the backlog did not drain in 10 minutes");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let attempts = scalar(&db, "SELECT count(*) FROM delivery_attempts").await;
    let dead = scalar(&db, "SELECT count(*) FROM submission_destinations WHERE status = 'dead'").await;
    let retries = scalar(&db, "SELECT coalesce(sum(retry_count), 0)::bigint FROM submission_destinations").await;
    let per_delivery = attempts as f64 / accepted as f64;
    let refused = attempts - accepted;

    println!(
        "flow control against a DHIS2 taking {CAPACITY} imports at once (gateway max_concurrent {MAX_CONCURRENT})"
    );
    println!("  submissions accepted     {accepted}");
    println!("  double's capacity        {capacity:.0} deliveries/s");
    println!(
        "  delivered                {throughput:.0} deliveries/s = {:.2} × capacity (target ≥ 0.90)",
        throughput / capacity
    );
    println!("  attempts per delivery    {per_delivery:.3} (target ≤ 1.20); {refused} refused with 503");
    println!("  retries used up          {retries}");
    println!("  dead                     {dead} (target 0)");
    println!("  most imports open at once {} (refused ones included)", dhis2.max_in_flight());
    drop(gateway);
    common::exit_if_missed(&[
        (throughput < 0.9 * capacity, "throughput"),
        (per_delivery > 1.2, "attempts per delivery"),
        (dead > 0, "dead deliveries"),
    ]);
}
