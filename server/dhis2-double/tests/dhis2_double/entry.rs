//! Closed periods and approval: expiry days with lock exceptions, open future periods, data
//! input periods and data approval, refused per value up to 2.42 and per data set on 2.43;
//! and the lock exception and approval endpoints.

use chrono::{Datelike, Months, Utc};
use dhis2_double::fixture::*;
use dhis2_double::{Dhis2Double, Version};
use serde_json::{Value, json};

use crate::http::{get, post_import, request, summary};

/// `YYYYMM` of the month `n` months before this one.
fn months_ago(n: u32) -> String {
    let first = Utc::now().date_naive().with_day(1).unwrap();
    first.checked_sub_months(Months::new(n)).unwrap().format("%Y%m").to_string()
}

fn two_values(period: &str) -> Value {
    json!({"dataSet": DS_MONTHLY_HIV, "period": period, "orgUnit": OU_FACILITY_1, "dataValues": [
        {"dataElement": DE_POSITIVES, "value": "3"},
        {"dataElement": DE_REMARKS, "value": "fine"}]})
}

#[tokio::test]
async fn an_expired_period_is_refused_per_value_then_a_lock_exception_opens_it() {
    let old = months_ago(3);
    for version in [Version::V2_37, Version::V2_40, Version::V2_43] {
        let dhis2 = Dhis2Double::start(version).await;
        dhis2.set_expiry_days(DS_MONTHLY_HIV, 10);
        let reply = post_import(&dhis2, "", &two_values(&old)).await;
        let s = summary(version, &reply);
        match version {
            Version::V2_37 => {
                assert_eq!((reply.status, s["status"].as_str()), (200, Some("WARNING")));
                assert_eq!(s["conflicts"][0]["value"], "Current date is past expiry days for period and data set");
            }
            Version::V2_40 => {
                assert_eq!((reply.status, s["status"].as_str()), (409, Some("WARNING")));
                let conflict = &s["conflicts"][0];
                assert_eq!(conflict["errorCode"], "E7640");
                assert_eq!(
                    conflict["value"],
                    format!("Current date is past expiry days for period: `{old}`  and data set: `{DS_MONTHLY_HIV}`")
                );
                assert_eq!(conflict["indexes"], json!([0, 1]), "one conflict for both values");
                assert_eq!(conflict["objects"], json!({"period": old, "dataSet": DS_MONTHLY_HIV}));
            }
            Version::V2_43 => {
                assert_eq!((reply.status, s["status"].as_str()), (409, Some("ERROR")));
                let conflict = &s["conflicts"][0];
                assert_eq!(conflict["errorCode"], "E8030");
                assert_eq!(
                    conflict["value"],
                    format!("Untimely data entry for data set {DS_MONTHLY_HIV} and period(s): `[{old}]`")
                );
                assert_eq!(conflict["indexes"], json!([0, 1]), "the group's positions, not -1");
                assert_eq!(s["rejectedIndexes"], json!([0, 1]));
            }
        }
        assert!(dhis2.values().is_empty(), "{version:?}");

        let target = format!("/api/lockExceptions?ou={OU_FACILITY_1}&pe={old}&ds={DS_MONTHLY_HIV}");
        let created = request(&dhis2, "POST", &target, "").await;
        assert_eq!(created.status, 201, "{}", created.body);
        assert_eq!(created.json()["message"], "LockException created successfully.");
        let reply = post_import(&dhis2, "", &two_values(&old)).await;
        assert_eq!(reply.status, 200, "{version:?}: {}", reply.body);
        assert_eq!(dhis2.values().len(), 2);
        // The exception is for that unit only.
        let elsewhere = json!({"dataSet": DS_MONTHLY_HIV, "period": old, "orgUnit": OU_FACILITY_2,
                               "dataValues": [{"dataElement": DE_POSITIVES, "value": "1"}]});
        post_import(&dhis2, "", &elsewhere).await;
        assert_eq!(dhis2.values().len(), 2, "{version:?}");
    }
}

