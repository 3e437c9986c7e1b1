//! `POST /api/dataValueSets`: validation, counts and the per-version answer shapes.

use dhis2_double::fixture::*;
use dhis2_double::{Dhis2Double, Version};
use serde_json::{Value, json};

use crate::http::{post_import, summary};

const ALL: [Version; 3] = [Version::V2_37, Version::V2_40, Version::V2_43];

fn dv(de: &str, coc: &str, value: &str) -> Value {
    json!({ "dataElement": de, "categoryOptionCombo": coc, "value": value })
}

/// A Monthly HIV data value set for facility 1, January 2024.
fn monthly(values: Vec<Value>) -> Value {
    json!({
        "dataSet": DS_MONTHLY_HIV,
        "period": "202401",
        "orgUnit": OU_FACILITY_1,
        "dataValues": values,
    })
}

fn four_valid_values() -> Vec<Value> {
    vec![
        dv(DE_HIV_TESTS, COC_MALE, "12"),
        dv(DE_POSITIVES, DEFAULT_COC, "3"),
        dv(DE_REMARKS, DEFAULT_COC, "all good"),
        dv(DE_ON_ART, DEFAULT_COC, "True"),
    ]
}

fn counts(summary: &Value) -> [u64; 4] {
    let c = &summary["importCount"];
    ["imported", "updated", "ignored", "deleted"].map(|k| c[k].as_u64().unwrap())
}

fn codes(summary: &Value) -> Vec<&str> {
    summary["conflicts"].as_array().unwrap().iter().map(|c| c["errorCode"].as_str().unwrap()).collect()
}

/// Posts `body` and returns (HTTP status, whole body, summary).
async fn import(dhis2: &Dhis2Double, version: Version, query: &str, body: &Value) -> (u16, Value, Value) {
    let reply = post_import(dhis2, query, body).await;
    (reply.status, reply.json(), summary(version, &reply))
}

#[tokio::test]
async fn all_valid_values_succeed_in_each_version_shape() {
    for version in ALL {
        let dhis2 = Dhis2Double::start(version).await;
        let (status, body, s) = import(&dhis2, version, "", &monthly(four_valid_values())).await;
        assert_eq!(status, 200, "{version:?}");
        assert_eq!(s["responseType"], "ImportSummary");
        assert_eq!(s["status"], "SUCCESS");
        assert_eq!(s["conflicts"], json!([]));
        assert_eq!(s["importOptions"]["importStrategy"], "CREATE_AND_UPDATE");
        match version {
            Version::V2_37 => {
                assert!(body.get("httpStatusCode").is_none());
                assert_eq!(counts(&s), [4, 0, 0, 0]);
                assert!(s.get("rejectedIndexes").is_none());
            }
            Version::V2_40 => {
                assert_eq!(body["httpStatus"], "OK");
                assert_eq!(body["httpStatusCode"], 200);
                assert_eq!(body["status"], "OK");
                assert_eq!(body["message"], "Import was successful.");
                assert_eq!(counts(&s), [4, 0, 0, 0]);
                assert!(s.get("rejectedIndexes").is_none());
            }
            Version::V2_43 => {
                assert_eq!(body["status"], "OK");
                assert_eq!(counts(&s), [0, 4, 0, 0]);
                assert_eq!(s["rejectedIndexes"], json!([]));
            }
        }
        assert_eq!(dhis2.values().len(), 4);
        let art = dhis2.value(DE_ON_ART, "202401", OU_FACILITY_1, DEFAULT_COC).unwrap();
        assert_eq!(art.value, "true", "booleans are normalised");
        assert_eq!(art.times_written, 1);
        assert_eq!(dhis2.import_requests(), 1);
    }
}

