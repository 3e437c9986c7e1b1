//! Org units over HTTP: the read endpoints with filters and paging, `POST /api/metadata`,
//! group membership, and how the aggregate importer sees changed org units.

use std::time::Duration;

use dhis2_double::fixture::*;
use dhis2_double::{Dhis2Double, Fault, Version};
use serde_json::{Value, json};

use crate::http::{get, post_import, post_json, request, summary};

fn ids(body: &Value, key: &str) -> Vec<String> {
    body[key].as_array().unwrap().iter().map(|o| o["id"].as_str().unwrap().to_owned()).collect()
}

async fn unit_ids(dhis2: &Dhis2Double, query: &str) -> Vec<String> {
    let reply = get(dhis2, &format!("/api/organisationUnits?{query}")).await;
    assert_eq!(reply.status, 200, "{query}: {}", reply.body);
    ids(&reply.json(), "organisationUnits")
}

#[tokio::test]
async fn the_fixture_hierarchy_is_listed_with_pager_and_full_objects() {
    let dhis2 = Dhis2Double::start(Version::V2_40).await;
    let body = get(&dhis2, "/api/organisationUnits?fields=id,name,parent[id]").await.json();
    assert_eq!(body["pager"], json!({ "page": 1, "pageCount": 1, "total": 8, "pageSize": 50 }));
    assert_eq!(
        ids(&body, "organisationUnits"),
        [
            OU_ROOT,
            OU_DISTRICT,
            OU_DISTRICT_2,
            OU_SUBCOUNTY,
            OU_SUBCOUNTY_2,
            OU_FACILITY_1,
            OU_FACILITY_2,
            OU_FACILITY_3
        ]
    );
    let facility = &body["organisationUnits"][5];
    assert_eq!(facility["name"], OU_FACILITY_1_NAME);
    assert_eq!(facility["shortName"], OU_FACILITY_1_NAME);
    assert_eq!(facility["code"], OU_FACILITY_1_CODE);
    assert_eq!(facility["path"], format!("/{OU_ROOT}/{OU_DISTRICT}/{OU_SUBCOUNTY}/{OU_FACILITY_1}"));
    assert_eq!(facility["level"], 4);
    assert_eq!(facility["parent"], json!({ "id": OU_SUBCOUNTY }));
    assert_eq!(facility["openingDate"], OPENING_DATE);
    assert_eq!(facility["lastUpdated"], METADATA_LAST_UPDATED);
    assert_eq!(facility["organisationUnitGroups"], json!([{ "id": OUG_PUBLIC }]));
    assert!(body["organisationUnits"][0].get("parent").is_none(), "the root has no parent");

    let only_ids = get(&dhis2, "/api/organisationUnits?fields=id&paging=false").await.json();
    assert!(only_ids.get("pager").is_none());
    assert_eq!(only_ids["organisationUnits"][0], json!({ "id": OU_ROOT }));
    assert_eq!(dhis2.org_units().len(), 8);
    assert_eq!(dhis2.org_unit(OU_FACILITY_3).unwrap()["parent"]["id"], OU_SUBCOUNTY_2);
    assert!(dhis2.org_unit("OrgMissing1").is_none());

    let one = get(&dhis2, &format!("/api/organisationUnits/{OU_DISTRICT_2}")).await;
    assert_eq!(one.json()["level"], 2);
    let missing = get(&dhis2, "/api/organisationUnits/OrgMissing1").await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["message"], "OrganisationUnit with id OrgMissing1 could not be found.");
    assert_eq!(dhis2.org_unit_requests(), 4);
}

