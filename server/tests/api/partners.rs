//! Partners served in turn, whatever one of them has queued; their limits: requests per
//! second and values per day (429 with `Retry-After` naming the limit); their scopes:
//! data-set, org-unit and network scopes on the user and on a token (403 naming what is
//! outside); expiry, and token rotation with an overlap.

use std::time::Duration;

use dhis2_double::{Version, fixture};
use dhis2gw_wire::Role;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use dhis2gw_test_support::*;

/// The pipeline's partner (`emr`) uid.
async fn partner_uid(p: &Pipeline) -> String {
    let page = p.get_as_admin("/api/v2/users?username=emr").await;
    page["items"][0]["uid"].as_str().unwrap().to_string()
}

async fn set_access(p: &Pipeline, uid: &str, access: Value) -> reqwest::Response {
    p.call(Method::PUT, &format!("/api/v2/users/{uid}/access"), Some(access)).await
}

/// The first `n` of the pipeline's mapped values (three at most).
fn values(n: usize) -> Value {
    let all = [("positives", "1"), ("tests_male", "2"), ("tests_female", "3")];
    all[..n].iter().map(|(key, value)| (key.to_string(), json!(value))).collect::<serde_json::Map<_, _>>().into()
}

fn retry_after(r: &reqwest::Response) -> u64 {
    r.headers()["retry-after"].to_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn another_partners_single_submission_goes_ahead_of_one_partners_backlog() {
    const BACKLOG: usize = 400;
    let p = pipeline(Version::V2_40, |c| c.server.max_concurrent = 2).await;
    p.dhis2.set_latency(Duration::from_millis(60));
    // The big partner's backlog, posted at once.
    let p = &p;
    let posts = (0..BACKLOG).map(|i| {
        let mut body = p.submission(values(1));
        body["period"] = json!(format!("{}{:02}", 1980 + i / 12, i % 12 + 1));
        async move { expect_json(p.post(&body).await, StatusCode::OK).await }
    });
    futures_util::future::join_all(posts).await;
    let delivered = || async {
        let log = p.get_as_admin("/api/v2/logs?status=succeeded&page_size=1").await;
        log["total"].as_u64().unwrap() as usize
    };
    // Then another partner's one submission.
    let lab = p.app.user("lab", Role::Partner).await;
    let token = p.app.api_token(&p.admin, &lab).await;
    let body = p.submission(values(2));
    let r = p.app.request(Method::POST, "/api/v2/aggregate").header("Authorization", format!("Token {token}"));
    let id = expect_json(r.json(&body).send().await.unwrap(), StatusCode::OK).await["submission_id"].as_i64().unwrap();
    let before = delivered().await;
    assert!(before < BACKLOG / 2, "the backlog was mostly gone ({before} delivered) before the other partner posted");
    p.settled(id, &["succeeded"], Duration::from_secs(60)).await;
    // Two deliveries at a time, it had at most the big partner's share (four jobs), those in
    // flight and one fed in the same turn ahead of it, and those finishing beside it while the
    // log was polled: a dozen at most, not the hundreds left of the backlog.
    let ahead = delivered().await - before - 1;
    assert!(ahead <= 12, "{ahead} of the backlog's remaining {} went before the other partner's one", BACKLOG - before);
}

#[tokio::test]
async fn a_partner_over_its_requests_per_second_gets_429_naming_the_limit_and_when_to_retry() {
    let p = pipeline(Version::V2_40, |c| c.api.partner_requests_per_second = 2).await;
    let mut refused = None;
    for _ in 0..6 {
        let r = p.as_partner(Method::GET, "/api/v2/logs").send().await.unwrap();
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            refused = Some(r);
            break;
        }
        assert_eq!(r.status(), StatusCode::OK);
    }
    let refused = refused.expect("the third request within a second is refused");
    assert_eq!(retry_after(&refused), 1);
    let body = expect_error(refused, StatusCode::TOO_MANY_REQUESTS).await;
    assert_eq!(details(&body), ["requests_per_second"], "{body}");
    assert!(body["error"].as_str().unwrap().contains("2 requests per second"), "{body}");
    // Staff are not limited.
    for _ in 0..6 {
        p.get_as_admin("/api/v2/logs").await;
    }
    // After the wait it goes through; the user's own limit wins over the configuration's.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(p.as_partner(Method::GET, "/api/v2/logs").send().await.unwrap().status(), StatusCode::OK);
    let uid = partner_uid(&p).await;
    let view = expect_json(set_access(&p, &uid, json!({"requests_per_second": 50})).await, StatusCode::OK).await;
    assert_eq!(view["effective_requests_per_second"], 50);
    for _ in 0..10 {
        assert_eq!(p.as_partner(Method::GET, "/api/v2/logs").send().await.unwrap().status(), StatusCode::OK);
    }
    let bad =
        expect_error(set_access(&p, &uid, json!({"requests_per_second": 0})).await, StatusCode::BAD_REQUEST).await;
    assert_eq!(details(&bad), ["requests_per_second: must be at least 1"]);
    let huge = set_access(&p, &uid, json!({"requests_per_second": 3_000_000_000u64})).await;
    let huge = expect_error(huge, StatusCode::BAD_REQUEST).await;
    assert_eq!(details(&huge), ["requests_per_second: must be at most 2147483647"]);
}

