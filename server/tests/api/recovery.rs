//! A gateway killed with SIGKILL in the middle of a delivery: after a restart the
//! submission is delivered, and DHIS2 holds its values once.

use std::time::{Duration, Instant};

use dhis2_double::{Dhis2Double, Version, fixture};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::cli::{Operator, env_refs, start_gateway};

#[tokio::test]
async fn a_delivery_cut_by_sigkill_is_taken_up_again_after_restart() {
    let dhis2 = Dhis2Double::start(Version::V2_40).await;
    // Slow enough that the kill lands while DHIS2 is still answering.
    dhis2.set_latency(Duration::from_millis(1500));
    let op = Operator::new();
    let mut env = op.base_env();
    env.extend([
        ("dhis2_base_url", dhis2.base_url()),
        ("dhis2_user", dhis2_double::USERNAME.to_string()),
        ("dhis2_password", dhis2_double::PASSWORD.to_string()),
        ("dhis2_timeout", "2".to_string()),
        ("retry_cron_expression", "*/1 * * * * *".to_string()),
        ("DHIS2GW_BOOTSTRAP_ADMIN_USER", "admin".to_string()),
        ("DHIS2GW_BOOTSTRAP_ADMIN_PASSWORD", "admin password".to_string()),
        ("mapping_scheme", "UID".to_string()),
    ]);
    let env = env_refs(&env);
    let (mut gateway, base) = start_gateway(&op, &env).await;
    let client = reqwest::Client::new();
    let body = json!({"orgUnit": fixture::OU_FACILITY_1, "period": "202402", "dataSet": fixture::DS_MONTHLY_HIV,
                      "dataValues": {fixture::DE_POSITIVES: 9}});
    let accepted: Value = client
        .post(format!("{base}/api/v2/aggregate"))
        .basic_auth("admin", Some("admin password"))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = accepted["submission_id"].as_i64().expect("accepted");
    let started = Instant::now();
    while dhis2.requests().iter().all(|r| !r.path.ends_with("/dataValueSets")) {
        assert!(started.elapsed() < Duration::from_secs(10), "the delivery never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    gateway.kill().unwrap();
    gateway.wait().unwrap();
    dhis2.set_latency(Duration::ZERO);

    let (mut gateway, base) = start_gateway(&op, &env).await;
    let started = Instant::now();
    let log = loop {
        let log: Value = client
            .get(format!("{base}/api/v2/logs/{id}"))
            .basic_auth("admin", Some("admin password"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if log["status"] == "succeeded" {
            break log;
        }
        assert!(started.elapsed() < Duration::from_secs(40), "not delivered after restart: {log:#}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(log["attempts"].as_array().unwrap().len(), 1, "the cut attempt left no record; the new one did");
    let value = dhis2.value(fixture::DE_POSITIVES, "202402", fixture::OU_FACILITY_1, fixture::DEFAULT_COC).unwrap();
    assert_eq!((value.value.as_str(), value.times_written), ("9", 1));
    let ready = client.get(format!("{base}/health/ready")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    gateway.kill().unwrap();
    gateway.wait().unwrap();
}