#[tokio::test]
async fn one_bad_value_is_a_warning_with_its_index() {
    let body = monthly(vec![
        dv(DE_HIV_TESTS, COC_MALE, "12"),
        dv(DE_HIV_TESTS, COC_FEMALE, "1e5"),
        dv(DE_POSITIVES, DEFAULT_COC, "3"),
    ]);
    for version in ALL {
        let dhis2 = Dhis2Double::start(version).await;
        let (status, envelope, s) = import(&dhis2, version, "", &body).await;
        assert_eq!(s["status"], "WARNING", "{version:?}");
        let conflict = &s["conflicts"][0];
        match version {
            Version::V2_37 => {
                assert_eq!(status, 200);
                assert_eq!(counts(&s), [2, 0, 1, 0]);
                assert_eq!(conflict.as_object().unwrap().len(), 2, "only object and value");
                assert_eq!(conflict["object"], DE_HIV_TESTS);
            }
            Version::V2_40 => {
                assert_eq!(status, 409);
                assert_eq!(envelope["status"], "WARNING");
                assert_eq!(envelope["httpStatus"], "Conflict");
                assert_eq!(envelope["message"], "One more conflicts encountered, please check import summary.");
                assert_eq!(counts(&s), [2, 0, 1, 0]);
                assert_eq!(conflict["errorCode"], "E7619");
                assert_eq!(conflict["property"], "value");
                assert_eq!(conflict["objects"]["dataElement"], DE_HIV_TESTS);
                assert_eq!(conflict["indexes"], json!([1]));
            }
            Version::V2_43 => {
                assert_eq!(status, 200);
                assert_eq!(envelope["status"], "WARNING");
                assert_eq!(envelope["message"], "Import completed with warnings, please check import summary.");
                assert_eq!(counts(&s), [0, 2, 1, 0]);
                assert_eq!(conflict["errorCode"], "E8122");
                assert_eq!(conflict["object"], Value::Null);
                assert_eq!(conflict["indexes"], json!([1]));
                assert_eq!(s["rejectedIndexes"], json!([1]));
            }
        }
        assert_eq!(dhis2.values().len(), 2);
        assert!(dhis2.value(DE_HIV_TESTS, "202401", OU_FACILITY_1, COC_FEMALE).is_none());
    }
}

#[tokio::test]
async fn all_bad_values_warn_before_2_43_and_fail_in_2_43() {
    let body = monthly(vec![dv(DE_HIV_TESTS, COC_MALE, "abc"), dv(DE_HIV_TESTS, COC_FEMALE, "abc")]);
    for version in ALL {
        let dhis2 = Dhis2Double::start(version).await;
        let (status, _, s) = import(&dhis2, version, "", &body).await;
        match version {
            Version::V2_37 => {
                assert_eq!((status, s["status"].as_str()), (200, Some("WARNING")));
                assert_eq!(s["conflicts"].as_array().unwrap().len(), 2);
            }
            Version::V2_40 => {
                assert_eq!((status, s["status"].as_str()), (409, Some("WARNING")));
                // Conflicts with the same message share one entry.
                assert_eq!(s["conflicts"].as_array().unwrap().len(), 1);
                assert_eq!(s["conflicts"][0]["indexes"], json!([0, 1]));
            }
            Version::V2_43 => {
                assert_eq!((status, s["status"].as_str()), (409, Some("ERROR")));
                assert_eq!(codes(&s), ["E8122", "E8122"]);
                assert_eq!(s["rejectedIndexes"], json!([0, 1]));
            }
        }
        assert!(dhis2.values().is_empty());
    }
}

#[tokio::test]
async fn unknown_data_element_rejects_the_value_or_the_whole_2_43_request() {
    let body = monthly(vec![
        dv(DE_POSITIVES, DEFAULT_COC, "3"),
        dv("DeUnknown01", DEFAULT_COC, "4"),
        dv(DE_REMARKS, DEFAULT_COC, "x"),
    ]);
    for version in ALL {
        let dhis2 = Dhis2Double::start(version).await;
        let (status, _, s) = import(&dhis2, version, "", &body).await;
        let conflict = &s["conflicts"][0];
        match version {
            Version::V2_37 => {
                assert_eq!((status, s["status"].as_str()), (200, Some("WARNING")));
                assert_eq!(conflict["object"], "DeUnknown01");
                assert_eq!(dhis2.values().len(), 2);
            }
            Version::V2_40 => {
                assert_eq!((status, s["status"].as_str()), (409, Some("WARNING")));
                assert_eq!(conflict["errorCode"], "E7610");
                assert_eq!(conflict["value"], "Data element not found or not accessible: `DeUnknown01`");
                assert_eq!(conflict["indexes"], json!([1]));
                assert_eq!(counts(&s), [2, 0, 1, 0]);
                assert_eq!(dhis2.values().len(), 2);
            }
            Version::V2_43 => {
                assert_eq!((status, s["status"].as_str()), (409, Some("ERROR")));
                assert_eq!(codes(&s), ["E8101"]);
                assert_eq!(conflict["objects"], json!({ "args": "DeUnknown01" }));
                assert_eq!(conflict["indexes"], json!([1]));
                assert_eq!(counts(&s), [0, 0, 3, 0]);
                assert_eq!(s["rejectedIndexes"], json!([0, 1, 2]));
                assert!(dhis2.values().is_empty());
            }
        }
    }
}

