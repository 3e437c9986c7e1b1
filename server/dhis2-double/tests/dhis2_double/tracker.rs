//! `POST /api/tracker` over HTTP: sync and async answers, job endpoints, bad requests,
//! faults and counters.

use std::time::{Duration, Instant};

use dhis2_double::fixture::*;
use dhis2_double::{DEFAULT_TRACKER_JOB_DELAY, Dhis2Double, Fault, Version};
use serde_json::{Value, json};

use crate::http::{basic, get, post_json, request, send};

const ALL: [Version; 3] = [Version::V2_37, Version::V2_40, Version::V2_43];

fn person(te: &str, ou: &str) -> Value {
    json!({
        "trackedEntities": [{
            "trackedEntity": te,
            "trackedEntityType": TET_PERSON,
            "orgUnit": ou,
            "attributes": [{ "attribute": ATTR_PATIENT_ID, "value": te }],
            "enrollments": [{
                "enrollment": format!("En{}", &te[2..]),
                "program": PROGRAM_CARE,
                "orgUnit": ou,
                "enrolledAt": "2024-01-10T00:00:00.000",
                "events": [{
                    "event": format!("Ev{}", &te[2..]),
                    "programStage": STAGE_VISIT,
                    "orgUnit": ou,
                    "occurredAt": "2024-01-10T09:00:00.000",
                    "dataValues": [{ "dataElement": DE_WEIGHT, "value": "61.5" }],
                }],
            }],
        }],
    })
}

#[tokio::test]
async fn sync_imports_answer_the_bare_report_in_every_version() {
    for version in ALL {
        let dhis2 = Dhis2Double::start(version).await;
        let reply = post_json(&dhis2, "/api/tracker?async=false", &person("TePerson001", OU_FACILITY_1)).await;
        assert_eq!(reply.status, 200, "{version:?}: {}", reply.body);
        let report = reply.json();
        assert!(report.get("httpStatusCode").is_none(), "no envelope");
        assert_eq!(report["status"], "OK");
        assert_eq!(report["stats"], json!({ "created": 3, "updated": 0, "deleted": 0, "ignored": 0, "total": 3 }));
        assert_eq!(report["validationReport"], json!({ "errorReports": [], "warningReports": [] }));
        let objects = &report["bundleReport"]["typeReportMap"]["ENROLLMENT"]["objectReports"];
        assert_eq!(objects, &json!([{ "trackerType": "ENROLLMENT", "uid": "EnPerson001", "errorReports": [] }]));
        assert_eq!(dhis2.tracked_entities().len(), 1);
        assert_eq!(dhis2.enrollments()[0]["trackedEntity"], "TePerson001");
        assert_eq!(dhis2.events()[0]["enrollment"], "EnPerson001");

        let reply = post_json(&dhis2, "/api/tracker?async=false", &person("TePerson002", OU_DISTRICT)).await;
        assert_eq!(reply.status, 409);
        let report = reply.json();
        assert_eq!(report["status"], "ERROR");
        let errors = report["validationReport"]["errorReports"].as_array().unwrap();
        assert_eq!(errors.len(), 2);
        assert_eq!(
            errors[1],
            json!({
                "message": format!("Event OrganisationUnit: `{OU_DISTRICT}`, and Program: `{PROGRAM_CARE}`, don't match."),
                "errorCode": "E1029",
                "trackerType": "EVENT",
                "uid": "EvPerson002",
            })
        );
        assert_eq!(dhis2.tracked_entities().len(), 1, "atomic ALL stored nothing");
        assert_eq!(dhis2.tracker_requests(), 2);
    }
}

