//! Gateways killed with SIGKILL in the middle of deliveries, with default settings (a 60 s
//! DHIS2 timeout, the sweep every five minutes): the short, heart-beaten leases bring every
//! cut delivery back within seconds of a gateway being up, and DHIS2 holds each value once,
//! but for a request it had already received when the process died.

use std::time::{Duration, Instant};

use dhis2_double::{Dhis2Double, Version, fixture};
use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::cli::{Gateway, Operator, env_refs, start_gateway};

const ADMIN: (&str, &str) = ("admin", "admin password");

/// The environment of a gateway delivering to `dhis2`, otherwise with default settings.
fn environment(op: &Operator, dhis2: &Dhis2Double) -> Vec<(&'static str, String)> {
    let mut env = op.base_env();
    env.extend([
        ("dhis2_base_url", dhis2.base_url()),
        ("dhis2_user", dhis2_double::USERNAME.to_string()),
        ("dhis2_password", dhis2_double::PASSWORD.to_string()),
        ("DHIS2GW_BOOTSTRAP_ADMIN_USER", ADMIN.0.to_string()),
        ("DHIS2GW_BOOTSTRAP_ADMIN_PASSWORD", ADMIN.1.to_string()),
        ("mapping_scheme", "UID".to_string()),
    ]);
    env
}

/// The `n`th of a batch of submissions, each to a value of its own (org unit and period).
fn submission(n: usize) -> Value {
    let (year, month) = (2010 + n / 12 % 16, n % 12 + 1);
    let org_unit = if (n / 192).is_multiple_of(2) { fixture::OU_FACILITY_1 } else { fixture::OU_FACILITY_2 };
    json!({"orgUnit": org_unit, "period": format!("{year}{month:02}"), "dataSet": fixture::DS_MONTHLY_HIV,
           "dataValues": {fixture::DE_POSITIVES: n}})
}

/// Posts submissions `0..n`, ten at a time; their ids.
async fn submit_many(base: &str, n: usize) -> Vec<i64> {
    let client = reqwest::Client::new();
    futures_util::stream::iter(0..n)
        .map(|i| {
            let request = client.post(format!("{base}/api/v2/aggregate")).basic_auth(ADMIN.0, Some(ADMIN.1));
            async move {
                let accepted: Value = request.json(&submission(i)).send().await.unwrap().json().await.unwrap();
                accepted["submission_id"].as_i64().unwrap_or_else(|| panic!("not accepted: {accepted}"))
            }
        })
        .buffered(10)
        .collect()
        .await
}

/// `GET /api/v2/{path}` as the admin.
async fn get(base: &str, path: &str) -> Value {
    let request = reqwest::Client::new().get(format!("{base}/api/v2/{path}")).basic_auth(ADMIN.0, Some(ADMIN.1));
    request.send().await.unwrap().json().await.unwrap()
}

/// How many submissions have succeeded, as the log counts them.
async fn succeeded(base: &str) -> i64 {
    get(base, "logs?status=succeeded&page_size=1").await["total"].as_i64().unwrap()
}

/// The `POST /api/dataValueSets` DHIS2 has received, answered or not.
fn imports_received(dhis2: &Dhis2Double) -> usize {
    dhis2.requests().iter().filter(|r| r.method == "POST" && r.path.ends_with("/dataValueSets")).count()
}