#[tokio::test]
async fn data_element_outside_the_data_set() {
    let body = monthly(vec![dv(DE_POSITIVES, DEFAULT_COC, "3"), dv(DE_ORPHAN, DEFAULT_COC, "4")]);
    for version in ALL {
        let dhis2 = Dhis2Double::start(version).await;
        let (status, _, s) = import(&dhis2, version, "", &body).await;
        match version {
            Version::V2_37 => assert_eq!((status, s["status"].as_str()), (200, Some("WARNING"))),
            Version::V2_40 => {
                assert_eq!((status, s["status"].as_str()), (409, Some("WARNING")));
                assert_eq!(codes(&s), ["E7633"]);
                assert_eq!(s["conflicts"][0]["indexes"], json!([1]));
            }
            Version::V2_43 => {
                assert_eq!((status, s["status"].as_str()), (409, Some("ERROR")));
                assert_eq!(codes(&s), ["E8020"]);
                assert_eq!(s["conflicts"][0]["indexes"], json!([-1]));
                assert_eq!(s["rejectedIndexes"], json!([0, 1]));
            }
        }
        let stored = if version == Version::V2_43 { 0 } else { 1 };
        assert_eq!(dhis2.values().len(), stored, "{version:?}");
    }
}

#[tokio::test]
async fn period_of_the_wrong_type_or_malformed() {
    for version in ALL {
        let dhis2 = Dhis2Double::start(version).await;
        let mut body = monthly(vec![dv(DE_POSITIVES, DEFAULT_COC, "3")]);
        body["period"] = json!("2024Q1");
        let (status, _, s) = import(&dhis2, version, "", &body).await;
        match version {
            Version::V2_37 => assert_eq!((status, s["status"].as_str()), (200, Some("WARNING"))),
            Version::V2_40 => {
                assert_eq!((status, codes(&s)), (409, vec!["E7632"]));
            }
            Version::V2_43 => assert_eq!((status, codes(&s)), (409, vec!["E8021"])),
        }

        body["period"] = json!("202413");
        let (_, _, s) = import(&dhis2, version, "", &body).await;
        match version {
            Version::V2_37 => assert_eq!(s["conflicts"][0]["value"], "Period not valid"),
            Version::V2_40 => assert_eq!(codes(&s), ["E7611"]),
            Version::V2_43 => assert_eq!(codes(&s), ["E8105"]),
        }
        assert!(dhis2.values().is_empty());
    }
}

#[tokio::test]
async fn unknown_org_unit_at_set_level_and_value_level() {
    for version in ALL {
        let dhis2 = Dhis2Double::start(version).await;
        let mut body = monthly(four_valid_values());
        body["orgUnit"] = json!("OrgUnknown1");
        let (status, _, s) = import(&dhis2, version, "", &body).await;
        assert_eq!(s["status"], "ERROR", "{version:?}");
        assert_eq!(s["importCount"]["ignored"], 4);
        match version {
            Version::V2_37 => assert_eq!(status, 200),
            Version::V2_40 => assert_eq!((status, codes(&s)), (409, vec!["E7603"])),
            Version::V2_43 => {
                assert_eq!((status, codes(&s)), (409, vec!["E8102"]));
                assert_eq!(s["conflicts"][0]["indexes"], json!([0, 1, 2, 3]));
            }
        }

        let mut values = four_valid_values();
        values[2]["orgUnit"] = json!("OrgUnknown1");
        let (_, _, s) = import(&dhis2, version, "", &monthly(values)).await;
        match version {
            Version::V2_37 => assert_eq!(s["status"], "WARNING"),
            Version::V2_40 => {
                assert_eq!(codes(&s), ["E7612"]);
                assert_eq!(s["conflicts"][0]["indexes"], json!([2]));
            }
            Version::V2_43 => {
                assert_eq!(s["status"], "ERROR");
                assert_eq!(s["conflicts"][0]["indexes"], json!([2]));
            }
        }
    }
}

