//! Authentication, routing, faults, latency, concurrency and the async job endpoints.

use std::time::{Duration, Instant};

use dhis2_double::fixture::*;
use dhis2_double::{Dhis2Double, Fault, PAT, Version};
use serde_json::{Value, json};

use crate::http::{Conn, basic, get, post_import, send, try_post_import};

fn small_set() -> Value {
    json!({
        "dataSet": DS_MONTHLY_HIV,
        "period": "202403",
        "orgUnit": OU_FACILITY_1,
        "dataValues": [
            { "dataElement": DE_POSITIVES, "value": "1" },
            { "dataElement": DE_REMARKS, "value": "fine" },
        ],
    })
}

#[tokio::test]
async fn requests_without_valid_credentials_are_refused() {
    let dhis2 = Dhis2Double::start(Version::V2_40).await;
    let wrong_basic = format!("Basic {}", "YWRtaW46d3Jvbmc="); // admin:wrong
    let wrong_token = format!("ApiToken {PAT}x");
    for auth in [None, Some(wrong_basic.as_str()), Some(wrong_token.as_str()), Some("Bearer x")] {
        let headers: Vec<(&str, &str)> = auth.map(|a| ("Authorization", a)).into_iter().collect();
        let reply = send(&dhis2.base_url(), "GET", "/api/system/info", &headers, "").await.unwrap();
        assert_eq!(reply.status, 401, "{auth:?}");
        assert_eq!(
            reply.json(),
            json!({
                "httpStatus": "Unauthorized",
                "httpStatusCode": 401,
                "status": "ERROR",
                "message": "Unauthorized",
            })
        );
    }
    // Refused imports never reach validation.
    let reply = send(&dhis2.base_url(), "POST", "/api/dataValueSets", &[], "{}").await.unwrap();
    assert_eq!(reply.status, 401);
    assert_eq!(dhis2.import_requests(), 0);
}

#[tokio::test]
async fn basic_and_token_auth_are_accepted() {
    let dhis2 = Dhis2Double::start(Version::V2_43).await;
    let lower_basic = basic().replacen("Basic", "basic", 1);
    let token = format!("apitoken {PAT}");
    for auth in [basic(), lower_basic, token] {
        let reply = send(&dhis2.base_url(), "GET", "/api/system/info", &[("Authorization", &auth)], "").await.unwrap();
        assert_eq!(reply.status, 200, "{auth}");
        let info = reply.json();
        assert_eq!(info["version"], "2.43.0");
        assert_eq!(info["contextPath"], dhis2.base_url());
        assert!(chrono::DateTime::parse_from_rfc3339(info["serverDate"].as_str().unwrap()).is_ok());
    }
    let me = get(&dhis2, "/api/me").await.json();
    assert_eq!(me, json!({ "id": USER_ID, "username": "admin", "name": "Admin" }));
    dhis2.set_version(Version::V2_37);
    assert_eq!(get(&dhis2, "/api/system/info").await.json()["version"], "2.37.9");
}

#[tokio::test]
async fn unknown_routes_bad_media_types_and_bad_json() {
    let dhis2 = Dhis2Double::start(Version::V2_40).await;
    let reply = get(&dhis2, "/api/organisationUnitz").await;
    assert_eq!(reply.status, 404);
    assert_eq!(reply.json()["httpStatus"], "Not Found");
    assert_eq!(reply.json()["status"], "ERROR");

    let auth = basic();
    let post = |content_type: &'static str, body: &'static str| {
        let auth = auth.clone();
        let base = dhis2.base_url();
        async move {
            let headers = [("Authorization", auth.as_str()), ("Content-Type", content_type)];
            send(&base, "POST", "/api/dataValueSets", &headers, body).await.unwrap()
        }
    };
    let reply = post("text/plain", "{}").await;
    assert_eq!(reply.status, 415);
    assert_eq!(reply.json()["httpStatusCode"], 415);

    let reply = post("application/json; charset=UTF-8", "{\"dataValues\": [").await;
    assert_eq!(reply.status, 400);
    assert!(reply.json()["message"].as_str().unwrap().starts_with("JSON parse error"));

    let reply = post("application/json", "[]").await;
    assert_eq!(reply.status, 400);
    assert_eq!(dhis2.import_requests(), 3);
}