#[tokio::test]
async fn async_jobs_complete_after_the_delay() {
    let dhis2 = Dhis2Double::start(Version::V2_40).await;
    dhis2.set_tracker_job_delay(Duration::from_millis(300));
    let reply = post_json(&dhis2, "/api/tracker", &person("TePerson001", OU_FACILITY_1)).await;
    assert_eq!(reply.status, 200);
    let body = reply.json();
    assert_eq!(body["httpStatus"], "OK");
    assert_eq!(body["httpStatusCode"], 200);
    assert_eq!(body["status"], "OK");
    assert_eq!(body["message"], "Tracker job added");
    let id = body["response"]["id"].as_str().unwrap().to_owned();
    assert_eq!(body["response"]["location"], format!("{}/api/tracker/jobs/{id}", dhis2.base_url()));

    // Running: one notification, no report, nothing stored.
    let notifications = get(&dhis2, &format!("/api/tracker/jobs/{id}")).await.json();
    assert_eq!(notifications.as_array().unwrap().len(), 1);
    assert_eq!(notifications[0]["completed"], false);
    assert_eq!(notifications[0]["category"], "TRACKER_IMPORT_JOB");
    let early = get(&dhis2, &format!("/api/tracker/jobs/{id}/report")).await;
    assert_eq!(early.status, 404);
    assert_eq!(early.json()["status"], "ERROR");
    assert!(dhis2.tracked_entities().is_empty());

    let started = Instant::now();
    let report = loop {
        let reply = get(&dhis2, &format!("/api/tracker/jobs/{id}/report")).await;
        if reply.status == 200 {
            break reply.json();
        }
        assert!(started.elapsed() < Duration::from_secs(5), "the job never completed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(report["status"], "OK");
    assert_eq!(report["stats"]["created"], 3);
    let notifications = get(&dhis2, &format!("/api/tracker/jobs/{id}")).await.json();
    assert_eq!(notifications[0]["completed"], true, "newest first");
    assert_eq!(notifications[0]["level"], "INFO");
    assert_eq!(
        notifications[0]["message"],
        "Import complete with status OK, 3 created, 0 updated, 0 deleted, 0 ignored"
    );
    assert_eq!(notifications[1]["completed"], false);
    assert_eq!(dhis2.events().len(), 1);

    // Failed jobs report ERROR with HTTP 200; FULL adds timings.
    let reply = post_json(&dhis2, "/api/tracker?async=true", &person("TePerson002", "OrgMissing1")).await;
    let id = reply.json()["response"]["id"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(600)).await;
    let reply = get(&dhis2, &format!("/api/tracker/jobs/{id}/report?reportMode=FULL")).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["status"], "ERROR");
    assert!(reply.json()["timingsStats"].is_object());
    let notifications = get(&dhis2, &format!("/api/tracker/jobs/{id}")).await.json();
    assert!(notifications[0]["message"].as_str().unwrap().starts_with("Import complete with status ERROR"));

    assert_eq!(get(&dhis2, "/api/tracker/jobs/Job99999999/report").await.status, 404);
    assert_eq!(get(&dhis2, "/api/tracker/jobs/Job99999999").await.json(), json!([]));
    assert_eq!(DEFAULT_TRACKER_JOB_DELAY, Duration::from_millis(200));
}

#[tokio::test]
async fn bad_parameters_media_types_and_payloads_are_refused() {
    let dhis2 = Dhis2Double::start(Version::V2_43).await;
    for query in ["async=maybe", "importMode=DRY_RUN", "importStrategy=MERGE", "atomicMode=NONE", "reportMode=ALL"] {
        let reply = post_json(&dhis2, &format!("/api/tracker?{query}"), &person("TePerson001", OU_FACILITY_1)).await;
        assert_eq!(reply.status, 400, "{query}");
        let body = reply.json();
        assert_eq!((body["httpStatusCode"].as_u64(), body["status"].as_str()), (Some(400), Some("ERROR")));
    }
    // Undeserialisable payloads fail at once, async or not.
    for body in ["{oops", "[]", r#"{"trackedEntities": [{"orgUnit": 1}]}"#, r#"{"events": [{"occurredAt": "soon"}]}"#] {
        let reply = request(&dhis2, "POST", "/api/tracker", body).await;
        assert_eq!(reply.status, 400, "{body}");
        assert!(reply.json()["message"].as_str().unwrap().starts_with("JSON parse error"));
    }
    let auth = basic();
    let headers = [("Authorization", auth.as_str()), ("Content-Type", "text/csv")];
    let reply = send(&dhis2.base_url(), "POST", "/api/tracker", &headers, "a,b").await.unwrap();
    assert_eq!(reply.status, 415);
    assert!(dhis2.tracked_entities().is_empty());
    assert_eq!(dhis2.tracker_requests(), 10);
}

#[tokio::test]
async fn validate_mode_and_strategies_over_http() {
    let dhis2 = Dhis2Double::start(Version::V2_37).await;
    let reply =
        post_json(&dhis2, "/api/tracker?async=false&importMode=VALIDATE", &person("TePerson001", OU_FACILITY_1)).await;
    assert_eq!(reply.status, 200);
    assert!(dhis2.tracked_entities().is_empty());
    post_json(&dhis2, "/api/tracker?async=false", &person("TePerson001", OU_FACILITY_1)).await;
    let reply =
        post_json(&dhis2, "/api/tracker?async=false&importStrategy=CREATE", &person("TePerson001", OU_FACILITY_1))
            .await;
    assert_eq!(reply.status, 409);
    let codes: Vec<Value> = reply.json()["validationReport"]["errorReports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["errorCode"].clone())
        .collect();
    assert_eq!(codes, [json!("E1002"), json!("E1080"), json!("E1030")]);
    let delete = json!({ "trackedEntities": [{ "trackedEntity": "TePerson001" }] });
    let reply = post_json(&dhis2, "/api/tracker?async=false&importStrategy=DELETE", &delete).await;
    assert_eq!(reply.json()["stats"]["deleted"], 1);
    assert!(dhis2.enrollments().is_empty() && dhis2.events().is_empty());
}

#[tokio::test]
async fn faults_and_counters_cover_the_tracker_route() {
    let dhis2 = Dhis2Double::start(Version::V2_40).await;
    dhis2.fail_next(Fault::Status(502), 1);
    dhis2.fail_next(Fault::Reset, 1);
    let reply = post_json(&dhis2, "/api/tracker?async=false", &person("TePerson001", OU_FACILITY_1)).await;
    assert_eq!(reply.status, 502);
    let auth = basic();
    let headers = [("Authorization", auth.as_str()), ("Content-Type", "application/json")];
    let body = person("TePerson001", OU_FACILITY_1).to_string();
    assert!(send(&dhis2.base_url(), "POST", "/api/tracker?async=false", &headers, &body).await.is_err());
    // Polling is not a write request: it takes no fault.
    dhis2.fail_next(Fault::Status(503), 1);
    assert_eq!(get(&dhis2, "/api/tracker/jobs/Job99999999").await.status, 200);
    assert_eq!(post_json(&dhis2, "/api/tracker?async=false", &person("TePerson001", OU_FACILITY_1)).await.status, 503);
    assert_eq!(dhis2.tracker_requests(), 0, "faulted requests never reach the importer");
    assert_eq!(post_json(&dhis2, "/api/tracker?async=false", &person("TePerson001", OU_FACILITY_1)).await.status, 200);
    assert_eq!(dhis2.tracker_requests(), 1);
    assert_eq!(dhis2.import_requests(), 0);

    dhis2.set_latency(Duration::from_millis(150));
    let started = Instant::now();
    post_json(&dhis2, "/api/tracker?async=false", &person("TePerson002", OU_FACILITY_1)).await;
    assert!(started.elapsed() >= Duration::from_millis(150));
    dhis2.set_latency(Duration::ZERO);

    dhis2.set_down(true);
    assert!(send(&dhis2.base_url(), "POST", "/api/tracker", &headers, &body).await.is_err());
    dhis2.set_down(false);
    dhis2.reset_counters();
    assert_eq!(dhis2.tracker_requests(), 0);
    assert_eq!(dhis2.tracked_entities().len(), 2, "stored objects survive reset_counters");
}
