//! Refusals that say who must act, and the hold queue: values DHIS2 refuses only because
//! their period is closed or their data approved wait, and go as soon as DHIS2 would take
//! them; everything else refused is kept, classed and searchable.

use std::time::Duration;

use chrono::{Datelike, Months, Utc};
use dhis2_double::{Version, fixture};
use dhis2gw_test_support::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(30);

/// `YYYYMM` of the month `n` months before this one.
fn months_ago(n: u32) -> String {
    let first = Utc::now().date_naive().with_day(1).unwrap();
    first.checked_sub_months(Months::new(n)).unwrap().format("%Y%m").to_string()
}

async fn submit_for(p: &Pipeline, period: &str, values: Value) -> i64 {
    let body = json!({"orgUnit": fixture::OU_FACILITY_1, "period": period, "dataSet": fixture::DS_MONTHLY_HIV,
                      "dataValues": values});
    expect_json(p.post(&body).await, StatusCode::OK).await["submission_id"].as_i64().unwrap()
}

async fn held(p: &Pipeline) -> Vec<Value> {
    p.get_as_admin("/api/v2/held").await.as_array().unwrap().clone()
}

/// Each value of a submission at the primary, by partner key: (outcome, class).
fn outcomes(log: &Value) -> Vec<(String, String, String)> {
    let mut list: Vec<(String, String, String)> = log["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            let text = |k: &str| v[k].as_str().unwrap_or_default().to_string();
            (text("partner_key"), text("outcome"), text("class"))
        })
        .collect();
    list.sort();
    list
}

fn owned(items: &[(&str, &str, &str)]) -> Vec<(String, String, String)> {
    items.iter().map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string())).collect()
}

