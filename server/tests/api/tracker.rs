//! Tracker submissions end to end: a partner posts tracked entities, enrollments and events
//! (with its own record ids), the gateway stores and delivers them to the DHIS2 test double,
//! synchronously or as a polled job, and the log tells what DHIS2 made of each record.

use std::time::Duration;

use dhis2_double::{Version, fixture};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use dhis2gw_test_support::*;

const FINAL: &[&str] = &["succeeded", "warning", "failed", "dead"];

/// A person with an enrollment and a visit, all sent by the partner's own ids.
fn person(patient: &str, visit_org_unit: &str) -> Value {
    json!({"trackedEntities": [{
        "ref": patient, "trackedEntityType": fixture::TET_PERSON, "orgUnit": fixture::OU_FACILITY_1,
        "attributes": [{"attribute": fixture::ATTR_PATIENT_ID, "value": patient}, {"attribute": fixture::ATTR_NAME, "value": "Akello"}],
        "enrollments": [{
            "ref": format!("{patient}-care"), "program": fixture::PROGRAM_CARE, "orgUnit": fixture::OU_FACILITY_1,
            "enrolledAt": "2024-01-02", "status": "ACTIVE",
            "events": [{"ref": format!("{patient}-visit-1"), "programStage": fixture::STAGE_VISIT, "orgUnit": visit_org_unit,
                        "occurredAt": "2024-01-02", "status": "COMPLETED",
                        "dataValues": [{"dataElement": fixture::DE_WEIGHT, "value": "61.5"}]}]
        }]
    }]})
}

#[tokio::test]
async fn records_sent_by_ref_are_delivered_once_and_a_resend_updates_them() {
    let p = pipeline(Version::V2_40, |_| {}).await;
    let accepted = p.submit_tracker(&person("P-1", fixture::OU_FACILITY_1)).await;
    assert_eq!(accepted["message"], "Tracker request with 3 objects queued for processing");
    let te = &accepted["payload"]["trackedEntities"][0];
    let uid = te["trackedEntity"].as_str().unwrap().to_string();
    assert!(te.get("ref").is_none(), "refs never reach DHIS2: {te}");
    let id = accepted["submission_id"].as_i64().unwrap();
    let log = p.settled(id, FINAL, Duration::from_secs(15)).await;
    assert_eq!((log["status"].as_str(), log["kind"].as_str()), (Some("succeeded"), Some("tracker")), "{log:#}");
    let attempt = &log["attempts"][0];
    assert_eq!(attempt["http_status"], 200);
    assert_eq!(attempt["import_count"]["imported"], 3, "{attempt:#}");
    assert!(attempt["request_url"].as_str().unwrap().contains("importStrategy=CREATE_AND_UPDATE"));
    assert_eq!(p.dhis2.tracked_entities().len(), 1);
    assert_eq!(p.dhis2.tracked_entities()[0]["trackedEntity"], uid.as_str());

    // The same records again (another submission, no Idempotency-Key): updated, not duplicated.
    let again = p.submit_tracker(&person("P-1", fixture::OU_FACILITY_1)).await;
    assert_eq!(again["payload"]["trackedEntities"][0]["trackedEntity"], uid.as_str());
    let log = p.settled(again["submission_id"].as_i64().unwrap(), FINAL, Duration::from_secs(15)).await;
    assert_eq!(log["status"], "succeeded", "{log:#}");
    assert_eq!(log["attempts"][0]["import_count"]["updated"], 3, "{log:#}");
    assert_eq!((p.dhis2.tracked_entities().len(), p.dhis2.enrollments().len(), p.dhis2.events().len()), (1, 1, 1));

    // A requeue sends the same UIDs.
    let r = p.app.request(Method::POST, &format!("/api/v2/logs/{id}/restart")).bearer_auth(&p.admin.jwt).send();
    expect_json(r.await.unwrap(), StatusCode::OK).await;
    let log = p.settled(id, FINAL, Duration::from_secs(15)).await;
    assert_eq!(log["dhis2_payload"]["trackedEntities"][0]["trackedEntity"], uid.as_str());
    assert_eq!(p.dhis2.tracked_entities().len(), 1);
}

#[tokio::test]
async fn dhis2_rejections_are_named_by_the_partners_own_record_ids() {
    let p = pipeline(Version::V2_43, |_| {}).await;
    // The district is not assigned to the program: DHIS2 rejects the event (atomicMode ALL).
    let accepted = p.submit_tracker(&person("P-2", fixture::OU_DISTRICT)).await;
    let log = p.settled(accepted["submission_id"].as_i64().unwrap(), FINAL, Duration::from_secs(15)).await;
    assert_eq!(log["status"], "failed", "not retried: sending it again cannot help: {log:#}");
    let attempt = &log["attempts"][0];
    assert_eq!(attempt["http_status"], 409);
    let conflicts = attempt["conflicts"].as_array().unwrap();
    let rejected =
        conflicts.iter().find(|c| c["partner_keys"] == json!(["P-2-visit-1"])).unwrap_or_else(|| panic!("{attempt:#}"));
    assert_eq!(rejected["error_code"], "E1029", "{rejected}");
    assert!(log["errors"].as_str().is_some_and(|e| !e.is_empty()));
    assert!(p.dhis2.tracked_entities().is_empty(), "atomic: nothing stored");
}

