//! The org-unit hierarchy: synced from DHIS2 (first in full, then what changed), searchable,
//! used to check and translate the org unit of every submission, and pushed to CC servers.

use std::time::Duration;

use dhis2_double::{Dhis2Double, Version, fixture};
use dhis2gw_wire::Role;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::servers::{cc_server, conf_dir};
use dhis2gw_test_support::*;

fn uids(page: &Value) -> Vec<&str> {
    page["items"].as_array().unwrap().iter().map(|u| u["uid"].as_str().unwrap()).collect()
}

async fn synced_pipeline() -> Pipeline {
    pipeline(Version::V2_40, |c| {
        c.api.dhis2_facility_level = 4;
        c.api.dhis2_district_oulevel_name = "District".into();
    })
    .await
}

#[tokio::test]
async fn the_hierarchy_is_synced_in_full_then_incrementally_and_searchable() {
    let p = synced_pipeline().await;
    assert_eq!(p.get_as_admin("/api/v2/orgunits").await["total"], 0);
    let first = expect_json(p.sync_org_units().await, StatusCode::OK).await;
    assert_eq!(
        (first["incremental"].as_bool(), first["levels"].as_u64(), first["units"].as_u64(), first["groups"].as_u64()),
        (Some(false), Some(4), Some(8), Some(2)),
        "{first}"
    );
    let facilities = p.get_as_admin("/api/v2/orgunits?level=4").await;
    assert_eq!(uids(&facilities), [fixture::OU_FACILITY_1, fixture::OU_FACILITY_2, fixture::OU_FACILITY_3]);
    let children = p.get_as_admin(&format!("/api/v2/orgunits?parent={}", fixture::OU_SUBCOUNTY)).await;
    assert_eq!(uids(&children), [fixture::OU_FACILITY_1, fixture::OU_FACILITY_2]);
    let within = p.get_as_admin(&format!("/api/v2/orgunits?within={}&level=4", fixture::OU_DISTRICT_2)).await;
    assert_eq!(uids(&within), [fixture::OU_FACILITY_3]);
    let by_code = p.get_as_admin(&format!("/api/v2/orgunits?q={}", fixture::OU_FACILITY_2_CODE.to_lowercase())).await;
    assert_eq!(uids(&by_code), [fixture::OU_FACILITY_2]);
    let facility_1 = &facilities["items"][0];
    assert_eq!(facility_1["groups"], json!([fixture::OUG_PUBLIC]));
    assert_eq!(facility_1["parent"], fixture::OU_SUBCOUNTY);
    assert!(facility_1["path"].as_str().unwrap().starts_with(&format!("/{}/", fixture::OU_ROOT)));
    let levels = p.get_as_admin("/api/v2/orgunits/levels").await;
    let marked: Vec<(i64, bool, bool)> = levels
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (l["level"].as_i64().unwrap(), l["is_district"].as_bool().unwrap(), l["is_facility"].as_bool().unwrap())
        })
        .collect();
    assert_eq!(marked, [(1, false, false), (2, true, false), (3, false, false), (4, false, true)]);

    // Only what changed since is read the next time.
    p.dhis2.rename_org_unit(fixture::OU_FACILITY_2, "Facility Two (renamed)");
    p.dhis2.add_org_unit("OrgFac00004", "Facility 4", "FAC004", Some(fixture::OU_SUBCOUNTY_2));
    let next = expect_json(p.sync_org_units().await, StatusCode::OK).await;
    assert_eq!((next["incremental"].as_bool(), next["units"].as_u64()), (Some(true), Some(2)), "{next}");
    let renamed = p.get_as_admin(&format!("/api/v2/orgunits?code={}", fixture::OU_FACILITY_2_CODE)).await;
    assert_eq!(renamed["items"][0]["name"], "Facility Two (renamed)");
    assert_eq!(p.get_as_admin("/api/v2/orgunits?level=4").await["total"], 4);

    let viewer = p.app.user("viewer", Role::Viewer).await;
    let r = p.app.request(Method::POST, "/api/v2/orgunits/sync").bearer_auth(&viewer.jwt).send().await.unwrap();
    expect_error(r, StatusCode::FORBIDDEN).await;
    let r = p.app.request(Method::GET, "/api/v2/orgunits").bearer_auth(&viewer.jwt).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = p.app.request(Method::GET, "/api/v2/orgunits?colour=red").bearer_auth(&viewer.jwt).send().await.unwrap();
    expect_error(r, StatusCode::BAD_REQUEST).await;

    p.dhis2.set_down(true);
    let failed = expect_error(p.sync_org_units().await, StatusCode::SERVICE_UNAVAILABLE).await;
    assert!(failed["error"].as_str().unwrap().starts_with("Org-unit sync failed"), "{failed}");
}

