//! Chaos benchmark (issue 17): 10,000 submissions from 5 partners, one of which posts 8,000 at
//! once, while the gateway is killed with SIGKILL twice, its Redis is restarted once, and DHIS2
//! takes only 10 imports at once (503 above that, slower under load) and is down for
//! `CHAOS_OUTAGE_SECS` seconds (120 by default). It prints what was accepted and lost, values
//! DHIS2 got twice (and the cut requests that allow it), when everything was final after each
//! fault and after the last, throughput against DHIS2's capacity, how long the small partners'
//! submissions waited, and the most imports DHIS2 had open at once.
//!
//! Run with `cargo bench -p dhis2gw --bench chaos`. It runs its own `redis-server` on a free
//! port. Exits non-zero when a submission is lost, one is not final within 90 s of the last
//! fault, a value reached DHIS2 twice without a cut request to account for it, or the small
//! partners' submissions posted before the outage waited 10 s or more (p95).

mod common;

use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dhis2_double::{Capacity, Dhis2Double, Version, fixture};
use dhis2gw_test_support::TestDatabase;
use serde_json::json;

const BIG: usize = 8_000;
const SMALL_PARTNERS: usize = 4;
const SMALL: usize = 500;
/// What the big partner's posts run at once, and how often each small partner posts.
const BIG_CLIENTS: usize = 16;
const SMALL_EVERY: Duration = Duration::from_millis(200);
const CAPACITY: usize = 10;
const LATENCY: Duration = Duration::from_millis(30);
const PER_REQUEST: Duration = Duration::from_millis(2);
const MAX_CONCURRENT: u64 = 20;
const FINAL_WITHIN: Duration = Duration::from_secs(90);

/// A `redis-server` of this run's own, restartable on its port.
struct Redis {
    port: u16,
    child: Child,
}

impl Redis {
    fn start(port: u16) -> Redis {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        std::thread::sleep(Duration::from_millis(300));
        Redis { port, child }
    }

