//! The attacks of the security review, played against the real gateway and the DHIS2 test
//! double: each is refused, and DHIS2 sees nothing it should not.

use std::time::Duration;

use dhis2_double::{Version, fixture};
use dhis2gw::access::audit::Actor;
use dhis2gw_wire::Role;
use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};

use dhis2gw_test_support::*;

/// Sends `GET <path>` byte for byte as given: reqwest (like browsers) would collapse `..` and
/// `%2e%2e` before sending, and an attacker's client does not.
async fn raw_get(app: &TestApp, path: &str, authorization: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = app.address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: {authorization}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    let status = answer.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = answer.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

fn data_value_set(value: &str) -> Value {
    json!({"dataSet": fixture::DS_MONTHLY_HIV, "period": "202402", "orgUnit": fixture::OU_FACILITY_1,
           "dataValues": [{"dataElement": fixture::DE_POSITIVES, "value": value}]})
}

#[tokio::test]
async fn metadata_reads_cannot_climb_to_other_resources_and_me_is_the_partners_own() {
    let p = pipeline(Version::V2_40, |_| {}).await;
    let auth = format!("ApiToken {}", p.partner_token);
    for path in [
        "/dhis2/api/dataSets/%2e%2e/me",
        "/dhis2/api/dataSets/%2E%2E/users",
        "/dhis2/api/dataSets/%252e%252e/me",
        "/dhis2/api/dataSets/..%2fusers",
        "/dhis2/api/dataSets%2f..%2fusers",
        "/dhis2/api/dataSets/../users",
        "/dhis2/api/dataSets/./../me",
        "/dhis2/api/dataSets/..%5cusers",
        "/dhis2/api/organisationUnits/OrgFac00001/users",
        "/dhis2/api/users",
        "/dhis2/api/dataValueSets?dataSet=pBOMPrpg1QY",
        "/dhis2/api/trackedEntities",
    ] {
        let (status, body) = raw_get(&p.app, path, &auth).await;
        assert!(matches!(status, 400 | 404), "{path}: {status} {body}");
        assert!(!body.contains(dhis2_double::USERNAME), "{path} leaked the service account: {body}");
    }
    // Parameters that would read as the service account, or probe users, are refused.
    for query in ["userOnly=true", "filter=users.username:eq:admin", "order=createdBy:asc", "fields=id&skipPaging=x"] {
        let (status, body) = raw_get(&p.app, &format!("/dhis2/api/organisationUnits?{query}"), &auth).await;
        assert_eq!(status, 400, "{query}: {body}");
    }
    assert_eq!(p.metadata_requests_to(&["/api/me", "/api/users"]), Vec::<String>::new(), "DHIS2 was asked");

    // /api/me is the partner as the gateway knows it, never DHIS2's service account.
    let me = expect_json(p.as_partner(Method::GET, "/dhis2/api/me").send().await.unwrap(), StatusCode::OK).await;
    assert_eq!((me["username"].as_str(), me["authorities"][0].as_str()), (Some("emr"), Some("F_DATAVALUE_ADD")));
    assert!(p.metadata_requests_to(&["/api/me"]).is_empty());

    // Answers lose user details; allowed reads still work and are cached for everyone.
    let sets = p.as_partner(Method::GET, "/dhis2/api/dataSets?fields=*").send().await.unwrap();
    let sets = expect_json(sets, StatusCode::OK).await;
    assert!(sets["dataSets"].as_array().is_some_and(|d| !d.is_empty()), "{sets}");
    assert!(!sets.to_string().contains("\"user\"") && !sets.to_string().contains("createdBy"), "{sets}");
}

#[tokio::test]
async fn import_options_that_bypass_or_delete_never_reach_dhis2() {
    let p = pipeline(Version::V2_40, |_| {}).await;
    let post = |query: &str| {
        p.as_partner(Method::POST, &format!("/dhis2/api/dataValueSets?{query}")).json(&data_value_set("3"))
    };
    for query in [
        "force=true",
        "skipAudit=true",
        "skipExistingCheck=true",
        "importStrategy=DELETE&force=true&skipAudit=true",
        "async=maybe",
        "mergeMode=MERGE",
        "idScheme=evil",
    ] {
        let refused = post(query).send().await.unwrap();
        assert!(
            matches!(refused.status(), StatusCode::BAD_REQUEST | StatusCode::FORBIDDEN),
            "{query}: {}",
            refused.status()
        );
        let body: Value = refused.json().await.unwrap();
        let named = query.split(['=', '&']).next().unwrap();
        assert!(body["message"].as_str().unwrap().contains(named), "{query}: {body}");
    }
    let delete = post("importStrategy=DELETE").send().await.unwrap();
    assert_eq!(delete.status(), StatusCode::FORBIDDEN);
    // Tracker: the gateway imports with CREATE_AND_UPDATE only, and honours nothing else.
    let te = json!({"trackedEntities": [{"trackedEntity": "TeiSecure01", "trackedEntityType": fixture::TET_PERSON, "orgUnit": fixture::OU_FACILITY_1}]});
    for query in ["importStrategy=DELETE", "atomicMode=OBJECT", "flushMode=OBJECT"] {
        let refused =
            p.as_partner(Method::POST, &format!("/dhis2/api/tracker?{query}")).json(&te).send().await.unwrap();
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST, "{query}");
    }
    assert_eq!((p.dhis2.import_requests(), p.dhis2.tracker_requests()), (0, 0), "DHIS2 saw a refused import");
    let logs = p.app.request(Method::GET, "/api/v2/logs").bearer_auth(&p.admin.jwt).send().await.unwrap();
    assert_eq!(expect_json(logs, StatusCode::OK).await["total"], 0, "nothing refused was stored");

    // What the gateway checks goes through, and only that is recorded and sent.
    let ok = post("dataElementIdScheme=UID&importStrategy=CREATE_AND_UPDATE&strictPeriods=true").send().await.unwrap();
    expect_json(ok, StatusCode::OK).await;
    let sent = p.dhis2.requests().into_iter().find(|r| r.path == "/api/dataValueSets").unwrap();
    assert_eq!(sent.query, "dataElementIdScheme=UID&importStrategy=CREATE_AND_UPDATE&strictPeriods=true");

    // An admin, or a partner named in server.dhis2_api_delete_allowed, may delete.
    let deleted = p
        .app
        .request(Method::POST, "/dhis2/api/dataValueSets?importStrategy=DELETE")
        .bearer_auth(&p.admin.jwt)
        .json(&data_value_set("3"))
        .send()
        .await
        .unwrap();
    expect_json(deleted, StatusCode::OK).await;
}

