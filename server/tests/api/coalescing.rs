//! Coalescing: a partner's waiting submissions of one data set go to DHIS2 in one request, and
//! each still ends exactly as it would have alone: status, counts, conflicts on its own keys,
//! values refused and stored. Each scenario runs twice against fresh doubles, with coalescing
//! off and on, in the three response regimes (2.37, where it stays off; 2.40; 2.43).

use std::time::Duration;

use dhis2_double::{Fault, Version, fixture};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use dhis2gw_test_support::*;

/// One submission: org unit, period and values by partner key.
type Posted = (&'static str, &'static str, Value);

/// Clean values, one value DHIS2 refuses (not a number) among them, and a correction of the
/// first submission's org unit and period, which must reach DHIS2 after it.
fn with_a_bad_value() -> Vec<Posted> {
    vec![
        (fixture::OU_FACILITY_1, "202401", json!({"tests_male": 10, "positives": 2})),
        (fixture::OU_FACILITY_2, "202401", json!({"positives": "not a number", "remarks": "ok"})),
        (fixture::OU_FACILITY_1, "202402", json!({"tests_female": 5})),
        (fixture::OU_FACILITY_3, "202401", json!({"tests_male": 7, "tests_female": 8})),
        (fixture::OU_FACILITY_2, "202402", json!({"positives": 4})),
        (fixture::OU_FACILITY_1, "202401", json!({"positives": 3})),
    ]
}

/// A data element outside the data set: one value refused on 2.38–2.42, the whole data-set
/// group on 2.43, whatever else the request holds.
fn with_an_element_outside_the_data_set() -> Vec<Posted> {
    vec![
        (fixture::OU_FACILITY_1, "202403", json!({"positives": 1})),
        (fixture::OU_FACILITY_2, "202403", json!({"orphan": 1, "positives": 2})),
        (fixture::OU_FACILITY_3, "202403", json!({"tests_male": 3})),
    ]
}

/// What a submission ended as, with everything that must not depend on coalescing.
#[derive(Debug, PartialEq)]
struct Ending {
    status: Value,
    import_status: Value,
    import_count: Value,
    conflicts: Vec<(Value, Value, Value)>,
    values: Vec<(Value, Value)>,
}

/// What one run left: each submission's ending, the values DHIS2 holds, how many imports it
/// was asked for, and each submission's attempts.
struct Run {
    endings: Vec<Ending>,
    stored: Vec<Option<String>>,
    imports: usize,
    attempts: Vec<Vec<Value>>,
}

impl Run {
    fn last_attempts(&self) -> Vec<&Value> {
        self.attempts.iter().map(|a| a.last().unwrap()).collect()
    }
}