    /// Down and up again, empty: what a restart without persistence does to the queue.
    fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        *self = Redis::start(self.port);
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One submission accepted: by which partner, when, and its id.
struct Accepted {
    partner: usize,
    at: chrono::DateTime<chrono::Utc>,
    id: i64,
}

/// Partner `partner`'s submission `n`: a value of its own (an org unit, a month of a year of
/// the partner's own: 1000–1222 for the big one, 20 from 1300 for each small one), so every
/// submission writes a distinct DHIS2 value.
fn submission(partner: usize, n: usize) -> serde_json::Value {
    let units = [fixture::OU_FACILITY_1, fixture::OU_FACILITY_2, fixture::OU_FACILITY_3];
    let first_year = if partner == 0 { 1000 } else { 1300 + (partner - 1) * 20 };
    let period = format!("{}{:02}", first_year + n / 36, n % 12 + 1);
    json!({"orgUnit": units[n / 12 % 3], "period": period, "dataSet": fixture::DS_MONTHLY_HIV, "dataValues": {"positives": n}})
}

/// Posts one submission until it is accepted (the gateway may be down meanwhile), with an
/// `Idempotency-Key` so a retried post is stored once.
async fn post(client: &reqwest::Client, base: &Mutex<String>, token: &str, partner: usize, n: usize) -> Accepted {
    let body = submission(partner, n);
    loop {
        let url = format!("{}/api/v2/aggregate", base.lock().unwrap());
        let response = client
            .post(url)
            .header("Authorization", format!("Token {token}"))
            .header("Idempotency-Key", format!("chaos-{partner}-{n}"))
            .json(&body)
            .send()
            .await;
        if let Ok(r) = response
            && r.status().is_success()
        {
            let answer: serde_json::Value = r.json().await.unwrap();
            return Accepted { partner, at: chrono::Utc::now(), id: answer["submission_id"].as_i64().unwrap() };
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn open(db: &sqlx::PgPool) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM submission_log WHERE status NOT IN ('succeeded', 'warning', 'failed', 'dead')",
    )
    .fetch_one(db)
    .await
    .unwrap()
}

#[tokio::main]
async fn main() {
    let outage =
        Duration::from_secs(std::env::var("CHAOS_OUTAGE_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(120));
    let run = uuid::Uuid::new_v4().simple().to_string()[..8].to_string();
    let redis_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut redis = Redis::start(redis_port);
    let redis_address = format!("127.0.0.1:{redis_port}");
    let dhis2 = Dhis2Double::start(Version::V2_40).await;
    dhis2.set_latency(LATENCY);
    dhis2.set_capacity(Some(Capacity { limit: CAPACITY, per_request: PER_REQUEST, retry_after: None }));
    let capacity = CAPACITY as f64 / (LATENCY + PER_REQUEST * (CAPACITY as u32 - 1)).as_secs_f64();
    let database = TestDatabase::new();
    let env = [("DHIS2GW_REDIS", redis_address.as_str())];
    let start = || common::start_gateway(&dhis2, &run, &database, MAX_CONCURRENT, &env);
    let mut gateway = start().await;
    let jwt = common::admin_jwt(&gateway).await;
    let mut tokens = vec![common::prepare(&gateway).await];
    for p in 1..=SMALL_PARTNERS {
        tokens.push(common::partner(&gateway, &jwt, &format!("small{p}")).await);
    }
    let db = sqlx::PgPool::connect(&database.url).await.unwrap();
    let base = Arc::new(Mutex::new(gateway.base.clone()));
    let client = reqwest::Client::new();
    let started = Instant::now();
    let started_at = chrono::Utc::now();

    // Partner 0 posts 8,000 as fast as it can; the four small ones one every 200 ms each.
    let mut posting = Vec::new();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    for _ in 0..BIG_CLIENTS {
        let (client, base, token, next) = (client.clone(), base.clone(), tokens[0].clone(), next.clone());
        posting.push(tokio::spawn(async move {
            let mut accepted = Vec::new();
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if n >= BIG {
                    return accepted;
                }
                accepted.push(post(&client, &base, &token, 0, n).await);
            }
        }));
    }
    for (partner, token) in tokens.iter().enumerate().skip(1) {
        let (client, base, token) = (client.clone(), base.clone(), token.clone());
        posting.push(tokio::spawn(async move {
            let mut accepted = Vec::new();
            for n in 0..SMALL {
                accepted.push(post(&client, &base, &token, partner, n).await);
                tokio::time::sleep(SMALL_EVERY).await;
            }
            accepted
        }));
    }

    // The faults, each at its time; after each, how long until nothing was open.
    let mut faults: Vec<(String, Instant)> = Vec::new();
    let at = |secs: u64| started + Duration::from_secs(secs);
    tokio::time::sleep_until(at(8).into()).await;
    gateway.kill_hard();
    gateway = start().await;
    *base.lock().unwrap() = gateway.base.clone();
    faults.push(("SIGKILL 1".into(), Instant::now()));
    tokio::time::sleep_until(at(20).into()).await;
    redis.restart();
    faults.push(("Redis restart".into(), Instant::now()));
    tokio::time::sleep_until(at(30).into()).await;
    let outage_at = chrono::Utc::now();
    dhis2.set_down(true);
    tokio::time::sleep(outage).await;
    dhis2.set_down(false);
    faults.push((format!("DHIS2 down {} s", outage.as_secs()), Instant::now()));
    tokio::time::sleep(Duration::from_secs(10)).await;
    gateway.kill_hard();
    gateway = start().await;
    *base.lock().unwrap() = gateway.base.clone();
    let last_fault = Instant::now();
    faults.push(("SIGKILL 2".into(), last_fault));

    let mut accepted = Vec::new();
    for task in posting {
        accepted.extend(task.await.unwrap());
    }
    while open(&db).await > 0 {
        assert!(last_fault.elapsed() < Duration::from_secs(900), "not final 15 minutes after the last fault");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let all_final = last_fault.elapsed();

    let stored: HashSet<i64> =
        sqlx::query_scalar("SELECT id FROM submission_log").fetch_all(&db).await.unwrap().into_iter().collect();
    let lost = accepted.iter().filter(|a| !stored.contains(&a.id)).count();
    let by_status: Vec<(String, i64)> =
        sqlx::query_as("SELECT status, count(*) FROM submission_log GROUP BY status ORDER BY status")
            .fetch_all(&db)
            .await
            .unwrap();
    let recorded: i64 = sqlx::query_scalar("SELECT count(*) FROM delivery_attempts").fetch_one(&db).await.unwrap();
    let imports = dhis2.requests().iter().filter(|r| r.method == "POST" && r.path.ends_with("/dataValueSets")).count();
    let refused: i64 = sqlx::query_scalar("SELECT count(*) FROM delivery_attempts WHERE http_status = 503")
        .fetch_one(&db)
        .await
        .unwrap();
    // Delivered before the outage (the kill and the Redis restart among it), per second.
    let before_outage: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM delivery_attempts WHERE outcome IN ('succeeded', 'warning') AND started_at < $1",
    )
    .bind(outage_at)
    .fetch_one(&db)
    .await
    .unwrap();
    let delivered_per_second = before_outage as f64 / (outage_at - started_at).as_seconds_f64();
    let twice = dhis2.values().iter().filter(|v| v.times_written > 1).count();
    let unrecorded = (imports as i64 - recorded).max(0);
    // How long each small partner's submission waited for DHIS2 to store it.
    let waits: Vec<(i64, f64)> = sqlx::query_as(
        "SELECT s.id, EXTRACT(EPOCH FROM min(a.started_at) - s.submitted_at)::float8 FROM submission_log s
         JOIN delivery_attempts a ON a.submission_id = s.id AND a.outcome IN ('succeeded', 'warning')
         GROUP BY s.id, s.submitted_at",
    )
    .fetch_all(&db)
    .await
    .unwrap();
    let small: HashSet<i64> = accepted.iter().filter(|a| a.partner > 0).map(|a| a.id).collect();
    let mut small_waits: Vec<f64> = waits.iter().filter(|(id, _)| small.contains(id)).map(|(_, w)| *w).collect();
    small_waits.sort_by(f64::total_cmp);
    let p95 = |w: &[f64]| w.get(((w.len() as f64 - 1.0) * 0.95).round() as usize).copied().unwrap_or(f64::NAN);
    let posted_in_calm: HashSet<i64> =
        accepted.iter().filter(|a| a.partner > 0 && a.at < outage_at).map(|a| a.id).collect();
    let mut calm_waits: Vec<f64> =
        waits.iter().filter(|(id, _)| posted_in_calm.contains(id)).map(|(_, w)| *w).collect();
    calm_waits.sort_by(f64::total_cmp);

    println!(
        "chaos: {BIG} + {SMALL_PARTNERS} × {SMALL} submissions, DHIS2 taking {CAPACITY} at once ({capacity:.0}/s)"
    );
    println!("  accepted                 {}", accepted.len());
    println!("  lost                     {lost} (must be 0)");
    println!("  final states             {by_status:?}");
    println!("  values written twice     {twice} ({unrecorded} requests sent and never recorded: cut by a kill)");
    println!("  requests refused (503)   {refused} of {imports}");
    println!("  most imports open        {} (limit {CAPACITY}; refused ones included)", dhis2.max_in_flight());
    for (fault, at) in &faults {
        println!("  {fault:<24} at {:>5.1} s", (*at - started).as_secs_f64());
    }
    println!(
        "  all final                {:.1} s after the last fault (target ≤ {} s)",
        all_final.as_secs_f64(),
        FINAL_WITHIN.as_secs()
    );
    println!(
        "  throughput               {delivered_per_second:.0}/s before the outage (a kill and a Redis restart in it) = {:.2} × capacity",
        delivered_per_second / capacity
    );
    println!(
        "  small partners' wait     p95 {:.1} s overall, {:.1} s for those posted before the outage (target < 10 s)",
        p95(&small_waits),
        p95(&calm_waits)
    );
    drop((gateway, redis));
    common::exit_if_missed(&[
        (lost > 0, "lost submissions"),
        (all_final > FINAL_WITHIN, "final within 90 s of the last fault"),
        (twice as i64 > unrecorded, "values written twice beyond the cut requests"),
        (p95(&calm_waits) >= 10.0, "small partners' p95 wait under 10 s (needs fair scheduling across partners)"),
    ]);
}
