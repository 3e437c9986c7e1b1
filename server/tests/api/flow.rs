//! Flow control per DHIS2 server: a throttling DHIS2 gets about what it can take, a
//! `Retry-After` is honoured, and a DHIS2 that stops answering is not sent every delivery's
//! retries but pinged until it is back.

use std::time::{Duration, Instant};

use dhis2_double::{Capacity, Version, fixture};
use dhis2gw_test_support::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::operations::{sample, scrape};

/// Posts `n` submissions, each for a value of its own (monthly periods back from 2020).
async fn submit_many(p: &Pipeline, n: usize) -> Vec<i64> {
    let mut ids = Vec::new();
    for i in 0..n {
        let body = json!({"orgUnit": fixture::OU_FACILITY_1, "period": format!("{}{:02}", 2019 - i / 12, i % 12 + 1),
                          "dataSet": fixture::DS_MONTHLY_HIV, "dataValues": {"positives": i}});
        ids.push(expect_json(p.post(&body).await, StatusCode::OK).await["submission_id"].as_i64().unwrap());
    }
    ids
}

/// Every submission settled; their logs.
async fn settled_all(p: &Pipeline, ids: &[i64], within: Duration) -> Vec<Value> {
    let mut logs = Vec::new();
    for &id in ids {
        logs.push(p.settled(id, FINAL, within).await);
    }
    logs
}