/// Posts `posted` while the primary is switched off, switches it on, and waits for all; the
/// first `errors` imports get HTTP 500.
async fn run(version: Version, coalesce: u32, posted: &[Posted], errors: usize) -> Run {
    let p = pipeline(version, |c| {
        c.api.dhis2_coalesce_max_values = coalesce;
        // Two workers: deliveries racing for the same waiting submissions.
        c.server.max_concurrent = 1;
    })
    .await;
    let body = json!({"code": "orphan", "dataElement": fixture::DE_ORPHAN});
    expect_json(p.call(Method::POST, "/api/v2/mappings", Some(body)).await, StatusCode::CREATED).await;
    let servers = expect_json(p.call(Method::GET, "/api/v2/servers", None).await, StatusCode::OK).await;
    let primary = servers.as_array().unwrap().iter().find(|s| s["is_primary"] == true).unwrap()["uid"].clone();
    let primary = format!("/api/v2/servers/{}", primary.as_str().unwrap());
    expect_json(p.call(Method::PUT, &primary, Some(json!({"enabled": false}))).await, StatusCode::OK).await;
    let mut ids = Vec::new();
    for (org_unit, period, values) in posted {
        let body =
            json!({"orgUnit": org_unit, "period": period, "dataSet": fixture::DS_MONTHLY_HIV, "dataValues": values});
        let accepted = expect_json(p.post(&body).await, StatusCode::OK).await;
        ids.push(accepted["submission_id"].as_i64().unwrap());
    }
    if errors > 0 {
        p.dhis2.fail_next(Fault::Status(500), errors);
    }
    expect_json(p.call(Method::PUT, &primary, Some(json!({"enabled": true}))).await, StatusCode::OK).await;
    let mut endings = Vec::new();
    let mut attempts = Vec::new();
    for id in ids {
        let log = p.settled(id, FINAL, Duration::from_secs(30)).await;
        let attempt = log["attempts"].as_array().unwrap().last().unwrap().clone();
        let conflicts = attempt["conflicts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["partner_keys"].clone(), c["error_code"].clone(), c["message"].clone()))
            .collect();
        let mut values: Vec<(Value, Value)> = log["values"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|v| (v["partner_key"].clone(), v["outcome"].clone()))
            .collect();
        values.sort_by_key(|(key, _)| key.to_string());
        endings.push(Ending {
            status: log["status"].clone(),
            import_status: attempt["import_status"].clone(),
            import_count: attempt["import_count"].clone(),
            conflicts,
            values,
        });
        attempts.push(log["attempts"].as_array().unwrap().clone());
    }
    let mut stored = Vec::new();
    for ou in [fixture::OU_FACILITY_1, fixture::OU_FACILITY_2, fixture::OU_FACILITY_3] {
        for pe in ["202401", "202402", "202403"] {
            for (de, coc) in [
                (fixture::DE_HIV_TESTS, fixture::COC_MALE),
                (fixture::DE_HIV_TESTS, fixture::COC_FEMALE),
                (fixture::DE_POSITIVES, fixture::DEFAULT_COC),
                (fixture::DE_REMARKS, fixture::DEFAULT_COC),
                (fixture::DE_ORPHAN, fixture::DEFAULT_COC),
            ] {
                stored.push(p.dhis2.value(de, pe, ou, coc).map(|v| v.value));
            }
        }
    }
    Run { endings, stored, imports: p.dhis2.import_requests(), attempts }
}

/// Runs `posted` alone and coalesced on `version`, the first `errors` imports failing; both
/// must end alike. Returns both runs.
async fn alike(version: Version, posted: &[Posted], errors: usize) -> (Run, Run) {
    let alone = run(version, 0, posted, errors).await;
    let together = run(version, 100, posted, errors).await;
    assert_eq!(together.endings, alone.endings, "{version:?}: coalescing changed an outcome");
    assert_eq!(together.stored, alone.stored, "{version:?}: DHIS2 holds other values");
    // Faulted requests never reach the double's import.
    assert_eq!(alone.imports, posted.len(), "{version:?}: one import per submission without coalescing");
    (alone, together)
}

#[tokio::test]
async fn on_2_40_submissions_go_together_and_each_ends_as_it_would_alone() {
    let posted = with_a_bad_value();
    let (alone, together) = alike(Version::V2_40, &posted, 0).await;
    let statuses: Vec<&str> = alone.endings.iter().map(|e| e.status.as_str().unwrap()).collect();
    assert_eq!(statuses, ["succeeded", "warning", "succeeded", "succeeded", "succeeded", "succeeded"]);
    assert_eq!(alone.endings[1].conflicts[0].0, json!(["positives"]), "the bad value is on its own key");
    // Two workers race for the waiting submissions, and the correction waits for what it
    // corrects: a few requests, not six.
    assert!(together.imports <= 3, "{} requests for {} submissions", together.imports, posted.len());
    let last = together.last_attempts();
    let shared = last.iter().filter(|a| a["batch"]["members"].as_i64() > Some(1)).count();
    assert!(shared >= 3, "{last:#?}");
    assert!(together.attempts.iter().all(|a| a.len() == 1), "nothing was sent twice");
    let bad = last[1];
    if bad["batch"].is_object() {
        // Its own values as sent, each with its org unit and period; DHIS2's whole answer.
        let sent = bad["request_payload"]["dataValues"].as_array().unwrap();
        assert_eq!(sent.len(), 2);
        assert!(sent.iter().all(|v| v["orgUnit"] == fixture::OU_FACILITY_2 && v["period"] == "202401"));
        // Exact unless the correction went in the same request (once what it corrects was
        // final), which made it store values both new and updated.
        assert!(bad["batch"]["counts_exact"].is_boolean(), "{bad:#}");
    }
}

#[tokio::test]
async fn on_2_43_a_bad_value_is_divided_and_a_group_refused_whole_sends_each_again_alone() {
    let (_, together) = alike(Version::V2_43, &with_a_bad_value(), 0).await;
    assert!(together.imports <= 3, "{} requests", together.imports);

    let posted = with_an_element_outside_the_data_set();
    let (alone, together) = alike(Version::V2_43, &posted, 0).await;
    let statuses: Vec<&str> = alone.endings.iter().map(|e| e.status.as_str().unwrap()).collect();
    assert_eq!(statuses, ["succeeded", "failed", "succeeded"]);
    // The request holding the orphan was refused whole: each of its members has that attempt
    // on record and went again alone; the others were divided. One request more at most.
    assert!(together.imports <= posted.len() + 1, "{} requests", together.imports);
    let orphan = &together.attempts[1];
    if orphan[0]["batch"]["members"].as_i64() > Some(1) {
        assert_eq!(orphan.len(), 2, "{orphan:#?}");
        assert_eq!(orphan[0]["outcome"], "retry");
        assert!(orphan[0]["error"].as_str().unwrap().contains("refused that request as a whole"), "{orphan:#?}");
        assert!(orphan[1]["batch"].is_null());
        assert_eq!(together.imports, posted.len() + 1);
    }
}

#[tokio::test]
async fn on_2_40_an_element_outside_the_data_set_refuses_only_its_value() {
    let (alone, together) = alike(Version::V2_40, &with_an_element_outside_the_data_set(), 0).await;
    assert_eq!(alone.endings[1].status, "warning");
    assert!(together.imports < 3, "{} requests", together.imports);
}

#[tokio::test]
async fn a_request_that_fails_on_the_way_is_each_members_retry() {
    // Two: with two workers racing, at least one of the first two requests carries several.
    let (_, together) = alike(Version::V2_40, &with_a_bad_value(), 2).await;
    let failed: Vec<&Vec<Value>> =
        together.attempts.iter().filter(|a| a[0]["http_status"] == 500 && a[0]["batch"].is_object()).collect();
    assert!(failed.len() >= 2, "the failed request carried several: {:#?}", together.attempts);
    for attempts in failed {
        assert_eq!(attempts[0]["outcome"], "retry");
        assert!(attempts.len() >= 2 && attempts.last().unwrap()["outcome"] != "retry", "{attempts:#?}");
    }
}

#[tokio::test]
async fn before_2_38_each_submission_goes_alone_whatever_is_configured() {
    let posted = with_a_bad_value();
    let (_, together) = alike(Version::V2_37, &posted, 0).await;
    assert_eq!(together.imports, posted.len());
    assert!(together.last_attempts().iter().all(|a| a["batch"].is_null()));
}

#[tokio::test]
async fn coalesce_max_values_is_checked_and_kept_per_server() {
    let p = pipeline(Version::V2_40, |_| {}).await;
    let other = dhis2_double::Dhis2Double::start(Version::V2_43).await;
    let server = json!({"name": "hmis", "base_url": other.base_url(), "username": dhis2_double::USERNAME,
        "password": dhis2_double::PASSWORD, "coalesce_max_values": 1});
    let refused =
        expect_error(p.call(Method::POST, "/api/v2/servers", Some(server.clone())).await, StatusCode::BAD_REQUEST)
            .await;
    assert!(details(&refused).iter().any(|d| d.starts_with("coalesce_max_values:")), "{refused}");
    let mut server = server;
    server["coalesce_max_values"] = json!(500);
    let created = expect_json(p.call(Method::POST, "/api/v2/servers", Some(server)).await, StatusCode::CREATED).await;
    assert_eq!(created["coalesce_max_values"], 500);
    let uid = created["uid"].as_str().unwrap();
    let path = format!("/api/v2/servers/{uid}");
    let too_many = p.call(Method::PUT, &path, Some(json!({"coalesce_max_values": 10001}))).await;
    expect_error(too_many, StatusCode::BAD_REQUEST).await;
    let off =
        expect_json(p.call(Method::PUT, &path, Some(json!({"coalesce_max_values": 0}))).await, StatusCode::OK).await;
    assert_eq!(off["coalesce_max_values"], 0);
}
