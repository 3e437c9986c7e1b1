//! Reporting completeness against a scripted quarter: five facilities of the monthly data set,
//! two partners, and known on-time, late, missing and not-yet-due cells; the roll-up, the
//! partner's own view, the submissions behind a cell, the export, and the `reports-missing` alert.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{Datelike, Months, NaiveDate, Utc};
use dhis2_double::{Version, fixture};
use dhis2gw_test_support::*;
use dhis2gw_wire::IntakeValidation;
use dhis2gw_wire::period::Period;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(30);
const FACILITY_4: &str = "OrgFac00004";
const FACILITY_5: &str = "OrgFac00005";
/// Timely days set on the data set: last month's reports are still timely whatever today is,
/// those of three months ago no longer are.
const TIMELY_DAYS: u32 = 40;

/// `YYYYMM` of the month `n` months before this one (in the gateway's time zone, Kampala,
/// three hours ahead of UTC: the test avoids the three hours around a month's end).
fn months_ago(n: u32) -> String {
    let first = Utc::now().date_naive().with_day(1).unwrap();
    first.checked_sub_months(Months::new(n)).unwrap().format("%Y%m").to_string()
}

async fn post_as(p: &Pipeline, token: &str, org_unit: &str, period: &str, values: Value) -> i64 {
    let body = json!({"orgUnit": org_unit, "period": period, "dataSet": fixture::DS_MONTHLY_HIV, "dataValues": values});
    let r = p
        .app
        .request(Method::POST, "/api/v2/aggregate")
        .header("Authorization", format!("Token {token}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    expect_json(r, StatusCode::OK).await["submission_id"].as_i64().unwrap()
}

async fn report(p: &Pipeline, query: &str) -> Value {
    p.get_as_admin(&format!("/api/v2/reports/completeness?{query}")).await
}

/// Each row's cell states, by org unit name, in the report's order.
fn states(report: &Value) -> Vec<(String, Vec<String>)> {
    report["rows"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            let cells = row["cells"].as_array().unwrap().iter().map(state).collect();
            (row["name"].as_str().unwrap().to_string(), cells)
        })
        .collect()
}

/// A cell's (or a total's) state, by the same rule as the API's `ReportCounts::state`.
fn state(cell: &Value) -> String {
    let r = if cell["reports"].is_object() { &cell["reports"] } else { cell };
    let n = |k: &str| r[k].as_i64().unwrap();
    match () {
        _ if n("missing") > 0 => "missing",
        _ if n("late") > 0 => "late",
        _ if n("due") > 0 => "due",
        _ if n("on_time") > 0 => "on_time",
        _ => "not_expected",
    }
    .to_string()
}

fn cell<'a>(report: &'a Value, name: &str, period: &str) -> &'a Value {
    let row = report["rows"]["items"].as_array().unwrap().iter().find(|r| r["name"] == name).unwrap();
    row["cells"].as_array().unwrap().iter().find(|c| c["period"] == period).unwrap()
}

fn values(cell: &Value) -> (i64, i64, i64, i64) {
    let v = &cell["values"];
    let n = |k: &str| v[k].as_i64().unwrap();
    (n("received"), n("stored"), n("held"), n("refused"))
}