#[tokio::test]
async fn assignment_problems_have_their_own_codes() {
    // (body change, 2.40 code, 2.43 code)
    type Change = fn(&mut Value);
    let cases: [(Change, &str, &str); 4] = [
        (|b| b["orgUnit"] = json!(OU_DISTRICT), "E7636", "E8022"),
        (|b| b["dataValues"][0]["categoryOptionCombo"] = json!(COC_MALE), "E7634", "E8024"),
        (|b| b["dataValues"][0]["attributeOptionCombo"] = json!(COC_MALE), "E7635", "E8023"),
        (|b| b["dataValues"][0]["categoryOptionCombo"] = json!("CocUnknown1"), "E7613", "E8103"),
    ];
    for (change, v40, v43) in cases {
        let mut body = monthly(vec![dv(DE_POSITIVES, DEFAULT_COC, "3")]);
        change(&mut body);
        for (version, code) in [(Version::V2_40, v40), (Version::V2_43, v43)] {
            let dhis2 = Dhis2Double::start(version).await;
            let (status, _, s) = import(&dhis2, version, "", &body).await;
            assert_eq!((status, codes(&s)), (409, vec![code]), "{version:?}");
            assert!(dhis2.values().is_empty());
        }
    }
}

#[tokio::test]
async fn unknown_data_set_fails_the_whole_import() {
    let mut body = monthly(four_valid_values());
    body["dataSet"] = json!("DsUnknown01");
    for version in ALL {
        let dhis2 = Dhis2Double::start(version).await;
        let (status, envelope, s) = import(&dhis2, version, "", &body).await;
        assert_eq!(s["status"], "ERROR");
        match version {
            Version::V2_37 => assert_eq!(status, 200),
            Version::V2_40 => {
                assert_eq!((status, codes(&s)), (409, vec!["E7600"]));
                assert_eq!(envelope["message"], "An error occurred, please check import summary.");
            }
            Version::V2_43 => assert_eq!((status, codes(&s)), (409, vec!["E8100"])),
        }
        assert!(dhis2.values().is_empty());
    }
}

#[tokio::test]
async fn values_must_be_json_strings() {
    let body = monthly(vec![json!({ "dataElement": DE_POSITIVES, "value": 3 }), dv(DE_REMARKS, DEFAULT_COC, "x")]);
    for (version, code, status) in [(Version::V2_40, "E7619", 409), (Version::V2_43, "E8122", 200)] {
        let dhis2 = Dhis2Double::start(version).await;
        let (http, _, s) = import(&dhis2, version, "", &body).await;
        assert_eq!((http, codes(&s)), (status, vec![code]));
        assert_eq!(s["conflicts"][0]["indexes"], json!([0]));
        assert_eq!(dhis2.values().len(), 1);
    }
}

#[tokio::test]
async fn comments_and_empty_values_are_checked() {
    let long = "c".repeat(5001);
    let body = monthly(vec![
        json!({ "dataElement": DE_REMARKS, "value": "x", "comment": long }),
        json!({ "dataElement": DE_POSITIVES, "value": "" }),
        json!({ "dataElement": DE_ON_ART, "comment": "no value, only a comment" }),
    ]);
    let dhis2 = Dhis2Double::start(Version::V2_40).await;
    let (_, _, s) = import(&dhis2, Version::V2_40, "", &body).await;
    assert_eq!(codes(&s), ["E7620", "E7618"]);
    let dhis2 = Dhis2Double::start(Version::V2_43).await;
    let (status, _, s) = import(&dhis2, Version::V2_43, "", &body).await;
    assert_eq!((status, codes(&s)), (200, vec!["E8125", "E8120"]));
    let stored = dhis2.values();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].comment.as_deref(), Some("no value, only a comment"));
}