#[tokio::test]
async fn the_current_period_waits_for_open_future_periods_and_recent_ones_are_open() {
    let dhis2 = Dhis2Double::start(Version::V2_40).await;
    dhis2.set_expiry_days(DS_MONTHLY_HIV, 10);
    let now = months_ago(0);
    let s = summary(Version::V2_40, &post_import(&dhis2, "", &two_values(&now)).await);
    assert_eq!(s["conflicts"][0]["errorCode"], "E7641");
    let latest = months_ago(1);
    assert_eq!(
        s["conflicts"][0]["value"],
        format!(
            "Period: `{now}` is after latest open future period: `{latest}` for data element: `{DE_POSITIVES}` and data set: `{DS_MONTHLY_HIV}`"
        )
    );
    dhis2.set_open_future_periods(DS_MONTHLY_HIV, 1);
    assert_eq!(post_import(&dhis2, "", &two_values(&now)).await.status, 200);
    let listed = get(&dhis2, &format!("/api/dataSets?filter=id:eq:{DS_MONTHLY_HIV}&fields=*")).await.json();
    let data_set = &listed["dataSets"][0];
    assert_eq!((data_set["expiryDays"].as_i64(), data_set["openFuturePeriods"].as_i64()), (Some(10), Some(1)));
    assert_eq!(data_set["workflow"], json!({"id": WF_MONTHLY_HIV}));
    assert_eq!(data_set["timelyDays"], 15, "DHIS2's default");
    dhis2.set_timely_days(DS_MONTHLY_HIV, 3);
    assert_eq!(post_import(&dhis2, "", &two_values(&now)).await.status, 200, "entry ignores timely days");
    let listed = get(&dhis2, &format!("/api/dataSets?filter=id:eq:{DS_MONTHLY_HIV}&fields=*")).await.json();
    assert_eq!(listed["dataSets"][0]["timelyDays"], 3);
}

#[tokio::test]
async fn approved_data_is_refused_until_unapproved() {
    let period = months_ago(2);
    let dhis2 = Dhis2Double::start(Version::V2_40).await;
    let target = format!("/api/dataApprovals?ds={DS_MONTHLY_HIV}&pe={period}&ou={OU_FACILITY_1}");
    assert_eq!(get(&dhis2, &target).await.json()["state"], "UNAPPROVED_READY");
    assert_eq!(request(&dhis2, "POST", &target, "").await.status, 204);
    assert_eq!(get(&dhis2, &target).await.json()["state"], "APPROVED_HERE");
    let s = summary(Version::V2_40, &post_import(&dhis2, "", &two_values(&period)).await);
    assert_eq!(s["conflicts"][0]["errorCode"], "E7642");
    assert_eq!(
        s["conflicts"][0]["value"],
        format!(
            "Data already approved for data set: `{DS_MONTHLY_HIV}` period: `{period}` org unit: `{OU_FACILITY_1}` attribute option combo: `{DEFAULT_AOC}`"
        )
    );
    // 2.43 checks approval only for values that name their attribute option combo.
    dhis2.set_version(Version::V2_43);
    let mut explicit = two_values(&period);
    explicit["attributeOptionCombo"] = json!(DEFAULT_AOC);
    let s = summary(Version::V2_43, &post_import(&dhis2, "", &explicit).await);
    assert_eq!(s["conflicts"][0]["errorCode"], "E8033");
    assert_eq!(
        s["conflicts"][0]["value"],
        format!(
            "Untimely data entry (already approved) for attribute option combo {DEFAULT_AOC}, org unit {OU_FACILITY_1} and periods: `[{period}]`"
        )
    );
    assert_eq!(request(&dhis2, "DELETE", &target, "").await.status, 204);
    assert_eq!(post_import(&dhis2, "", &explicit).await.status, 200);
    // A data set without a workflow cannot be approved.
    let tb = format!("/api/dataApprovals?ds={DS_QUARTERLY_TB}&pe=2024Q1&ou={OU_FACILITY_1}");
    let refused = request(&dhis2, "POST", &tb, "").await;
    assert_eq!(refused.status, 409);
    assert_eq!(refused.json()["message"], format!("Data set does not have an approval workflow: {DS_QUARTERLY_TB}"));
}