#[tokio::test]
async fn filters_order_and_paging() {
    let dhis2 = Dhis2Double::start(Version::V2_43).await;
    assert_eq!(
        unit_ids(&dhis2, &format!("filter=path:like:{OU_DISTRICT_2}")).await,
        [OU_DISTRICT_2, OU_SUBCOUNTY_2, OU_FACILITY_3]
    );
    assert_eq!(unit_ids(&dhis2, "filter=level:eq:3").await, [OU_SUBCOUNTY, OU_SUBCOUNTY_2]);
    assert_eq!(unit_ids(&dhis2, "filter=level:le:2&order=level:asc").await, [OU_ROOT, OU_DISTRICT, OU_DISTRICT_2]);
    assert_eq!(unit_ids(&dhis2, &format!("filter=code:eq:{OU_FACILITY_2_CODE}")).await, [OU_FACILITY_2]);
    let both = unit_ids(&dhis2, &format!("filter=id:in:[{OU_FACILITY_3},{OU_ROOT}]")).await;
    assert_eq!(both, [OU_ROOT, OU_FACILITY_3]);
    let and = format!("filter=path:like:{OU_DISTRICT}&filter=level:eq:4");
    assert_eq!(unit_ids(&dhis2, &and).await, [OU_FACILITY_1, OU_FACILITY_2]);
    assert_eq!(unit_ids(&dhis2, "level=4&order=name:desc").await, [OU_FACILITY_3, OU_FACILITY_2, OU_FACILITY_1]);

    let first = get(&dhis2, "/api/organisationUnits?pageSize=3&fields=id&order=level:asc").await.json();
    assert_eq!(first["pager"]["pageCount"], 3);
    assert_eq!(ids(&first, "organisationUnits"), [OU_ROOT, OU_DISTRICT, OU_DISTRICT_2]);
    let next = first["pager"]["nextPage"].as_str().unwrap();
    let path = next.strip_prefix(&dhis2.base_url()).unwrap();
    assert!(path.starts_with("/api/organisationUnits?page=2&"), "{path}");
    let second = get(&dhis2, path).await.json();
    assert_eq!(ids(&second, "organisationUnits"), [OU_SUBCOUNTY, OU_SUBCOUNTY_2, OU_FACILITY_1]);
    assert_eq!(second["pager"]["page"], 2);
    let last = get(&dhis2, "/api/organisationUnits?pageSize=3&page=3").await.json();
    assert_eq!(ids(&last, "organisationUnits"), [OU_FACILITY_2, OU_FACILITY_3]);
    assert!(last["pager"].get("nextPage").is_none());

    for bad in [
        "filter=geometry:null",
        "filter=level:eq:four",
        "filter=name:matches:x",
        "filter=lastUpdated:gt:soon",
        "page=first",
    ] {
        let reply = get(&dhis2, &format!("/api/organisationUnits?{bad}")).await;
        assert_eq!(reply.status, 400, "{bad}");
        assert_eq!(reply.json()["httpStatus"], "Bad Request");
        assert_eq!(reply.json()["status"], "ERROR");
    }
}

#[tokio::test]
async fn added_and_renamed_units_show_up_in_an_incremental_sync() {
    let dhis2 = Dhis2Double::start(Version::V2_40).await;
    let since = format!("filter=lastUpdated:gt:{METADATA_LAST_UPDATED}");
    assert!(unit_ids(&dhis2, &since).await.is_empty());
    dhis2.add_org_unit("OrgFac00004", "Facility 4", "FAC004", Some(OU_SUBCOUNTY_2));
    dhis2.rename_org_unit(OU_FACILITY_2, "Facility Two");
    assert_eq!(unit_ids(&dhis2, &since).await, ["OrgFac00004", OU_FACILITY_2]);
    let added = dhis2.org_unit("OrgFac00004").unwrap();
    assert_eq!(added["path"], format!("/{OU_ROOT}/{OU_DISTRICT_2}/{OU_SUBCOUNTY_2}/OrgFac00004"));
    assert_eq!(added["level"], 4);
    assert_eq!(dhis2.org_unit(OU_FACILITY_2).unwrap()["name"], "Facility Two");
    // A watermark taken now excludes both.
    let watermark = added["lastUpdated"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let later = format!("filter=lastUpdated:gt:{watermark}");
    let newer: Vec<String> = unit_ids(&dhis2, &later).await;
    assert!(!newer.contains(&"OrgFac00004".to_owned()));
}

#[test]
#[should_panic(expected = "already exists")]
fn adding_an_existing_unit_panics() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let dhis2 = Dhis2Double::start(Version::V2_40).await;
        dhis2.add_org_unit(OU_FACILITY_1, "Again", "AGAIN", None);
    });
}