#[tokio::test]
async fn requests_are_recorded_in_order() {
    let dhis2 = Dhis2Double::start(Version::V2_40).await;
    get(&dhis2, "/api/system/info").await;
    post_import(&dhis2, "dryRun=true", &small_set()).await;
    let requests = dhis2.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].method, "GET");
    assert_eq!(requests[0].path, "/api/system/info");
    assert_eq!(requests[0].query, "");
    assert_eq!(requests[1].method, "POST");
    assert_eq!(requests[1].path, "/api/dataValueSets");
    assert_eq!(requests[1].query, "dryRun=true");
    assert_eq!(requests[1].authorization.as_deref(), Some(basic().as_str()));
    assert_eq!(serde_json::from_str::<Value>(&requests[1].body).unwrap(), small_set());
    dhis2.reset_counters();
    assert!(dhis2.requests().is_empty());
    assert_eq!((dhis2.import_requests(), dhis2.max_in_flight()), (0, 0));
}

#[tokio::test]
async fn status_fault_once_then_normal() {
    let dhis2 = Dhis2Double::start(Version::V2_40).await;
    dhis2.fail_next(Fault::Status(503), 1);
    // Faults only hit the import endpoint.
    assert_eq!(get(&dhis2, "/api/system/info").await.status, 200);
    let reply = post_import(&dhis2, "", &small_set()).await;
    assert_eq!(reply.status, 503);
    assert!(reply.header("content-type").unwrap().starts_with("text/html"));
    assert!(reply.body.contains("503 Service Unavailable"));
    assert!(dhis2.values().is_empty());
    assert_eq!(dhis2.import_requests(), 0);

    let reply = post_import(&dhis2, "", &small_set()).await;
    assert_eq!(reply.status, 200);
    assert_eq!(dhis2.values().len(), 2);
    assert_eq!(dhis2.import_requests(), 1);
    assert_eq!(dhis2.requests().len(), 3, "faulted requests are recorded too");
}

#[tokio::test]
async fn reset_fault_closes_without_a_response_and_faults_queue_in_order() {
    let dhis2 = Dhis2Double::start(Version::V2_43).await;
    dhis2.fail_next(Fault::Status(502), 1);
    dhis2.fail_next(Fault::Reset, 2);
    assert_eq!(post_import(&dhis2, "", &small_set()).await.status, 502);
    for _ in 0..2 {
        let err = try_post_import(&dhis2, "", &small_set()).await.unwrap_err();
        assert!(matches!(err.kind(), std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset), "{err}");
    }
    assert!(dhis2.values().is_empty());
    assert_eq!(post_import(&dhis2, "", &small_set()).await.status, 200);
    assert_eq!(dhis2.requests().len(), 4);
}

