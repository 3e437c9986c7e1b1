//! `GET /audit` and `GET /audit/actions`: the audit log for staff, filtered and paged.

use dhis2gw_wire::{AuditEntry, Page, Role};
use reqwest::{Method, StatusCode};
use serde_json::json;

use dhis2gw_test_support::*;

async fn audit(app: &TestApp, jwt: &str, query: &str) -> Page<AuditEntry> {
    let r = app.request(Method::GET, &format!("/api/v2/audit?{query}")).bearer_auth(jwt).send().await.unwrap();
    serde_json::from_value(expect_json(r, StatusCode::OK).await).expect("the wire type reads it back")
}

fn actions(page: &Page<AuditEntry>) -> Vec<&str> {
    page.items.iter().map(|e| e.action.as_str()).collect()
}

#[tokio::test]
async fn the_audit_log_is_filtered_paged_and_newest_first() {
    let app = spawn_app().await;
    let admin = app.user("admin", Role::Admin).await;
    // Made through the API, so audited: user.create, user.update, token.create.
    let r = app
        .request(Method::POST, "/api/v2/users")
        .bearer_auth(&admin.jwt)
        .json(&json!({"username": "nurse", "password": "long enough", "role": "viewer"}))
        .send()
        .await
        .unwrap();
    let nurse = expect_json(r, StatusCode::CREATED).await["uid"].as_str().unwrap().to_string();
    let r = app
        .request(Method::PUT, &format!("/api/v2/users/{nurse}"))
        .bearer_auth(&admin.jwt)
        .json(&json!({"telephone": "+256 700 Needle"}))
        .send()
        .await
        .unwrap();
    expect_json(r, StatusCode::OK).await;
    let r = app
        .request(Method::POST, &format!("/api/v2/users/{nurse}/tokens"))
        .bearer_auth(&admin.jwt)
        .json(&json!({"name": "emr"}))
        .send()
        .await
        .unwrap();
    expect_json(r, StatusCode::CREATED).await;
    // 22:30 UTC on 31 January is 01:30 on 1 February in Kampala (UTC+3), the gateway's zone.
    sqlx::query(
        "INSERT INTO audit_log (created, actor, action, target_type, target_id, detail)
         VALUES ('2024-01-31T22:30:00Z', 'cli', 'user.create', 'user', 'OldUser0001', '{\"username\": \"first\"}')",
    )
    .execute(&app.db)
    .await
    .unwrap();

    let viewer = app.user("viewer", Role::Viewer).await;
    let all = audit(&app, &viewer.jwt, "").await;
    assert_eq!((all.total, all.page, all.page_size), (4, 1, 50));
    assert_eq!(actions(&all), ["token.create", "user.update", "user.create", "user.create"], "newest first");
    let created = &all.items[2];
    assert_eq!((created.actor.as_str(), created.target_type.as_str()), ("admin", "user"));
    assert_eq!(
        (created.target_id.as_str(), &created.detail),
        (nurse.as_str(), &json!({"username": "nurse", "role": "viewer"}))
    );
    assert!(all.items.windows(2).all(|w| w[0].created >= w[1].created));

    assert_eq!(actions(&audit(&app, &viewer.jwt, "actor=ADMIN").await), ["token.create", "user.update", "user.create"]);
    assert_eq!(actions(&audit(&app, &viewer.jwt, "actor=cli").await), ["user.create"]);
    assert_eq!(audit(&app, &viewer.jwt, "action=user.create").await.total, 2);
    assert_eq!(audit(&app, &viewer.jwt, "action=user").await.total, 0, "an action matches exactly");
    assert_eq!(audit(&app, &viewer.jwt, &format!("target_type=user&target_id={nurse}")).await.total, 3);
    assert_eq!(actions(&audit(&app, &viewer.jwt, "q=needle").await), ["user.update"], "detail, any case");
    assert_eq!(actions(&audit(&app, &viewer.jwt, "q=OLDUSER").await), ["user.create"], "the target");
    assert_eq!(audit(&app, &viewer.jwt, "q=token.cr").await.total, 1, "the action");
    assert_eq!(audit(&app, &viewer.jwt, "q=%25").await.total, 0, "% is a character, not a wildcard");
    let day = |d: &str| format!("from_date={d}&to_date={d}");
    assert_eq!(actions(&audit(&app, &viewer.jwt, &day("2024-02-01")).await), ["user.create"], "days are the gateway's");
    assert_eq!(audit(&app, &viewer.jwt, &day("2024-01-31")).await.total, 0);
    let today = chrono::Utc::now().with_timezone(&chrono_tz::Africa::Kampala).format("%Y-%m-%d").to_string();
    assert_eq!(audit(&app, &viewer.jwt, &day(&today)).await.total, 3, "to_date includes the whole day");
    assert_eq!(audit(&app, &viewer.jwt, "to_date=2024-02-01").await.total, 1);

    let first = audit(&app, &viewer.jwt, "page_size=3").await;
    let second = audit(&app, &viewer.jwt, "page_size=3&page=2").await;
    assert_eq!((first.items.len(), second.items.len(), first.total_pages), (3, 1, 2));
    assert_eq!(second.items[0].id, all.items[3].id);

    for (query, field) in [
        ("from_date=yesterday", "from_date"),
        ("to_date=2024-13-01", "to_date"),
        ("page_size=501", "page_size"),
        ("page=0", "page"),
        ("colour=red", "colour"),
    ] {
        let r =
            app.request(Method::GET, &format!("/api/v2/audit?{query}")).bearer_auth(&viewer.jwt).send().await.unwrap();
        let body = expect_error(r, StatusCode::BAD_REQUEST).await;
        assert!(details(&body)[0].contains(field), "{query}: {body}");
    }

    let r = app.request(Method::GET, "/api/v2/audit/actions").bearer_auth(&viewer.jwt).send().await.unwrap();
    assert_eq!(expect_json(r, StatusCode::OK).await, json!(["token.create", "user.create", "user.update"]));

    let operator = app.user("operator", Role::Operator).await;
    assert_eq!(audit(&app, &operator.jwt, "").await.total, 4);
    let partner = app.user("partner", Role::Partner).await;
    for path in ["/api/v2/audit", "/api/v2/audit/actions"] {
        let r = app.request(Method::GET, path).bearer_auth(&partner.jwt).send().await.unwrap();
        expect_error(r, StatusCode::FORBIDDEN).await;
        expect_error(app.request(Method::GET, path).send().await.unwrap(), StatusCode::UNAUTHORIZED).await;
    }
}