#[tokio::test]
async fn levels_and_groups() {
    let dhis2 = Dhis2Double::start(Version::V2_37).await;
    let levels = get(&dhis2, "/api/organisationUnitLevels?fields=id,level,name&paging=false").await.json();
    let levels = levels["organisationUnitLevels"].as_array().unwrap().clone();
    let names: Vec<(u64, &str)> =
        levels.iter().map(|l| (l["level"].as_u64().unwrap(), l["name"].as_str().unwrap())).collect();
    assert_eq!(names, [(1, "National"), (2, "District"), (3, "Sub-county"), (4, "Facility")]);
    assert_eq!(levels[3]["id"], OU_LEVEL_FACILITY);
    let paged = get(&dhis2, "/api/organisationUnitLevels").await.json();
    assert_eq!(paged["pager"]["total"], 4);

    let groups =
        get(&dhis2, "/api/organisationUnitGroups?fields=id,name,code,organisationUnits[id]&paging=false").await.json();
    let public =
        groups["organisationUnitGroups"].as_array().unwrap().iter().find(|g| g["id"] == OUG_PUBLIC).unwrap().clone();
    assert_eq!(public["name"], OUG_PUBLIC_NAME);
    assert_eq!(public["shortName"], OUG_PUBLIC_NAME);
    assert_eq!(public["code"], OUG_PUBLIC_CODE);
    assert_eq!(public["organisationUnits"], json!([{ "id": OU_FACILITY_1 }, { "id": OU_FACILITY_3 }]));
    assert_eq!(dhis2.group_members(OUG_PRIVATE), [OU_FACILITY_2]);
    assert!(dhis2.group_members("OugMissing1").is_empty());
}

#[tokio::test]
async fn group_membership_can_be_added_and_removed() {
    let dhis2 = Dhis2Double::start(Version::V2_43).await;
    let target = format!("/api/organisationUnitGroups/{OUG_PRIVATE}/organisationUnits/{OU_FACILITY_3}");
    let reply = request(&dhis2, "POST", &target, "").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json()["status"], "OK");
    assert_eq!(reply.json()["response"]["stats"]["updated"], 1);
    assert_eq!(dhis2.group_members(OUG_PRIVATE), [OU_FACILITY_2, OU_FACILITY_3]);
    // Idempotent.
    let again = request(&dhis2, "POST", &target, "").await;
    assert_eq!(again.status, 200);
    assert_eq!(again.json()["response"]["stats"]["ignored"], 1);
    assert_eq!(dhis2.group_members(OUG_PRIVATE).len(), 2);
    let groups = dhis2.org_unit(OU_FACILITY_3).unwrap()["organisationUnitGroups"].clone();
    assert_eq!(groups, json!([{ "id": OUG_PRIVATE }, { "id": OUG_PUBLIC }]));

    assert_eq!(request(&dhis2, "DELETE", &target, "").await.status, 200);
    assert_eq!(dhis2.group_members(OUG_PRIVATE), [OU_FACILITY_2]);

    let unknown_group = request(
        &dhis2,
        "POST",
        &format!("/api/organisationUnitGroups/OugMissing1/organisationUnits/{OU_FACILITY_1}"),
        "",
    )
    .await;
    assert_eq!(unknown_group.status, 404);
    assert_eq!(unknown_group.json()["message"], "OrganisationUnitGroup with id OugMissing1 could not be found.");
    let unknown_unit =
        request(&dhis2, "POST", &format!("/api/organisationUnitGroups/{OUG_PUBLIC}/organisationUnits/OrgMissing1"), "")
            .await;
    assert_eq!(unknown_unit.status, 404);
    assert_eq!(unknown_unit.json()["httpStatusCode"], 404);
}

fn unit(id: &str, name: &str, parent: Option<&str>) -> Value {
    let mut unit =
        json!({ "id": id, "name": name, "shortName": name, "code": id.to_uppercase(), "openingDate": "2020-01-01" });
    if let Some(parent) = parent {
        unit["parent"] = json!({ "id": parent });
    }
    unit
}

/// The report inside a metadata answer, wherever the version puts it.
fn report(version: Version, body: &Value) -> Value {
    if version == Version::V2_37 { body.clone() } else { body["response"].clone() }
}