#[tokio::test]
async fn once_synced_submissions_must_name_a_known_facility_by_uid_or_code() {
    let p = synced_pipeline().await;
    // Before any sync nothing is checked beyond the UID shape.
    let unknown = json!({"orgUnit": "OrgUnknown1", "period": "202401", "dataSet": fixture::DS_MONTHLY_HIV, "dataValues": {"positives": 1}});
    expect_json(p.post(&unknown).await, StatusCode::OK).await;
    expect_json(p.sync_org_units().await, StatusCode::OK).await;

    let body = expect_error(p.post(&unknown).await, StatusCode::BAD_REQUEST).await;
    assert!(
        details(&body)[0].starts_with("orgUnit: 'OrgUnknown1' is not in the organisation-unit hierarchy"),
        "{body}"
    );
    // One answer names every bad field: the org unit too when the period is also wrong.
    for (org_unit, problem) in [
        ("OrgUnknown1", "is not in the organisation-unit hierarchy"),
        ("NO SUCH CODE", "no org unit (ou) mapping translates it"),
    ] {
        let both = json!({"orgUnit": org_unit, "period": "2024-13", "dataSet": fixture::DS_MONTHLY_HIV, "dataValues": {"positives": 1}});
        let body = expect_error(p.post(&both).await, StatusCode::BAD_REQUEST).await;
        let fields: Vec<String> = details(&body);
        assert!(fields.iter().any(|d| d.starts_with("period:")), "{body}");
        assert!(fields.iter().any(|d| d.starts_with("orgUnit:") && d.contains(problem)), "{body}");
    }
    let district = json!({"orgUnit": fixture::OU_DISTRICT, "period": "202401", "dataSet": fixture::DS_MONTHLY_HIV, "dataValues": {"positives": 1}});
    let body = expect_error(p.post(&district).await, StatusCode::BAD_REQUEST).await;
    assert!(details(&body)[0].contains("is at level 2, above the facility level 4"), "{body}");
    let by_code = json!({"orgUnit": fixture::OU_FACILITY_1_CODE, "period": "202401", "dataSet": fixture::DS_MONTHLY_HIV, "dataValues": {"positives": 1}});
    let accepted = expect_json(p.post(&by_code).await, StatusCode::OK).await;
    assert_eq!(accepted["payload"]["orgUnit"], fixture::OU_FACILITY_1, "a facility code becomes its UID");
}

