//! The aggregate pipeline end to end: a partner posts, the gateway stores, queues and
//! delivers to the DHIS2 test double, and the log tells what happened.

use std::time::{Duration, Instant};

use dhis2_double::{Dhis2Double, Fault, Version, fixture};
use dhis2gw_wire::Role;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use dhis2gw_test_support::*;

#[tokio::test]
async fn accepted_submissions_are_stored_delivered_and_logged_exactly() {
    let p = pipeline(Version::V2_40, |_| {}).await;
    let response = p
        .post(&p.submission(
            json!({"tests_male": 1000000, "positives": {"value": 3, "comment": "rechecked"}, "unknown_key": 4}),
        ))
        .await;
    let body = expect_json(response, StatusCode::OK).await;
    assert_eq!(body["message"], "Aggregate request queued for processing");
    assert!(body["task_id"].as_str().unwrap().len() >= 32);
    assert_eq!(body["payload"]["dataValues"][1]["value"], "1000000", "plain decimal, never 1e+06");
    assert!(body["payload"].get("completeDate").is_none());
    let warnings: Vec<String> = serde_json::from_value(body["warnings"].clone()).unwrap();
    assert_eq!(warnings.len(), 1);
    assert!(warnings[0].starts_with("dataValues.unknown_key"), "{warnings:?}");

    let id = body["submission_id"].as_i64().unwrap();
    let log = p.settled(id, FINAL, Duration::from_secs(15)).await;
    assert_eq!(log["status"], "succeeded", "{log:#}");
    assert_eq!(log["user"], "emr");
    let attempt = &log["attempts"][0];
    assert_eq!((attempt["http_status"].as_i64(), attempt["outcome"].as_str()), (Some(200), Some("succeeded")));
    assert_eq!(attempt["request_payload"], body["payload"], "the exact payload sent is the one shown to the partner");
    assert_eq!(attempt["import_status"], "SUCCESS");
    assert_eq!(attempt["dhis2_version"], Version::V2_40.as_str());
    assert!(attempt["response_body"].as_str().unwrap().contains("ImportSummary"));

    let stored = p.dhis2.value(fixture::DE_HIV_TESTS, "202401", fixture::OU_FACILITY_1, fixture::COC_MALE).unwrap();
    assert_eq!((stored.value.as_str(), stored.times_written), ("1000000", 1));
    let positives =
        p.dhis2.value(fixture::DE_POSITIVES, "202401", fixture::OU_FACILITY_1, fixture::DEFAULT_COC).unwrap();
    assert_eq!(positives.comment.as_deref(), Some("rechecked"));
    let auth = &p.dhis2.requests().iter().find(|r| r.path.ends_with("/dataValueSets")).unwrap().authorization.clone();
    assert!(auth.as_deref().unwrap().starts_with("Basic "), "{auth:?}");
}

#[tokio::test]
async fn invalid_and_unmappable_submissions_are_refused_with_named_fields() {
    let p = pipeline(Version::V2_40, |_| {}).await;
    let bad = json!({"orgUnit": "OrgFac00001", "period": "2024-01", "dataSet": "x", "dataValues": {"a": [1]}});
    let body = expect_error(p.post(&bad).await, StatusCode::BAD_REQUEST).await;
    let fields: Vec<String> = details(&body).iter().map(|d| d.split(':').next().unwrap().to_string()).collect();
    assert_eq!(fields, ["period", "dataSet", "dataValues.a"]);
    let nothing =
        expect_error(p.post(&p.submission(json!({"nope": 1, "also_not": 2}))).await, StatusCode::UNPROCESSABLE_ENTITY)
            .await;
    assert_eq!(details(&nothing).len(), 2, "{nothing}");
    let unknown_ou = json!({"orgUnit": "FAC-001", "period": "202401", "dataSet": fixture::DS_MONTHLY_HIV, "dataValues": {"positives": 1}});
    let body = expect_error(p.post(&unknown_ou).await, StatusCode::BAD_REQUEST).await;
    assert!(details(&body)[0].starts_with("orgUnit"));
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM submission_log").fetch_one(&p.app.db).await.unwrap();
    assert_eq!(stored, 0, "nothing refused is stored");
    // A viewer may not submit.
    let viewer = p.app.user("viewer", Role::Viewer).await;
    let r = p
        .app
        .request(Method::POST, "/api/v2/aggregate")
        .bearer_auth(&viewer.jwt)
        .json(&p.submission(json!({"positives": 1})))
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::FORBIDDEN).await;
}