#[tokio::test]
async fn a_cleared_double_receives_a_hierarchy_through_metadata_imports() {
    for version in [Version::V2_37, Version::V2_40, Version::V2_43] {
        let cc = Dhis2Double::start(version).await;
        cc.clear_org_units();
        assert!(cc.org_units().is_empty());
        assert_eq!(get(&cc, "/api/organisationUnitLevels").await.json()["organisationUnitLevels"], json!([]));
        // Children before parents: references resolve anywhere in the payload.
        let payload = json!({
            "organisationUnits": [
                unit("OrgFacil001", "Facility", Some("OrgDistr001")),
                unit("OrgDistr001", "District", Some("OrgRoot0001")),
                unit("OrgRoot0001", "Root", None),
            ],
            "organisationUnitLevels": [{ "id": "OulLevel001", "level": 1, "name": "National" }],
            "organisationUnitGroups": [
                { "id": "OugGroup001", "name": "Public", "shortName": "Public", "organisationUnits": [{ "id": "OrgFacil001" }] },
            ],
        });
        let reply = post_json(&cc, "/api/metadata", &payload).await;
        assert_eq!(reply.status, 200, "{version:?}: {}", reply.body);
        let body = reply.json();
        match version {
            Version::V2_37 => assert!(body.get("httpStatusCode").is_none()),
            _ => {
                assert_eq!((body["httpStatus"].as_str(), body["status"].as_str()), (Some("OK"), Some("OK")));
                assert_eq!(body["response"]["responseType"], "ImportReport");
            }
        }
        let report = report(version, &body);
        assert_eq!(report["status"], "OK");
        assert_eq!(report["stats"], json!({ "created": 5, "updated": 0, "deleted": 0, "ignored": 0, "total": 5 }));
        assert_eq!(report["typeReports"][0]["klass"], "org.hisp.dhis.organisationunit.OrganisationUnit");
        assert_eq!(report["typeReports"][0]["stats"]["created"], 3);
        assert_eq!(report["typeReports"][0]["objectReports"], json!([]), "ERRORS mode lists failures only");
        assert_eq!(report["importParams"]["importStrategy"], "CREATE_AND_UPDATE");

        let facility = cc.org_unit("OrgFacil001").unwrap();
        assert_eq!(facility["path"], "/OrgRoot0001/OrgDistr001/OrgFacil001");
        assert_eq!(facility["level"], 3);
        assert_eq!(facility["openingDate"], "2020-01-01T00:00:00.000");
        assert_eq!(cc.group_members("OugGroup001"), ["OrgFacil001"]);
        assert_eq!(cc.metadata_imports(), [payload]);
    }
}