#[tokio::test]
async fn hang_fault_delays_the_answer() {
    let dhis2 = Dhis2Double::start(Version::V2_40).await;
    dhis2.fail_next(Fault::Hang(Duration::from_secs(1)), 1);
    let started = Instant::now();
    let reply = post_import(&dhis2, "", &small_set()).await;
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(reply.status, 200);
    assert_eq!(dhis2.values().len(), 2);
    let started = Instant::now();
    post_import(&dhis2, "", &small_set()).await;
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn latency_applies_to_every_request() {
    let dhis2 = Dhis2Double::start(Version::V2_40).await;
    dhis2.set_latency(Duration::from_millis(150));
    let started = Instant::now();
    get(&dhis2, "/api/me").await;
    assert!(started.elapsed() >= Duration::from_millis(150));
}

#[tokio::test]
async fn down_resets_new_and_open_connections() {
    let dhis2 = Dhis2Double::start(Version::V2_40).await;
    let auth = basic();
    let headers = [("Authorization", auth.as_str())];
    let mut kept_alive = Conn::open(&dhis2.base_url()).await.unwrap();
    let reply = kept_alive.send("GET", "/api/system/info", &headers, "").await.unwrap();
    assert_eq!(reply.status, 200);

    dhis2.set_down(true);
    assert!(send(&dhis2.base_url(), "GET", "/api/system/info", &headers, "").await.is_err());
    assert!(try_post_import(&dhis2, "", &small_set()).await.is_err());
    assert!(kept_alive.send("GET", "/api/system/info", &headers, "").await.is_err());
    assert!(dhis2.requests().len() == 1, "nothing reaches a stopped server");

    dhis2.set_down(false);
    assert_eq!(get(&dhis2, "/api/system/info").await.status, 200);
}

#[tokio::test]
async fn max_in_flight_sees_concurrent_imports() {
    let dhis2 = Dhis2Double::start(Version::V2_40).await;
    dhis2.set_latency(Duration::from_millis(500));
    let posts: Vec<_> = (0..4)
        .map(|_| {
            let dhis2 = dhis2.clone();
            tokio::spawn(async move { post_import(&dhis2, "dryRun=true", &small_set()).await })
        })
        .collect();
    for post in posts {
        assert_eq!(post.await.unwrap().status, 200);
    }
    assert_eq!(dhis2.max_in_flight(), 4);

    dhis2.reset_counters();
    dhis2.set_latency(Duration::ZERO);
    post_import(&dhis2, "dryRun=true", &small_set()).await;
    post_import(&dhis2, "dryRun=true", &small_set()).await;
    assert_eq!(dhis2.max_in_flight(), 1);
    assert_eq!(dhis2.import_requests(), 2);
}

#[tokio::test]
async fn async_import_exposes_job_notifications_and_summary() {
    let dhis2 = Dhis2Double::start(Version::V2_40).await;
    let reply = post_import(&dhis2, "async=true", &small_set()).await;
    assert_eq!(reply.status, 200);
    let body = reply.json();
    assert_eq!(body["status"], "OK");
    assert!(body["message"].as_str().unwrap().starts_with("Initiated DATAVALUE_IMPORT"));
    let job = &body["response"];
    assert_eq!(job["responseType"], "JobConfiguration");
    assert_eq!(job["jobType"], "DATAVALUE_IMPORT");
    let id = job["id"].as_str().unwrap();
    assert_eq!(id.len(), 11);
    let endpoint = job["relativeNotifierEndpoint"].as_str().unwrap();
    assert_eq!(endpoint, format!("/api/system/tasks/DATAVALUE_IMPORT/{id}"));
    assert_eq!(reply.header("location").unwrap(), format!("{}/api/system/tasks/DATAVALUE_IMPORT", dhis2.base_url()));

    let notifications = get(&dhis2, endpoint).await.json();
    let newest = &notifications[0];
    assert_eq!(newest["completed"], true);
    assert_eq!(newest["category"], "DATAVALUE_IMPORT");
    assert_eq!(newest["message"], "Import complete with status SUCCESS, 2 created, 0 updated, 0 deleted, 0 ignored");
    assert_eq!(notifications[1]["completed"], false);

    let target = format!("/api/system/taskSummaries/DATAVALUE_IMPORT/{id}");
    let summary = get(&dhis2, &target).await;
    assert_eq!(summary.status, 200);
    let summary = summary.json();
    assert!(summary.get("httpStatusCode").is_none(), "bare ImportSummary");
    assert_eq!(summary["responseType"], "ImportSummary");
    assert_eq!(summary["status"], "SUCCESS");
    assert_eq!(summary["importOptions"]["async"], true);
    assert_eq!(summary["importCount"]["imported"], 2);
    assert_eq!(dhis2.values().len(), 2);
}

#[tokio::test]
async fn async_failures_land_in_the_job_summary() {
    let dhis2 = Dhis2Double::start(Version::V2_43).await;
    let auth = basic();
    let headers = [("Authorization", auth.as_str()), ("Content-Type", "application/json")];
    let reply = send(&dhis2.base_url(), "POST", "/api/dataValueSets?async=true", &headers, "{oops").await.unwrap();
    assert_eq!(reply.status, 200);
    let id = reply.json()["response"]["id"].as_str().unwrap().to_owned();
    let summary = get(&dhis2, &format!("/api/system/taskSummaries/DATAVALUE_IMPORT/{id}")).await;
    assert_eq!(summary.status, 200);
    assert_eq!(summary.json()["status"], "ERROR");
    let tasks = get(&dhis2, &format!("/api/system/tasks/DATAVALUE_IMPORT/{id}")).await;
    assert!(tasks.json()[0]["message"].as_str().unwrap().contains("status ERROR"));

    let unknown = get(&dhis2, "/api/system/taskSummaries/DATAVALUE_IMPORT/Job99999999").await;
    assert_eq!(unknown.status, 404);
    let none = get(&dhis2, "/api/system/tasks/DATAVALUE_IMPORT/Job99999999").await;
    assert_eq!(none.json(), json!([]));
}