#[tokio::test]
async fn last_quarters_data_waits_with_its_reason_and_goes_by_itself_once_dhis2_opens_the_period() {
    let p = pipeline(Version::V2_40, |c| {
        c.api.dhis2_facility_level = 4;
        c.api.hold_recheck_cron = "*/2 * * * * *".into();
    })
    .await;
    p.dhis2.set_expiry_days(fixture::DS_MONTHLY_HIV, 10);
    expect_json(p.sync_org_units().await, StatusCode::OK).await;
    expect_json(p.sync_metadata().await, StatusCode::OK).await;
    let quarter = [months_ago(4), months_ago(3), months_ago(2)];
    let mut ids = Vec::new();
    for period in &quarter {
        ids.push(submit_for(&p, period, json!({"positives": 3, "tests_male": 10})).await);
    }
    for id in &ids {
        let log = p.settled(*id, &["held"], WAIT).await;
        assert_eq!(
            outcomes(&log),
            owned(&[("positives", "held", "closed_period"), ("tests_male", "held", "closed_period")])
        );
        let sentence = log["values"][0]["sentence"].as_str().unwrap();
        assert!(sentence.contains("it waits on hold until a DHIS2 administrator opens the period"), "{sentence}");
    }
    assert!(p.dhis2.values().is_empty());
    let groups = held(&p).await;
    assert_eq!(groups.len(), 3, "{groups:#?}");
    let first = &groups[0];
    assert_eq!((first["values"].as_i64(), first["submissions"].as_i64()), (Some(2), Some(1)));
    assert_eq!(first["partners"], json!(["emr"]));
    assert_eq!(first["class"], "closed_period");
    let reason = first["reason"].as_str().unwrap();
    assert!(reason.contains(fixture::DS_MONTHLY_HIV_NAME), "{reason}");
    assert!(reason.contains('›'), "the org unit's path of names: {reason}");
    assert!(
        reason.ends_with(
            "closed for entry 10 days after the period; DHIS2 needs a lock exception or the data set's expiry raised"
        ),
        "{reason}"
    );
    let overview = p.get_as_admin("/api/v2/overview").await;
    assert_eq!((overview["held"]["values"].as_i64(), overview["held"]["groups"].as_i64()), (Some(6), Some(3)));

    // A DHIS2 admin adds the lock exceptions; nobody at the gateway does anything.
    let client = reqwest::Client::new();
    for period in &quarter {
        let url = format!(
            "{}/api/lockExceptions?ou={}&pe={period}&ds={}",
            p.dhis2.base_url(),
            fixture::OU_FACILITY_1,
            fixture::DS_MONTHLY_HIV
        );
        let r = client.post(url).basic_auth(dhis2_double::USERNAME, Some(dhis2_double::PASSWORD)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    for id in &ids {
        let log = p.settled(*id, &["succeeded"], WAIT).await;
        assert_eq!(
            outcomes(&log),
            owned(&[("positives", "released", "closed_period"), ("tests_male", "released", "closed_period")])
        );
    }
    let released = p.log(ids[0]).await;
    let sentence = released["values"][0]["sentence"].as_str().unwrap();
    assert!(sentence.starts_with("Held (Current date is past expiry days"), "{sentence}");
    assert!(
        sentence.contains(fixture::DS_MONTHLY_HIV_NAME) && sentence.ends_with("then stored once DHIS2 accepted it.")
    );
    assert_eq!(p.dhis2.values().len(), 6);
    assert!(p.dhis2.values().iter().all(|v| v.times_written == 1), "nothing was sent twice");
    assert!(held(&p).await.is_empty());
    let still_refused = p.get_as_admin("/api/v2/logs?class=closed_period").await;
    assert_eq!(still_refused["total"], 0, "released values are no longer refused: {still_refused:#}");
}

#[tokio::test]
async fn approved_values_wait_while_the_rest_goes_and_a_bad_value_is_the_partners_to_fix() {
    let p = pipeline(Version::V2_40, |_| {}).await;
    let period = months_ago(2);
    p.dhis2.approve(fixture::DS_MONTHLY_HIV, &period, fixture::OU_FACILITY_1);
    let id = submit_for(&p, &period, json!({"positives": "-1", "tests_male": 10, "remarks": "ok"})).await;
    let log = p.settled(id, &["held"], WAIT).await;
    assert_eq!(
        outcomes(&log),
        owned(&[("positives", "refused", "data"), ("remarks", "held", "approved"), ("tests_male", "held", "approved")])
    );
    let positives = log["values"].as_array().unwrap().iter().find(|v| v["partner_key"] == "positives").unwrap();
    assert!(
        positives["sentence"].as_str().unwrap().ends_with("the partner must correct the value and send it again."),
        "{positives}"
    );
    let groups = held(&p).await;
    assert!(groups[0]["reason"].as_str().unwrap().contains("already approved"), "{groups:#?}");

    // Still approved: a re-check asks DHIS2, which says no; nothing is sent.
    let imports = p.dhis2.import_requests();
    let result = expect_json(p.call(Method::POST, "/api/v2/held/recheck", Some(json!({}))).await, StatusCode::OK).await;
    assert_eq!((result["checked"].as_i64(), result["opened"].as_i64()), (Some(1), Some(0)), "{result}");
    assert_eq!(result["still_held"], 2);
    assert_eq!(p.dhis2.import_requests(), imports + 1, "one dry run");
    assert!(p.dhis2.values().is_empty());

    p.dhis2.unapprove(fixture::DS_MONTHLY_HIV, &period, fixture::OU_FACILITY_1);
    let result = expect_json(p.call(Method::POST, "/api/v2/held/recheck", Some(json!({}))).await, StatusCode::OK).await;
    assert_eq!((result["opened"].as_i64(), result["released"].as_i64()), (Some(1), Some(2)), "{result}");
    let log = p.settled(id, &["warning"], WAIT).await;
    assert_eq!(
        outcomes(&log),
        owned(&[
            ("positives", "refused", "data"),
            ("remarks", "released", "approved"),
            ("tests_male", "released", "approved")
        ])
    );
    let release = log["attempts"].as_array().unwrap().last().unwrap();
    assert_eq!(release["request_payload"]["dataValues"].as_array().unwrap().len(), 2, "only the held values went");
    assert_eq!(p.dhis2.values().len(), 2);
}

#[tokio::test]
async fn every_response_regime_classes_its_refusals_the_same_way() {
    for version in [Version::V2_37, Version::V2_40, Version::V2_43] {
        let p = pipeline(version, |_| {}).await;
        p.dhis2.set_expiry_days(fixture::DS_MONTHLY_HIV, 10);
        // A value DHIS2 finds invalid; one it finds in no data set of the org unit; an
        // expired period; an unknown data set.
        let recent = months_ago(1);
        let data = submit_for(&p, &recent, json!({"positives": "-1"})).await;
        p.dhis2.withdraw_data_set(fixture::OU_FACILITY_2, fixture::DS_MONTHLY_HIV);
        let body = json!({"orgUnit": fixture::OU_FACILITY_2, "period": recent, "dataSet": fixture::DS_MONTHLY_HIV,
                          "dataValues": {"positives": 1}});
        let mapping = expect_json(p.post(&body).await, StatusCode::OK).await["submission_id"].as_i64().unwrap();
        let closed = submit_for(&p, &months_ago(5), json!({"positives": 1})).await;
        let body = json!({"orgUnit": fixture::OU_FACILITY_1, "period": recent, "dataSet": "NoSuchSet01",
                          "dataValues": {"positives": 1}});
        let access = expect_json(p.post(&body).await, StatusCode::OK).await["submission_id"].as_i64().unwrap();
        for (id, status, class) in [
            (data, "failed", "data"),
            (mapping, "failed", "mapping"),
            (closed, "held", "closed_period"),
            (access, "failed", "access"),
        ] {
            let log = p.settled(id, &[status], WAIT).await;
            let value = &log["values"][0];
            assert_eq!(value["class"], class, "{version:?}: {log:#}");
            assert!(value["sentence"].as_str().is_some_and(|s| s.len() > 40), "{version:?}: {value}");
        }
        let refused = p.get_as_admin("/api/v2/logs/refused?class=mapping").await;
        assert_eq!(refused["total"], 1, "{version:?}: {refused:#}");
        assert_eq!(refused["items"][0]["submission_id"], mapping);
        let filtered = p.get_as_admin("/api/v2/logs?class=closed_period").await;
        assert_eq!(filtered["items"].as_array().unwrap().len(), 1, "{version:?}");
        assert_eq!(filtered["items"][0]["id"], closed);
    }
}

#[tokio::test]
async fn held_values_can_be_released_anyway_or_discarded_with_a_reason_and_expire() {
    let p = pipeline(Version::V2_43, |c| c.api.hold_max_days = 30).await;
    p.dhis2.set_expiry_days(fixture::DS_MONTHLY_HIV, 10);
    let (a, b) = (months_ago(3), months_ago(4));
    let first = submit_for(&p, &a, json!({"positives": 1, "remarks": "x"})).await;
    let second = submit_for(&p, &b, json!({"positives": 2})).await;
    let third = submit_for(&p, &months_ago(5), json!({"positives": 3})).await;
    for id in [first, second, third] {
        p.settled(id, &["held"], WAIT).await;
    }
    let selection = json!({"period": a, "org_unit": fixture::OU_FACILITY_1});
    // Releasing anyway sends them again: still closed, they are held again.
    let released =
        expect_json(p.call(Method::POST, "/api/v2/held/release", Some(selection.clone())).await, StatusCode::OK).await;
    assert_eq!(released["released"], 2);
    let log = p.settled(first, &["held"], WAIT).await;
    assert_eq!(log["attempts"].as_array().unwrap().len(), 2);

    let no_reason = expect_error(
        p.call(Method::POST, "/api/v2/held/discard", Some(selection.clone())).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(no_reason.to_string().contains("reason"), "{no_reason}");
    let unknown = expect_error(
        p.call(Method::POST, "/api/v2/held/discard", Some(json!({"perod": a}))).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(unknown.to_string().contains("perod"), "{unknown}");
    let mut with_reason = selection;
    with_reason["reason"] = json!("reported on paper instead");
    let discarded =
        expect_json(p.call(Method::POST, "/api/v2/held/discard", Some(with_reason)).await, StatusCode::OK).await;
    assert_eq!(discarded["dropped"], 2);
    let log = p.settled(first, &["failed"], WAIT).await;
    assert!(log["values"].as_array().unwrap().iter().all(|v| v["outcome"] == "discarded"), "{log:#}");
    assert!(log["destinations"][0]["last_error"].as_str().unwrap().contains("reported on paper instead"));
    let audit = p.get_as_admin("/api/v2/audit?action=held.discard").await;
    assert_eq!(audit["total"], 1, "{audit}");

    // Held for longer than hold_max_days: it fails with that reason at the next re-check.
    sqlx::query("UPDATE value_outcomes SET held_since = now() - interval '31 days' WHERE submission_id = $1")
        .bind(second)
        .execute(&p.app.db)
        .await
        .unwrap();
    let result = expect_json(p.call(Method::POST, "/api/v2/held/recheck", Some(json!({}))).await, StatusCode::OK).await;
    assert_eq!(result["dropped"], 1, "{result}");
    let log = p.settled(second, &["failed"], WAIT).await;
    assert_eq!(log["values"][0]["outcome"], "expired");
    assert!(log["values"][0]["message"].as_str().unwrap().starts_with("Held for more than 30 days"), "{log:#}");
    assert_eq!(p.log(third).await["status"], "held");
}

#[tokio::test]
async fn partners_see_their_own_held_values_and_cannot_act_on_them() {
    let p = pipeline(Version::V2_40, |_| {}).await;
    p.dhis2.set_expiry_days(fixture::DS_MONTHLY_HIV, 10);
    let id = submit_for(&p, &months_ago(3), json!({"positives": 1})).await;
    p.settled(id, &["held"], WAIT).await;
    let mine = p.as_partner(Method::GET, "/api/v2/held").send().await.unwrap();
    assert_eq!(expect_json(mine, StatusCode::OK).await.as_array().unwrap().len(), 1);
    let other = p.app.user("lab", dhis2gw_wire::Role::Partner).await;
    let token = p.app.api_token(&p.admin, &other).await;
    let theirs = p.app.request(Method::GET, "/api/v2/held").header("Authorization", format!("Token {token}"));
    assert_eq!(expect_json(theirs.send().await.unwrap(), StatusCode::OK).await, json!([]));
    for action in ["recheck", "release", "discard"] {
        let r = p.as_partner(Method::POST, &format!("/api/v2/held/{action}")).json(&json!({})).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{action}");
    }
    let metrics = p.app.request(Method::GET, "/metrics").send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("dhis2gw_held_values{class=\"closed_period\"} 1"), "{metrics}");
}

#[tokio::test]
async fn a_resend_dhis2_already_had_succeeds_with_nothing_new() {
    let p = pipeline(Version::V2_40, |_| {}).await;
    let values = json!({"positives": 3, "tests_male": 4});
    let first = p.submit(values.clone()).await;
    p.settled(first, &["succeeded"], WAIT).await;
    let again = p.submit(values).await;
    let log = p.settled(again, FINAL, WAIT).await;
    assert_eq!(log["status"], "succeeded", "{log:#}");
    assert_eq!(log["errors"], "Nothing new: DHIS2 already had these values");
    assert!(log["values"].as_array().unwrap().iter().all(|v| v["outcome"] == "unchanged"), "{log:#}");
}

#[tokio::test]
async fn refused_values_are_exported_and_a_fixed_mapping_requeues_exactly_its_submissions() {
    let p = pipeline(Version::V2_43, |_| {}).await;
    // A mapping to the orphan element, in no data set: DHIS2 refuses it (E8020).
    let orphan =
        json!({"code": "orphan", "what": "de", "dataElement": fixture::DE_ORPHAN, "dataSet": fixture::DS_MONTHLY_HIV});
    let mapping = expect_json(p.call(Method::POST, "/api/v2/mappings", Some(orphan)).await, StatusCode::CREATED).await;
    let broken = p.submit(json!({"orphan": 1})).await;
    let fine = p.submit(json!({"positives": 2})).await;
    p.settled(broken, &["failed"], WAIT).await;
    p.settled(fine, &["succeeded"], WAIT).await;

    let csv = p.app.request(Method::GET, "/api/v2/logs/refused/export?element=orphan").bearer_auth(&p.admin.jwt);
    let csv = csv.send().await.unwrap();
    assert_eq!(csv.status(), StatusCode::OK);
    assert!(csv.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let text = csv.text().await.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].starts_with("submission,submitted_at,partner,server,partner_key"));
    assert!(lines[1].contains(",orphan,") && lines[1].contains("E8020") && lines[1].contains("mapping"), "{text}");
    let xlsx = p.app.request(Method::GET, "/api/v2/logs/refused/export?format=xlsx").bearer_auth(&p.admin.jwt);
    let bytes = xlsx.send().await.unwrap().bytes().await.unwrap();
    assert_eq!(&bytes[..2], b"PK", "an xlsx is a zip");
    let bad = p.app.request(Method::GET, "/api/v2/logs/refused/export?format=pdf").bearer_auth(&p.admin.jwt);
    let bad = expect_error(bad.send().await.unwrap(), StatusCode::BAD_REQUEST).await;
    assert!(bad.to_string().contains("format"), "{bad}");

    let id = mapping["id"].as_i64().unwrap();
    let fixed =
        json!({"code": "orphan", "what": "de", "dataElement": fixture::DE_REMARKS, "dataSet": fixture::DS_MONTHLY_HIV});
    expect_json(p.call(Method::PUT, &format!("/api/v2/mappings/{id}"), Some(fixed)).await, StatusCode::OK).await;
    let requeued = expect_json(
        p.call(Method::POST, &format!("/api/v2/mappings/{id}/requeue-refused"), None).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!((requeued["reEnqueued"].as_i64(), requeued["failed"].as_i64()), (Some(1), Some(0)), "{requeued}");
    p.settled(broken, &["succeeded"], WAIT).await;
    assert_eq!(p.log(fine).await["attempts"].as_array().unwrap().len(), 1, "the other submission was left alone");
}

#[tokio::test]
async fn on_2_43_a_period_that_opens_goes_without_the_one_still_closed_in_the_same_data_set() {
    // One DHIS2-API post with two periods of one data set: 2.43 refuses the whole group for
    // the closed one, so both wait; each goes when DHIS2 opens it, not with the other.
    let p = pipeline(Version::V2_43, |_| {}).await;
    p.dhis2.set_expiry_days(fixture::DS_MONTHLY_HIV, 45);
    let (open, closed) = (months_ago(1), months_ago(3));
    let value = |period: &str, element: &str, value: &str| json!({"dataElement": element, "period": period, "orgUnit": fixture::OU_FACILITY_1, "value": value});
    let body = json!({"dataSet": fixture::DS_MONTHLY_HIV, "dataValues": [
        value(&open, fixture::DE_POSITIVES, "5"), value(&closed, fixture::DE_POSITIVES, "6"),
        value(&open, fixture::DE_REMARKS, "fine")]});
    let answer = p.dhis2_client(Method::POST, "dataValueSets").json(&body).send().await.unwrap();
    let answer = expect_json(answer, StatusCode::CONFLICT).await;
    assert_eq!(answer["response"]["conflicts"][0]["errorCode"], "E8030", "DHIS2's own answer: {answer}");
    let logs = p.get_as_admin("/api/v2/logs").await;
    let id = logs["items"][0]["id"].as_i64().unwrap();
    p.settled(id, &["held"], WAIT).await;
    assert_eq!(held(&p).await.len(), 2);

    let result = expect_json(p.call(Method::POST, "/api/v2/held/recheck", Some(json!({}))).await, StatusCode::OK).await;
    assert_eq!((result["opened"].as_i64(), result["released"].as_i64()), (Some(1), Some(2)), "{result}");
    let log = p.settled(id, &["held"], WAIT).await;
    let release = log["attempts"].as_array().unwrap().last().unwrap();
    assert_eq!(release["request_payload"]["dataValues"].as_array().unwrap().len(), 2, "only the open period's values");
    assert_eq!(p.dhis2.values().len(), 2, "{:?}", p.dhis2.values());
    let left = held(&p).await;
    assert_eq!((left.len(), left[0]["period"].as_str()), (1, Some(closed.as_str())), "{left:#?}");

    p.dhis2.set_expiry_days(fixture::DS_MONTHLY_HIV, 0);
    let result = expect_json(p.call(Method::POST, "/api/v2/held/recheck", Some(json!({}))).await, StatusCode::OK).await;
    assert_eq!(result["released"], 1, "{result}");
    let log = p.settled(id, &["succeeded"], WAIT).await;
    assert!(log["values"].as_array().unwrap().iter().all(|v| v["outcome"] == "released"), "{log:#}");
    assert_eq!(p.dhis2.values().len(), 3);
}

#[tokio::test]
async fn a_requeue_to_one_server_resends_its_payload_while_another_holds_values() {
    // The held values are kept by their place in the payload, which only a requeue to every
    // server rebuilds (through the mappings as they are then).
    let cc = dhis2_double::Dhis2Double::start(Version::V2_40).await;
    let dir = crate::servers::conf_dir(json!([crate::servers::cc_server("cc", &cc)]));
    let p = pipeline(Version::V2_40, |c| {
        c.server.conf_dir = dir.clone();
        c.api.cc_dhis2_servers = vec!["cc".into()];
    })
    .await;
    p.dhis2.set_expiry_days(fixture::DS_MONTHLY_HIV, 10);
    let id = submit_for(&p, &months_ago(3), json!({"positives": 1})).await;
    p.destination(id, "cc", &["succeeded"]).await;
    p.destination(id, "primary", &["held"]).await;
    let sent_before = p.log(id).await["dhis2_payload"].clone();
    // A mapping changed since: a requeue to one server still sends what the others got.
    let mappings = p.get_as_admin("/api/v2/mappings?code=positives").await;
    let mapping = mappings["items"][0]["id"].as_i64().unwrap();
    let moved = json!({"code": "positives", "dataElement": fixture::DE_REMARKS});
    let r = p.call(Method::PUT, &format!("/api/v2/mappings/{mapping}"), Some(moved)).await;
    expect_json(r, StatusCode::OK).await;
    let one = p.call(Method::POST, &format!("/api/v2/logs/{id}/restart?server=cc"), None).await;
    assert_eq!(expect_json(one, StatusCode::OK).await["reEnqueued"], 1);
    let started = std::time::Instant::now();
    while cc.values()[0].times_written < 2 {
        assert!(started.elapsed() < Duration::from_secs(15), "cc was not sent it again: {:?}", cc.values());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    p.destination(id, "cc", &["succeeded"]).await;
    assert_eq!(cc.values().len(), 1, "the recorded payload, not one rebuilt through the new mapping");
    let log = p.log(id).await;
    assert_eq!(log["dhis2_payload"], sent_before);
    p.destination(id, "primary", &["held"]).await;
    assert!(log["values"].as_array().unwrap().iter().any(|v| v["outcome"] == "held"), "{log:#}");
    // To every server it goes rebuilt: the held delivery starts afresh too, and is held again.
    let all = p.call(Method::POST, &format!("/api/v2/logs/{id}/restart"), None).await;
    assert_eq!(expect_json(all, StatusCode::OK).await["reEnqueued"], 1);
    p.destination(id, "primary", &["held"]).await;
    p.destination(id, "cc", &["succeeded"]).await;
    assert!(cc.value(fixture::DE_REMARKS, &months_ago(3), fixture::OU_FACILITY_1, fixture::DEFAULT_COC).is_some());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_paused_server_is_not_asked_about_its_held_values() {
    let p = pipeline(Version::V2_40, |_| {}).await;
    p.dhis2.set_expiry_days(fixture::DS_MONTHLY_HIV, 10);
    let id = submit_for(&p, &months_ago(3), json!({"positives": 1})).await;
    p.settled(id, &["held"], WAIT).await;
    let servers = p.get_as_admin("/api/v2/servers").await;
    let uid = servers[0]["uid"].as_str().unwrap().to_string();
    let paused = p.call(Method::PUT, &format!("/api/v2/servers/{uid}"), Some(json!({"enabled": false}))).await;
    expect_json(paused, StatusCode::OK).await;
    let imports = p.dhis2.import_requests();
    let result = expect_json(p.call(Method::POST, "/api/v2/held/recheck", Some(json!({}))).await, StatusCode::OK).await;
    assert_eq!((result["checked"].as_i64(), result["still_held"].as_i64()), (Some(0), Some(1)), "{result}");
    assert_eq!(p.dhis2.import_requests(), imports, "no dry run went to the paused server");
}