#[tokio::test]
async fn a_409_partial_success_is_a_warning_with_conflicts_on_partner_keys_and_is_not_retried() {
    let p = pipeline(Version::V2_40, |_| {}).await;
    let id = p.submit(json!({"tests_male": "12", "positives": "not a number", "remarks": "ok"})).await;
    let log = p.settled(id, FINAL, Duration::from_secs(15)).await;
    assert_eq!(log["status"], "warning", "{log:#}");
    let attempt = &log["attempts"][0];
    assert_eq!((attempt["http_status"].as_i64(), attempt["import_status"].as_str()), (Some(409), Some("WARNING")));
    let conflict = &attempt["conflicts"][0];
    assert_eq!(conflict["partner_keys"], json!(["positives"]), "{conflict}");
    assert!(conflict["error_code"].as_str().unwrap().starts_with("E76"));
    // Sweeps come and go; a warning is final and DHIS2 sees the payload once.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(p.dhis2.import_requests(), 1);
    assert_eq!(p.log(id).await["attempts"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn rejected_data_fails_and_is_never_retried_automatically() {
    let p = pipeline(Version::V2_43, |_| {}).await;
    let body = json!({"code": "orphan", "dataElement": fixture::DE_ORPHAN});
    let r = p.app.request(Method::POST, "/api/v2/mappings").bearer_auth(&p.admin.jwt).json(&body).send().await.unwrap();
    expect_json(r, StatusCode::CREATED).await;
    let id = p.submit(json!({"orphan": 1, "positives": 2})).await;
    let log = p.settled(id, FINAL, Duration::from_secs(15)).await;
    assert_eq!(log["status"], "failed", "2.43 rejects the whole group: {log:#}");
    let conflict = &log["attempts"][0]["conflicts"][0];
    assert_eq!(conflict["indexes"], json!([-1]));
    assert_eq!(conflict["partner_keys"], json!(["orphan", "positives"]));
    assert!(log["errors"].as_str().is_some_and(|e| !e.is_empty()));
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(p.dhis2.import_requests(), 1);
}

#[tokio::test]
async fn server_errors_are_retried_with_backoff_until_success() {
    let p = pipeline(Version::V2_37, |_| {}).await;
    p.dhis2.fail_next(Fault::Status(503), 2);
    let id = p.submit(json!({"positives": 5})).await;
    // Patient for the same reason as the dead-after-max-retries test below.
    let log = p.settled(id, FINAL, Duration::from_secs(90)).await;
    assert_eq!(log["status"], "succeeded", "{log:#}");
    let outcomes: Vec<&str> =
        log["attempts"].as_array().unwrap().iter().map(|a| a["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, ["retry", "retry", "succeeded"]);
    let starts: Vec<chrono::DateTime<chrono::Utc>> = log["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| serde_json::from_value(a["started_at"].clone()).unwrap())
        .collect();
    assert!(starts[2] - starts[1] > starts[1] - starts[0], "back-off grows: {starts:?}");
    assert_eq!(log["attempts"][0]["http_status"], 503);
    assert_eq!(
        p.dhis2
            .value(fixture::DE_POSITIVES, "202401", fixture::OU_FACILITY_1, fixture::DEFAULT_COC)
            .unwrap()
            .times_written,
        1
    );
}

#[tokio::test]
async fn timeouts_retry_then_the_submission_is_dead_after_max_retries() {
    let p = pipeline(Version::V2_40, |c| {
        c.api.dhis2_timeout = 1;
        c.server.max_retries = 2;
    })
    .await;
    p.dhis2.fail_next(Fault::Hang(Duration::from_secs(3)), 10);
    let id = p.submit(json!({"positives": 5})).await;
    // Patient: if a retry's queue job goes missing, the sweep renews it only once the retry
    // is a minute overdue (seen once under load: the third attempt waited for that).
    let log = p.settled(id, &["dead"], Duration::from_secs(90)).await;
    let outcomes: Vec<&str> =
        log["attempts"].as_array().unwrap().iter().map(|a| a["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, ["retry", "retry", "dead"]);
    assert!(log["errors"].as_str().unwrap().contains("timed out"), "{}", log["errors"]);
    assert!(log["attempts"][0]["http_status"].is_null());
}

#[tokio::test]
async fn a_connection_reset_is_retried() {
    let p = pipeline(Version::V2_40, |_| {}).await;
    p.dhis2.fail_next(Fault::Reset, 1);
    let id = p.submit(json!({"positives": 5})).await;
    let log = p.settled(id, FINAL, Duration::from_secs(20)).await;
    assert_eq!(log["status"], "succeeded", "{log:#}");
    assert_eq!(log["attempts"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn idempotency_keys_return_the_first_answer_and_refuse_a_different_body() {
    let p = pipeline(Version::V2_40, |_| {}).await;
    let send = |body: Value, key: &'static str| {
        p.app
            .request(Method::POST, "/api/v2/aggregate")
            .header("Authorization", format!("Token {}", p.partner_token))
            .header("Idempotency-Key", key)
            .json(&body)
            .send()
    };
    let body = p.submission(json!({"positives": 7}));
    let first = expect_json(send(body.clone(), "k-1").await.unwrap(), StatusCode::OK).await;
    let again = expect_json(send(body.clone(), "k-1").await.unwrap(), StatusCode::OK).await;
    assert_eq!(first, again);
    let different =
        expect_error(send(p.submission(json!({"positives": 8})), "k-1").await.unwrap(), StatusCode::CONFLICT).await;
    assert!(different["error"].as_str().unwrap().contains("Idempotency-Key"));
    let concurrent: Vec<_> = (0..5).map(|_| tokio::spawn(send(body.clone(), "k-2"))).collect();
    let mut ids = Vec::new();
    for r in concurrent {
        ids.push(expect_json(r.await.unwrap().unwrap(), StatusCode::OK).await["submission_id"].as_i64().unwrap());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "parallel repeats create one submission");
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM submission_log").fetch_one(&p.app.db).await.unwrap();
    assert_eq!(stored, 2);
}

#[tokio::test]
async fn deliveries_in_flight_never_exceed_max_concurrent() {
    let p = pipeline(Version::V2_40, |c| c.server.max_concurrent = 2).await;
    p.dhis2.set_latency(Duration::from_millis(200));
    let mut ids = Vec::new();
    for i in 0..8 {
        let body = json!({"orgUnit": fixture::OU_FACILITY_1, "period": format!("2024{:02}", i + 1), "dataSet": fixture::DS_MONTHLY_HIV, "dataValues": {"positives": i}});
        ids.push(expect_json(p.post(&body).await, StatusCode::OK).await["submission_id"].as_i64().unwrap());
    }
    for id in ids {
        assert_eq!(p.settled(id, FINAL, Duration::from_secs(20)).await["status"], "succeeded");
    }
    assert_eq!(p.dhis2.max_in_flight(), 2, "two at a time, never more");
}

#[tokio::test]
async fn dry_run_asks_dhis2_and_stores_nothing() {
    let p = pipeline(Version::V2_40, |_| {}).await;
    let mut body = p.submission(json!({"positives": "x", "tests_male": 3}));
    body["dryRun"] = json!(true);
    let result = expect_json(p.post(&body).await, StatusCode::OK).await;
    assert!(result["message"].as_str().unwrap().starts_with("Dry run"));
    assert_eq!(result["dhis2"]["import_status"], "WARNING");
    assert_eq!(result["dhis2"]["conflicts"][0]["partner_keys"], json!(["positives"]));
    assert!(p.dhis2.values().is_empty());
    p.dhis2.set_down(true);
    let offline = expect_json(p.post(&body).await, StatusCode::OK).await;
    assert!(offline["dhis2"].is_null());
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM submission_log").fetch_one(&p.app.db).await.unwrap();
    assert_eq!(stored, 0);
}

#[tokio::test]
async fn a_base_url_ending_in_api_and_pat_authentication_work() {
    let p = pipeline(Version::V2_43, |c| {
        c.api.dhis2_base_url.push_str("/api/");
        c.api.dhis2_pat = dhis2gw::infra::config::Secret::new(dhis2_double::PAT);
        c.api.dhis2_auth_method = Some(dhis2gw::infra::config::AuthMethod::Pat);
    })
    .await;
    let id = p.submit(json!({"positives": 1})).await;
    assert_eq!(p.settled(id, FINAL, Duration::from_secs(15)).await["status"], "succeeded");
    let request = p.dhis2.requests().into_iter().find(|r| r.path.ends_with("/dataValueSets")).unwrap();
    assert_eq!(request.path, "/api/dataValueSets");
    assert_eq!(request.authorization.as_deref(), Some(format!("ApiToken {}", dhis2_double::PAT).as_str()));
}

#[tokio::test]
async fn redis_losing_its_jobs_does_not_lose_submissions() {
    // A generous timeout: on a loaded machine an answer slower than the pipeline's usual 2 s
    // would be retried and written twice, which is a timeout's doing, not Redis's.
    let p = pipeline(Version::V2_40, |c| c.api.dhis2_timeout = 10).await;
    p.dhis2.set_down(true);
    let mut ids = Vec::new();
    for i in 0..5 {
        let body = json!({"orgUnit": fixture::OU_FACILITY_2, "period": format!("2023{:02}", i + 1), "dataSet": fixture::DS_MONTHLY_HIV, "dataValues": {"positives": i}});
        ids.push(expect_json(p.post(&body).await, StatusCode::OK).await["submission_id"].as_i64().unwrap());
    }
    // Wipe this gateway's keys, as a flushed or restarted Redis would.
    let client = redis::Client::open(format!("redis://{}/", redis_address())).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let prefix = p.app.queue_prefix.clone();
    let keys: Vec<String> = redis::cmd("KEYS").arg(format!("{prefix}*")).query_async(&mut conn).await.unwrap();
    assert!(!keys.is_empty());
    let _: () = redis::cmd("DEL").arg(&keys).query_async(&mut conn).await.unwrap();
    p.dhis2.set_down(false);
    for id in ids {
        assert_eq!(p.settled(id, FINAL, Duration::from_secs(40)).await["status"], "succeeded");
    }
    assert!(p.dhis2.values().iter().all(|v| v.times_written == 1), "{:?}", p.dhis2.values());
}

/// A stopped DHIS2 (connection refused) is waited for as long as it takes: retries are not
/// used up, nothing goes dead, and delivery resumes once it is back.
#[tokio::test]
async fn while_dhis2_is_stopped_deliveries_wait_without_using_up_retries() {
    let address = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let p = pipeline(Version::V2_40, |c| {
        c.api.dhis2_base_url = format!("http://{address}");
        c.server.max_retries = 1;
    })
    .await;
    let id = p.submit(json!({"positives": 8})).await;
    let started = Instant::now();
    let log = loop {
        let log = p.log(id).await;
        // Read between attempts, not while the next one is under way.
        if log["attempts"].as_array().unwrap().len() >= 3 && log["status"] != "processing" {
            break log;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "{log:#}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(log["status"], "retrying", "more attempts than max_retries, and not dead: {log:#}");
    assert_eq!(log["retry_count"], 0, "an outage uses no retries");
    assert!(log["errors"].as_str().unwrap().contains("could not connect"), "{}", log["errors"]);

    let dhis2 = Dhis2Double::start_on(address, Version::V2_40).await.unwrap();
    let log = p.settled(id, FINAL, Duration::from_secs(40)).await;
    assert_eq!(log["status"], "succeeded", "{log:#}");
    let stored = dhis2.value(fixture::DE_POSITIVES, "202401", fixture::OU_FACILITY_1, fixture::DEFAULT_COC);
    assert_eq!(stored.map(|v| v.value), Some("8".into()));
}

/// `completeDate` registers the data set as complete (DHIS2's reporting rates count it): on
/// a new install only when a submission asks, per partner as an admin sets it.
#[tokio::test]
async fn completion_is_registered_when_asked_or_as_the_partners_setting_says() {
    let p = pipeline(Version::V2_40, |_| {}).await;
    let today = chrono::Utc::now().with_timezone(&chrono_tz::Africa::Kampala).date_naive().to_string();
    let send = |extra: Value| {
        let mut body = p.submission(json!({"positives": 4}));
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        let p = &p;
        async move { expect_json(p.post(&body).await, StatusCode::OK).await }
    };
    assert!(send(json!({})).await["payload"].get("completeDate").is_none(), "not unless asked");
    let asked = send(json!({"complete": true})).await;
    assert_eq!(asked["payload"]["completeDate"], today.as_str());
    let id = asked["submission_id"].as_i64().unwrap();
    let delivered = p.settled(id, FINAL, Duration::from_secs(30)).await;
    let answer = delivered["attempts"][0]["response_body"].as_str().unwrap().to_string();
    assert!(answer.contains(&format!("\"dataSetComplete\":\"{today}\"")), "DHIS2 registered it: {answer}");

    let me = expect_json(
        p.app
            .request(Method::GET, "/api/v2/me")
            .header("Authorization", format!("Token {}", p.partner_token))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    let partner = format!("/api/v2/users/{}", me["uid"].as_str().unwrap());
    let set = |value: &'static str| {
        let p = &p;
        let partner = partner.clone();
        async move {
            let body = json!({"register_completion": value});
            p.app.request(Method::PUT, &partner).bearer_auth(&p.admin.jwt).json(&body).send().await.unwrap()
        }
    };
    let wrong = expect_error(set("sometimes").await, StatusCode::BAD_REQUEST).await;
    assert!(details(&wrong)[0].starts_with("register_completion:"), "{wrong}");
    assert_eq!(expect_json(set("always").await, StatusCode::OK).await["register_completion"], "always");
    assert_eq!(send(json!({})).await["payload"]["completeDate"], today.as_str());
    assert_eq!(send(json!({"completeDate": "2024-02-03"})).await["payload"]["completeDate"], "2024-02-03");
    expect_json(set("never").await, StatusCode::OK).await;
    assert!(send(json!({"completeDate": "2024-02-03"})).await["payload"].get("completeDate").is_none());
    expect_json(set("").await, StatusCode::OK).await;
    assert!(send(json!({})).await["payload"].get("completeDate").is_none(), "the gateway's setting again");
}

/// A correction posted while the first submission of the same values waits for its retry:
/// the correction waits for it, so DHIS2 ends with the newer value, not the retried older one.
#[tokio::test]
async fn a_later_correction_is_never_overwritten_by_an_earlier_submissions_retry() {
    // The first one's retry comes 3 s after its failure, long after the correction is posted.
    let p = pipeline(Version::V2_40, |c| c.server.request_process_interval = 3).await;
    p.dhis2.fail_next(Fault::Status(500), 1);
    let first = p.submit(json!({"positives": 1})).await;
    p.destination(first, "primary", &["retrying"]).await;
    let correction = p.submit(json!({"positives": 2})).await;
    let waiting = p.destination(correction, "primary", &["retrying", "succeeded"]).await;
    if waiting["status"] == "retrying" {
        let why = waiting["last_error"].as_str().unwrap_or_default();
        assert!(why.starts_with(&format!("Not sent: waits for submission {first}")), "{why}");
    }
    p.settled(first, FINAL, Duration::from_secs(20)).await;
    let corrected = p.settled(correction, FINAL, Duration::from_secs(20)).await;
    assert_eq!(corrected["status"], "succeeded", "{corrected:#}");
    let stored = p.dhis2.value(fixture::DE_POSITIVES, "202401", fixture::OU_FACILITY_1, fixture::DEFAULT_COC).unwrap();
    assert_eq!(stored.value, "2", "the newer value wins");
    let imports: Vec<String> =
        p.dhis2.requests().iter().filter(|r| r.path.ends_with("/dataValueSets")).map(|r| r.body.clone()).collect();
    assert_eq!(imports.len(), 3, "the failed first, its retry, then the correction: {imports:?}");
    assert!(imports[2].contains("\"value\":\"2\""), "{imports:?}");
}