#[tokio::test]
async fn metadata_errors_follow_dhis2() {
    let dhis2 = Dhis2Double::start(Version::V2_40).await;
    let mut nameless = unit("OrgNew00001", "New", Some(OU_SUBCOUNTY));
    nameless.as_object_mut().unwrap().remove("name");
    let payload = json!({
        "organisationUnits": [
            nameless,
            unit("OrgNew00002", "Orphan", Some("OrgMissing1")),
            unit("OrgNew00003", "Fine", Some(OU_SUBCOUNTY)),
        ],
    });
    let reply = post_json(&dhis2, "/api/metadata", &payload).await;
    assert_eq!(reply.status, 409);
    let body = reply.json();
    assert_eq!(body["httpStatus"], "Conflict");
    assert_eq!(body["status"], "WARNING");
    assert_eq!(body["message"], "One or more errors occurred, please see full details in import report.");
    let report = &body["response"];
    assert_eq!(report["status"], "ERROR");
    assert_eq!(report["stats"]["ignored"], 3, "atomic ALL ignores everything");
    let objects = report["typeReports"][0]["objectReports"].as_array().unwrap();
    assert_eq!(objects.len(), 2);
    let missing = &objects[0]["errorReports"][0];
    assert_eq!(missing["errorCode"], "E4000");
    assert_eq!(missing["message"], "Missing required property `name`.");
    assert_eq!(missing["errorProperty"], "name");
    assert_eq!(missing["mainKlass"], "org.hisp.dhis.organisationunit.OrganisationUnit");
    assert_eq!(objects[0]["uid"], "OrgNew00001");
    assert_eq!(objects[0]["index"], 0);
    assert_eq!(objects[1]["errorReports"][0]["errorCode"], "E5002");
    assert!(dhis2.org_unit("OrgNew00003").is_none());

    // atomicMode=NONE keeps the valid one; the status is WARNING.
    let reply = post_json(&dhis2, "/api/metadata?atomicMode=NONE", &payload).await;
    assert_eq!(reply.status, 409);
    let report = &reply.json()["response"];
    assert_eq!(report["status"], "WARNING");
    assert_eq!((report["stats"]["created"].as_u64(), report["stats"]["ignored"].as_u64()), (Some(1), Some(2)));
    assert_eq!(dhis2.org_unit("OrgNew00003").unwrap()["level"], 4);

    // CREATE of an existing unit, code clashes, bad UIDs, closing before opening.
    let mut closed = unit("OrgNew00004", "Closed", Some(OU_ROOT));
    closed["closedDate"] = json!("2019-01-01");
    let payload = json!({ "organisationUnits": [
        unit(OU_FACILITY_1, "Again", Some(OU_SUBCOUNTY)),
        { "id": "OrgNew00005", "name": "Clash", "shortName": "Clash", "code": OU_FACILITY_2_CODE, "openingDate": "2020-01-01" },
        unit("bad-uid", "Bad", None),
        closed,
    ] });
    let reply = post_json(&dhis2, "/api/metadata?importStrategy=CREATE&importReportMode=FULL", &payload).await;
    let objects = reply.json()["response"]["typeReports"][0]["objectReports"].as_array().unwrap().clone();
    let codes: Vec<&str> = objects.iter().map(|o| o["errorReports"][0]["errorCode"].as_str().unwrap()).collect();
    assert_eq!(codes, ["E5000", "E5003", "E4014", "E4013"]);

    // UPDATE of a missing unit; VALIDATE stores nothing.
    let reply = post_json(
        &dhis2,
        "/api/metadata?importStrategy=UPDATE",
        &json!({ "organisationUnits": [unit("OrgNew00009", "X", None)] }),
    )
    .await;
    assert_eq!(reply.json()["response"]["typeReports"][0]["objectReports"][0]["errorReports"][0]["errorCode"], "E5001");
    let reply = post_json(
        &dhis2,
        "/api/metadata?importMode=VALIDATE",
        &json!({ "organisationUnits": [unit("OrgNew00009", "X", None)] }),
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["response"]["stats"]["created"], 0);
    assert!(dhis2.org_unit("OrgNew00009").is_none());

    // 2.43 dropped the period of E4000.
    dhis2.set_version(Version::V2_43);
    let reply = post_json(
        &dhis2,
        "/api/metadata",
        &json!({ "organisationUnits": [{ "id": "OrgNew00010", "openingDate": "2020-01-01" }] }),
    )
    .await;
    let errors = reply.json()["response"]["typeReports"][0]["objectReports"][0]["errorReports"].clone();
    assert_eq!(errors[0]["message"], "Missing required property `name`");
    assert_eq!(errors[1]["message"], "Missing required property `shortName`");

    for bad in ["importMode=DRY", "importStrategy=MERGE", "atomicMode=OBJECT", "identifier=CODE"] {
        assert_eq!(post_json(&dhis2, &format!("/api/metadata?{bad}"), &json!({})).await.status, 400, "{bad}");
    }
    assert_eq!(request(&dhis2, "POST", "/api/metadata", "{oops").await.status, 400);
    assert_eq!(post_json(&dhis2, "/api/metadata", &json!({ "organisationUnits": {} })).await.status, 400);
}

#[tokio::test]
async fn updates_overwrite_every_property_and_parent_cycles_are_refused() {
    let dhis2 = Dhis2Double::start(Version::V2_43).await;
    // No code and no parent: the code is cleared and the unit becomes a root.
    let update = json!({ "organisationUnits": [{ "id": OU_SUBCOUNTY_2, "name": "Moved", "shortName": "Moved", "openingDate": "2001-01-01" }] });
    let reply = post_json(&dhis2, "/api/metadata", &update).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json()["response"]["stats"]["updated"], 1);
    let moved = dhis2.org_unit(OU_SUBCOUNTY_2).unwrap();
    assert!(moved.get("code").is_none() && moved.get("parent").is_none());
    assert_eq!(moved["level"], 1);
    let facility = dhis2.org_unit(OU_FACILITY_3).unwrap();
    assert_eq!(facility["path"], format!("/{OU_SUBCOUNTY_2}/{OU_FACILITY_3}"), "descendants follow");
    assert!(facility["dataSets"].as_array().unwrap().len() == 3, "assignments are not the import's business");

    let cycle = json!({ "organisationUnits": [unit(OU_SUBCOUNTY_2, "Loop", Some(OU_FACILITY_3))] });
    let reply = post_json(&dhis2, "/api/metadata", &cycle).await;
    assert_eq!(reply.status, 409);
    let error = &reply.json()["response"]["typeReports"][0]["objectReports"][0]["errorReports"][0];
    assert_eq!(error["errorCode"], "E5002");
    assert_eq!(error["errorProperty"], "parent");

    let delete = json!({ "organisationUnits": [{ "id": OU_SUBCOUNTY }] });
    let reply = post_json(&dhis2, "/api/metadata?importStrategy=DELETE", &delete).await;
    assert_eq!(reply.json()["response"]["typeReports"][0]["objectReports"][0]["errorReports"][0]["errorCode"], "E4030");
    let delete =
        json!({ "organisationUnits": [{ "id": OU_FACILITY_1 }, { "id": OU_FACILITY_2 }, { "id": OU_SUBCOUNTY }] });
    let reply = post_json(&dhis2, "/api/metadata?importStrategy=DELETE", &delete).await;
    assert_eq!(reply.json()["response"]["stats"]["deleted"], 3);
    assert!(dhis2.org_unit(OU_FACILITY_1).is_none());
    assert_eq!(dhis2.group_members(OUG_PUBLIC), [OU_FACILITY_3]);
}

