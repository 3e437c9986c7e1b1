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

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use dhis2_double::{Dhis2Double, Version, fixture};
use dhis2gw_test_support::{TestDatabase, gateway_command, redis_address};
use serde_json::{Value, json};

const CLIENTS: usize = 32;
const INTAKE_SECONDS: u64 = 10;
const DRAIN_WINDOW: Duration = Duration::from_secs(30);
const LATENCY: Duration = Duration::from_millis(50);
/// The documented default of `server.max_concurrent`.
const MAX_CONCURRENT: u64 = 5;
const JWT_SECRET: &str = "bench-secret-bench-secret-bench-secret";

struct Gateway {
    child: Child,
    base: String,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let _ = self.child.wait();
    }
}

impl Gateway {
    /// Peak resident memory of the gateway process, in MB (VmHWM).
    fn peak_rss_mb(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map_or(f64::NAN, |kb| kb / 1024.0)
    }
}

async fn start_gateway(dhis2: &Dhis2Double, run: &str, database: &TestDatabase) -> Gateway {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port().to_string();
    let scratch = std::env::temp_dir().join(format!("dhis2gw-bench-{run}"));
    let mut child = gateway_command(env!("CARGO_BIN_EXE_dhis2gw"), &scratch, &[])
        .env("DHIS2GW_DB", &database.url)
        .env("DHIS2GW_REDIS", redis_address())
        .env("DHIS2GW_QUEUE_PREFIX", format!("bench_{run}"))
        .env("DHIS2GW_JWT_SECRET", JWT_SECRET)
        .env("DHIS2GW_HOST", "127.0.0.1")
        .env("DHIS2GW_SERVER_PORT", &port)
        .env("DHIS2GW_MAX_CONCURRENT", MAX_CONCURRENT.to_string())
        .env("DHIS2GW_DB_MAX_CONNECTIONS", "40")
        .env("DHIS2GW_LOG_LEVEL", "warn")
        .env("DHIS2GW_MIGRATIONS_DIR", "embedded")
        .env("DHIS2GW_BOOTSTRAP_ADMIN_USER", "admin")
        .env("DHIS2GW_BOOTSTRAP_ADMIN_PASSWORD", "bench admin password")
        .env("dhis2_base_url", dhis2.base_url())
        .env("dhis2_user", dhis2_double::USERNAME)
        .env("dhis2_password", dhis2_double::PASSWORD)
        .stdout(Stdio::null())
        .spawn()
        .expect("the dhis2gw binary starts");
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    for _ in 0..300 {
        if client.get(format!("{base}/health/ready")).send().await.is_ok_and(|r| r.status().is_success()) {
            return Gateway { child, base };
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    child.kill().ok();
    child.wait().ok();
    panic!("the gateway did not become ready");
}

async fn call(request: reqwest::RequestBuilder) -> Value {
    let response = request.send().await.expect("gateway answers");
    let status = response.status();
    let body: Value = response.json().await.unwrap_or_default();
    assert!(status.is_success(), "{status}: {body}");
    body
}

/// An admin JWT, mappings for the fixture, and a partner API token.
async fn prepare(gateway: &Gateway) -> String {
    let client = reqwest::Client::new();
    let base = &gateway.base;
    let tokens = call(
        client
            .post(format!("{base}/api/v2/users/getToken"))
            .json(&json!({"username": "admin", "password": "bench admin password"})),
    )
    .await;
    let jwt = tokens["token"].as_str().unwrap().to_string();
    for (code, element, coc) in
        [("male", fixture::DE_HIV_TESTS, Some(fixture::COC_MALE)), ("positives", fixture::DE_POSITIVES, None)]
    {
        let body = json!({"code": code, "dataElement": element, "categoryOptionCombo": coc});
        call(client.post(format!("{base}/api/v2/mappings")).bearer_auth(&jwt).json(&body)).await;
    }
    let partner = call(
        client
            .post(format!("{base}/api/v2/users"))
            .bearer_auth(&jwt)
            .json(&json!({"username": "partner", "password": "partner password", "role": "partner"})),
    )
    .await;
    let token = call(
        client
            .post(format!("{base}/api/v2/users/{}/tokens", partner["uid"].as_str().unwrap()))
            .bearer_auth(&jwt)
            .json(&json!({})),
    )
    .await;
    token["token"].as_str().unwrap().to_string()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

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
    let gateway = start_gateway(&dhis2, &run, &database).await;
    let token = prepare(&gateway).await;
    let db = sqlx::PgPool::connect(&database.url).await.unwrap();

    // 1. Intake.
    let client = reqwest::Client::builder().pool_max_idle_per_host(CLIENTS).build().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let workers: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (client, stop, url, token) =
                (client.clone(), stop.clone(), format!("{}/api/v2/aggregate", gateway.base), token.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    // A distinct (org unit, period) per submission, so every one stores new values.
                    let i = c as u64 * 6_000 + n;
                    let org_unit =
                        if (i / 12).is_multiple_of(2) { fixture::OU_FACILITY_1 } else { fixture::OU_FACILITY_2 };
                    let period = format!("{}{:02}", 1000 + i / 24, i % 12 + 1);
                    let body = json!({"orgUnit": org_unit, "period": period, "dataSet": fixture::DS_MONTHLY_HIV,
                        "dataValues": {"male": n, "positives": c}});
                    let t = Instant::now();
                    let response =
                        client.post(&url).header("Authorization", format!("Token {token}")).json(&body).send().await;
                    let ok = response.is_ok_and(|r| r.status().is_success());
                    assert!(ok, "intake failed");
                    latencies.push(t.elapsed());
                }
                latencies
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(INTAKE_SECONDS)).await;
    stop.store(true, Ordering::Relaxed);
    let mut latencies = Vec::new();
    for w in workers {
        latencies.extend(w.await.unwrap());
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
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
        percentile(&latencies, 0.5).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
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