#[tokio::test]
async fn values_beyond_a_partners_daily_limit_are_refused_until_midnight_and_shown() {
    let p = pipeline(Version::V2_40, |c| c.api.partner_values_per_day = 100).await;
    let uid = partner_uid(&p).await;
    expect_json(set_access(&p, &uid, json!({"values_per_day": 5})).await, StatusCode::OK).await;
    p.submit(values(3)).await;
    let r = p.post(&p.submission(values(3))).await;
    let wait = retry_after(&r);
    assert!((1..=86_400 + 3_600).contains(&wait), "Retry-After {wait}");
    let body = expect_error(r, StatusCode::TOO_MANY_REQUESTS).await;
    assert_eq!(details(&body), ["values_per_day"], "{body}");
    assert!(body["error"].as_str().unwrap().contains("5 data values a day"), "{body}");
    // What fits still goes; the refused submission was not stored.
    p.submit(values(2)).await;
    let log = p.get_as_admin("/api/v2/logs").await;
    assert_eq!(log["total"], 2, "{log}");
    let view = p.get_as_admin(&format!("/api/v2/users/{uid}/access")).await;
    assert_eq!(
        (
            &view["values_today"],
            &view["values_per_day"],
            &view["effective_values_per_day"],
            &view["refused_over_limit"]
        ),
        (&json!(5), &json!(5), &json!(5), &json!(1)),
        "{view}"
    );
    // Back to the configuration's limit.
    let view = expect_json(set_access(&p, &uid, json!({})).await, StatusCode::OK).await;
    assert_eq!((&view["values_per_day"], &view["effective_values_per_day"]), (&Value::Null, &json!(100)));
    let metrics = p.app.request(Method::GET, "/metrics").send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains(r#"dhis2gw_partner_values_today{partner="emr"} 5"#), "{metrics}");
    assert!(
        metrics.contains(r#"dhis2gw_partner_refused_over_limit_total{partner="emr",limit="values_per_day"} 1"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn scoped_partners_submit_only_their_data_sets_and_org_unit_subtrees() {
    let p = pipeline(Version::V2_40, |_| {}).await;
    expect_json(p.sync_org_units().await, StatusCode::OK).await;
    expect_json(p.sync_metadata().await, StatusCode::OK).await;
    let uid = partner_uid(&p).await;

    // Anything unknown is named, each in its field.
    let bad = json!({"scope": {"data_sets": ["NOPE"], "org_units": [fixture::OU_SUBCOUNTY, "Nowhere"], "networks": ["300.1.1.1"]}});
    let body = expect_error(set_access(&p, &uid, bad).await, StatusCode::BAD_REQUEST).await;
    assert_eq!(
        details(&body),
        [
            "scope.data_sets[0]: 'NOPE' is neither the UID nor the code of a data set synced from DHIS2",
            "scope.org_units[1]: 'Nowhere' is neither the UID nor the code of an org unit in the synced hierarchy",
            "scope.networks[0]: '300.1.1.1' is not a CIDR network (10.0.0.0/8) or an IP address",
        ]
    );

    // Codes are stored as UIDs.
    let scope =
        json!({"scope": {"data_sets": [fixture::DS_MONTHLY_HIV_CODE], "org_units": [fixture::OU_SUBCOUNTY_CODE]}});
    let view = expect_json(set_access(&p, &uid, scope).await, StatusCode::OK).await;
    assert_eq!(view["scope"]["data_sets"], json!([fixture::DS_MONTHLY_HIV]));
    assert_eq!(view["scope"]["org_units"], json!([fixture::OU_SUBCOUNTY]));

    // Within the subtree and the data set: accepted.
    p.submit(values(1)).await;
    // Another subtree: 403 naming the org unit.
    let mut elsewhere = p.submission(values(1));
    elsewhere["orgUnit"] = json!(fixture::OU_FACILITY_3);
    let body = expect_error(p.post(&elsewhere).await, StatusCode::FORBIDDEN).await;
    let error = body["error"].as_str().unwrap();
    assert!(error.starts_with(&format!("orgUnit: '{}' is outside", fixture::OU_FACILITY_3)), "{body}");
    // A dry run answers as the post would.
    elsewhere["dryRun"] = json!(true);
    expect_error(p.post(&elsewhere).await, StatusCode::FORBIDDEN).await;
    // Another data set: 403 naming it.
    let mut other_set = p.submission(values(1));
    other_set["dataSet"] = json!(fixture::DS_QUARTERLY_TB);
    other_set["period"] = json!("2024Q1");
    let body = expect_error(p.post(&other_set).await, StatusCode::FORBIDDEN).await;
    assert!(body["error"].as_str().unwrap().starts_with(&format!("dataSet: '{}'", fixture::DS_QUARTERLY_TB)), "{body}");
    // A data-set scope admits aggregate data only.
    let tracker = json!({"events": [{"ref": "V", "program": fixture::PROGRAM_EVENTS, "programStage": fixture::STAGE_EVENT,
        "orgUnit": fixture::OU_FACILITY_1, "occurredAt": "2024-01-05"}]});
    expect_error(p.post_tracker(&tracker, "").await, StatusCode::FORBIDDEN).await;

    // A token's own scope narrows its user's: this one may post for facility 2 only.
    let token = p
        .call(
            Method::POST,
            &format!("/api/v2/users/{uid}/tokens"),
            Some(json!({
        "name": "facility 2", "scope": {"org_units": [fixture::OU_FACILITY_2_CODE]}})),
        )
        .await;
    let token = expect_json(token, StatusCode::CREATED).await;
    assert_eq!(token["scope"]["org_units"], json!([fixture::OU_FACILITY_2]));
    let narrow = token["token"].as_str().unwrap();
    let post_with = |body: Value| {
        p.app
            .request(Method::POST, "/api/v2/aggregate")
            .header("Authorization", format!("Token {narrow}"))
            .json(&body)
            .send()
    };
    expect_error(post_with(p.submission(values(1))).await.unwrap(), StatusCode::FORBIDDEN).await;
    let mut facility_2 = p.submission(values(1));
    facility_2["orgUnit"] = json!(fixture::OU_FACILITY_2);
    expect_json(post_with(facility_2).await.unwrap(), StatusCode::OK).await;
}

#[tokio::test]
async fn a_token_bound_to_networks_is_refused_elsewhere_honouring_only_trusted_proxies() {
    let p = pipeline(Version::V2_40, |c| c.server.trusted_proxies = vec!["127.0.0.2/32".parse().unwrap()]).await;
    let uid = partner_uid(&p).await;
    let created = p
        .call(
            Method::POST,
            &format!("/api/v2/users/{uid}/tokens"),
            Some(json!({
        "name": "lab", "scope": {"networks": ["10.0.0.0/8", "192.0.2.7"]}})),
        )
        .await;
    let token = expect_json(created, StatusCode::CREATED).await["token"].as_str().unwrap().to_string();
    let call = |forwarded: Option<&str>| {
        let r = p.app.request(Method::GET, "/api/v2/logs").header("Authorization", format!("Token {token}"));
        match forwarded {
            Some(address) => r.header("X-Forwarded-For", address),
            None => r,
        }
        .send()
    };
    // From 127.0.0.1, which is no trusted proxy: its X-Forwarded-For is not believed.
    let body = expect_error(call(None).await.unwrap(), StatusCode::FORBIDDEN).await;
    assert!(body["error"].as_str().unwrap().starts_with("Requests from 127.0.0.1 are not allowed"), "{body}");
    expect_error(call(Some("10.1.2.3")).await.unwrap(), StatusCode::FORBIDDEN).await;

    let proxied = pipeline(Version::V2_40, |c| c.server.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()]).await;
    let uid = partner_uid(&proxied).await;
    let scope = json!({"scope": {"networks": ["10.0.0.0/8"]}});
    expect_json(set_access(&proxied, &uid, scope).await, StatusCode::OK).await;
    let via = |address: &str| proxied.as_partner(Method::GET, "/api/v2/logs").header("X-Forwarded-For", address).send();
    assert_eq!(via("10.1.2.3").await.unwrap().status(), StatusCode::OK);
    let body = expect_error(via("192.0.2.1").await.unwrap(), StatusCode::FORBIDDEN).await;
    assert!(body["error"].as_str().unwrap().starts_with("Requests from 192.0.2.1 are not allowed"), "{body}");
    // The token's last use shows where it came from.
    let tokens = proxied.get_as_admin(&format!("/api/v2/users/{uid}/tokens")).await;
    assert_eq!(tokens[0]["last_used_ip"], "10.1.2.3", "{tokens}");
}

#[tokio::test]
async fn a_rotated_token_works_beside_its_successor_for_the_overlap_then_stops() {
    let p = pipeline(Version::V2_40, |_| {}).await;
    let uid = partner_uid(&p).await;
    let tokens = p.get_as_admin(&format!("/api/v2/users/{uid}/tokens")).await;
    let old_id = tokens[0]["id"].as_i64().unwrap();
    let (p, uid) = (&p, &uid);
    let rotate = |id: i64, overlap: u64| async move {
        let path = format!("/api/v2/users/{uid}/tokens/{id}/rotate");
        p.call(Method::POST, &path, Some(json!({"overlap_secs": overlap}))).await
    };
    let too_long = expect_error(rotate(old_id, 31 * 24 * 3600).await, StatusCode::BAD_REQUEST).await;
    assert_eq!(details(&too_long), ["overlap_secs: at most 2592000 (30 days)"]);
    let new = expect_json(rotate(old_id, 2).await, StatusCode::CREATED).await;
    let new_token = new["token"].as_str().unwrap().to_string();
    assert_eq!(new["name"], "test");
    let with = |token: &str| {
        p.app.request(Method::GET, "/api/v2/logs").header("Authorization", format!("Token {token}")).send()
    };
    assert_eq!(with(&p.partner_token).await.unwrap().status(), StatusCode::OK, "the old one works during the overlap");
    assert_eq!(with(&new_token).await.unwrap().status(), StatusCode::OK);
    let listed = p.get_as_admin(&format!("/api/v2/users/{uid}/tokens")).await;
    let old = listed.as_array().unwrap().iter().find(|t| t["id"] == old_id).unwrap();
    assert_eq!(old["rotated_to"], new["id"], "{listed}");
    // A rotated token is not rotated again.
    expect_error(rotate(old_id, 2).await, StatusCode::NOT_FOUND).await;
    tokio::time::sleep(Duration::from_millis(7_500)).await;
    expect_error(with(&p.partner_token).await.unwrap(), StatusCode::UNAUTHORIZED).await;
    assert_eq!(with(&new_token).await.unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn an_expired_partner_user_is_refused_like_bad_credentials() {
    let p = pipeline(Version::V2_40, |_| {}).await;
    let uid = partner_uid(&p).await;
    let past = expect_error(
        set_access(&p, &uid, json!({"expires_at": "2020-01-01T00:00:00Z"})).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(details(&past), ["expires_at: must be in the future"]);
    let soon = (chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339();
    expect_json(set_access(&p, &uid, json!({"expires_at": soon})).await, StatusCode::OK).await;
    assert_eq!(p.as_partner(Method::GET, "/api/v2/logs").send().await.unwrap().status(), StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let body =
        expect_error(p.as_partner(Method::GET, "/api/v2/logs").send().await.unwrap(), StatusCode::UNAUTHORIZED).await;
    assert_eq!(body["error"], "Invalid, expired or revoked credentials");
    let r = p
        .app
        .request(Method::POST, "/api/v2/users/getToken")
        .json(&json!({"username": "emr", "password": PASSWORD}))
        .send();
    expect_error(r.await.unwrap(), StatusCode::UNAUTHORIZED).await;
}