#[tokio::test]
async fn dry_run_validates_but_stores_nothing() {
    for version in ALL {
        let dhis2 = Dhis2Double::start(version).await;
        let (status, _, s) = import(&dhis2, version, "dryRun=true", &monthly(four_valid_values())).await;
        assert_eq!(status, 200);
        assert_eq!(s["importOptions"]["dryRun"], true);
        let expected = if version == Version::V2_43 { [0, 4, 0, 0] } else { [4, 0, 0, 0] };
        assert_eq!(counts(&s), expected);
        assert!(dhis2.values().is_empty(), "{version:?}");
    }
}

#[tokio::test]
async fn times_written_counts_every_delivery() {
    let dhis2 = Dhis2Double::start(Version::V2_40).await;
    let body = monthly(four_valid_values());
    import(&dhis2, Version::V2_40, "", &body).await;
    let (status, _, s) = import(&dhis2, Version::V2_40, "", &body).await;
    // Unchanged values are ignored by DHIS2 but still counted as a delivery here.
    assert_eq!((status, counts(&s)), (200, [0, 0, 4, 0]));
    let tests = || dhis2.value(DE_HIV_TESTS, "202401", OU_FACILITY_1, COC_MALE).unwrap();
    assert_eq!(tests().times_written, 2);

    let changed = monthly(vec![dv(DE_HIV_TESTS, COC_MALE, "13")]);
    let (_, _, s) = import(&dhis2, Version::V2_40, "", &changed).await;
    assert_eq!(counts(&s), [0, 1, 0, 0]);
    assert_eq!((tests().value.as_str(), tests().times_written), ("13", 3));

    dhis2.set_version(Version::V2_43);
    let (_, _, s) = import(&dhis2, Version::V2_43, "", &changed).await;
    assert_eq!(counts(&s), [0, 1, 0, 0]);
    assert_eq!(tests().times_written, 4);
}

#[tokio::test]
async fn duplicate_keys_fail_the_group_in_2_43_only() {
    let body = monthly(vec![dv(DE_POSITIVES, DEFAULT_COC, "3"), dv(DE_POSITIVES, DEFAULT_COC, "4")]);
    let dhis2 = Dhis2Double::start(Version::V2_43).await;
    let (status, _, s) = import(&dhis2, Version::V2_43, "", &body).await;
    assert_eq!((status, codes(&s)), (409, vec!["E8128"]));
    assert!(dhis2.values().is_empty());

    let dhis2 = Dhis2Double::start(Version::V2_40).await;
    let (status, _, s) = import(&dhis2, Version::V2_40, "", &body).await;
    assert_eq!((status, counts(&s)), (200, [1, 1, 0, 0]));
    let stored = dhis2.value(DE_POSITIVES, "202401", OU_FACILITY_1, DEFAULT_COC).unwrap();
    assert_eq!((stored.value.as_str(), stored.times_written), ("4", 2));
}

#[tokio::test]
async fn import_strategies() {
    let dhis2 = Dhis2Double::start(Version::V2_40).await;
    let body = monthly(four_valid_values());
    let (_, _, s) = import(&dhis2, Version::V2_40, "importStrategy=UPDATE", &body).await;
    assert_eq!(counts(&s), [0, 0, 4, 0], "UPDATE creates nothing");
    import(&dhis2, Version::V2_40, "importStrategy=CREATE", &body).await;
    assert_eq!(dhis2.values().len(), 4);
    let delete = monthly(vec![json!({ "dataElement": DE_POSITIVES })]);
    let (status, _, s) = import(&dhis2, Version::V2_40, "importStrategy=DELETE", &delete).await;
    assert_eq!((status, counts(&s)), (200, [0, 0, 0, 1]));
    assert_eq!(dhis2.values().len(), 3);

    let (status, envelope, s) = import(&dhis2, Version::V2_40, "importStrategy=MERGE", &body).await;
    assert_eq!((status, envelope["status"].as_str()), (409, Some("ERROR")));
    assert!(s["description"].as_str().unwrap().contains("MERGE"));
    dhis2.set_version(Version::V2_37);
    let (status, _, s) = import(&dhis2, Version::V2_37, "importStrategy=MERGE", &body).await;
    assert_eq!((status, s["status"].as_str()), (200, Some("ERROR")));
}

