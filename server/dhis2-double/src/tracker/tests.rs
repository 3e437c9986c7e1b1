//! The tracker importer without HTTP: validation codes, atomicity, strategies and storing.

use serde_json::{Value, json};

use super::*;
use crate::fixture::*;

const TE: &str = "TePerson001";
const ENROLLMENT: &str = "EnCare00001";
const VISIT: &str = "EvVisit0001";

fn params(query: &str) -> Params {
    Params::from_query(query).unwrap()
}

fn bundle(body: &Value) -> Bundle {
    payload::parse(body.to_string().as_bytes()).unwrap()
}

/// A person with an enrollment in "Care" and one visit, nested.
fn person(te: &str, enrollment: &str, visit: &str, ou: &str) -> Value {
    json!({
        "trackedEntities": [{
            "trackedEntity": te,
            "trackedEntityType": TET_PERSON,
            "orgUnit": ou,
            "attributes": [
                { "attribute": ATTR_PATIENT_ID, "value": format!("P-{te}") },
                { "attribute": ATTR_NAME, "value": "Akello" },
            ],
            "enrollments": [{
                "enrollment": enrollment,
                "program": PROGRAM_CARE,
                "orgUnit": ou,
                "enrolledAt": "2024-01-10",
                "events": [{
                    "event": visit,
                    "programStage": STAGE_VISIT,
                    "orgUnit": ou,
                    "occurredAt": "2024-01-10T09:00:00.000",
                    "dataValues": [{ "dataElement": DE_WEIGHT, "value": "61.5" }],
                }],
            }],
        }],
    })
}

struct Fixture {
    store: Store,
    registry: Registry,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture { store: Store::default(), registry: Registry::fixture() }
    }

    fn run(&mut self, query: &str, body: &Value) -> Value {
        let report = run(&mut self.store, &self.registry, &params(query), &bundle(body));
        report.render(ReportMode::Errors)
    }
}