#[tokio::test]
async fn input_periods_admit_only_listed_periods_within_their_dates() {
    let (open, other) = (months_ago(2), months_ago(3));
    let dhis2 = Dhis2Double::start(Version::V2_40).await;
    dhis2.set_input_periods(DS_MONTHLY_HIV, &[(&open, Some("2020-01-01"), None)]);
    assert_eq!(post_import(&dhis2, "", &two_values(&open)).await.status, 200);
    let s = summary(Version::V2_40, &post_import(&dhis2, "", &two_values(&other)).await);
    assert_eq!(s["conflicts"][0]["errorCode"], "E7643");
    assert_eq!(
        s["conflicts"][0]["value"],
        format!("Period: `{other}` is not open for this data set at this time: `{DS_MONTHLY_HIV}`")
    );
    dhis2.set_input_periods(DS_MONTHLY_HIV, &[(&open, Some("2020-01-01"), Some("2020-12-31"))]);
    dhis2.set_version(Version::V2_43);
    let s = summary(Version::V2_43, &post_import(&dhis2, "", &two_values(&open)).await);
    assert_eq!(s["conflicts"][0]["errorCode"], "E8030", "the window has closed");
}

#[tokio::test]
async fn lock_exceptions_are_listed_refused_when_they_name_nothing_and_deleted() {
    let dhis2 = Dhis2Double::start(Version::V2_40).await;
    let period = months_ago(4);
    let post = |target: String| {
        let dhis2 = dhis2.clone();
        async move { request(&dhis2, "POST", &target, "").await }
    };
    let invalid = post(format!("/api/lockExceptions?ou={OU_FACILITY_1}&pe=2024M13&ds={DS_MONTHLY_HIV}")).await;
    assert_eq!((invalid.status, invalid.json()["message"].as_str()), (409, Some(" DataSet or Period is invalid")));
    let nobody = post(format!("/api/lockExceptions?ou=&pe={period}&ds={DS_MONTHLY_HIV}")).await;
    assert_eq!(nobody.json()["message"], "OrganisationUnit ID is invalid.");
    let unknown = post(format!("/api/lockExceptions?ou=NoSuchUnit1&pe={period}&ds={DS_MONTHLY_HIV}")).await;
    assert_eq!(unknown.json()["message"], "Can't find OrganisationUnit with id =NoSuchUnit1");
    let both =
        post(format!("/api/lockExceptions?ou=[{OU_FACILITY_1},{OU_FACILITY_2}]&pe={period}&ds={DS_MONTHLY_HIV}")).await;
    assert_eq!(both.status, 201);
    let listed = get(&dhis2, "/api/lockExceptions").await.json();
    assert_eq!(listed["pager"]["total"], 2);
    assert_eq!(listed["lockExceptions"][0]["period"], json!({"id": period}));
    assert_eq!(listed["lockExceptions"][0]["dataSet"], json!({"id": DS_MONTHLY_HIV}));
    assert!(listed["lockExceptions"][0]["name"].as_str().unwrap().starts_with(DS_MONTHLY_HIV_NAME));
    let one = format!("/api/lockExceptions?ou={OU_FACILITY_1}&pe={period}&ds={DS_MONTHLY_HIV}");
    assert_eq!(request(&dhis2, "DELETE", &one, "").await.status, 204);
    assert_eq!(dhis2.lock_exceptions(), [(DS_MONTHLY_HIV.to_owned(), OU_FACILITY_2.to_owned(), period.clone())]);
    let all = format!("/api/lockExceptions?pe={period}&ds={DS_MONTHLY_HIV}");
    assert_eq!(request(&dhis2, "DELETE", &all, "").await.status, 204);
    assert!(dhis2.lock_exceptions().is_empty());
}
