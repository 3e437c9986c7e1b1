//! The DHIS2-compatible API: a client built for DHIS2, pointed at `<gateway>/dhis2`, posts
//! and reads as if it were DHIS2, and its data goes through the gateway's queue.

use std::time::Duration;

use dhis2_double::{Version, fixture};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use dhis2gw_test_support::*;

fn data_value_set(value: &str) -> Value {
    json!({"dataSet": fixture::DS_MONTHLY_HIV, "period": "202402", "orgUnit": fixture::OU_FACILITY_1,
           "dataValues": [{"dataElement": fixture::DE_POSITIVES, "value": value}]})
}

#[tokio::test]
async fn a_synchronous_post_returns_dhis2s_own_answer_and_is_logged() {
    let p = pipeline(Version::V2_40, |_| {}).await;
    let answer = p.dhis2_client(Method::POST, "dataValueSets").json(&data_value_set("4")).send().await.unwrap();
    let answer = expect_json(answer, StatusCode::OK).await;
    assert_eq!(answer["httpStatusCode"], 200, "DHIS2's envelope: {answer}");
    assert_eq!(answer["response"]["importCount"]["imported"], 1);
    let stored = p.dhis2.value(fixture::DE_POSITIVES, "202402", fixture::OU_FACILITY_1, fixture::DEFAULT_COC);
    assert_eq!(stored.map(|v| v.value), Some("4".into()));
    let logs = p.app.request(Method::GET, "/api/v2/logs").bearer_auth(&p.admin.jwt).send().await.unwrap();
    let logs = expect_json(logs, StatusCode::OK).await;
    assert_eq!((logs["total"].as_i64(), logs["items"][0]["status"].as_str()), (Some(1), Some("succeeded")));
    // Data sent in DHIS2's own terms is requeued as it was sent.
    let id = logs["items"][0]["id"].as_i64().unwrap();
    let again = p.app.request(Method::POST, &format!("/api/v2/logs/{id}/restart")).bearer_auth(&p.admin.jwt).send();
    assert_eq!(expect_json(again.await.unwrap(), StatusCode::OK).await["reEnqueued"], 1);
    let log = p.settled(id, &["succeeded", "warning", "failed", "dead"], Duration::from_secs(15)).await;
    assert_eq!(log["status"], "succeeded", "{log:#}");
    assert_eq!(log["attempts"].as_array().unwrap().len(), 2);

    // Id schemes go to DHIS2 as sent; a rejection is DHIS2's 409, verbatim.
    let by_code = json!({"dataSet": fixture::DS_MONTHLY_HIV_CODE, "period": "202403", "orgUnit": fixture::OU_FACILITY_1_CODE,
        "dataValues": [{"dataElement": fixture::DE_POSITIVES_CODE, "value": "6"}]});
    let answer = p.dhis2_client(Method::POST, "dataValueSets?idScheme=code").json(&by_code).send().await.unwrap();
    assert_eq!(expect_json(answer, StatusCode::OK).await["response"]["importCount"]["imported"], 1);
    assert!(p.dhis2.value(fixture::DE_POSITIVES, "202403", fixture::OU_FACILITY_1, fixture::DEFAULT_COC).is_some());
    let orphan = json!({"dataSet": fixture::DS_MONTHLY_HIV, "period": "202404", "orgUnit": fixture::OU_FACILITY_1,
        "dataValues": [{"dataElement": "NoSuchDE01", "value": "1"}]});
    let rejected = p.dhis2_client(Method::POST, "dataValueSets").json(&orphan).send().await.unwrap();
    let rejected = expect_json(rejected, StatusCode::CONFLICT).await;
    assert_eq!(rejected["response"]["responseType"], "ImportSummary", "{rejected}");

    // DHIS2 clients configured with a username and password send Basic: the partner's own.
    let basic = p.app.request(Method::POST, "/dhis2/api/dataValueSets").basic_auth("emr", Some(PASSWORD));
    let answer = basic.json(&data_value_set("5")).send().await.unwrap();
    assert_eq!(expect_json(answer, StatusCode::OK).await["response"]["importCount"]["updated"], 1);

    // DHIS2's CSV format works too.
    let csv = format!(
        "dataelement,period,orgunit,categoryoptioncombo,attributeoptioncombo,value\n{},202405,{},,,21\n",
        fixture::DE_POSITIVES,
        fixture::OU_FACILITY_2
    );
    let answer = p
        .dhis2_client(Method::POST, "dataValueSets")
        .header("Content-Type", "application/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(expect_json(answer, StatusCode::OK).await["response"]["importCount"]["imported"], 1);
    let stored = p.dhis2.value(fixture::DE_POSITIVES, "202405", fixture::OU_FACILITY_2, fixture::DEFAULT_COC);
    assert_eq!(stored.map(|v| v.value), Some("21".into()));

    // Bad input is a 400 in DHIS2's shape; so is bad auth (401).
    let bad = p
        .dhis2_client(Method::POST, "dataValueSets")
        .json(&json!({"dataValues": [{"value": "1"}]}))
        .send()
        .await
        .unwrap();
    let bad = expect_json(bad, StatusCode::BAD_REQUEST).await;
    assert!(bad["message"].as_str().unwrap().contains("dataValues[0].dataElement: is required"), "{bad}");
    let anonymous =
        p.app.request(Method::POST, "/dhis2/api/dataValueSets").json(&data_value_set("1")).send().await.unwrap();
    let anonymous = expect_json(anonymous, StatusCode::UNAUTHORIZED).await;
    assert_eq!((anonymous["httpStatusCode"].as_i64(), anonymous["status"].as_str()), (Some(401), Some("ERROR")));
}

#[tokio::test]
async fn while_dhis2_is_down_posts_are_queued_and_their_jobs_end_with_dhis2s_summary() {
    let p = pipeline(Version::V2_40, |c| c.server.dhis2_api_sync_wait = 1).await;
    p.dhis2.set_down(true);
    let queued = p.dhis2_client(Method::POST, "dataValueSets").json(&data_value_set("9")).send().await.unwrap();
    let queued = expect_json(queued, StatusCode::ACCEPTED).await;
    assert_eq!(queued["response"]["jobType"], "DATAVALUE_IMPORT", "{queued}");
    let endpoint =
        queued["response"]["relativeNotifierEndpoint"].as_str().unwrap().trim_start_matches("/api/").to_string();
    let job = queued["response"]["id"].as_str().unwrap().to_string();
    let waiting = expect_json(p.dhis2_client(Method::GET, &endpoint).send().await.unwrap(), StatusCode::OK).await;
    assert_eq!(waiting[0]["completed"], false, "{waiting}");
    let no_summary =
        p.dhis2_client(Method::GET, &format!("system/taskSummaries/DATAVALUE_IMPORT/{job}")).send().await.unwrap();
    expect_json(no_summary, StatusCode::NOT_FOUND).await;

    // Asynchronous posts answer at once, as DHIS2 does.
    let started =
        p.dhis2_client(Method::POST, "dataValueSets?async=true").json(&data_value_set("10")).send().await.unwrap();
    let started = expect_json(started, StatusCode::OK).await;
    assert!(started["message"].as_str().unwrap().starts_with("Initiated DATAVALUE_IMPORT"), "{started}");

    p.dhis2.set_down(false);
    let notes = p.completed(&endpoint).await;
    assert!(notes[0]["message"].as_str().unwrap().starts_with("Import complete with status SUCCESS"), "{notes}");
    let summary =
        p.dhis2_client(Method::GET, &format!("system/taskSummaries/DATAVALUE_IMPORT/{job}")).send().await.unwrap();
    let summary = expect_json(summary, StatusCode::OK).await;
    assert_eq!(
        (summary["responseType"].as_str(), summary["status"].as_str()),
        (Some("ImportSummary"), Some("SUCCESS"))
    );
    let other_job = started["response"]["id"].as_str().unwrap();
    p.completed(&format!("system/tasks/DATAVALUE_IMPORT/{other_job}")).await;
    assert_eq!(
        p.dhis2
            .value(fixture::DE_POSITIVES, "202402", fixture::OU_FACILITY_1, fixture::DEFAULT_COC)
            .map(|v| v.times_written),
        Some(2)
    );

    // The log finds the import by the job id its client was given, by filter and by search.
    for query in [format!("job_id={other_job}"), format!("q={other_job}")] {
        let page = p.get_as_admin(&format!("/api/v2/logs?{query}")).await;
        assert_eq!(page["total"], 1, "{query}: {page}");
        assert_eq!(page["items"][0]["job_id"], other_job, "{query}");
    }

    // Another partner's job is not found.
    let stranger = p.app.user("stranger", dhis2gw_wire::Role::Partner).await;
    let r =
        p.app.request(Method::GET, &format!("/dhis2/api/{endpoint}")).bearer_auth(&stranger.jwt).send().await.unwrap();
    expect_json(r, StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn tracker_jobs_and_metadata_reads_work_like_dhis2_and_the_rest_is_a_clear_404() {
    let p = pipeline(Version::V2_43, |_| {}).await;
    let payload = json!({"trackedEntities": [{"trackedEntity": "TeiPerson01", "trackedEntityType": fixture::TET_PERSON,
        "orgUnit": fixture::OU_FACILITY_1, "attributes": [{"attribute": fixture::ATTR_PATIENT_ID, "value": "X-1"}]}]});
    let added =
        expect_json(p.dhis2_client(Method::POST, "tracker").json(&payload).send().await.unwrap(), StatusCode::OK).await;
    assert_eq!(added["message"], "Tracker job added", "{added}");
    let job = added["response"]["id"].as_str().unwrap();
    assert!(added["response"]["location"].as_str().unwrap().ends_with(&format!("/dhis2/api/tracker/jobs/{job}")));
    p.completed(&format!("tracker/jobs/{job}")).await;
    let report = p.dhis2_client(Method::GET, &format!("tracker/jobs/{job}/report")).send().await.unwrap();
    let report = expect_json(report, StatusCode::OK).await;
    assert_eq!((report["status"].as_str(), report["stats"]["created"].as_i64()), (Some("OK"), Some(1)), "{report}");
    let sync = p.dhis2_client(Method::POST, "tracker?async=false").json(&payload).send().await.unwrap();
    assert_eq!(expect_json(sync, StatusCode::OK).await["stats"]["updated"], 1);

    let info = expect_json(p.dhis2_client(Method::GET, "system/info.json").send().await.unwrap(), StatusCode::OK).await;
    assert!(info["version"].as_str().unwrap().starts_with("2.43"));
    let sets = p.dhis2_client(Method::GET, "dataSets.json?fields=id,name&paging=false").send().await.unwrap();
    let sets = expect_json(sets, StatusCode::OK).await;
    assert!(sets["dataSets"].as_array().unwrap().iter().any(|d| d["id"] == fixture::DS_MONTHLY_HIV), "{sets}");
    let units = p.dhis2_client(Method::GET, "organisationUnits?filter=level:eq:4&fields=id").send().await.unwrap();
    assert_eq!(expect_json(units, StatusCode::OK).await["organisationUnits"].as_array().unwrap().len(), 3);
    // With DHIS2 down, what was read before is still served.
    p.dhis2.set_down(true);
    let cached = p.dhis2_client(Method::GET, "dataSets.json?fields=id,name&paging=false").send().await.unwrap();
    assert_eq!(expect_json(cached, StatusCode::OK).await, sets);
    let uncached = p.dhis2_client(Method::GET, "dataElements.json").send().await.unwrap();
    let uncached = expect_json(uncached, StatusCode::SERVICE_UNAVAILABLE).await;
    assert!(uncached["message"].as_str().unwrap().contains("nothing is cached"), "{uncached}");

    for (method, path) in [(Method::GET, "events"), (Method::POST, "metadata"), (Method::DELETE, "dataValueSets")] {
        let r = p.dhis2_client(method.clone(), path).send().await.unwrap();
        let body = expect_json(r, StatusCode::NOT_FOUND).await;
        assert!(
            body["message"].as_str().unwrap().starts_with("Not supported by the dhis2gw gateway"),
            "{method} {path}: {body}"
        );
    }
}

/// Runs one step of the dhis2.py client script; returns the JSON line it printed.
fn dhis2_py(base_url: &str, token: &str, step: &[&str]) -> Value {
    let python = std::env::var("DHIS2GW_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/dhis2py_client.py");
    let out = std::process::Command::new(&python)
        .arg(script)
        .args([base_url, token])
        .args(step)
        .output()
        .unwrap_or_else(|e| panic!("{python}: {e}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "dhis2.py step {step:?} failed (packaging/dev.sh test installs dhis2.py and sets DHIS2GW_TEST_PYTHON):\n{stderr}"
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

/// The acceptance: an unmodified DHIS2 client library, given only the gateway URL and a
/// partner token, reads metadata and posts; with DHIS2 stopped its post is queued, and when
/// DHIS2 is back the data arrives and the client's task polling shows the final summary.
#[tokio::test]
async fn an_unmodified_dhis2_client_library_works_through_the_gateway_even_while_dhis2_is_down() {
    let p = pipeline(Version::V2_40, |c| c.server.dhis2_api_sync_wait = 1).await;
    let base = p.app.url("/dhis2");
    let token = p.partner_token.clone();
    let first = {
        let (base, token) = (base.clone(), token.clone());
        tokio::task::spawn_blocking(move || dhis2_py(&base, &token, &["read-and-post"])).await.unwrap()
    };
    assert!(first["version"].as_str().unwrap().starts_with("2.40"), "{first}");
    assert!(first["data_sets"]["dataSets"].as_array().is_some_and(|d| !d.is_empty()), "{first}");
    assert_eq!(first["sync"]["response"]["importCount"]["imported"], 1, "{first}");
    assert_eq!(first["summary"]["status"], "SUCCESS", "{first}");

    p.dhis2.set_down(true);
    let queued = {
        let (base, token) = (base.clone(), token.clone());
        tokio::task::spawn_blocking(move || dhis2_py(&base, &token, &["post-while-down"])).await.unwrap()
    };
    assert_eq!(queued["status"], 202, "{queued}");
    let job = queued["body"]["response"]["id"].as_str().unwrap().to_string();
    assert!(p.dhis2.value(fixture::DE_POSITIVES, "202407", fixture::OU_FACILITY_1, fixture::DEFAULT_COC).is_none());
    p.dhis2.set_down(false);
    let done = tokio::task::spawn_blocking(move || dhis2_py(&base, &token, &["wait-for", &job])).await.unwrap();
    assert_eq!(done["summary"]["status"], "SUCCESS", "{done}");
    assert!(done["notes"][0]["message"].as_str().unwrap().starts_with("Import complete with status SUCCESS"));
    let stored = p.dhis2.value(fixture::DE_POSITIVES, "202407", fixture::OU_FACILITY_1, fixture::DEFAULT_COC);
    assert_eq!(stored.map(|v| v.value), Some("13".into()));
}