#[tokio::test]
async fn a_partner_reaches_only_mapped_data_elements_and_synced_facilities() {
    let p = pipeline(Version::V2_40, |_| {}).await;
    let sync = p.app.request(Method::POST, "/api/v2/orgunits/sync").bearer_auth(&p.admin.jwt).send().await.unwrap();
    expect_json(sync, StatusCode::OK).await;
    // DE_ON_ART exists in DHIS2 but no mapping reaches it: DHIS2's own 409 shape, nothing sent.
    let unmapped = json!({"dataSet": fixture::DS_MONTHLY_HIV, "period": "202402", "orgUnit": fixture::OU_FACILITY_1,
        "dataValues": [{"dataElement": fixture::DE_POSITIVES, "value": "1"}, {"dataElement": fixture::DE_ON_ART, "value": "true"}]});
    let refused = p.as_partner(Method::POST, "/dhis2/api/dataValueSets").json(&unmapped).send().await.unwrap();
    let refused = expect_json(refused, StatusCode::CONFLICT).await;
    let conflict = &refused["response"]["conflicts"][0];
    assert_eq!(
        (conflict["errorCode"].as_str(), conflict["indexes"][0].as_i64()),
        (Some("E7610"), Some(1)),
        "{refused}"
    );
    // An org unit outside the synced hierarchy, on the set or on one value, is refused.
    for body in [
        json!({"dataSet": fixture::DS_MONTHLY_HIV, "period": "202402", "orgUnit": "NotAUnit001", "dataValues": [{"dataElement": fixture::DE_POSITIVES, "value": "1"}]}),
        json!({"dataSet": fixture::DS_MONTHLY_HIV, "period": "202402", "orgUnit": fixture::OU_FACILITY_1,
               "dataValues": [{"dataElement": fixture::DE_POSITIVES, "value": "1", "orgUnit": fixture::OU_DISTRICT}]}),
    ] {
        let r = p.as_partner(Method::POST, "/dhis2/api/dataValueSets").json(&body).send().await.unwrap();
        let r = expect_json(r, StatusCode::BAD_REQUEST).await;
        assert!(r["message"].as_str().unwrap().contains("orgUnit"), "{r}");
    }
    assert_eq!(p.dhis2.import_requests(), 0);
    // So are tracker records in a unit outside it, or above the facility level.
    for unit in ["NotAUnit001", fixture::OU_DISTRICT] {
        let person = json!({"trackedEntities": [{"ref": "P-1", "trackedEntityType": fixture::TET_PERSON, "orgUnit": fixture::OU_FACILITY_1,
            "enrollments": [{"ref": "E-1", "program": fixture::PROGRAM_CARE, "orgUnit": unit, "enrolledAt": "2024-01-02"}]}]});
        let r = p.as_partner(Method::POST, "/api/v2/tracker").json(&person).send().await.unwrap();
        let r = expect_error(r, StatusCode::BAD_REQUEST).await;
        assert!(details(&r).iter().any(|d| d.starts_with("orgUnit") && d.contains(unit)), "{r}");
    }
    assert_eq!(p.dhis2.tracker_requests(), 0);
}

#[tokio::test]
async fn a_partner_cannot_update_or_attach_to_another_partners_tracked_entities() {
    let p = pipeline(Version::V2_40, |c| c.server.dhis2_api_sync_wait = 1).await;
    let other = p.app.user("lab", Role::Partner).await;
    let other_token = p.app.api_token(&p.admin, &other).await;
    let person = |uid: &str, value: &str| {
        json!({"trackedEntities": [{"trackedEntity": uid, "trackedEntityType": fixture::TET_PERSON, "orgUnit": fixture::OU_FACILITY_1,
               "attributes": [{"attribute": fixture::ATTR_PATIENT_ID, "value": value}]}]})
    };
    let post_as = |token: &str, body: Value| {
        p.app
            .request(Method::POST, "/api/v2/tracker")
            .header("Authorization", format!("Token {token}"))
            .json(&body)
            .send()
    };
    expect_json(post_as(&p.partner_token, person("TeiOwnedBy1", "A-1")).await.unwrap(), StatusCode::OK).await;
    // The owner may update its own record.
    expect_json(post_as(&p.partner_token, person("TeiOwnedBy1", "A-2")).await.unwrap(), StatusCode::OK).await;
    // Another partner may neither update it nor hang an enrollment on it, by either API.
    let hijack =
        expect_error(post_as(&other_token, person("TeiOwnedBy1", "EVIL")).await.unwrap(), StatusCode::FORBIDDEN).await;
    assert!(hijack["error"].as_str().unwrap().contains("TeiOwnedBy1"), "{hijack}");
    let enrollment = json!({"enrollments": [{"ref": "E-9", "trackedEntity": "TeiOwnedBy1", "program": fixture::PROGRAM_CARE,
        "orgUnit": fixture::OU_FACILITY_1, "enrolledAt": "2024-01-02"}]});
    expect_error(post_as(&other_token, enrollment.clone()).await.unwrap(), StatusCode::FORBIDDEN).await;
    let through_dhis2_api = p
        .app
        .request(Method::POST, "/dhis2/api/tracker")
        .header("Authorization", format!("ApiToken {other_token}"))
        .json(&person("TeiOwnedBy1", "EVIL"))
        .send()
        .await
        .unwrap();
    assert_eq!(through_dhis2_api.status(), StatusCode::FORBIDDEN);
    // Staff may correct any record.
    let admin =
        p.app.request(Method::POST, "/api/v2/tracker").bearer_auth(&p.admin.jwt).json(&person("TeiOwnedBy1", "A-3"));
    expect_json(admin.send().await.unwrap(), StatusCode::OK).await;
    let stored: Vec<String> = sqlx::query_scalar(
        "SELECT uid FROM tracker_owners WHERE user_id = (SELECT id FROM users WHERE username = 'lab')",
    )
    .fetch_all(&p.app.db)
    .await
    .unwrap();
    assert!(!stored.contains(&"TeiOwnedBy1".to_string()));
}

