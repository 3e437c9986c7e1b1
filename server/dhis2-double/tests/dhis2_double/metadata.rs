//! The metadata lists a gateway syncs (data sets, data elements, category combos, option
//! sets): full objects, DHIS2's filters and paging, and data-set assignments that change.

use dhis2_double::fixture::*;
use dhis2_double::{Dhis2Double, Version};
use serde_json::{Value, json};

use crate::http::{get, post_import, summary};

async fn list(dhis2: &Dhis2Double, collection: &str, query: &str) -> Value {
    let reply = get(dhis2, &format!("/api/{collection}?{query}")).await;
    assert_eq!(reply.status, 200, "{collection}?{query}: {}", reply.body);
    reply.json()
}

fn ids(body: &Value, collection: &str) -> Vec<String> {
    body[collection].as_array().unwrap().iter().map(|o| o["id"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn data_sets_carry_what_validation_needs() {
    let dhis2 = Dhis2Double::start(Version::V2_43).await;
    let body = list(&dhis2, "dataSets", "fields=*&paging=false").await;
    assert!(body.get("pager").is_none());
    let monthly = body["dataSets"].as_array().unwrap().iter().find(|d| d["id"] == DS_MONTHLY_HIV).unwrap();
    assert_eq!(monthly["periodType"], "Monthly");
    assert_eq!(monthly["name"], DS_MONTHLY_HIV_NAME);
    assert_eq!(monthly["categoryCombo"], json!({"id": DEFAULT_CATEGORY_COMBO}));
    assert_eq!(monthly["openFuturePeriods"], 0);
    let elements: Vec<&str> = monthly["dataSetElements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["dataElement"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(elements, [DE_HIV_TESTS, DE_POSITIVES, DE_REMARKS, DE_ON_ART, DE_RESULT]);
    let units: Vec<&str> =
        monthly["organisationUnits"].as_array().unwrap().iter().map(|u| u["id"].as_str().unwrap()).collect();
    assert_eq!(units, [OU_FACILITY_1, OU_FACILITY_2, OU_FACILITY_3]);

    let combos = list(&dhis2, "categoryCombos", "paging=false").await;
    let sex = combos["categoryCombos"].as_array().unwrap().iter().find(|c| c["id"] == SEX_CATEGORY_COMBO).unwrap();
    assert_eq!(sex["name"], SEX_CATEGORY_COMBO_NAME);
    assert_eq!(sex["categoryOptionCombos"].as_array().unwrap().len(), 2);
    let elements = list(&dhis2, "dataElements", "filter=id:in:[DeNumber001,DeInteger01]&paging=false").await;
    assert_eq!(ids(&elements, "dataElements"), [DE_HIV_TESTS, DE_POSITIVES], "ordered by name");
    assert_eq!(elements["dataElements"][1]["valueType"], "INTEGER_ZERO_OR_POSITIVE");
    assert_eq!(elements["dataElements"][1]["zeroIsSignificant"], false);
    let sets = list(&dhis2, "optionSets", "paging=false").await;
    assert_eq!(ids(&sets, "optionSets"), [OS_RESULTS]);
    let codes: Vec<&str> =
        sets["optionSets"][0]["options"].as_array().unwrap().iter().map(|o| o["code"].as_str().unwrap()).collect();
    assert_eq!(codes, ["POSITIVE", "NEGATIVE"]);
    let result = list(&dhis2, "dataElements", &format!("filter=id:eq:{DE_RESULT}&paging=false")).await;
    assert_eq!(result["dataElements"][0]["optionSet"], json!({"id": OS_RESULTS}));
}

#[tokio::test]
async fn lists_page_filter_and_refuse_unknown_properties() {
    let dhis2 = Dhis2Double::start(Version::V2_40).await;
    let page = list(&dhis2, "dataElements", "pageSize=4&page=2&fields=id").await;
    assert_eq!(page["pager"]["total"], 17);
    assert_eq!(page["pager"]["pageCount"], 5);
    assert_eq!(page["dataElements"].as_array().unwrap().len(), 4);
    assert_eq!(page["dataElements"][0], json!({"id": page["dataElements"][0]["id"]}), "fields=id gives only ids");
    let unchanged = list(&dhis2, "dataSets", "filter=lastUpdated:gt:2024-01-01T00:00:00.000&paging=false").await;
    assert_eq!(unchanged["dataSets"], json!([]));
    let reply = get(&dhis2, "/api/dataSets?filter=periodTypeX:eq:Monthly").await;
    assert_eq!(reply.status, 400, "{}", reply.body);
}

#[tokio::test]
async fn a_withdrawn_data_set_is_newer_and_refuses_the_unit() {
    let dhis2 = Dhis2Double::start(Version::V2_43).await;
    dhis2.withdraw_data_set(OU_FACILITY_2, DS_MONTHLY_HIV);
    let changed = list(&dhis2, "dataSets", "filter=lastUpdated:gt:2024-01-01T00:00:00.000&paging=false").await;
    assert_eq!(ids(&changed, "dataSets"), [DS_MONTHLY_HIV]);
    let units: Vec<&str> = changed["dataSets"][0]["organisationUnits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap())
        .collect();
    assert_eq!(units, [OU_FACILITY_1, OU_FACILITY_3]);

    let body = json!({"dataSet": DS_MONTHLY_HIV, "period": "202401", "orgUnit": OU_FACILITY_2,
                      "dataValues": [{"dataElement": DE_POSITIVES, "value": "3"}]});
    let reply = post_import(&dhis2, "", &body).await;
    assert_eq!(reply.status, 409);
    assert_eq!(summary(Version::V2_43, &reply)["conflicts"][0]["errorCode"], "E8022");
}

#[tokio::test]
async fn a_deleted_data_element_leaves_the_lists_and_its_values_are_refused() {
    let dhis2 = Dhis2Double::start(Version::V2_40).await;
    dhis2.delete_data_element(DE_REMARKS);
    let elements = list(&dhis2, "dataElements", "fields=id&paging=false").await;
    assert!(!ids(&elements, "dataElements").contains(&DE_REMARKS.to_string()));
    let changed = list(&dhis2, "dataSets", "filter=lastUpdated:gt:2024-01-01T00:00:00.000&paging=false").await;
    assert_eq!(ids(&changed, "dataSets"), [DS_MONTHLY_HIV]);
    let elements: Vec<&str> = changed["dataSets"][0]["dataSetElements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["dataElement"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(elements, [DE_HIV_TESTS, DE_POSITIVES, DE_ON_ART, DE_RESULT]);
    let body = json!({"dataSet": DS_MONTHLY_HIV, "period": "202401", "orgUnit": OU_FACILITY_1,
                      "dataValues": [{"dataElement": DE_REMARKS, "value": "x"}]});
    let reply = post_import(&dhis2, "", &body).await;
    assert_eq!(summary(Version::V2_40, &reply)["conflicts"][0]["errorCode"], "E7610");
}

#[tokio::test]
async fn values_outside_an_option_set_are_refused_in_each_versions_words() {
    for (version, code) in [(Version::V2_37, None), (Version::V2_40, Some("E7621")), (Version::V2_43, Some("E8123"))] {
        let dhis2 = Dhis2Double::start(version).await;
        let body = json!({"dataSet": DS_MONTHLY_HIV, "period": "202401", "orgUnit": OU_FACILITY_1, "dataValues": [
            {"dataElement": DE_RESULT, "value": "POSITIVE"}, {"dataElement": DE_RESULT, "value": "MAYBE",
             "categoryOptionCombo": DEFAULT_COC, "attributeOptionCombo": DEFAULT_AOC, "orgUnit": OU_FACILITY_2}]});
        let reply = post_import(&dhis2, "", &body).await;
        let summary = summary(version, &reply);
        let conflict = &summary["conflicts"][0];
        assert_eq!(conflict["errorCode"].as_str(), code, "{version:?}: {summary}");
        assert!(conflict["value"].as_str().unwrap().contains("option"), "{summary}");
        assert_eq!(
            dhis2.value(DE_RESULT, "202401", OU_FACILITY_1, DEFAULT_COC).map(|v| v.value),
            Some("POSITIVE".into())
        );
        assert!(dhis2.value(DE_RESULT, "202401", OU_FACILITY_2, DEFAULT_COC).is_none());
    }
}