fn codes(report: &Value) -> Vec<&str> {
    report["validationReport"]["errorReports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["errorCode"].as_str().unwrap())
        .collect()
}

fn stats(report: &Value) -> [u64; 5] {
    ["created", "updated", "deleted", "ignored", "total"].map(|k| report["stats"][k].as_u64().unwrap())
}

#[test]
fn a_nested_person_is_created_flattened() {
    let mut f = Fixture::new();
    let report = f.run("", &person(TE, ENROLLMENT, VISIT, OU_FACILITY_1));
    assert_eq!(report["status"], "OK", "{report}");
    assert_eq!(stats(&report), [3, 0, 0, 0, 3]);
    let types = &report["bundleReport"]["typeReportMap"];
    assert_eq!(
        types["TRACKED_ENTITY"]["objectReports"][0],
        json!({ "trackerType": "TRACKED_ENTITY", "uid": TE, "errorReports": [] })
    );
    assert_eq!(types["EVENT"]["stats"]["created"], 1);
    assert_eq!(types["RELATIONSHIP"]["stats"]["total"], 0);
    let te = &f.store.tracked_entities[TE];
    assert!(te.get("enrollments").is_none());
    let enrollment = &f.store.enrollments[ENROLLMENT];
    assert_eq!(enrollment["trackedEntity"], TE);
    assert!(enrollment.get("events").is_none());
    let event = &f.store.events[VISIT];
    assert_eq!((&event["enrollment"], &event["program"]), (&json!(ENROLLMENT), &json!(PROGRAM_CARE)));

    // The same payload again updates; CREATE refuses every object.
    let again = f.run("", &person(TE, ENROLLMENT, VISIT, OU_FACILITY_1));
    assert_eq!(stats(&again), [0, 3, 0, 0, 3]);
    let create = f.run("importStrategy=CREATE", &person(TE, ENROLLMENT, VISIT, OU_FACILITY_1));
    assert_eq!(create["status"], "ERROR");
    assert_eq!(codes(&create), ["E1002", "E1080", "E1030"]);
    assert_eq!(create["validationReport"]["errorReports"][0]["trackerType"], "TRACKED_ENTITY");
    assert_eq!(create["validationReport"]["errorReports"][0]["uid"], TE);
    assert_eq!(
        create["validationReport"]["errorReports"][0]["message"],
        format!("TrackedEntityInstance: `{TE}`, already exists.")
    );
    assert_eq!(stats(&create), [0, 0, 0, 3, 3]);
    assert_eq!(create["bundleReport"]["typeReportMap"], json!({}));
}

#[test]
fn update_of_missing_objects_is_refused() {
    let mut f = Fixture::new();
    let report = f.run("importStrategy=UPDATE", &person(TE, ENROLLMENT, VISIT, OU_FACILITY_1));
    assert_eq!(codes(&report), ["E1063", "E1081", "E1032"]);
    assert!(f.store.tracked_entities.is_empty());
}

#[test]
fn uids_are_required_and_checked() {
    let mut f = Fixture::new();
    let mut body = person("not-a-uid", ENROLLMENT, VISIT, OU_FACILITY_1);
    body["trackedEntities"][0]["enrollments"][0].as_object_mut().unwrap().remove("enrollment");
    let report = f.run("", &body);
    let errors = &report["validationReport"]["errorReports"];
    assert_eq!(errors[0]["errorCode"], "E1048");
    assert_eq!(errors[0]["message"], "Object: `not-a-uid`, uid: `not-a-uid`, has an invalid uid format.");
    assert_eq!(errors[1]["errorCode"], "E1048");
    assert_eq!(errors[1]["message"], "Object: `null`, uid: `null`, has an invalid uid format.");
    assert_eq!(errors[1]["uid"], Value::Null);
    assert_eq!(errors[1]["trackerType"], "ENROLLMENT");
}

#[test]
fn org_units_must_exist_and_be_assigned_to_the_program() {
    let mut f = Fixture::new();
    let report = f.run("", &person(TE, ENROLLMENT, VISIT, OU_DISTRICT));
    assert_eq!(codes(&report), ["E1041", "E1029"]);
    assert_eq!(
        report["validationReport"]["errorReports"][1]["message"],
        format!("Event OrganisationUnit: `{OU_DISTRICT}`, and Program: `{PROGRAM_CARE}`, don't match.")
    );
    let report = f.run("", &person(TE, ENROLLMENT, VISIT, "OrgMissing1"));
    assert_eq!(codes(&report), ["E1049", "E1070", "E1011"]);
    assert!(f.store.tracked_entities.is_empty(), "atomic ALL stores nothing");
    // Facility 3 and units added later are assigned.
    f.registry.add("OrgFac00009", "Facility 9", "FAC009", Some(OU_SUBCOUNTY_2)).unwrap();
    assert_eq!(f.run("", &person(TE, ENROLLMENT, VISIT, "OrgFac00009"))["status"], "OK");
    assert_eq!(f.run("", &person("TePerson002", "EnCare00002", "EvVisit0002", OU_FACILITY_3))["status"], "OK");
}

#[test]
fn required_properties_and_references() {
    let mut f = Fixture::new();
    let body = json!({
        "trackedEntities": [{ "trackedEntity": TE }],
        "enrollments": [
            { "enrollment": ENROLLMENT },
            { "enrollment": "EnCare00002", "program": PROGRAM_EVENTS, "trackedEntity": "TeMissing01", "orgUnit": OU_FACILITY_1,
              "enrolledAt": "2999-01-01" },
        ],
        "events": [
            { "event": VISIT },
            { "event": "EvVisit0002", "programStage": STAGE_EVENT, "program": PROGRAM_CARE, "orgUnit": OU_FACILITY_1,
              "occurredAt": "2024-01-01", "dataValues": [{ "dataElement": DE_HIV_TESTS, "value": "1" }] },
            { "event": "EvVisit0003", "programStage": STAGE_EVENT, "orgUnit": OU_FACILITY_1, "status": "SCHEDULE",
              "dataValues": [{ "dataElement": DE_WEIGHT, "value": "heavy" }, { "dataElement": "DeMissing01", "value": "1" }] },
        ],
        "relationships": [{ "relationship": "RelShip0001", "relationshipType": "RelType0001", "from": {}, "to": {} }],
    });
    let report = f.run("", &body);
    assert_eq!(
        codes(&report),
        [
            "E1121", "E1121", // TE: trackedEntityType, orgUnit
            "E1122", "E1122", "E1122", "E1025", // enrollment: program, trackedEntity, orgUnit, enrolledAt
            "E1014", "E1068", "E1020", // event program, missing TE, future date
            "E1123", "E1123", "E1031", // event: programStage, orgUnit, occurredAt
            "E1089", "E1033", "E1305", // stage of another program, no enrollment, DE not in stage
            "E1050", "E1302", "E1304", // SCHEDULE without scheduledAt, not a number, unknown DE
            "E4006", // no relationship types
        ]
    );
    let message = |i: usize| report["validationReport"]["errorReports"][i]["message"].as_str().unwrap().to_owned();
    assert_eq!(message(0), "Missing required trackedEntity property: `trackedEntityType`.");
    assert_eq!(message(16), format!("DataElement `{DE_WEIGHT}` is not valid: `value_not_numeric`"));
}

#[test]
fn event_programs_need_no_enrollment_and_get_their_program() {
    let mut f = Fixture::new();
    let body = json!({ "events": [{
        "event": VISIT, "programStage": STAGE_EVENT, "orgUnit": OU_FACILITY_2, "occurredAt": "2024-02-01",
        "dataValues": [{ "dataElement": DE_WEIGHT, "value": 70 }],
    }] });
    let report = f.run("", &body);
    assert_eq!(report["status"], "OK", "{report}");
    assert_eq!(f.store.events[VISIT]["program"], PROGRAM_EVENTS);
    assert_eq!(f.store.events[VISIT]["dataValues"][0]["value"], "70");
}

#[test]
fn atomic_object_stores_the_valid_objects_and_cascades_invalid_parents() {
    let mut f = Fixture::new();
    let mut body = person(TE, ENROLLMENT, VISIT, OU_FACILITY_1);
    let second = person("TePerson002", "EnCare00002", "EvVisit0002", OU_FACILITY_1);
    let mut bad = second["trackedEntities"][0].clone();
    bad["orgUnit"] = json!("OrgMissing1");
    body["trackedEntities"].as_array_mut().unwrap().push(bad);
    let report = f.run("atomicMode=OBJECT", &body);
    assert_eq!(report["status"], "ERROR", "status stays ERROR with OBJECT");
    assert_eq!(codes(&report), ["E1049", "E5000", "E5000"]);
    assert_eq!(
        report["validationReport"]["errorReports"][1]["message"],
        "\"ENROLLMENT\" `EnCare00002` cannot be persisted because \"TRACKED_ENTITY\" `TePerson002` referenced by it cannot be persisted."
    );
    assert_eq!(stats(&report), [3, 0, 0, 3, 6]);
    assert_eq!(f.store.tracked_entities.keys().collect::<Vec<_>>(), [TE]);
    assert_eq!(f.store.events.len(), 1);

    let mut f = Fixture::new();
    let report = f.run("", &body);
    assert_eq!(stats(&report), [0, 0, 0, 6, 6]);
    assert!(f.store.tracked_entities.is_empty() && f.store.events.is_empty());
}

#[test]
fn validate_mode_stores_nothing() {
    let mut f = Fixture::new();
    let report = f.run("importMode=VALIDATE", &person(TE, ENROLLMENT, VISIT, OU_FACILITY_1));
    assert_eq!(report["status"], "OK");
    assert_eq!(stats(&report), [0, 0, 0, 0, 3]);
    assert!(f.store.tracked_entities.is_empty());
    let report = f.run("importMode=VALIDATE", &person(TE, ENROLLMENT, VISIT, OU_DISTRICT));
    assert_eq!(report["status"], "ERROR");
}

#[test]
fn updates_merge_attributes_and_data_values() {
    let mut f = Fixture::new();
    f.run("", &person(TE, ENROLLMENT, VISIT, OU_FACILITY_1));
    let update = json!({
        "trackedEntities": [{ "trackedEntity": TE, "trackedEntityType": TET_PERSON, "orgUnit": OU_FACILITY_2,
            "attributes": [{ "attribute": ATTR_NAME, "value": null }] }],
    });
    assert_eq!(stats(&f.run("importStrategy=UPDATE", &update)), [0, 1, 0, 0, 1]);
    let te = &f.store.tracked_entities[TE];
    assert_eq!(te["orgUnit"], OU_FACILITY_2);
    assert_eq!(te["attributes"], json!([{ "attribute": ATTR_PATIENT_ID, "value": format!("P-{TE}") }]));

    let moved = json!({ "events": [{ "event": VISIT, "programStage": STAGE_EVENT, "orgUnit": OU_FACILITY_1,
        "occurredAt": "2024-01-10" }] });
    assert_eq!(codes(&f.run("", &moved)), ["E1110", "E1128"]);
    let retype = json!({ "trackedEntities": [{ "trackedEntity": TE, "trackedEntityType": "TetOther001", "orgUnit": OU_FACILITY_1 }] });
    assert_eq!(codes(&f.run("", &retype)), ["E1005"]);
}

#[test]
fn unique_attributes_and_single_active_enrollment() {
    let mut f = Fixture::new();
    f.run("", &person(TE, ENROLLMENT, VISIT, OU_FACILITY_1));
    let mut twin = person("TePerson002", "EnCare00002", "EvVisit0002", OU_FACILITY_1);
    twin["trackedEntities"][0]["attributes"][0]["value"] = json!(format!("P-{TE}"));
    assert_eq!(codes(&f.run("", &twin)), ["E1064", "E5000", "E5000"]);
    let second_enrollment = json!({ "enrollments": [{ "enrollment": "EnCare00003", "trackedEntity": TE,
        "program": PROGRAM_CARE, "orgUnit": OU_FACILITY_1, "enrolledAt": "2024-02-01" }] });
    assert_eq!(codes(&f.run("", &second_enrollment)), ["E1015"]);
}

#[test]
fn delete_cascades_and_deleted_uids_stay_deleted() {
    let mut f = Fixture::new();
    f.run("", &person(TE, ENROLLMENT, VISIT, OU_FACILITY_1));
    let delete = json!({ "trackedEntities": [{ "trackedEntity": TE }] });
    assert_eq!(stats(&f.run("importStrategy=DELETE", &delete)), [0, 0, 1, 0, 1]);
    assert!(f.store.tracked_entities.is_empty() && f.store.enrollments.is_empty() && f.store.events.is_empty());
    let report = f.run("", &person(TE, ENROLLMENT, VISIT, OU_FACILITY_1));
    assert_eq!(codes(&report), ["E1114", "E1113", "E1082"]);
    let missing = json!({ "events": [{ "event": "EvMissing01" }] });
    assert_eq!(codes(&f.run("importStrategy=DELETE", &missing)), ["E1032"]);
}

#[test]
fn fail_fast_reports_one_error_and_full_mode_adds_timings() {
    let mut f = Fixture::new();
    let body = person(TE, ENROLLMENT, VISIT, OU_DISTRICT);
    assert_eq!(codes(&f.run("validationMode=FAIL_FAST", &body)).len(), 1);
    let report = run(&mut f.store, &f.registry, &params(""), &bundle(&body));
    assert!(report.render(ReportMode::Errors).get("timingsStats").is_none());
    assert!(report.render(ReportMode::Full)["timingsStats"]["timers"]["totalImport"].is_string());
    assert_eq!(report.render(ReportMode::Warnings)["validationReport"]["warningReports"], json!([]));
}

#[test]
fn parameters_are_checked() {
    let p = params("");
    assert!(p.is_async && !p.validate_only && p.atomic_all);
    assert_eq!((p.strategy, p.report_mode), (Strategy::CreateAndUpdate, ReportMode::Errors));
    let p = params("async=false&importMode=validate&atomicMode=OBJECT&reportMode=FULL&importStrategy=DELETE");
    assert!(!p.is_async && p.validate_only && !p.atomic_all);
    assert_eq!((p.strategy, p.report_mode), (Strategy::Delete, ReportMode::Full));
    for bad in [
        "async=maybe",
        "importMode=DRY",
        "importStrategy=MERGE",
        "atomicMode=NONE",
        "reportMode=ALL",
        "idScheme=CODE",
        "validationMode=SKIP",
    ] {
        assert!(Params::from_query(bad).is_err(), "{bad}");
    }
}