/// Waits until DHIS2 has received `n` imports.
async fn until_imports(dhis2: &Dhis2Double, n: usize) {
    let started = Instant::now();
    while imports_received(dhis2) < n {
        assert!(started.elapsed() < Duration::from_secs(60), "only {} imports reached DHIS2", imports_received(dhis2));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn kill(gateway: &mut Gateway) {
    gateway.kill().unwrap();
    gateway.wait().unwrap();
}

/// Waits until all `n` submissions have succeeded; how long that took.
async fn until_all_succeeded(base: &str, n: usize, within: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let done = succeeded(base).await;
        if done == n as i64 {
            return started.elapsed();
        }
        assert!(started.elapsed() < within, "{done} of {n} succeeded after {within:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Every submission's value is in DHIS2 as sent, and written twice at most as often as a
/// killed gateway sent a request and never recorded its answer (DHIS2 may have committed it):
/// the imports DHIS2 received less the attempts the gateways recorded. How many those were.
async fn assert_delivered_once(dhis2: &Dhis2Double, op: &Operator, n: usize) -> usize {
    let db = sqlx::PgPool::connect(op.database_url()).await.unwrap();
    let recorded: i64 = sqlx::query_scalar("SELECT count(*) FROM delivery_attempts").fetch_one(&db).await.unwrap();
    let cut = imports_received(dhis2) - usize::try_from(recorded).unwrap();
    let values = dhis2.values();
    assert_eq!(values.len(), n);
    let twice: Vec<_> = values.iter().filter(|v| v.times_written > 1).collect();
    assert!(twice.len() <= cut, "{} values written twice, {cut} requests went unrecorded: {twice:?}", twice.len());
    assert!(values.iter().all(|v| v.times_written <= 2), "{values:?}");
    for n in 0..n {
        let sent = submission(n);
        let key = (sent["orgUnit"].as_str().unwrap(), sent["period"].as_str().unwrap());
        let stored = dhis2.value(fixture::DE_POSITIVES, key.1, key.0, fixture::DEFAULT_COC);
        assert_eq!(stored.map(|v| v.value), Some(n.to_string()), "{key:?}");
    }
    cut
}

#[tokio::test]
async fn a_delivery_cut_by_sigkill_is_taken_up_again_after_restart() {
    let dhis2 = Dhis2Double::start(Version::V2_40).await;
    // Slow enough that the kill lands while DHIS2 is still answering.
    dhis2.set_latency(Duration::from_millis(1500));
    let op = Operator::new();
    let env = environment(&op, &dhis2);
    let env = env_refs(&env);
    let (mut gateway, base) = start_gateway(&op, &env).await;
    let id = submit_many(&base, 1).await[0];
    until_imports(&dhis2, 1).await;
    kill(&mut gateway);
    dhis2.set_latency(Duration::ZERO);

    let (mut gateway, base) = start_gateway(&op, &env).await;
    until_all_succeeded(&base, 1, Duration::from_secs(40)).await;
    let log = get(&base, &format!("logs/{id}")).await;
    assert_eq!(log["attempts"].as_array().unwrap().len(), 1, "the cut attempt left no record; the new one did");
    assert_delivered_once(&dhis2, &op, 1).await;
    let ready = reqwest::get(format!("{base}/health/ready")).await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    gateway.kill().unwrap();
    gateway.wait().unwrap();
}

/// The figure: with the default 60 s timeout, eight deliveries used to stay
/// `processing` for three minutes after a SIGKILL under load.
#[tokio::test]
async fn after_a_sigkill_under_load_every_submission_is_final_within_90_seconds_of_the_restart() {
    const N: usize = 200;
    let dhis2 = Dhis2Double::start(Version::V2_40).await;
    dhis2.set_latency(Duration::from_millis(250));
    let op = Operator::new();
    let env = environment(&op, &dhis2);
    let env = env_refs(&env);
    let (mut gateway, base) = start_gateway(&op, &env).await;
    submit_many(&base, N).await;
    until_imports(&dhis2, N / 4).await;
    kill(&mut gateway);

    let (_gateway, base) = start_gateway(&op, &env).await;
    let took = until_all_succeeded(&base, N, Duration::from_secs(90)).await;
    let cut = assert_delivered_once(&dhis2, &op, N).await;
    println!("all {N} final {took:?} after the restart; {cut} request(s) cut");
}

#[tokio::test]
async fn when_one_of_two_gateways_is_killed_the_other_takes_over_its_deliveries() {
    const N: usize = 100;
    let dhis2 = Dhis2Double::start(Version::V2_40).await;
    dhis2.set_latency(Duration::from_millis(250));
    let op = Operator::new();
    let env = environment(&op, &dhis2);
    let env = env_refs(&env);
    let (mut first, base) = start_gateway(&op, &env).await;
    let (_second, other) = start_gateway(&op, &env).await;
    submit_many(&base, N).await;
    until_imports(&dhis2, N / 4).await;
    kill(&mut first);

    // Nothing restarts: the survivor takes up the dead one's leases and queue jobs.
    let took = until_all_succeeded(&other, N, Duration::from_secs(60)).await;
    let cut = assert_delivered_once(&dhis2, &op, N).await;
    println!("all {N} final {took:?} after the kill; {cut} request(s) cut");
}
