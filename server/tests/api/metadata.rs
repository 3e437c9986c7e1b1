//! DHIS2's metadata in the gateway: synced from the double (first, incremental, while DHIS2 is
//! down), and submissions checked against it at the door as a strict DHIS2 would.

use dhis2_double::{Version, fixture};
use dhis2gw_test_support::*;
use dhis2gw_wire::IntakeValidation;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn synced(p: &Pipeline) -> Value {
    expect_json(p.sync_metadata().await, StatusCode::OK).await
}

/// A gateway whose hierarchy (facilities at level 4) and metadata are synced, with a mapping
/// whose category option combo belongs to another combo.
async fn checked_pipeline(adjust: impl FnOnce(&mut dhis2gw::infra::config::Config)) -> Pipeline {
    let p = pipeline(Version::V2_43, |c| {
        c.api.dhis2_facility_level = 4;
        adjust(c);
    })
    .await;
    let wrong = json!({"code": "positives_male", "what": "de", "dataElement": fixture::DE_POSITIVES,
                       "categoryOptionCombo": fixture::COC_MALE, "dataSet": fixture::DS_MONTHLY_HIV});
    expect_json(p.call(Method::POST, "/api/v2/mappings", Some(wrong)).await, StatusCode::CREATED).await;
    expect_json(p.sync_org_units().await, StatusCode::OK).await;
    synced(&p).await;
    p
}

fn codes(details: &[String]) -> Vec<(String, String)> {
    details
        .iter()
        .map(|d| {
            let field = d.split(':').next().unwrap().to_string();
            let code = d.split("(DHIS2 ").nth(1).map(|c| c[..5].to_string()).unwrap_or_default();
            (field, code)
        })
        .collect()
}