#[tokio::test]
async fn a_throttling_dhis2_gets_about_what_it_can_take_and_no_retry_is_used_up() {
    let p = pipeline(Version::V2_40, |c| {
        c.server.max_concurrent = 12;
        c.api.dhis2_timeout = 10;
    })
    .await;
    p.dhis2.set_capacity(Some(Capacity { limit: 3, per_request: Duration::from_millis(20), retry_after: None }));
    p.dhis2.set_latency(Duration::from_millis(50));
    let ids = submit_many(&p, 60).await;
    let logs = settled_all(&p, &ids, Duration::from_secs(90)).await;
    assert!(logs.iter().all(|l| l["status"] == "succeeded" && l["retry_count"] == 0), "{logs:#?}");
    let attempts: usize = logs.iter().map(|l| l["attempts"].as_array().unwrap().len()).sum();
    // Twelve at once would have been refused nine times in twelve at first; the window
    // narrows to what the server takes.
    let refused = p.dhis2.requests().iter().filter(|r| r.path.ends_with("/dataValueSets")).count() - ids.len();
    println!("60 deliveries: {attempts} attempts, {refused} refused with 503");
    assert!(attempts as f64 / ids.len() as f64 <= 1.5, "{attempts} attempts for {} deliveries", ids.len());
    let text = scrape(&p.app.client, &p.app.address).await;
    let window = sample(&text, r#"dhis2gw_server_concurrency_window{server="primary"}"#).unwrap();
    assert!(window < 12.0, "the window narrowed from 12: {window}");
}

#[tokio::test]
async fn a_retry_after_holds_the_next_attempt_back_that_long() {
    let p = pipeline(Version::V2_40, |_| {}).await;
    p.dhis2.set_capacity(Some(Capacity { limit: 0, per_request: Duration::ZERO, retry_after: Some(3) }));
    let id = p.submit(json!({"positives": 3})).await;
    let started = Instant::now();
    while p.dhis2.requests().iter().all(|r| !r.path.ends_with("/dataValueSets")) {
        assert!(started.elapsed() < Duration::from_secs(10), "never sent");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    p.dhis2.set_capacity(None);
    let log = p.settled(id, FINAL, Duration::from_secs(20)).await;
    assert_eq!((log["status"].as_str(), log["retry_count"].as_i64()), (Some("succeeded"), Some(0)), "{log:#}");
    let attempts = log["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "{log:#}");
    let at = |i: usize| chrono::DateTime::parse_from_rfc3339(attempts[i]["started_at"].as_str().unwrap()).unwrap();
    let waited = (at(1) - at(0)).num_milliseconds();
    assert!(waited >= 2_900, "Retry-After: 3 was honoured, not the 1 s backoff: {waited} ms");
}

#[tokio::test]
async fn a_dhis2_that_stops_answering_is_pinged_and_its_deliveries_wait_without_attempts() {
    let p = pipeline(Version::V2_40, |_| {}).await;
    p.dhis2.set_down(true);
    let ids = submit_many(&p, 12).await;
    // Five attempts find nobody; the circuit opens and the rest are held back, unsent.
    let started = Instant::now();
    loop {
        let text = scrape(&p.app.client, &p.app.address).await;
        if sample(&text, r#"dhis2gw_server_circuit_open{server="primary"}"#) == Some(1.0) {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "the circuit never opened: {text}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(6)).await;
    let mut attempts = 0;
    let mut held_back = 0;
    for &id in &ids {
        let log = p.log(id).await;
        attempts += log["attempts"].as_array().unwrap().len();
        let waiting = &log["destinations"][0];
        assert_eq!(log["retry_count"], 0, "{log:#}");
        if waiting["last_error"].as_str().is_some_and(|e| e.starts_with("Not sent: primary: did not answer")) {
            held_back += 1;
        }
    }
    assert!(held_back > 0, "deliveries held back while the circuit is open");
    assert!(attempts < 2 * ids.len(), "{attempts} attempts for {} deliveries while down", ids.len());

    p.dhis2.set_down(false);
    let logs = settled_all(&p, &ids, Duration::from_secs(60)).await;
    assert!(logs.iter().all(|l| l["status"] == "succeeded"), "{logs:#?}");
}

#[tokio::test]
async fn a_server_in_its_maintenance_window_is_not_sent_to_and_says_until_when() {
    let cc = dhis2_double::Dhis2Double::start(Version::V2_40).await;
    let p = pipeline(Version::V2_40, |c| c.api.cc_dhis2_servers = vec!["cc".into()]).await;
    // From this minute for two hours, whatever the time of day.
    let now = chrono::Utc::now();
    let window = format!("{}-{} UTC", now.format("%H:%M"), (now + chrono::Duration::hours(2)).format("%H:%M"));
    let mut body = crate::servers::cc_server("cc", &cc);
    body["maintenance"] = json!([window]);
    let created =
        expect_json(p.call(reqwest::Method::POST, "/api/v2/servers", Some(body)).await, StatusCode::CREATED).await;
    assert_eq!(created["maintenance"], json!([window]));
    assert!(created["maintenance_until"].is_string(), "{created}");
    let uid = created["uid"].as_str().unwrap().to_string();
    let path = format!("/api/v2/servers/{uid}");
    let bad = p.call(reqwest::Method::PUT, &path, Some(json!({"maintenance": ["00:00-04:00", "at night"]}))).await;
    let bad = expect_error(bad, StatusCode::BAD_REQUEST).await;
    assert!(details(&bad).iter().any(|d| d.starts_with("maintenance[1]: 'at night'")), "{bad}");

    let id = p.submit(json!({"positives": 5})).await;
    p.destination(id, "primary", &["succeeded"]).await;
    let waiting = p.destination(id, "cc", &["retrying"]).await;
    let why = waiting["last_error"].as_str().unwrap();
    assert!(why.starts_with(&format!("Not sent: cc is in its maintenance window {window} until ")), "{why}");
    assert_eq!(waiting["retry_count"], 0);
    assert_eq!(cc.import_requests(), 0, "nothing is sent in the window");
    let log = p.log(id).await;
    assert!(log["attempts"].as_array().unwrap().iter().all(|a| a["server"] == "primary"), "no attempt at cc: {log:#}");

    // The window removed, what waited goes at once.
    let open = p.call(reqwest::Method::PUT, &path, Some(json!({"maintenance": []}))).await;
    assert_eq!(expect_json(open, StatusCode::OK).await["maintenance_until"], Value::Null);
    p.destination(id, "cc", &["succeeded"]).await;
    assert_eq!(cc.import_requests(), 1);
}

#[tokio::test]
async fn a_long_retry_after_puts_the_servers_other_deliveries_back_instead_of_holding_workers() {
    let p = pipeline(Version::V2_40, |_| {}).await;
    p.dhis2.set_capacity(Some(Capacity { limit: 0, per_request: Duration::ZERO, retry_after: Some(8) }));
    let first = p.submit(json!({"positives": 1})).await;
    p.destination(first, "primary", &["retrying"]).await;
    let body = json!({"orgUnit": fixture::OU_FACILITY_2, "period": "202401", "dataSet": fixture::DS_MONTHLY_HIV,
                      "dataValues": {"positives": 2}});
    let second = expect_json(p.post(&body).await, StatusCode::OK).await["submission_id"].as_i64().unwrap();
    let waiting = p.destination(second, "primary", &["retrying"]).await;
    let why = waiting["last_error"].as_str().unwrap_or_default();
    assert!(why.starts_with("Not sent: primary: asked to be left alone (Retry-After)"), "{why}");
    assert_eq!(p.log(second).await["attempts"].as_array().unwrap().len(), 0, "not sent during the pause");
    p.dhis2.set_capacity(None);
    for id in [first, second] {
        assert_eq!(p.settled(id, FINAL, Duration::from_secs(30)).await["status"], "succeeded");
    }
}