#[tokio::test]
async fn a_scripted_quarter_reads_on_time_late_missing_and_due_per_facility_district_and_partner() {
    let p = pipeline(Version::V2_40, |c| {
        c.api.dhis2_facility_level = 4;
        // DHIS2, not the intake, refuses the bad value below.
        c.api.intake_validation = IntakeValidation::Off;
    })
    .await;
    p.dhis2.add_org_unit(FACILITY_4, "Facility 4", "FAC004", Some(fixture::OU_SUBCOUNTY));
    p.dhis2.add_org_unit(FACILITY_5, "Facility 5", "FAC005", Some(fixture::OU_SUBCOUNTY_2));
    p.dhis2.set_timely_days(fixture::DS_MONTHLY_HIV, TIMELY_DAYS);
    expect_json(p.sync_org_units().await, StatusCode::OK).await;
    expect_json(p.sync_metadata().await, StatusCode::OK).await;

    // emr reports the monthly data set for District 1 (facilities 1, 2 and 4); lab has no
    // data-set scope and reports facility 3.
    let emr = p.get_as_admin("/api/v2/users?username=emr").await["items"][0]["uid"].as_str().unwrap().to_string();
    let scope =
        json!({"scope": {"data_sets": [fixture::DS_MONTHLY_HIV_CODE], "org_units": [fixture::OU_DISTRICT_CODE]}});
    expect_json(p.call(Method::PUT, &format!("/api/v2/users/{emr}/access"), Some(scope)).await, StatusCode::OK).await;
    let lab = p.app.user("lab", dhis2gw_wire::Role::Partner).await;
    let lab_token = p.app.api_token(&p.admin, &lab).await;

    let (old, last) = (months_ago(3), months_ago(1));
    let middle = months_ago(2);
    p.dhis2.approve(fixture::DS_MONTHLY_HIV, &old, fixture::OU_FACILITY_2);
    let ids = [
        post_as(&p, &p.partner_token, fixture::OU_FACILITY_1, &old, json!({"positives": 3, "tests_male": 10})).await,
        post_as(&p, &p.partner_token, fixture::OU_FACILITY_1, &last, json!({"positives": "-1", "tests_male": 4})).await,
        post_as(&p, &p.partner_token, fixture::OU_FACILITY_2, &old, json!({"tests_male": 5})).await,
        post_as(&p, &p.partner_token, fixture::OU_FACILITY_2, &last, json!({"tests_male": 6})).await,
        post_as(&p, &lab_token, fixture::OU_FACILITY_3, &last, json!({"positives": 1})).await,
    ];
    for id in ids {
        p.settled(id, &["succeeded", "warning", "failed", "held"], WAIT).await;
    }

    let full = report(&p, &format!("dataSet={}&periodFrom={old}&periodTo={last}", fixture::DS_MONTHLY_HIV_CODE)).await;
    assert_eq!((full["data_set"].as_str(), full["timely_days"].as_i64()), (Some(fixture::DS_MONTHLY_HIV), Some(40)));
    let periods: Vec<&str> =
        full["periods"].as_array().unwrap().iter().map(|p| p["period"].as_str().unwrap()).collect();
    assert_eq!(periods, [old.as_str(), middle.as_str(), last.as_str()]);
    let last_period = Period::parse(&last).unwrap();
    let timely_until = last_period.end() + chrono::Days::new(40);
    assert_eq!(full["periods"][2]["timely_until"], json!(timely_until), "the period's end plus timely days");

    // Two months ago is overdue or not depending on today; every facility shares its fate.
    let today = Utc::now().date_naive();
    let middle_end = Period::parse(&middle).unwrap().end();
    let middle_state = if today > middle_end + chrono::Days::new(40) { "missing" } else { "due" };
    let row = |old: &str, last: &str| vec![old.to_string(), middle_state.to_string(), last.to_string()];
    assert_eq!(
        states(&full),
        vec![
            ("Facility 1".to_string(), row("late", "on_time")),
            ("Facility 2".to_string(), row("late", "on_time")),
            ("Facility 4".to_string(), row("missing", "due")),
            ("Facility 3".to_string(), row("missing", "on_time")),
            ("Facility 5".to_string(), row("missing", "due")),
        ],
        "rows by parent (Sub-county 1, 2), then name"
    );
    assert_eq!(full["rows"]["items"][0]["parent"], "Sub-county 1");
    let middle_missing = if middle_state == "missing" { 5 } else { 0 };
    let total = &full["total"];
    assert_eq!(
        [&total["expected"], &total["on_time"], &total["late"], &total["missing"], &total["due"]]
            .map(|v| v.as_i64().unwrap()),
        [15, 3, 2, 3 + middle_missing, 2 + 5 - middle_missing]
    );
    // Stored, refused by DHIS2 (the partner's bad value), held behind an approval.
    assert_eq!(values(cell(&full, "Facility 1", &old)), (2, 2, 0, 0));
    assert_eq!(values(cell(&full, "Facility 1", &last)), (2, 1, 0, 1));
    assert_eq!(values(cell(&full, "Facility 2", &old)), (1, 0, 1, 0));
    assert_eq!(values(cell(&full, "Facility 4", &old)), (0, 0, 0, 0));
    assert_eq!((full["values"]["received"].as_i64(), full["values"]["refused"].as_i64()), (Some(7), Some(1)));
    assert!(cell(&full, "Facility 1", &last)["first_received_at"].is_string());

    // Each partner's share: emr is expected in District 1 only; lab, scoped to nothing, everywhere.
    let partners: BTreeMap<String, Value> = full["partners"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["partner"].as_str().unwrap().to_string(), p["reports"].clone()))
        .collect();
    assert_eq!(partners.keys().collect::<Vec<_>>(), ["emr", "lab"]);
    let emr_counts = &partners["emr"];
    assert_eq!(
        [&emr_counts["expected"], &emr_counts["on_time"], &emr_counts["late"]].map(|v| v.as_i64().unwrap()),
        [9, 2, 2]
    );
    assert_eq!((partners["lab"]["expected"].as_i64(), partners["lab"]["on_time"].as_i64()), (Some(15), Some(1)));
    let summary = full["partners"][0]["summary"].as_str().unwrap();
    let expected_start = format!(
        "emr: 4 of 9 expected monthly reports of {} for {} to {}, 2 late, {} missing",
        fixture::DS_MONTHLY_HIV_NAME,
        Period::parse(&old).unwrap().label(),
        last_period.label(),
        1 + if middle_state == "missing" { 3 } else { 0 }
    );
    assert!(summary.starts_with(&expected_start), "{summary}\nvs {expected_start}");

    // Rolled up to sub-counties (level 3).
    let rolled =
        report(&p, &format!("dataSet={}&periodFrom={old}&periodTo={last}&level=3", fixture::DS_MONTHLY_HIV)).await;
    let rows = rolled["rows"]["items"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{rolled:#}");
    assert_eq!((rows[0]["name"].as_str(), rows[0]["units"].as_i64()), (Some("Sub-county 1"), Some(3)));
    let first_old = &cell(&rolled, "Sub-county 1", &old)["reports"];
    assert_eq!(
        [&first_old["expected"], &first_old["late"], &first_old["missing"]].map(|v| v.as_i64().unwrap()),
        [3, 2, 1]
    );
    assert_eq!(rolled["total"], full["total"], "rolling up moves no report");

    // Narrowed to a partner, or to an org unit's subtree.
    let emr_only =
        report(&p, &format!("dataSet={}&periodFrom={old}&periodTo={last}&partner=emr", fixture::DS_MONTHLY_HIV)).await;
    let names: Vec<String> = states(&emr_only).into_iter().map(|(name, _)| name).collect();
    assert_eq!(names, ["Facility 1", "Facility 2", "Facility 4"]);
    assert_eq!(emr_only["partners"].as_array().unwrap().len(), 1);
    let district_2 =
        report(&p, &format!("dataSet={}&periodFrom={old}&periodTo={last}&orgUnit=DIST002", fixture::DS_MONTHLY_HIV))
            .await;
    let names: Vec<String> = states(&district_2).into_iter().map(|(name, _)| name).collect();
    assert_eq!(names, ["Facility 3", "Facility 5"]);

    // A partner sees only its own, whatever it asks for.
    let own = p
        .as_partner(
            Method::GET,
            &format!(
                "/api/v2/reports/completeness?data_set={}&period_from={old}&period_to={last}&partner=lab",
                fixture::DS_MONTHLY_HIV
            ),
        )
        .send()
        .await
        .unwrap();
    let own = expect_json(own, StatusCode::OK).await;
    assert_eq!(own["rows"]["total"], 3);
    assert_eq!(own["partners"][0]["partner"], "emr");

    // The submissions behind a cell, and behind a rolled-up one.
    let behind = p
        .get_as_admin(&format!(
            "/api/v2/reports/completeness/submissions?data_set={}&period_from={last}&period_to={last}&org_unit={}",
            fixture::DS_MONTHLY_HIV,
            fixture::OU_FACILITY_1
        ))
        .await;
    assert_eq!(behind.as_array().unwrap().len(), 1, "{behind:#}");
    assert_eq!((behind[0]["submission_id"].as_i64(), behind[0]["values"].as_i64()), (Some(ids[1]), Some(2)));
    assert_eq!((behind[0]["partner"].as_str(), behind[0]["org_unit_name"].as_str()), (Some("emr"), Some("Facility 1")));
    let behind = p
        .get_as_admin(&format!(
            "/api/v2/reports/completeness/submissions?data_set={}&period_from={old}&period_to={old}&org_unit={}",
            fixture::DS_MONTHLY_HIV,
            fixture::OU_SUBCOUNTY
        ))
        .await;
    let found: Vec<i64> = behind.as_array().unwrap().iter().map(|s| s["submission_id"].as_i64().unwrap()).collect();
    assert_eq!(found, [ids[0], ids[2]]);

    // The grid as a file: a line per row and period.
    let r = p
        .call(
            Method::GET,
            &format!(
                "/api/v2/reports/completeness/export?data_set={}&period_from={old}&period_to={last}",
                fixture::DS_MONTHLY_HIV
            ),
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let disposition = r.headers()["content-disposition"].to_str().unwrap().to_string();
    assert!(disposition.contains("dhis2gw_completeness_MONTHLY_HIV.csv"), "{disposition}");
    let text = r.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let lines: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(lines.len(), 15);
    let facility_4_old = lines.iter().find(|l| &l[0] == FACILITY_4 && l[4] == old).unwrap();
    assert_eq!((&facility_4_old[1], &facility_4_old[5], &facility_4_old[9]), ("Facility 4", "missing", "1"));
    let xlsx = p
        .call(
            Method::GET,
            &format!("/api/v2/reports/completeness/export?data_set={}&format=xlsx&level=2", fixture::DS_MONTHLY_HIV),
            None,
        )
        .await;
    assert_eq!(xlsx.status(), StatusCode::OK);
    assert!(xlsx.bytes().await.unwrap().starts_with(b"PK"), "an XLSX is a zip");

    // A submission deleted on purpose no longer counts: Facility 2's last month is due again.
    let r = p.call(Method::DELETE, &format!("/api/v2/logs/{}", ids[3]), None).await;
    expect_json(r, StatusCode::OK).await;
    let after = report(&p, &format!("dataSet={}&periodFrom={last}&periodTo={last}", fixture::DS_MONTHLY_HIV)).await;
    assert_eq!(state(cell(&after, "Facility 2", &last)), "due");

    // The alert: emr misses at least facility 4's report of the last overdue month; lab has
    // no data-set scope, so nothing is expected of it.
    let found =
        expect_json(p.call(Method::POST, "/api/v2/alerts/rules/reports-missing/check", None).await, StatusCode::OK)
            .await;
    let findings = found.as_array().unwrap();
    assert_eq!(findings.len(), 1, "{found:#}");
    assert_eq!(findings[0]["subject"], format!("emr · {}", fixture::DS_MONTHLY_HIV_NAME));
    let message = findings[0]["message"].as_str().unwrap();
    assert!(message.contains("of 3 expected reports of Monthly HIV"), "{message}");
}

#[tokio::test]
async fn bad_report_requests_name_their_field() {
    let p = pipeline(Version::V2_40, |_| {}).await;
    let before_sync = p.call(Method::GET, "/api/v2/reports/completeness?data_set=MONTHLY_HIV", None).await;
    let body = expect_error(before_sync, StatusCode::BAD_REQUEST).await;
    assert!(details(&body)[0].contains("has not been synced yet"), "{body}");
    expect_json(p.sync_org_units().await, StatusCode::OK).await;
    expect_json(p.sync_metadata().await, StatusCode::OK).await;
    let this_month = Period::containing("Monthly", Utc::now().date_naive()).unwrap();
    let cases = [
        ("", "data_set"),
        ("data_set=NOPE", "data_set"),
        ("data_set=MONTHLY_HIV&period_from=2024Q1", "period_from"),
        ("data_set=MONTHLY_HIV&period_to=2024-01", "period_to"),
        ("data_set=MONTHLY_HIV&period_from=202405&period_to=202401", "period_from"),
        ("data_set=MONTHLY_HIV&period_from=199001&period_to=202501", "period_to"),
        ("data_set=MONTHLY_HIV&partner=nobody", "partner"),
        ("data_set=MONTHLY_HIV&org_unit=NOWHERE", "org_unit"),
        ("data_set=MONTHLY_HIV&level=9", "level"),
        ("data_set=MONTHLY_HIV&level=x", "level"),
        ("data_set=MONTHLY_HIV&page_size=0", "page_size"),
        ("data_set=MONTHLY_HIV&colour=red", "colour"),
        ("data_set=MONTHLY_HIV&format=pdf", "format"),
    ];
    for (query, field) in cases {
        let route = if field == "format" { "completeness/export" } else { "completeness" };
        let r = p.call(Method::GET, &format!("/api/v2/reports/{route}?{query}"), None).await;
        let body = expect_error(r, StatusCode::BAD_REQUEST).await;
        let said = format!("{body}");
        assert!(said.contains(field), "{query}: {said}");
    }
    // The defaults: the current period and the five before it.
    let report = p.get_as_admin("/api/v2/reports/completeness?data_set=MONTHLY_HIV").await;
    let periods = report["periods"].as_array().unwrap();
    assert_eq!(periods.len(), 6);
    assert_eq!(periods[5]["period"], this_month.as_str());
    assert_eq!(periods[5]["timely_until"], json!(this_month.end() + chrono::Days::new(15)), "DHIS2's default 15 days");
    let first = NaiveDate::parse_from_str(&format!("{}01", periods[0]["period"].as_str().unwrap()), "%Y%m%d").unwrap();
    assert_eq!(first.checked_add_months(Months::new(5)).unwrap(), this_month.start());
    assert_eq!(report["rows"]["total"], 3, "the fixture's three facilities");
}