/// The peak resident memory of this test process (nextest runs each test in its own).
fn peak_rss_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .unwrap()
        .trim()
        .trim_end_matches(" kB")
        .trim()
        .parse()
        .unwrap();
    kib / 1024
}

#[tokio::test]
async fn password_storms_are_bounded_and_cannot_lock_out_a_partner_that_keeps_working() {
    // 127.0.0.1 is a trusted proxy here, so each request can come "from" its own address.
    let app = spawn_app_with(|c| c.server.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()]).await;
    app.user("partner", Role::Partner).await;
    let me = |from: String, password: &'static str| {
        app.request(Method::GET, "/api/v2/me")
            .header(header::AUTHORIZATION, basic("partner", password))
            .header("X-Forwarded-For", from)
            .send()
    };
    // The partner's integration signs in with Basic from its own address.
    assert_eq!(me("198.51.100.1".into(), PASSWORD).await.unwrap().status(), StatusCode::OK);

    // 200 sign-ins at once for 200 usernames from 200 addresses: each hashes a password
    // (about 19 MiB), but never more than a few at a time; the rest wait or get 429.
    let before = peak_rss_mib();
    let storm: Vec<_> = (0..200)
        .map(|i| {
            tokio::spawn(
                app.request(Method::POST, "/api/v2/users/getToken")
                    .header("X-Forwarded-For", format!("203.0.113.{}", i % 250 + 1))
                    .json(&json!({"username": format!("user{i}"), "password": "guess"}))
                    .send(),
            )
        })
        .collect();
    for guess in storm {
        let status = guess.await.unwrap().unwrap().status();
        assert!(matches!(status, StatusCode::UNAUTHORIZED | StatusCode::TOO_MANY_REQUESTS), "{status}");
    }
    let grown = peak_rss_mib() - before;
    assert!(grown < 300, "hashing is bounded: peak memory grew {grown} MiB");

    // 200 guesses at one username from 200 addresses: it locks after 50 failures.
    let storm: Vec<_> =
        (0..200).map(|i| tokio::spawn(me(format!("203.0.{}.{}", i / 250 + 1, i % 250 + 1), "guess"))).collect();
    let mut statuses = Vec::new();
    for guess in storm {
        statuses.push(guess.await.unwrap().unwrap().status());
    }
    assert!(
        statuses.iter().all(|s| matches!(*s, StatusCode::UNAUTHORIZED | StatusCode::TOO_MANY_REQUESTS)),
        "{statuses:?}"
    );
    let locked = statuses.iter().filter(|s| **s == StatusCode::TOO_MANY_REQUESTS).count();
    assert_eq!(locked, 150, "the username locks after 50 failures from anywhere");

    // A stranger's correct guess is refused now, but the partner that keeps working does.
    assert_eq!(me("192.0.2.77".into(), PASSWORD).await.unwrap().status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(me("198.51.100.1".into(), PASSWORD).await.unwrap().status(), StatusCode::OK);

    // Parallel guesses from one address cannot slip past its limit of 5 for a username.
    app.user("viewer", Role::Viewer).await;
    let burst: Vec<_> = (0..12)
        .map(|_| {
            tokio::spawn(
                app.request(Method::POST, "/api/v2/users/getToken")
                    .header("X-Forwarded-For", "192.0.2.200")
                    .json(&json!({"username": "viewer", "password": "guess"}))
                    .send(),
            )
        })
        .collect();
    let mut wrong = 0;
    for guess in burst {
        if guess.await.unwrap().unwrap().status() == StatusCode::UNAUTHORIZED {
            wrong += 1;
        }
    }
    assert_eq!(wrong, 5, "exactly 5 guesses were checked");
    let right = app
        .request(Method::POST, "/api/v2/users/getToken")
        .header("X-Forwarded-For", "192.0.2.200")
        .json(&json!({"username": "viewer", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(right.headers().contains_key(header::RETRY_AFTER));
    // An address not trusted as a proxy cannot pick its address with X-Forwarded-For.
    let untrusted = spawn_app().await;
    untrusted.user("viewer", Role::Viewer).await;
    for i in 0..6 {
        let r = untrusted
            .request(Method::POST, "/api/v2/users/getToken")
            .header("X-Forwarded-For", format!("10.9.9.{i}"))
            .json(&json!({"username": "viewer", "password": "guess"}))
            .send()
            .await
            .unwrap();
        let expected = if i < 5 { StatusCode::UNAUTHORIZED } else { StatusCode::TOO_MANY_REQUESTS };
        assert_eq!(r.status(), expected, "attempt {i}");
    }
}

#[tokio::test]
async fn deactivated_users_get_exactly_the_wrong_password_answer() {
    let app = spawn_app().await;
    let admin = app.user("admin", Role::Admin).await;
    let viewer = app.user("viewer", Role::Viewer).await;
    app.request(Method::DELETE, &format!("/api/v2/users/{}", viewer.uid)).bearer_auth(&admin.jwt).send().await.unwrap();
    let answer = |username: &'static str, password: &'static str| {
        let app = &app;
        async move {
            let r = app
                .request(Method::POST, "/api/v2/users/getToken")
                .json(&json!({"username": username, "password": password}))
                .send()
                .await
                .unwrap();
            (r.status(), r.text().await.unwrap())
        }
    };
    let deactivated = answer("viewer", PASSWORD).await;
    assert_eq!(deactivated, answer("admin", "wrong password").await);
    assert_eq!(deactivated, answer("nobody", PASSWORD).await);
    assert_eq!(deactivated.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn sign_out_ends_the_session_and_no_session_outlives_its_maximum() {
    let app = spawn_app().await;
    app.user("admin", Role::Admin).await;
    let refresh = |token: &str| {
        app.request(Method::POST, "/api/v2/users/refreshToken").json(&json!({"refresh_token": token})).send()
    };
    let session = app.sign_in("admin", PASSWORD).await;
    let next = expect_json(refresh(&session.refresh_token).await.unwrap(), StatusCode::OK).await;
    let latest = next["refresh_token"].as_str().unwrap().to_string();
    let out = app
        .request(Method::POST, "/api/v2/users/signOut")
        .json(&json!({"refresh_token": session.refresh_token}))
        .send();
    assert_eq!(out.await.unwrap().status(), StatusCode::NO_CONTENT);
    // Signing out with an old token of the sign-in revokes the latest too.
    expect_error(refresh(&latest).await.unwrap(), StatusCode::UNAUTHORIZED).await;

    let long = app.sign_in("admin", PASSWORD).await;
    sqlx::query("UPDATE refresh_tokens SET family_started = now() - interval '8 days'").execute(&app.db).await.unwrap();
    let expired = expect_error(refresh(&long.refresh_token).await.unwrap(), StatusCode::UNAUTHORIZED).await;
    assert!(expired["error"].as_str().unwrap().contains("maximum length"), "{expired}");
}

#[tokio::test]
async fn a_cross_site_text_or_form_post_with_remembered_basic_credentials_does_nothing() {
    let app = spawn_app().await;
    app.user("admin", Role::Admin).await;
    let evil = r#"{"username":"evil","password":"long enough password","role":"admin"}"#;
    for content_type in ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", ""] {
        let mut request = app
            .request(Method::POST, "/api/v2/users")
            .header(header::AUTHORIZATION, basic("admin", PASSWORD))
            .body(evil);
        if !content_type.is_empty() {
            request = request.header(header::CONTENT_TYPE, content_type);
        }
        expect_error(request.send().await.unwrap(), StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    }
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users WHERE username = 'evil')")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(!exists, "a forged post created a user");
    // 401s do not invite the browser to ask for and remember Basic credentials.
    let anonymous = app.request(Method::GET, "/api/v2/me").send().await.unwrap();
    let challenge = anonymous.headers()[header::WWW_AUTHENTICATE].to_str().unwrap().to_string();
    assert!(!challenge.to_ascii_lowercase().contains("basic"), "{challenge}");
    // A partner with a token keeps working whatever its client declares; and a JSON body sent
    // with Basic must say it is JSON.
    let declared = app
        .request(Method::POST, "/api/v2/users")
        .header(header::AUTHORIZATION, basic("admin", PASSWORD))
        .header(header::CONTENT_TYPE, "application/json")
        .body(r#"{"username":"fine","password":"long enough password","role":"viewer"}"#);
    expect_json(declared.send().await.unwrap(), StatusCode::CREATED).await;
}

#[tokio::test]
async fn the_legacy_requeue_get_needs_a_token_not_basic() {
    let p = pipeline(Version::V2_40, |_| {}).await;
    let accepted = expect_json(p.post(&p.submission(json!({"positives": 4}))).await, StatusCode::OK).await;
    let task = accepted["task_id"].as_str().unwrap();
    p.settled(accepted["submission_id"].as_i64().unwrap(), FINAL, Duration::from_secs(15)).await;
    let path = format!("/api/v2/aggregate/reenqueue/{task}");
    let with_basic = p.app.request(Method::GET, &path).header(header::AUTHORIZATION, basic("admin", PASSWORD));
    expect_error(with_basic.send().await.unwrap(), StatusCode::FORBIDDEN).await;
    let with_token = p.app.request(Method::GET, &path).bearer_auth(&p.admin.jwt).send().await.unwrap();
    expect_json(with_token, StatusCode::OK).await;
    let openapi =
        expect_json(p.app.request(Method::GET, "/api-docs/openapi.json").send().await.unwrap(), StatusCode::OK).await;
    assert_eq!(openapi["paths"]["/api/v2/aggregate/reenqueue/{task_id}"]["get"]["deprecated"], true);
}

#[tokio::test]
async fn tracker_job_locations_come_from_configuration_not_the_host_header() {
    let p = pipeline(Version::V2_40, |_| {}).await;
    let te = json!({"trackedEntities": [{"ref": "P-1", "trackedEntityType": fixture::TET_PERSON, "orgUnit": fixture::OU_FACILITY_1}]});
    let location = |pipeline: &Pipeline| {
        pipeline
            .as_partner(Method::POST, "/dhis2/api/tracker")
            .header(header::HOST, "evil.example.org")
            .header("X-Forwarded-Host", "evil.example.org")
            .json(&te)
            .send()
    };
    let answer = expect_json(location(&p).await.unwrap(), StatusCode::OK).await;
    let at = answer["response"]["location"].as_str().unwrap();
    assert!(at.starts_with("/dhis2/api/tracker/jobs/"), "relative without configuration: {at}");
    let configured = pipeline(Version::V2_40, |c| c.server.public_url = "https://gw.example.org/".into()).await;
    let answer = expect_json(location(&configured).await.unwrap(), StatusCode::OK).await;
    assert!(
        answer["response"]["location"].as_str().unwrap().starts_with("https://gw.example.org/dhis2/api/tracker/jobs/")
    );
    // Behind a trusted proxy (this host here), its X-Forwarded-Proto and -Host are believed.
    let proxied = pipeline(Version::V2_40, |c| c.server.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()]).await;
    let request = proxied
        .as_partner(Method::POST, "/dhis2/api/tracker")
        .header("X-Forwarded-Proto", "https")
        .header("X-Forwarded-Host", "gw.example.org:8443")
        .json(&te);
    let answer = expect_json(request.send().await.unwrap(), StatusCode::OK).await;
    let at = answer["response"]["location"].as_str().unwrap();
    assert!(at.starts_with("https://gw.example.org:8443/dhis2/api/tracker/jobs/"), "{at}");
}

#[tokio::test]
async fn an_idempotent_answer_stores_the_payload_once() {
    let p = pipeline(Version::V2_40, |_| {}).await;
    let body = p.submission(json!({"positives": 7}));
    let post = || {
        p.app
            .request(Method::POST, "/api/v2/aggregate")
            .header("Authorization", format!("Token {}", p.partner_token))
            .header("Idempotency-Key", "k-1")
            .json(&body)
            .send()
    };
    let first = expect_json(post().await.unwrap(), StatusCode::OK).await;
    let again = expect_json(post().await.unwrap(), StatusCode::OK).await;
    assert_eq!(first, again, "the replay is the first answer, payload included");
    let stored: Value =
        sqlx::query_scalar("SELECT idempotent_response FROM submission_log").fetch_one(&p.app.db).await.unwrap();
    assert_eq!(stored["payload"], Value::Null, "{stored}");
}

#[tokio::test]
async fn a_csv_bomb_on_the_dhis2_api_is_refused_at_the_first_row_too_many() {
    let p = pipeline(Version::V2_40, |c| c.server.max_body_size = 64 * 1024 * 1024).await;
    // 1.6 million rows in 60 MB: as JSON objects they would take the better part of a gigabyte.
    let row = format!("{},202402,{},,,1\n", fixture::DE_POSITIVES, fixture::OU_FACILITY_1);
    let csv = format!(
        "dataelement,period,orgunit,categoryoptioncombo,attributeoptioncombo,value\n{}",
        row.repeat(60 * 1024 * 1024 / row.len())
    );
    let before = peak_rss_mib();
    let refused = p
        .as_partner(Method::POST, "/dhis2/api/dataValueSets")
        .header(header::CONTENT_TYPE, "application/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    let refused = expect_json(refused, StatusCode::BAD_REQUEST).await;
    assert!(refused["message"].as_str().unwrap().contains("100000"), "{refused}");
    let grown = peak_rss_mib() - before;
    assert!(grown < 400, "rows are counted while reading, not after building them all: grew {grown} MiB");
    assert_eq!(p.dhis2.import_requests(), 0);
    expect_json(p.app.request(Method::GET, "/health/live").send().await.unwrap(), StatusCode::OK).await;
}

/// A zip holding `parts` (name, content), deflated.
fn zip_of(parts: &[(&str, &[u8])]) -> Vec<u8> {
    use std::io::Write;
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, content) in parts {
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .large_file(content.len() > u32::MAX as usize);
        zip.start_file(*name, options).unwrap();
        zip.write_all(content).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

/// An `.xls` (a compound file whose `Workbook` stream holds BIFF8 records): one sheet whose
/// DIMENSIONS record claims `rows` rows, with a number in its first cell.
fn xls_claiming(rows: u32) -> Vec<u8> {
    use std::io::Write;
    let record = |kind: u16, data: &[u8]| [&kind.to_le_bytes()[..], &(data.len() as u16).to_le_bytes(), data].concat();
    let bof = |kind: u16| record(0x0809, &[&0x0600u16.to_le_bytes()[..], &kind.to_le_bytes(), &[0; 12]].concat());
    let globals_len = bof(0x0005).len() + 4 + 12 + record(0x000A, &[]).len();
    let sheet = [
        bof(0x0010),
        record(
            0x0200,
            &[&0u32.to_le_bytes()[..], &rows.to_le_bytes(), &0u16.to_le_bytes(), &1u16.to_le_bytes(), &[0, 0]].concat(),
        ),
        record(
            0x0203,
            &[&0u16.to_le_bytes()[..], &0u16.to_le_bytes(), &0u16.to_le_bytes(), &1f64.to_le_bytes()].concat(),
        ),
        record(0x000A, &[]),
    ]
    .concat();
    // BOUNDSHEET: where the sheet starts, visible worksheet, name "S" (8-bit characters).
    let boundsheet = record(0x0085, &[&(globals_len as u32).to_le_bytes()[..], &[0, 0, 1, 0], b"S"].concat());
    let workbook = [bof(0x0005), boundsheet, record(0x000A, &[]), sheet].concat();
    let mut file = cfb::CompoundFile::create(std::io::Cursor::new(Vec::new())).unwrap();
    file.create_stream("/Workbook").unwrap().write_all(&workbook).unwrap();
    file.flush().unwrap();
    file.into_inner().into_inner()
}

#[tokio::test]
async fn hostile_spreadsheets_are_refused_and_the_gateway_stays_up() {
    let app = spawn_app().await;
    let admin = app.user("admin", Role::Admin).await;
    // Two cells, A1 and XFD1048576: a reader would allocate every cell between them.
    let mut sparse = rust_xlsxwriter::Workbook::new();
    let sheet = sparse.add_worksheet();
    sheet.write_string(0, 0, "code").unwrap();
    sheet.write_string(1_048_575, 16_383, "far away").unwrap();
    let sparse = sparse.save_to_buffer().unwrap();
    // An ODS whose one row of data repeats a million times across 1,000 columns.
    let ods_content = br#"<?xml version="1.0"?><office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"><office:body><office:spreadsheet><table:table table:name="S"><table:table-row><table:table-cell office:value-type="string"><text:p>code</text:p></table:table-cell></table:table-row><table:table-row table:number-rows-repeated="1000000"><table:table-cell table:number-columns-repeated="1000" office:value-type="float" office:value="1"><text:p>1</text:p></table:table-cell></table:table-row></table:table></office:spreadsheet></office:body></office:document-content>"#;
    let ods = zip_of(&[("mimetype", b"application/vnd.oasis.opendocument.spreadsheet"), ("content.xml", ods_content)]);
    // A part that inflates to 300 MiB of zeros from a few hundred KiB.
    let zeros = vec![0u8; 300 * 1024 * 1024];
    let bomb = zip_of(&[("[Content_Types].xml", b"<Types/>"), ("xl/worksheets/sheet1.xml", &zeros)]);
    drop(zeros);
    for (what, file, expected) in [
        ("sparse xlsx", sparse, "spans 1048576 rows × 16384 columns"),
        ("repeated ods", ods, "spans 1000001 rows × 1000 columns"),
        ("zip bomb", bomb, "inflates to more than 200 MiB"),
        ("xls claiming 4 billion rows", xls_claiming(4_000_000_000), "spans 4000000000 rows"),
    ] {
        let refused = crate::mappings::upload(&app, &admin.jwt, "excel", file, "").await;
        let refused = expect_error(refused, StatusCode::BAD_REQUEST).await;
        assert!(details(&refused).iter().any(|d| d.contains(expected)), "{what}: {refused}");
        expect_json(app.request(Method::GET, "/health/live").send().await.unwrap(), StatusCode::OK).await;
    }
    // A sound workbook, .xlsx and .xls alike, still imports.
    let mut sound = rust_xlsxwriter::Workbook::new();
    let sheet = sound.add_worksheet();
    for (column, header) in ["code", "dataelement"].into_iter().enumerate() {
        sheet.write_string(0, column as u16, header).unwrap();
    }
    sheet.write_string(1, 0, "positives").unwrap();
    sheet.write_string(1, 1, fixture::DE_POSITIVES).unwrap();
    let imported = crate::mappings::upload(&app, &admin.jwt, "excel", sound.save_to_buffer().unwrap(), "").await;
    assert_eq!(expect_json(imported, StatusCode::OK).await["created"], 1);
    // A small .xls passes the check and goes on to the reader (which wants a fuller
    // workbook than this sketch of one).
    let small = crate::mappings::upload(&app, &admin.jwt, "excel", xls_claiming(3), "?dryRun=true").await;
    let small = expect_error(small, StatusCode::BAD_REQUEST).await;
    assert!(details(&small).iter().all(|d| !d.contains("spans")), "refused for its size: {small}");
}

#[tokio::test]
async fn moving_a_server_needs_its_credentials_again_and_inner_addresses_are_refused() {
    let (old_home, new_home) = (
        dhis2_double::Dhis2Double::start(Version::V2_40).await,
        dhis2_double::Dhis2Double::start(Version::V2_40).await,
    );
    let app = spawn_app().await;
    let admin = app.user("admin", Role::Admin).await;
    let server = json!({"name": "cc-west", "base_url": old_home.base_url(), "username": dhis2_double::USERNAME,
                        "password": dhis2_double::PASSWORD});
    let created =
        app.request(Method::POST, "/api/v2/servers").bearer_auth(&admin.jwt).json(&server).send().await.unwrap();
    let uid = expect_json(created, StatusCode::CREATED).await["uid"].as_str().unwrap().to_string();
    let put = |body: Value| {
        app.request(Method::PUT, &format!("/api/v2/servers/{uid}")).bearer_auth(&admin.jwt).json(&body).send()
    };
    // An admin token alone cannot send the stored password to another address.
    let moved =
        expect_error(put(json!({"base_url": new_home.base_url()})).await.unwrap(), StatusCode::BAD_REQUEST).await;
    assert!(details(&moved).iter().any(|d| d.starts_with("password: base_url changed")), "{moved}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(new_home.requests().is_empty(), "the new address was contacted: {:?}", new_home.requests().len());
    // Whoever knows the password may move it.
    let moved = put(json!({"base_url": new_home.base_url(), "password": dhis2_double::PASSWORD})).await.unwrap();
    assert_eq!(expect_json(moved, StatusCode::OK).await["base_url"], new_home.base_url());

    // With private addresses not allowed (the default), inner and metadata addresses are
    // refused, by address or by a name that resolves to one; so are URLs with credentials.
    let strict = spawn_app_with(|c| c.server.allow_private_dhis2_addresses = false).await;
    let admin = strict.user("admin", Role::Admin).await;
    for base_url in [
        "http://127.0.0.1:8080",
        "http://localhost:8080",
        "http://10.0.0.5",
        "http://192.168.1.20/dhis",
        "http://169.254.169.254/latest/meta-data",
        "http://metadata.google.internal",
        "http://[::1]:8080",
        "http://[fd00:ec2::254]",
        "https://admin:district@dhis2.example.org",
        "https://dhis2.example.org/?next=x",
        "https://dhis2.example.org/#x",
    ] {
        let body = json!({"name": "cc-inner", "base_url": base_url, "username": "u", "password": "p"});
        let r =
            strict.request(Method::POST, "/api/v2/servers").bearer_auth(&admin.jwt).json(&body).send().await.unwrap();
        let r = expect_error(r, StatusCode::BAD_REQUEST).await;
        assert!(details(&r).iter().any(|d| d.starts_with("base_url")), "{base_url}: {r}");
    }
}

#[tokio::test]
async fn stored_credentials_are_bound_to_their_server_and_old_ones_are_resealed() {
    let dhis2 = dhis2_double::Dhis2Double::start(Version::V2_40).await;
    let mut database = String::new();
    let first = spawn_app_with(|c| database = c.database.uri.0.clone()).await;
    let admin = first.user("admin", Role::Admin).await;
    let mut uids = Vec::new();
    for name in ["cc-a", "cc-b"] {
        let body = json!({"name": name, "base_url": dhis2.base_url(), "username": dhis2_double::USERNAME, "password": dhis2_double::PASSWORD});
        let r =
            first.request(Method::POST, "/api/v2/servers").bearer_auth(&admin.jwt).json(&body).send().await.unwrap();
        uids.push(expect_json(r, StatusCode::CREATED).await["uid"].as_str().unwrap().to_string());
    }
    let key =
        dhis2gw::servers::CredentialsKey::from_config(&dhis2gw::infra::config::Secret::new(CREDENTIALS_KEY)).unwrap();
    // cc-a as an older gateway stored it (not bound to a server); cc-b holding cc-a's value.
    let cc_a_sealed: Vec<u8> = sqlx::query_scalar("SELECT password_enc FROM dhis2_servers WHERE name = 'cc-a'")
        .fetch_one(&first.db)
        .await
        .unwrap();
    sqlx::query("UPDATE dhis2_servers SET password_enc = $1, credentials_version = 1 WHERE name = 'cc-a'")
        .bind(key.seal(dhis2_double::PASSWORD, ""))
        .execute(&first.db)
        .await
        .unwrap();
    sqlx::query("UPDATE dhis2_servers SET password_enc = $1 WHERE name = 'cc-b'")
        .bind(&cc_a_sealed)
        .execute(&first.db)
        .await
        .unwrap();

    // A gateway starting on that database re-seals cc-a, and cannot open cc-b's stolen value.
    let second = spawn_app_with(|c| c.database.uri.0 = database.clone()).await;
    let (version, sealed): (i16, Vec<u8>) =
        sqlx::query_as("SELECT credentials_version, password_enc FROM dhis2_servers WHERE name = 'cc-a'")
            .fetch_one(&second.db)
            .await
            .unwrap();
    assert_eq!(version, 2);
    assert_eq!(key.open(&sealed, Some(&uids[0])).unwrap(), dhis2_double::PASSWORD);
    let started = std::time::Instant::now();
    loop {
        let servers = second.request(Method::GET, "/api/v2/servers").bearer_auth(&admin.jwt).send().await.unwrap();
        let servers = expect_json(servers, StatusCode::OK).await;
        let server = |name: &str| servers.as_array().unwrap().iter().find(|s| s["name"] == name).unwrap().clone();
        let (a, b) = (server("cc-a"), server("cc-b"));
        if a["dhis2_version"].is_string() && b["last_error"].is_string() {
            assert!(b["last_error"].as_str().unwrap().contains("cannot be decrypted"), "{b}");
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "no health check recorded: {a} {b}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn pages_and_answers_carry_security_headers_and_the_console_runs_only_its_own_script() {
    let console = tempfile::tempdir().unwrap();
    let boot = "\nimport init from './app.js';\nawait init();\n";
    std::fs::write(
        console.path().join("index.html"),
        format!("<html><head><script type=\"module\">{boot}</script></head></html>"),
    )
    .unwrap();
    let directory = console.path().to_str().unwrap().to_string();
    let app = spawn_app_with(|c| c.server.console_directory = directory).await;
    for path in [
        "/console/",
        "/console/logs/42",
        "/",
        "/docs/partner-guide",
        "/static/favicon.svg",
        "/api/v2/me",
        "/health/live",
    ] {
        let r = app.request(Method::GET, path).send().await.unwrap();
        let h = r.headers();
        assert_eq!(h.get("x-content-type-options").map(|v| v.to_str().unwrap()), Some("nosniff"), "{path}");
        assert_eq!(h.get("x-frame-options").map(|v| v.to_str().unwrap()), Some("DENY"), "{path}");
        assert_eq!(h.get("referrer-policy").map(|v| v.to_str().unwrap()), Some("no-referrer"), "{path}");
        if !path.starts_with("/api") && !path.starts_with("/health") {
            let csp = h.get("content-security-policy").unwrap_or_else(|| panic!("{path}: no CSP")).to_str().unwrap();
            assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
            let scripts = csp.split(';').find(|d| d.trim().starts_with("script-src")).unwrap_or_default();
            assert!(!scripts.contains("unsafe-inline"), "{path}: {csp}");
        }
    }
    use base64::Engine;
    use sha2::Digest;
    let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(boot.as_bytes()));
    let r = app.request(Method::GET, "/console/").send().await.unwrap();
    let csp = r.headers()["content-security-policy"].to_str().unwrap().to_string();
    assert!(csp.contains(&format!("'sha256-{hash}'")) && csp.contains("'wasm-unsafe-eval'"), "{csp}");
    let page = app.request(Method::GET, "/docs/partner-guide").send().await.unwrap();
    assert!(page.headers()["content-security-policy"].to_str().unwrap().starts_with("default-src 'none'"));
}

#[tokio::test]
async fn readiness_details_and_metrics_are_for_those_the_configuration_names() {
    // The proxy in front (127.0.0.1 here) is trusted, so the client it names is what counts.
    let app = spawn_app_with(|c| {
        c.server.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        c.server.metrics_allow = vec!["198.51.100.0/24".parse().unwrap()];
    })
    .await;
    let ready = |from: Option<&str>, bearer: Option<&str>| {
        let mut request = app.request(Method::GET, "/health/ready");
        if let Some(from) = from {
            request = request.header("X-Forwarded-For", from);
        }
        if let Some(bearer) = bearer {
            request = request.bearer_auth(bearer);
        }
        async move { expect_json(request.send().await.unwrap(), StatusCode::OK).await }
    };
    let anonymous = ready(Some("203.0.113.9"), None).await;
    assert_eq!(anonymous, json!({"status": "ok"}), "only ok or not ok for a stranger");
    assert_eq!(ready(None, None).await["checks"]["postgres"], "ok", "details on this host");
    let admin = app.user("admin", Role::Admin).await;
    assert_eq!(ready(Some("203.0.113.9"), Some(&admin.jwt)).await["checks"]["redis"], "ok", "details for staff");

    let scrape = |from: &'static str| app.request(Method::GET, "/metrics").header("X-Forwarded-For", from).send();
    assert_eq!(scrape("198.51.100.7").await.unwrap().status(), StatusCode::OK, "a client server.metrics_allow names");
    expect_error(scrape("203.0.113.9").await.unwrap(), StatusCode::FORBIDDEN).await;
    // This host is not special when the configuration does not name it.
    expect_error(app.request(Method::GET, "/metrics").send().await.unwrap(), StatusCode::FORBIDDEN).await;

    // Without trusted proxies, a relayed request is nobody's: not even loopback counts.
    let plain = spawn_app().await;
    let relayed = plain.request(Method::GET, "/metrics").header("X-Forwarded-For", "127.0.0.1").send().await.unwrap();
    expect_error(relayed, StatusCode::FORBIDDEN).await;
    let relayed =
        plain.request(Method::GET, "/health/ready").header("X-Forwarded-For", "127.0.0.1").send().await.unwrap();
    assert_eq!(expect_json(relayed, StatusCode::OK).await, json!({"status": "ok"}));
}

/// A self-signed certificate for 127.0.0.1, as PEM (certificate, key).
fn self_signed() -> (String, String) {
    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
    (certified.cert.pem(), certified.signing_key.serialize_pem())
}

/// The certificate (DER) a TLS server presents.
async fn presented_certificate(address: &str, trusted: &str) -> Vec<u8> {
    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(trusted.as_bytes()).unwrap()])
        .tls_info(true)
        .build()
        .unwrap();
    let response = client.get(format!("{address}/health/live")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.extensions().get::<reqwest::tls::TlsInfo>().unwrap().peer_certificate().unwrap().to_vec()
}

#[tokio::test]
async fn the_gateway_serves_https_and_reloads_its_certificate_on_sighup() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let (first_cert, first_key) = self_signed();
    std::fs::write(&cert, &first_cert).unwrap();
    std::fs::write(&key, &first_key).unwrap();
    let (cert_file, key_file) = (cert.to_str().unwrap().to_string(), key.to_str().unwrap().to_string());
    let app = spawn_app_with(|c| {
        c.server.tls_cert_file = cert_file;
        c.server.tls_key_file = key_file;
    })
    .await;
    let https = app.address.replace("http://", "https://");
    let first = presented_certificate(&https, &first_cert).await;
    assert!(app.client.get(app.url("/health/live")).send().await.is_err(), "plain HTTP is not served");

    // A renewed certificate is picked up on SIGHUP, without a restart.
    let (second_cert, second_key) = self_signed();
    std::fs::write(&cert, &second_cert).unwrap();
    std::fs::write(&key, &second_key).unwrap();
    let status = std::process::Command::new("kill").args(["-HUP", &std::process::id().to_string()]).status().unwrap();
    assert!(status.success());
    let started = std::time::Instant::now();
    loop {
        let client = reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(second_cert.as_bytes()).unwrap()])
            .build()
            .unwrap();
        if client.get(format!("{https}/health/live")).send().await.is_ok() {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "the new certificate was not loaded");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_ne!(presented_certificate(&https, &second_cert).await, first);

    // A broken pair on the next SIGHUP keeps the working one.
    std::fs::write(&cert, "not a certificate").unwrap();
    std::process::Command::new("kill").args(["-HUP", &std::process::id().to_string()]).status().unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    presented_certificate(&https, &second_cert).await;
}

#[tokio::test]
async fn remembered_basic_credentials_end_when_another_gateway_process_deactivates_the_user() {
    let mut database = String::new();
    let first = spawn_app_with(|c| database = c.database.uri.0.clone()).await;
    let admin = first.user("admin", Role::Admin).await;
    let partner = first.user("partner", Role::Partner).await;
    let second = spawn_app_with(|c| c.database.uri.0 = database.clone()).await;
    let me =
        || first.request(Method::GET, "/api/v2/me").header(header::AUTHORIZATION, basic("partner", PASSWORD)).send();
    assert_eq!(me().await.unwrap().status(), StatusCode::OK);
    let deactivated =
        second.request(Method::DELETE, &format!("/api/v2/users/{}", partner.uid)).bearer_auth(&admin.jwt).send().await;
    assert_eq!(deactivated.unwrap().status(), StatusCode::OK);
    assert_eq!(me().await.unwrap().status(), StatusCode::UNAUTHORIZED, "the first process still trusted it");
}

#[tokio::test]
async fn servers_added_through_the_api_are_not_connected_to_at_inner_addresses() {
    let dhis2 = dhis2_double::Dhis2Double::start(Version::V2_40).await;
    let port = dhis2.base_url().rsplit(':').next().unwrap().trim_end_matches('/').to_string();
    let strict = spawn_app_with(|c| c.server.allow_private_dhis2_addresses = false).await;
    let admin = strict.user("admin", Role::Admin).await;
    // Servers added while inner addresses were allowed (or a name that resolved elsewhere
    // then), as the API stores them.
    let key =
        dhis2gw::servers::CredentialsKey::from_config(&dhis2gw::infra::config::Secret::new(CREDENTIALS_KEY)).unwrap();
    for (name, host) in [("cc-literal", "127.0.0.1"), ("cc-name", "localhost")] {
        let input = dhis2gw_wire::ServerInput {
            name: Some(name.into()),
            base_url: Some(format!("http://{host}:{port}")),
            username: Some(dhis2_double::USERNAME.into()),
            password: Some(dhis2_double::PASSWORD.into()),
            ..Default::default()
        };
        dhis2gw::servers::create(&strict.db, Some(&key), Actor::Cli, input, true, chrono_tz::UTC).await.unwrap();
    }
    // The gateway refuses to connect to them, before any request: the address when the client
    // is built, the name when it is resolved. Its health check (every 15 s) says so.
    let started = std::time::Instant::now();
    loop {
        let servers = strict.request(Method::GET, "/api/v2/servers").bearer_auth(&admin.jwt).send().await.unwrap();
        let servers = expect_json(servers, StatusCode::OK).await;
        let error = |name: &str| {
            servers.as_array().unwrap().iter().find(|s| s["name"] == name).unwrap()["last_error"]
                .as_str()
                .map(str::to_string)
        };
        if let (Some(literal), Some(named)) = (error("cc-literal"), error("cc-name")) {
            assert!(literal.contains("127.0.0.1 is not a public address"), "{literal}");
            assert!(named.contains("localhost resolves to no public address"), "{named}");
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(25), "no health check recorded: {servers}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(dhis2.requests().is_empty(), "the inner address was contacted");
}