#[tokio::test]
async fn data_values_follow_the_org_unit_store() {
    let dhis2 = Dhis2Double::start(Version::V2_43).await;
    let set = |ou: &str| {
        json!({ "dataSet": DS_MONTHLY_HIV, "period": "202401", "orgUnit": ou,
                "dataValues": [{ "dataElement": DE_POSITIVES, "value": "4" }] })
    };
    for ou in [OU_FACILITY_1, OU_FACILITY_3] {
        let reply = post_import(&dhis2, "", &set(ou)).await;
        assert_eq!(summary(Version::V2_43, &reply)["status"], "SUCCESS", "{ou}");
    }
    dhis2.add_org_unit("OrgFac00004", "Facility 4", "FAC004", Some(OU_SUBCOUNTY));
    assert_eq!(summary(Version::V2_43, &post_import(&dhis2, "", &set("OrgFac00004")).await)["status"], "SUCCESS");
    let by_code = json!({ "dataSet": DS_MONTHLY_HIV, "period": "202402", "orgUnit": "FAC004",
                          "dataValues": [{ "dataElement": DE_POSITIVES, "value": "4" }] });
    let reply = post_import(&dhis2, "orgUnitIdScheme=CODE", &by_code).await;
    assert_eq!(summary(Version::V2_43, &reply)["status"], "SUCCESS");
    assert!(dhis2.value(DE_POSITIVES, "202402", "OrgFac00004", DEFAULT_COC).is_some());

    // A unit created by a metadata import has no data sets, like in DHIS2.
    let payload = json!({ "organisationUnits": [unit("OrgFac00005", "Facility 5", Some(OU_SUBCOUNTY))] });
    assert_eq!(post_json(&dhis2, "/api/metadata", &payload).await.status, 200);
    let reply = post_import(&dhis2, "", &set("OrgFac00005")).await;
    assert_eq!(summary(Version::V2_43, &reply)["conflicts"][0]["errorCode"], "E8022");

    dhis2.clear_org_units();
    let reply = post_import(&dhis2, "", &set(OU_FACILITY_1)).await;
    assert_eq!(reply.status, 409);
    assert_eq!(summary(Version::V2_43, &reply)["conflicts"][0]["errorCode"], "E8102");
}

#[tokio::test]
async fn metadata_imports_take_write_faults() {
    let dhis2 = Dhis2Double::start(Version::V2_40).await;
    dhis2.fail_next(Fault::Status(503), 1);
    let payload = json!({ "organisationUnits": [unit("OrgNew00001", "New", Some(OU_ROOT))] });
    assert_eq!(post_json(&dhis2, "/api/metadata", &payload).await.status, 503);
    assert!(dhis2.metadata_imports().is_empty());
    assert!(dhis2.org_unit("OrgNew00001").is_none());
    // Reads are never faulted.
    dhis2.fail_next(Fault::Status(503), 1);
    assert_eq!(get(&dhis2, "/api/organisationUnits").await.status, 200);
    assert_eq!(post_json(&dhis2, "/api/metadata", &payload).await.status, 503);
    assert_eq!(post_json(&dhis2, "/api/metadata", &payload).await.status, 200);
    assert_eq!(dhis2.metadata_imports().len(), 1);
    dhis2.reset_counters();
    assert!(dhis2.metadata_imports().is_empty());
    assert_eq!(dhis2.org_unit_requests(), 0);
}