#[tokio::test]
async fn changes_are_pushed_to_cc_servers_as_tracked_retryable_jobs() {
    let hierarchy = Dhis2Double::start(Version::V2_40).await;
    hierarchy.clear_org_units();
    hierarchy.set_down(true);
    let (create, update, groups) = (
        Dhis2Double::start(Version::V2_43).await,
        Dhis2Double::start(Version::V2_37).await,
        Dhis2Double::start(Version::V2_40).await,
    );
    let dir = conf_dir(json!([
        cc_server("hierarchy", &hierarchy),
        cc_server("create", &create),
        cc_server("update", &update),
        cc_server("groups", &groups)
    ]));
    let p = pipeline(Version::V2_40, |c| {
        c.api.dhis2_facility_level = 4;
        c.server.conf_dir = dir.clone();
        c.api.cc_dhis2_hierarchy_servers = vec!["hierarchy".into()];
        c.api.cc_dhis2_create_servers = vec!["create".into()];
        c.api.cc_dhis2_update_servers = vec!["update".into()];
        c.api.cc_dhis2_ou_group_add_servers = vec!["groups".into()];
        c.api.metadata_batch_size = 3;
        // The hierarchy server is down for a while: more retries than that lasts.
        c.server.max_retries = 10;
    })
    .await;

    // The first sync sends the whole hierarchy to the hierarchy server only; it is down for a while.
    let first = expect_json(p.sync_org_units().await, StatusCode::OK).await;
    let pushes: Vec<i64> = serde_json::from_value(first["pushes"].clone()).unwrap();
    assert_eq!(pushes.len(), 1, "{first}");
    let waiting = p.settled(pushes[0], &["retrying"], Duration::from_secs(15)).await;
    assert_eq!(waiting["kind"], "metadata");
    hierarchy.set_down(false);
    let done = p.settled(pushes[0], &["succeeded", "warning", "failed", "dead"], Duration::from_secs(20)).await;
    assert_eq!(done["status"], "succeeded", "{done:#}");
    let attempt = done["attempts"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(attempt["import_count"]["imported"], 12, "8 units and 4 levels: {attempt:#}");
    let report: Value = serde_json::from_str(attempt["response_body"].as_str().unwrap()).unwrap();
    assert_eq!(report["batches"], 3, "8 units in batches of 3, levels with the first");
    assert_eq!(hierarchy.org_units().len(), 8);
    let facility = hierarchy.org_unit(fixture::OU_FACILITY_3).unwrap();
    assert_eq!(facility["parent"]["id"], fixture::OU_SUBCOUNTY_2, "{facility}");

    // What changes afterwards goes where it is configured to go.
    p.dhis2.rename_org_unit(fixture::OU_FACILITY_2, "Facility Two");
    p.dhis2.add_org_unit("OrgFac00004", "Facility 4", "FAC004", Some(fixture::OU_SUBCOUNTY_2));
    let added = reqwest::Client::new()
        .post(format!(
            "{}/api/organisationUnitGroups/{}/organisationUnits/{}",
            p.dhis2.base_url(),
            fixture::OUG_PUBLIC,
            fixture::OU_FACILITY_2
        ))
        .basic_auth(dhis2_double::USERNAME, Some(dhis2_double::PASSWORD))
        .send()
        .await
        .unwrap();
    assert!(added.status().is_success());
    let next = expect_json(p.sync_org_units().await, StatusCode::OK).await;
    let pushes: Vec<i64> = serde_json::from_value(next["pushes"].clone()).unwrap();
    assert_eq!(pushes.len(), 4, "hierarchy, new units, changed units, memberships: {next}");
    for id in &pushes {
        let log = p.settled(*id, &["succeeded", "warning", "failed", "dead"], Duration::from_secs(20)).await;
        assert_eq!(log["status"], "succeeded", "{log:#}");
    }
    assert!(create.org_unit("OrgFac00004").is_some(), "the new unit reached the create server");
    assert_eq!(
        create.org_unit(fixture::OU_FACILITY_2).unwrap()["name"],
        fixture::OU_FACILITY_2_NAME,
        "and nothing else"
    );
    assert_eq!(update.org_unit(fixture::OU_FACILITY_2).unwrap()["name"], "Facility Two");
    assert!(update.org_unit("OrgFac00004").is_none());
    assert!(groups.group_members(fixture::OUG_PUBLIC).contains(&fixture::OU_FACILITY_2.to_string()));
    assert_eq!(hierarchy.org_unit(fixture::OU_FACILITY_2).unwrap()["name"], "Facility Two");
    assert!(hierarchy.org_unit("OrgFac00004").is_some());

    // A push is requeued like any submission: the same metadata again.
    let r =
        p.app.request(Method::POST, &format!("/api/v2/logs/{}/restart", pushes[0])).bearer_auth(&p.admin.jwt).send();
    expect_json(r.await.unwrap(), StatusCode::OK).await;
    let again = p.settled(pushes[0], &["succeeded", "warning", "failed", "dead"], Duration::from_secs(20)).await;
    assert_eq!(again["status"], "succeeded", "{again:#}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_data_set_dhis2_assigns_to_districts_is_accepted_there_once_the_metadata_says_so() {
    let p = synced_pipeline().await;
    expect_json(p.sync_org_units().await, StatusCode::OK).await;
    let at = |unit: &str| json!({"orgUnit": unit, "period": "202401", "dataSet": fixture::DS_MONTHLY_HIV, "dataValues": {"positives": 1}});
    let body = expect_error(p.post(&at(fixture::OU_DISTRICT)).await, StatusCode::BAD_REQUEST).await;
    assert!(details(&body)[0].contains("above the facility level 4"), "{body}");

    p.dhis2.assign_data_set(fixture::OU_DISTRICT, fixture::DS_MONTHLY_HIV);
    expect_json(p.sync_metadata().await, StatusCode::OK).await;
    let accepted = expect_json(p.post(&at(fixture::OU_DISTRICT)).await, StatusCode::OK).await;
    let id = accepted["submission_id"].as_i64().unwrap();
    assert_eq!(p.settled(id, FINAL, Duration::from_secs(30)).await["status"], "succeeded");
    assert!(p.dhis2.value(fixture::DE_POSITIVES, "202401", fixture::OU_DISTRICT, fixture::DEFAULT_COC).is_some());
    // A district the data set is not assigned to is refused by what DHIS2's metadata says.
    let body = expect_error(p.post(&at(fixture::OU_DISTRICT_2)).await, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert!(body.to_string().contains("not assigned"), "{body}");
}

#[tokio::test]
async fn without_metadata_the_levels_the_site_configures_are_accepted() {
    let p = pipeline(Version::V2_40, |c| {
        c.api.dhis2_facility_level = 4;
        c.api.submission_levels = vec![2, 4];
    })
    .await;
    expect_json(p.sync_org_units().await, StatusCode::OK).await;
    let at = |unit: &str| json!({"orgUnit": unit, "period": "202401", "dataSet": fixture::DS_MONTHLY_HIV, "dataValues": {"positives": 1}});
    expect_json(p.post(&at(fixture::OU_DISTRICT)).await, StatusCode::OK).await;
    expect_json(p.post(&at(fixture::OU_FACILITY_1)).await, StatusCode::OK).await;
    let body = expect_error(p.post(&at(fixture::OU_SUBCOUNTY)).await, StatusCode::BAD_REQUEST).await;
    assert!(
        details(&body)[0].contains("is at level 3, not one of the levels data may be submitted at ([2, 4]"),
        "{body}"
    );
}

#[tokio::test]
async fn a_facility_level_deeper_than_dhis2s_hierarchy_is_its_deepest_level() {
    // The original dhis2gw's sample configuration says 8, which it never used.
    let p = pipeline(Version::V2_40, |c| c.api.dhis2_facility_level = 8).await;
    expect_json(p.sync_org_units().await, StatusCode::OK).await;
    let at = |unit: &str| json!({"orgUnit": unit, "period": "202401", "dataSet": fixture::DS_MONTHLY_HIV, "dataValues": {"positives": 1}});
    expect_json(p.post(&at(fixture::OU_FACILITY_1)).await, StatusCode::OK).await;
    let body = expect_error(p.post(&at(fixture::OU_DISTRICT)).await, StatusCode::BAD_REQUEST).await;
    assert!(details(&body)[0].contains("is at level 2, above the facility level 4"), "{body}");
}

/// An incremental sync reads only what changed, which a deletion or a move out of the synced
/// subtrees is not: those units are removed all the same, and data for them is refused,
/// aggregate and tracker alike.
#[tokio::test]
async fn units_deleted_in_dhis2_or_moved_out_of_the_synced_subtrees_are_removed() {
    let p = pipeline(Version::V2_40, |c| {
        c.api.dhis2_facility_level = 4;
        c.api.dhis2_tree_i_ds = vec![fixture::OU_DISTRICT.into()];
    })
    .await;
    let first = expect_json(p.sync_org_units().await, StatusCode::OK).await;
    assert_eq!((first["units"].as_u64(), first["removed"].as_u64()), (Some(4), Some(0)), "{first}");
    p.dhis2.delete_org_unit(fixture::OU_FACILITY_2);
    p.dhis2.move_org_unit(fixture::OU_FACILITY_1, fixture::OU_SUBCOUNTY_2);
    let next = expect_json(p.sync_org_units().await, StatusCode::OK).await;
    assert_eq!((next["incremental"].as_bool(), next["removed"].as_u64()), (Some(true), Some(2)), "{next}");
    let left = p.get_as_admin("/api/v2/orgunits").await;
    assert_eq!(uids(&left), [fixture::OU_DISTRICT, fixture::OU_SUBCOUNTY], "{left}");

    for unit in [fixture::OU_FACILITY_1, fixture::OU_FACILITY_2] {
        let aggregate = json!({"orgUnit": unit, "period": "202401", "dataSet": fixture::DS_MONTHLY_HIV, "dataValues": {"positives": 1}});
        let refused = expect_error(p.post(&aggregate).await, StatusCode::BAD_REQUEST).await;
        assert!(
            details(&refused)[0].starts_with(&format!("orgUnit: '{unit}' is not in the organisation-unit hierarchy")),
            "{refused}"
        );
    }
    let tracker = json!({"trackedEntities": [{"ref": "P-1", "trackedEntityType": fixture::TET_PERSON, "orgUnit": fixture::OU_FACILITY_1}]});
    let refused = expect_error(p.post_tracker(&tracker, "").await, StatusCode::BAD_REQUEST).await;
    assert!(details(&refused).iter().any(|d| d.contains(fixture::OU_FACILITY_1)), "{refused}");
}