#[tokio::test]
async fn large_payloads_go_as_dhis2_jobs_that_are_polled_until_done() {
    let p = pipeline(Version::V2_40, |c| c.api.tracker_async_threshold = 100).await;
    p.dhis2.set_tracker_job_delay(Duration::from_millis(600));
    let accepted = p.submit_tracker(&person("P-3", fixture::OU_FACILITY_2)).await;
    let log = p.settled(accepted["submission_id"].as_i64().unwrap(), FINAL, Duration::from_secs(15)).await;
    assert_eq!(log["status"], "succeeded", "{log:#}");
    let attempt = &log["attempts"][0];
    assert!(attempt["request_url"].as_str().unwrap().contains("async=true"), "{attempt}");
    assert_eq!(attempt["import_count"]["imported"], 3, "the job's report is what is kept: {attempt:#}");
    let polled = p.dhis2.requests().iter().filter(|r| r.path.starts_with("/api/tracker/jobs/")).count();
    assert!(polled >= 2, "the job was polled, then its report fetched ({polled} requests)");
    assert_eq!(p.dhis2.events().len(), 1);
}

#[tokio::test]
async fn the_edge_refuses_what_dhis2_would_and_validate_stores_nothing() {
    let p = pipeline(Version::V2_40, |_| {}).await;
    let bad = json!({"trackedEntities": [{"trackedEntity": "not-a-uid", "orgUnit": fixture::OU_FACILITY_1,
        "enrollments": [{"ref": "E", "program": fixture::PROGRAM_CARE, "orgUnit": fixture::OU_FACILITY_1, "enrolledAt": "yesterday"}]}],
        "events": [{"ref": "V", "programStage": fixture::STAGE_EVENT, "orgUnit": fixture::OU_FACILITY_1}]});
    let body = expect_error(p.post_tracker(&bad, "").await, StatusCode::BAD_REQUEST).await;
    let problems = details(&body);
    for expected in [
        "trackedEntities[0].trackedEntity: not a DHIS2 UID",
        "trackedEntities[0].trackedEntityType: is required",
        "trackedEntities[0].enrollments[0].enrolledAt: a date",
        "events[0].occurredAt: is required",
    ] {
        assert!(problems.iter().any(|d| d.starts_with(expected)), "{expected} in {problems:#?}");
    }
    expect_error(p.post_tracker(&json!({"trackedEntities": "x"}), "").await, StatusCode::BAD_REQUEST).await;
    expect_error(
        p.post_tracker(&person("P", fixture::OU_FACILITY_1), "?importMode=MAYBE").await,
        StatusCode::BAD_REQUEST,
    )
    .await;

    let checked = p.post_tracker(&person("P-4", fixture::OU_DISTRICT), "?importMode=VALIDATE").await;
    let checked = expect_json(checked, StatusCode::OK).await;
    assert_eq!(checked["dhis2"]["http_status"], 409, "{checked:#}");
    assert_eq!(checked["dhis2"]["conflicts"][0]["partner_keys"], json!(["P-4-visit-1"]), "{checked:#}");
    let ok = expect_json(
        p.post_tracker(&person("P-4", fixture::OU_FACILITY_1), "?importMode=VALIDATE").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(ok["dhis2"]["import_status"], "OK", "{ok:#}");
    assert!(p.dhis2.tracked_entities().is_empty());
    let logs = p.app.request(Method::GET, "/api/v2/logs").bearer_auth(&p.admin.jwt).send().await.unwrap();
    assert_eq!(expect_json(logs, StatusCode::OK).await["total"], 0, "validation stores nothing");

    // The same Idempotency-Key and body give the first answer.
    let post = |key: &'static str| {
        p.app
            .request(Method::POST, "/api/v2/tracker")
            .header("Authorization", format!("Token {}", p.partner_token))
            .header("Idempotency-Key", key)
            .json(&person("P-5", fixture::OU_FACILITY_1))
            .send()
    };
    let first = expect_json(post("emr-P-5").await.unwrap(), StatusCode::OK).await;
    let repeat = expect_json(post("emr-P-5").await.unwrap(), StatusCode::OK).await;
    assert_eq!(first["submission_id"], repeat["submission_id"]);
}