#[tokio::test]
async fn code_id_schemes_for_data_elements_and_org_units() {
    let dhis2 = Dhis2Double::start(Version::V2_40).await;
    let body = json!({
        "dataSet": DS_MONTHLY_HIV,
        "period": "202402",
        "orgUnit": OU_FACILITY_2_CODE,
        "dataValues": [
            { "dataElement": DE_POSITIVES_CODE, "value": "7" },
            { "dataElement": DE_HIV_TESTS_CODE, "categoryOptionCombo": COC_FEMALE, "value": "9" },
        ],
    });
    let query = "dataElementIdScheme=code&orgUnitIdScheme=CODE";
    let (status, _, s) = import(&dhis2, Version::V2_40, query, &body).await;
    assert_eq!((status, counts(&s)), (200, [2, 0, 0, 0]));
    assert_eq!(s["importOptions"]["idSchemes"]["dataElementIdScheme"]["type"], "CODE");
    let stored = dhis2.value(DE_POSITIVES, "202402", OU_FACILITY_2, DEFAULT_COC).unwrap();
    assert_eq!(stored.value, "7");

    // UIDs no longer match under the code scheme.
    let (_, _, s) = import(&dhis2, Version::V2_40, query, &monthly(four_valid_values())).await;
    assert_eq!(s["status"], "ERROR");

    // Payload schemes work too, and the general idScheme covers every object type.
    let mut general = body.clone();
    general["idScheme"] = json!("CODE");
    general["dataSet"] = json!(DS_MONTHLY_HIV_CODE);
    general["dataValues"][1]["categoryOptionCombo"] = json!(COC_FEMALE_CODE);
    let (status, _, s) = import(&dhis2, Version::V2_40, "", &general).await;
    assert_eq!((status, counts(&s)), (200, [0, 0, 2, 0]));

    let (status, _, s) = import(&dhis2, Version::V2_40, "idScheme=attribute:AttrUid0001", &body).await;
    assert_eq!((status, s["status"].as_str()), (409, Some("ERROR")));
}

#[tokio::test]
async fn bulk_mode_detects_the_data_set_per_value() {
    let body = json!({ "dataValues": [
        { "dataElement": DE_POSITIVES, "period": "2024Q1", "orgUnit": OU_FACILITY_1, "value": "5" },
        { "dataElement": DE_POSITIVES, "period": "202401", "orgUnit": OU_FACILITY_1, "value": "6" },
        { "dataElement": DE_ORPHAN, "period": "202401", "orgUnit": OU_FACILITY_1, "value": "1" },
    ]});
    let dhis2 = Dhis2Double::start(Version::V2_40).await;
    let (_, _, s) = import(&dhis2, Version::V2_40, "", &body).await;
    assert_eq!(codes(&s), ["E7636"]);
    assert_eq!(dhis2.values().len(), 2);

    let dhis2 = Dhis2Double::start(Version::V2_43).await;
    let (status, _, s) = import(&dhis2, Version::V2_43, "", &body).await;
    // The orphan's group fails, the two detected data set groups are written.
    assert_eq!((status, codes(&s)), (409, vec!["E8003"]));
    assert_eq!(s["rejectedIndexes"], json!([2]));
    assert_eq!(dhis2.values().len(), 2);
}

#[tokio::test]
async fn complete_date_is_reported_and_validated() {
    let dhis2 = Dhis2Double::start(Version::V2_40).await;
    let mut body = monthly(four_valid_values());
    body["completeDate"] = json!("2024-02-01");
    let (_, _, s) = import(&dhis2, Version::V2_40, "", &body).await;
    assert_eq!(s["dataSetComplete"], "2024-02-01");

    body["completeDate"] = json!("01/02/2024");
    let (status, _, s) = import(&dhis2, Version::V2_40, "", &body).await;
    assert_eq!((status, s["status"].as_str()), (409, Some("ERROR")));
    assert_eq!(s["dataSetComplete"], "false");
}