#[tokio::test]
async fn the_copy_is_synced_whole_then_incrementally_and_outlives_dhis2_being_down() {
    let p = pipeline(Version::V2_43, |_| {}).await;
    let before = p.get_as_admin("/api/v2/metadata").await;
    assert_eq!(before["validation_on"], false);
    assert!(before["reason"].as_str().unwrap().contains("not been synced"), "{before}");
    // Before the first sync nothing is checked: DHIS2 decides, as before.
    let id = p.submit(json!({"positives": "-1"})).await;
    assert_eq!(p.settled(id, FINAL, std::time::Duration::from_secs(15)).await["status"], "failed");

    let first = synced(&p).await;
    assert_eq!(first["incremental"], false);
    assert_eq!(first["changed"], json!({"categoryCombos": 2, "dataElements": 17, "dataSets": 3, "optionSets": 1}));
    let second = synced(&p).await;
    assert_eq!(second["incremental"], true);
    assert_eq!(second["changed"], json!({"categoryCombos": 0, "dataElements": 0, "dataSets": 0, "optionSets": 0}));
    let incremental = p.dhis2.requests().into_iter().filter(|r| r.query.contains("lastUpdated:gt:")).count();
    assert!(incremental >= 3, "the second sync asked only for what changed");

    p.dhis2.withdraw_data_set(fixture::OU_FACILITY_2, fixture::DS_MONTHLY_HIV);
    let third = synced(&p).await;
    assert_eq!(third["changed"]["dataSets"], 1);
    let status = p.get_as_admin("/api/v2/metadata").await;
    assert_eq!((status["validation_on"].as_bool(), status["data_sets"].as_i64()), (Some(true), Some(3)), "{status}");
    assert_eq!((status["data_elements"].as_i64(), status["option_sets"].as_i64()), (Some(17), Some(1)));

    p.dhis2.set_down(true);
    let failed = expect_error(p.sync_metadata().await, StatusCode::SERVICE_UNAVAILABLE).await;
    assert!(failed["error"].as_str().unwrap().starts_with("Metadata sync failed"), "{failed}");
    let status = p.get_as_admin("/api/v2/metadata").await;
    assert_eq!(status["validation_on"], true, "the copy from before is kept");
    assert!(status["last_error"].as_str().is_some(), "{status}");
    let body = json!({"orgUnit": fixture::OU_FACILITY_2, "period": "202401", "dataSet": fixture::DS_MONTHLY_HIV,
                      "dataValues": {"positives": 3}});
    let refused = expect_error(p.post(&body).await, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(codes(&details(&refused)), [("orgUnit".to_string(), "E8022".to_string())]);
    let audit = p.get_as_admin("/api/v2/audit?action=metadata.sync").await;
    assert_eq!(audit["total"], 3, "each sync an admin asked for is audited: {audit}");
}

#[tokio::test]
async fn one_answer_names_every_key_dhis2_would_refuse_and_nothing_reaches_dhis2() {
    let p = checked_pipeline(|_| {}).await;
    p.dhis2.withdraw_data_set(fixture::OU_FACILITY_2, fixture::DS_MONTHLY_HIV);
    synced(&p).await;
    let body = json!({"orgUnit": fixture::OU_FACILITY_2, "period": "2024W01", "dataSet": fixture::DS_MONTHLY_HIV,
                      "dataValues": {"positives_male": 3, "tests_female": 5}});
    let refused = expect_error(p.post(&body).await, StatusCode::UNPROCESSABLE_ENTITY).await;
    let named = details(&refused);
    assert_eq!(
        codes(&named),
        [
            ("dataValues.positives_male".to_string(), "E8024".to_string()),
            ("orgUnit".to_string(), "E8022".to_string()),
            ("period".to_string(), "E8021".to_string()),
        ],
        "{named:#?}"
    );
    let words = named.join("\n");
    assert!(words.contains("'Male' is not a category option combo of 'Positives' (its combo is 'default')"), "{words}");
    assert!(words.contains("'Facility 2' is not assigned to data set 'Monthly HIV'"), "{words}");
    assert!(words.contains("2024W01 is a Weekly period; data set 'Monthly HIV' takes Monthly periods"), "{words}");
    assert_eq!(p.dhis2.import_requests(), 0);
    assert_eq!(p.get_as_admin("/api/v2/logs").await["total"], 0, "nothing of a refused submission is stored");

    // The same checks in a dry run.
    let dry = json!({"orgUnit": fixture::OU_FACILITY_1, "period": "202401", "dataSet": fixture::DS_MONTHLY_HIV,
                     "dryRun": true, "dataValues": {"positives_male": 3}});
    let refused = expect_error(p.post(&dry).await, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(codes(&details(&refused))[0].1, "E8024");
    assert_eq!(p.dhis2.import_requests(), 0);
}

#[tokio::test]
async fn values_are_checked_for_their_type_and_period_and_zeros_dhis2_ignores_are_left_out() {
    let p = checked_pipeline(|_| {}).await;
    let body = p.submission(json!({"positives": "-1", "tests_male": "lots"}));
    let refused = expect_error(p.post(&body).await, StatusCode::UNPROCESSABLE_ENTITY).await;
    let words = details(&refused).join("\n");
    assert!(
        words.contains(
            "dataValues.positives: '-1' is not a whole number, zero or above, as 'Positives' needs (DHIS2 E8122"
        ),
        "{words}"
    );
    assert!(words.contains("dataValues.tests_male: 'lots' is not a number"), "{words}");
    mapping(&p, "result", fixture::DE_RESULT, None, fixture::DS_MONTHLY_HIV).await;
    let refused =
        expect_error(p.post(&p.submission(json!({"result": "MAYBE"}))).await, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(
        details(&refused),
        ["dataValues.result: 'MAYBE' is not one of the options of 'Test results' (DHIS2 E8123; E7621 before 2.43)"]
    );
    expect_json(p.post(&p.submission(json!({"result": "POSITIVE"}))).await, StatusCode::OK).await;
    let future = json!({"orgUnit": fixture::OU_FACILITY_1, "period": "209901", "dataSet": fixture::DS_MONTHLY_HIV,
                        "dataValues": {"positives": 1}});
    let refused = expect_error(p.post(&future).await, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(codes(&details(&refused)), [("period".to_string(), "E8030".to_string())]);

    let accepted =
        expect_json(p.post(&p.submission(json!({"positives": 0, "tests_male": 4}))).await, StatusCode::OK).await;
    assert_eq!(accepted["payload"]["dataValues"].as_array().unwrap().len(), 1, "{accepted}");
    assert_eq!(accepted["payload"]["dataValues"][0]["dataElement"], fixture::DE_HIV_TESTS);
    assert!(accepted["warnings"][0].as_str().unwrap().contains("zero for 'Positives' is not stored"), "{accepted}");
    let only_zeros =
        expect_error(p.post(&p.submission(json!({"positives": 0}))).await, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert!(only_zeros["error"].as_str().unwrap().contains("nothing was stored"), "{only_zeros}");
}

#[tokio::test]
async fn partial_mode_sends_the_good_values_and_a_partner_can_have_its_own_mode() {
    let p = checked_pipeline(|c| c.api.intake_validation = IntakeValidation::Partial).await;
    let body = p.submission(json!({"tests_male": 4, "positives": "abc"}));
    let accepted = expect_json(p.post(&body).await, StatusCode::OK).await;
    let values = accepted["payload"]["dataValues"].as_array().unwrap();
    assert_eq!(values.len(), 1, "{accepted}");
    let warning = accepted["warnings"][0].as_str().unwrap();
    assert!(
        warning.starts_with("dataValues.positives: 'abc' is not a whole number") && warning.ends_with("left out"),
        "{warning}"
    );
    let id = accepted["submission_id"].as_i64().unwrap();
    assert_eq!(p.settled(id, FINAL, std::time::Duration::from_secs(15)).await["status"], "succeeded");

    let users = p.get_as_admin("/api/v2/users?username=emr").await;
    let emr = users["items"][0]["uid"].as_str().unwrap().to_string();
    let off = json!({"intake_validation": "off"});
    let updated =
        expect_json(p.call(Method::PUT, &format!("/api/v2/users/{emr}"), Some(off)).await, StatusCode::OK).await;
    assert_eq!(updated["intake_validation"], "off");
    let sent_whole = expect_json(p.post(&body).await, StatusCode::OK).await;
    assert_eq!(sent_whole["payload"]["dataValues"].as_array().unwrap().len(), 2, "off: DHIS2 decides");
    let bad = json!({"intake_validation": "sometimes"});
    let refused =
        expect_error(p.call(Method::PUT, &format!("/api/v2/users/{emr}"), Some(bad)).await, StatusCode::BAD_REQUEST)
            .await;
    assert!(details(&refused)[0].starts_with("intake_validation:"), "{refused}");
}

#[tokio::test]
async fn the_configured_data_set_and_attribute_option_combo_are_used_and_checked() {
    let p = checked_pipeline(|c| {
        c.api.dhis2_data_set = fixture::DS_MONTHLY_HIV.into();
        c.api.dhis2_attribute_option_combo = fixture::DEFAULT_CODE.into();
    })
    .await;
    let body = json!({"orgUnit": fixture::OU_FACILITY_1, "period": "202401", "dataValues": {"positives": 2}});
    let accepted = expect_json(p.post(&body).await, StatusCode::OK).await;
    assert_eq!(accepted["payload"]["dataSet"], fixture::DS_MONTHLY_HIV);
    assert_eq!(accepted["payload"]["attributeOptionCombo"], fixture::DEFAULT_AOC, "the code resolved to its UID");
    let status = p.get_as_admin("/api/v2/metadata").await;
    assert_eq!(status["warnings"], json!([]), "{status}");

    let misconfigured = checked_pipeline(|c| c.api.dhis2_data_set = "NoSuchSet01".into()).await;
    let status = misconfigured.get_as_admin("/api/v2/metadata").await;
    assert!(
        status["warnings"][0].as_str().unwrap().starts_with("api.dhis2_data_set: data set NoSuchSet01 is not in DHIS2"),
        "{status}"
    );
    let overview = misconfigured.get_as_admin("/api/v2/overview").await;
    assert_eq!(overview["metadata"]["country"], fixture::OU_ROOT_NAME, "the root's name when dhis2_country is unset");
}

#[tokio::test]
async fn the_dhis2_compatible_api_answers_refusals_in_dhis2s_conflict_format() {
    let p = checked_pipeline(|_| {}).await;
    let body = json!({"dataSet": fixture::DS_MONTHLY_HIV, "period": "202401", "orgUnit": fixture::OU_FACILITY_1,
                      "dataValues": [{"dataElement": fixture::DE_POSITIVES, "value": "2"},
                                     {"dataElement": fixture::DE_POSITIVES, "categoryOptionCombo": fixture::COC_MALE, "value": "3"}]});
    for query in ["", "?dryRun=true"] {
        let answer = p.dhis2_client(Method::POST, &format!("dataValueSets{query}")).json(&body).send().await.unwrap();
        let answer = expect_json(answer, StatusCode::CONFLICT).await;
        let conflict = &answer["response"]["conflicts"][0];
        assert_eq!(
            (conflict["errorCode"].as_str(), conflict["indexes"].clone()),
            (Some("E8024"), json!([1])),
            "{answer}"
        );
        assert_eq!(answer["response"]["importCount"]["ignored"], 2);
    }
    assert_eq!(p.dhis2.import_requests(), 0);
}

async fn mapping(p: &Pipeline, code: &str, element: &str, coc: Option<&str>, data_set: &str) {
    let body =
        json!({"code": code, "what": "de", "dataElement": element, "categoryOptionCombo": coc, "dataSet": data_set});
    expect_json(p.call(Method::POST, "/api/v2/mappings", Some(body)).await, StatusCode::CREATED).await;
}

fn problems_by_code(page: &Value) -> Vec<(String, String)> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["health"]["state"] == "broken")
        .map(|m| (m["code"].as_str().unwrap().to_string(), m["health"]["problem"].as_str().unwrap().to_string()))
        .collect()
}

#[tokio::test]
async fn each_kind_of_broken_mapping_is_named_with_its_fix_and_listed_first() {
    let p = checked_pipeline(|_| {}).await;
    mapping(&p, "orphan", fixture::DE_ORPHAN, None, "").await;
    mapping(&p, "ghost", "NoSuchDe001", None, fixture::DS_MONTHLY_HIV).await;
    mapping(&p, "tb_tests", fixture::DE_HIV_TESTS, Some(fixture::COC_MALE), fixture::DS_QUARTERLY_TB).await;
    mapping(&p, "gone_set", fixture::DE_POSITIVES, None, "NoSuchSet01").await;

    let page = p.get_as_admin("/api/v2/mappings?page_size=3").await;
    assert_eq!(page["total"], 9);
    assert!(page["items"].as_array().unwrap().iter().all(|m| m["health"]["state"] == "broken"), "broken first: {page}");
    let broken = p.get_as_admin("/api/v2/mappings?health=broken").await;
    let problems = problems_by_code(&broken);
    let problem = |code: &str| problems.iter().find(|(c, _)| c == code).map(|(_, p)| p.as_str()).unwrap_or_default();
    assert_eq!(problems.len(), 5, "{problems:#?}");
    assert!(problem("orphan").starts_with("'Orphan' is in no data set"), "{problems:#?}");
    assert!(problem("ghost").starts_with("data element NoSuchDe001 is not in DHIS2"), "{problems:#?}");
    assert!(
        problem("tb_tests")
            .starts_with("'HIV tests' is not in data set 'Quarterly TB': use a data set that holds it (Monthly HIV)"),
        "{problems:#?}"
    );
    assert!(problem("gone_set").starts_with("data set NoSuchSet01 is not in DHIS2"), "{problems:#?}");
    assert!(
        problem("positives_male").starts_with(
            "'Male' is not a category option combo of 'Positives': choose one of its combo's ('default' has default)"
        ),
        "{problems:#?}"
    );
    let ok = p.get_as_admin("/api/v2/mappings?health=ok&code=tests_male").await;
    let names = &ok["items"][0]["names"];
    assert_eq!(
        (names["dataElement"].as_str(), names["categoryOptionCombo"].as_str(), names["dataSet"].as_str()),
        (Some("HIV tests"), Some("Male"), Some("Monthly HIV"))
    );
}

#[tokio::test]
async fn the_import_preview_flags_broken_rows_and_resolves_codes_and_names() {
    let p = checked_pipeline(|_| {}).await;
    let csv = "code,what,dataElement,categoryOptionCombo,dataSet\n\
               hiv_m,de,HIV_TESTS,Male,MONTHLY_HIV\n\
               pos,de,positives,,Monthly HIV\n\
               orphan,de,DeOrphan001,,\n\
               pos_m,de,DeInteger01,Male000000a,pBOMPrpg1QY\n";
    let response = crate::mappings::upload(&p.app, &p.admin.jwt, "csv", csv.as_bytes().to_vec(), "?dryRun=true").await;
    let report = expect_json(response, StatusCode::OK).await;
    let rows = report["rows"].as_array().unwrap();
    assert_eq!(
        rows[0]["resolved"],
        json!([
            "dataSet: 'MONTHLY_HIV' resolved by code to pBOMPrpg1QY ('Monthly HIV')",
            "dataElement: 'HIV_TESTS' resolved by code to DeNumber001 ('HIV tests')",
            "categoryOptionCombo: 'Male' resolved by name to Male000000a ('Male')"
        ])
    );
    assert_eq!((rows[0]["action"].as_str(), rows[0]["health"]["state"].as_str()), (Some("created"), Some("ok")));
    assert_eq!(rows[1]["names"]["dataElement"], "Positives", "resolved by name, any case: {}", rows[1]);
    assert_eq!(rows[2]["health"]["state"], "broken");
    assert!(rows[2]["health"]["problem"].as_str().unwrap().starts_with("'Orphan' is in no data set"));
    assert_eq!(rows[3]["health"]["state"], "broken", "{}", rows[3]);
    assert_eq!(p.get_as_admin("/api/v2/mappings?code=hiv_m").await["total"], 0, "a preview writes nothing");
}

#[tokio::test]
async fn submissions_and_dhis2s_conflicts_read_in_names() {
    let p = checked_pipeline(|c| c.api.intake_validation = IntakeValidation::Off).await;
    let body = p.submission(json!({"positives": "abc", "tests_male": 4}));
    let id = expect_json(p.post(&body).await, StatusCode::OK).await["submission_id"].as_i64().unwrap();
    let log = p.settled(id, FINAL, std::time::Duration::from_secs(15)).await;
    assert_eq!(log["data_set_name"], fixture::DS_MONTHLY_HIV_NAME);
    assert_eq!(log["org_unit_name"], fixture::OU_FACILITY_1_NAME);
    assert_eq!(log["org_unit_path"], "Root › District › Sub-county 1 › Facility 1");
    let conflict = &log["attempts"][0]["conflicts"][0];
    assert_eq!(
        conflict["described"],
        "Positives: Value `abc` is not a valid INTEGER_ZERO_OR_POSITIVE value for data element 'Positives'",
        "{conflict}"
    );
    let listed = p.get_as_admin("/api/v2/logs").await;
    assert_eq!(listed["items"][0]["org_unit_path"], "Root › District › Sub-county 1 › Facility 1");

    let sets = p.get_as_admin("/api/v2/metadata/objects?kind=dataSet&q=hiv").await;
    assert_eq!(
        sets["items"],
        json!([{"uid": fixture::DS_MONTHLY_HIV, "code": fixture::DS_MONTHLY_HIV_CODE,
                                      "name": fixture::DS_MONTHLY_HIV_NAME, "detail": "Monthly"}])
    );
    let combos = p
        .get_as_admin(&format!(
            "/api/v2/metadata/objects?kind=categoryOptionCombo&data_element={}",
            fixture::DE_HIV_TESTS
        ))
        .await;
    let names: Vec<&str> = combos["items"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Female", "Male"]);
    let wrong = p.call(Method::GET, "/api/v2/metadata/objects?kind=program", None).await;
    assert!(details(&expect_error(wrong, StatusCode::BAD_REQUEST).await)[0].starts_with("kind:"));
}

#[tokio::test]
async fn removed_objects_are_forgotten_and_a_cc_server_lacking_what_mappings_use_says_so() {
    let cc = dhis2_double::Dhis2Double::start(Version::V2_40).await;
    cc.delete_data_element(fixture::DE_REMARKS);
    let dir = crate::servers::conf_dir(json!([crate::servers::cc_server("hmis", &cc)]));
    let p = pipeline(Version::V2_43, |c| {
        c.server.conf_dir = dir.clone();
        c.api.cc_dhis2_servers = vec!["hmis".into()];
    })
    .await;
    synced(&p).await;
    let servers = p.get_as_admin("/api/v2/servers").await;
    let card = |name: &str| servers.as_array().unwrap().iter().find(|s| s["name"] == name).cloned().unwrap();
    let problem = card("hmis")["metadata_problem"].as_str().unwrap_or_default().to_string();
    assert!(
        problem.starts_with("lacks 1 of the primary's metadata that mappings use")
            && problem.ends_with("data element 'Remarks' (DeText00001)"),
        "{problem}"
    );
    assert_eq!(card("primary")["metadata_problem"], Value::Null);

    // Deleted in the primary: forgotten at the next sync, and its mapping is broken.
    p.dhis2.delete_data_element(fixture::DE_REMARKS);
    let next = synced(&p).await;
    assert_eq!((next["removed"]["dataElements"].as_i64(), next["changed"]["dataSets"].as_i64()), (Some(1), Some(1)));
    let remarks = p.get_as_admin("/api/v2/mappings?code=remarks").await;
    assert_eq!(remarks["items"][0]["health"]["state"], "broken");
    let servers = p.get_as_admin("/api/v2/servers").await;
    let hmis = servers.as_array().unwrap().iter().find(|s| s["name"] == "hmis").unwrap();
    assert_eq!(hmis["metadata_problem"], Value::Null, "nothing the primary has is missing there any more");
}

#[tokio::test]
async fn elements_outside_the_data_set_foreign_attribute_combos_and_unknown_data_sets_are_refused() {
    let p = checked_pipeline(|_| {}).await;
    mapping(&p, "orphan", fixture::DE_ORPHAN, None, "").await;
    let refused =
        expect_error(p.post(&p.submission(json!({"orphan": 1}))).await, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(
        details(&refused),
        ["dataValues.orphan: 'Orphan' is not in data set 'Monthly HIV' (DHIS2 E8020; E7633 before 2.43)"]
    );
    let foreign = json!({"orgUnit": fixture::OU_FACILITY_1, "period": "202401", "dataSet": fixture::DS_MONTHLY_HIV,
                         "attributeOptionCombo": fixture::COC_MALE, "dataValues": {"positives": 1}});
    let refused = expect_error(p.post(&foreign).await, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(
        details(&refused),
        [
            "attributeOptionCombo: attribute option combo 'Male' is not one of data set 'Monthly HIV''s (DHIS2 E8023; E7635 before 2.43)"
        ]
    );
    let unknown = json!({"orgUnit": fixture::OU_FACILITY_1, "period": "202401", "dataSet": "NoSuchSet01",
                         "dataValues": {"positives": 1}});
    let refused = expect_error(p.post(&unknown).await, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(codes(&details(&refused)), [("dataSet".to_string(), "E8100".to_string())]);
    assert_eq!(p.dhis2.import_requests(), 0);
}

#[tokio::test]
async fn a_requeue_is_screened_as_at_the_door_in_the_submitters_mode() {
    let p = checked_pipeline(|_| {}).await;
    let users = p.get_as_admin("/api/v2/users?username=emr").await;
    let emr = format!("/api/v2/users/{}", users["items"][0]["uid"].as_str().unwrap());
    let mode = |m: &str| json!({"intake_validation": m});
    expect_json(p.call(Method::PUT, &emr, Some(mode("off"))).await, StatusCode::OK).await;
    let id = p.submit(json!({"positives_male": 3})).await;
    assert_eq!(p.settled(id, FINAL, std::time::Duration::from_secs(15)).await["status"], "failed", "DHIS2 refused it");
    let restart = format!("/api/v2/logs/{id}/restart");
    expect_json(p.call(Method::POST, &restart, None).await, StatusCode::OK).await;
    assert_eq!(
        p.settled(id, FINAL, std::time::Duration::from_secs(15)).await["status"],
        "failed",
        "off: DHIS2 decides"
    );

    expect_json(p.call(Method::PUT, &emr, Some(mode(""))).await, StatusCode::OK).await;
    let refused = expect_error(p.call(Method::POST, &restart, None).await, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(codes(&details(&refused)), [("dataValues.positives_male".to_string(), "E8024".to_string())]);
    let mappings = p.get_as_admin("/api/v2/mappings?code=positives_male").await;
    let fixed = json!({"code": "positives_male", "what": "de", "dataElement": fixture::DE_POSITIVES,
                       "dataSet": fixture::DS_MONTHLY_HIV});
    let path = format!("/api/v2/mappings/{}", mappings["items"][0]["id"]);
    expect_json(p.call(Method::PUT, &path, Some(fixed)).await, StatusCode::OK).await;
    expect_json(p.call(Method::POST, &restart, None).await, StatusCode::OK).await;
    assert_eq!(p.settled(id, FINAL, std::time::Duration::from_secs(15)).await["status"], "succeeded");
}
