//! User administration: create, list with filters, read, partial update, deactivate.

use dhis2gw_wire::Role;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use dhis2gw_test_support::*;

#[tokio::test]
async fn create_user_on_both_routes_with_the_originals_keys() {
    let app = spawn_app().await;
    let admin = app.user("admin", Role::Admin).await;
    let legacy = app
        .request(Method::POST, "/api/v2/user")
        .bearer_auth(&admin.jwt)
        .json(&json!({"username": "emr", "password": "partner-pass", "firstName": "Kampala", "lastName": "EMR",
                      "email": "emr@example.org", "telephone": "+256700000000", "isAdminUser": false, "role": "partner"}))
        .send()
        .await
        .unwrap();
    let body = expect_json(legacy, StatusCode::CREATED).await;
    assert_eq!(body["message"], "User created successfully!");
    assert_eq!(body["uid"].as_str().unwrap().len(), 11);
    let user = &body["user"];
    assert_eq!((user["firstname"].as_str(), user["lastname"].as_str()), (Some("Kampala"), Some("EMR")));
    assert_eq!(user["role"], "partner");
    assert_eq!(user["email"], "emr@example.org");
    assert!(!body.to_string().contains("argon2") && user.get("password").is_none(), "{body}");

    let modern = app
        .request(Method::POST, "/api/v2/users")
        .bearer_auth(&admin.jwt)
        .json(&json!({"username": "boss", "password": "admin-pass", "isAdminUser": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(expect_json(modern, StatusCode::CREATED).await["user"]["role"], "admin");

    let audit: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'user.create' AND actor = 'admin'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(audit, 2);
}

#[tokio::test]
async fn invalid_fields_are_named_and_taken_usernames_conflict() {
    let app = spawn_app().await;
    let admin = app.user("admin", Role::Admin).await;
    let create = |body: Value| app.request(Method::POST, "/api/v2/users").bearer_auth(&admin.jwt).json(&body).send();
    let bad = expect_error(
        create(json!({"username": "no spaces", "password": "short", "email": "nope", "role": "viewer"})).await.unwrap(),
        StatusCode::BAD_REQUEST,
    )
    .await;
    let fields: Vec<String> = details(&bad).iter().map(|d| d.split(':').next().unwrap().to_string()).collect();
    assert_eq!(fields, ["username", "password", "email"]);
    let bad_role = expect_error(
        create(json!({"username": "x", "password": "long enough", "role": "root"})).await.unwrap(),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(details(&bad_role)[0].starts_with("role:"), "{bad_role}");
    let missing =
        expect_error(create(json!({"password": "long enough"})).await.unwrap(), StatusCode::BAD_REQUEST).await;
    assert!(details(&missing)[0].contains("username"), "{missing}");
    let taken = expect_error(
        create(json!({"username": "ADMIN", "password": "long enough"})).await.unwrap(),
        StatusCode::CONFLICT,
    )
    .await;
    assert!(taken["error"].as_str().unwrap().contains("username"));
}

#[tokio::test]
async fn list_filters_and_paginates() {
    let app = spawn_app().await;
    let admin = app.user("admin", Role::Admin).await;
    for i in 0..7 {
        let role = if i % 2 == 0 { "partner" } else { "viewer" };
        let body = json!({"username": format!("user{i}"), "password": "long enough", "role": role,
                          "email": format!("u{i}@site{}.org", i % 3), "isActive": i != 3});
        let r = app.request(Method::POST, "/api/v2/users").bearer_auth(&admin.jwt).json(&body).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    let list = |query: &str| app.request(Method::GET, &format!("/api/v2/users?{query}")).bearer_auth(&admin.jwt).send();
    let names = |page: &Value| -> Vec<String> {
        page["items"].as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap().to_string()).collect()
    };

    let all = expect_json(list("").await.unwrap(), StatusCode::OK).await;
    assert_eq!((all["total"].as_i64(), all["page"].as_i64(), all["total_pages"].as_i64()), (Some(8), Some(1), Some(1)));
    assert_eq!(names(&all)[0], "user6", "newest first");

    let partners = expect_json(list("role=partner").await.unwrap(), StatusCode::OK).await;
    assert_eq!(partners["total"], 4);
    let inactive = expect_json(list("is_active=false").await.unwrap(), StatusCode::OK).await;
    assert_eq!(names(&inactive), ["user3"]);
    let by_email = expect_json(list("email=SITE1").await.unwrap(), StatusCode::OK).await;
    assert_eq!(by_email["total"], 2);
    let by_name = expect_json(list("username=ser5").await.unwrap(), StatusCode::OK).await;
    assert_eq!(names(&by_name), ["user5"]);

    let page2 = expect_json(list("page=2&page_size=3").await.unwrap(), StatusCode::OK).await;
    assert_eq!(
        (page2["total"].as_i64(), page2["total_pages"].as_i64(), page2["page_size"].as_i64()),
        (Some(8), Some(3), Some(3))
    );
    assert_eq!(names(&page2), ["user3", "user2", "user1"]);
    let beyond = expect_json(list("page=9&page_size=3").await.unwrap(), StatusCode::OK).await;
    assert_eq!((beyond["items"].as_array().unwrap().len(), beyond["total"].as_i64()), (0, Some(8)));

    for (query, field) in [
        ("page_size=501", "page_size"),
        ("page_size=0", "page_size"),
        ("page=0", "page"),
        ("page=abc", "page"),
        ("is_active=maybe", "is_active"),
        ("role=root", "role"),
    ] {
        let body = expect_error(list(query).await.unwrap(), StatusCode::BAD_REQUEST).await;
        assert!(details(&body).iter().any(|d| d.contains(field)), "{query}: {body}");
    }
}

#[tokio::test]
async fn update_is_partial_and_delete_deactivates() {
    let app = spawn_app().await;
    let admin = app.user("admin", Role::Admin).await;
    let viewer = app.user("viewer", Role::Viewer).await;
    let path = format!("/api/v2/users/{}", viewer.uid);
    let put = |body: Value| app.request(Method::PUT, &path).bearer_auth(&admin.jwt).json(&body).send();

    let first =
        expect_json(put(json!({"firstname": "Vera", "email": "vera@example.org"})).await.unwrap(), StatusCode::OK)
            .await;
    assert_eq!((first["firstname"].as_str(), first["email"].as_str()), (Some("Vera"), Some("vera@example.org")));
    let second =
        expect_json(put(json!({"lastName": "Viewer", "role": "operator"})).await.unwrap(), StatusCode::OK).await;
    assert_eq!(second["firstname"], "Vera", "omitted fields keep their values");
    assert_eq!((second["lastname"].as_str(), second["role"].as_str()), (Some("Viewer"), Some("operator")));
    let cleared = expect_json(put(json!({"email": ""})).await.unwrap(), StatusCode::OK).await;
    assert!(cleared["email"].is_null());
    expect_error(put(json!({"username": "admin"})).await.unwrap(), StatusCode::CONFLICT).await;
    let unknown = expect_error(put(json!({"pasword": "typo"})).await.unwrap(), StatusCode::BAD_REQUEST).await;
    assert!(details(&unknown)[0].contains("pasword"), "{unknown}");

    let got = app.request(Method::GET, &path).bearer_auth(&admin.jwt).send().await.unwrap();
    assert_eq!(expect_json(got, StatusCode::OK).await["role"], "operator");
    let missing = app
        .request(Method::PUT, "/api/v2/users/Xxxxxxxxxxx")
        .bearer_auth(&admin.jwt)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    expect_error(missing, StatusCode::NOT_FOUND).await;

    let deleted = app.request(Method::DELETE, &path).bearer_auth(&admin.jwt).send().await.unwrap();
    assert_eq!(expect_json(deleted, StatusCode::OK).await["is_active"], false);
    let still_there = app.request(Method::GET, &path).bearer_auth(&admin.jwt).send().await.unwrap();
    assert_eq!(expect_json(still_there, StatusCode::OK).await["is_active"], false);
    let actions: Vec<String> = sqlx::query_scalar("SELECT action FROM audit_log WHERE target_id = $1 ORDER BY id")
        .bind(&viewer.uid)
        .fetch_all(&app.db)
        .await
        .unwrap();
    assert_eq!(actions, ["user.update", "user.update", "user.update", "user.deactivate"]);
    let detail: Value = sqlx::query_scalar("SELECT detail FROM audit_log WHERE target_id = $1 ORDER BY id LIMIT 1")
        .bind(&viewer.uid)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(detail["firstname"], "Vera");
}

#[tokio::test]
async fn tokens_can_expire_and_are_shown_only_once() {
    let app = spawn_app().await;
    let admin = app.user("admin", Role::Admin).await;
    let partner = app.user("partner", Role::Partner).await;
    let path = format!("/api/v2/users/{}/tokens", partner.uid);
    let past = app
        .request(Method::POST, &path)
        .bearer_auth(&admin.jwt)
        .json(&json!({"expires_at": "2020-01-01T00:00:00Z"}))
        .send()
        .await
        .unwrap();
    let body = expect_error(past, StatusCode::BAD_REQUEST).await;
    assert!(details(&body)[0].starts_with("expires_at"));
    let future = app
        .request(Method::POST, &path)
        .bearer_auth(&admin.jwt)
        .json(&json!({"name": "OpenMRS Kampala", "expires_at": "2099-01-01T00:00:00Z"}))
        .send()
        .await
        .unwrap();
    let created = expect_json(future, StatusCode::CREATED).await;
    let secret = created["token"].as_str().unwrap();
    assert!(secret.starts_with(created["prefix"].as_str().unwrap()));
    let stored: Vec<String> =
        sqlx::query_scalar("SELECT token_hash FROM user_apitoken").fetch_all(&app.db).await.unwrap();
    assert!(!stored.iter().any(|h| h == secret), "only a hash is stored");
    let listed =
        expect_json(app.request(Method::GET, &path).bearer_auth(&admin.jwt).send().await.unwrap(), StatusCode::OK)
            .await;
    assert_eq!(listed[0]["name"], "OpenMRS Kampala");
    assert!(!listed.to_string().contains(secret));
    let missing =
        app.request(Method::GET, "/api/v2/users/Nosuchuser1/tokens").bearer_auth(&admin.jwt).send().await.unwrap();
    expect_error(missing, StatusCode::NOT_FOUND).await;
    let wrong_owner = app
        .request(Method::DELETE, &format!("/api/v2/users/{}/tokens/{}", admin.uid, created["id"]))
        .bearer_auth(&admin.jwt)
        .send()
        .await
        .unwrap();
    expect_error(wrong_owner, StatusCode::NOT_FOUND).await;
}

/// Nobody could manage users, tokens or servers again (an API fuzzer once demoted the only
/// admin): the last active admin stays one, through every route that could change that.
#[tokio::test]
async fn the_last_active_admin_cannot_be_demoted_or_deactivated() {
    let app = spawn_app().await;
    let admin = app.user("admin", Role::Admin).await;
    let change = |uid: String, body: Value| {
        let app = &app;
        let jwt = admin.jwt.clone();
        async move {
            let path = format!("/api/v2/users/{uid}");
            let request = if body.is_null() {
                app.request(Method::DELETE, &path)
            } else {
                app.request(Method::PUT, &path).json(&body)
            };
            request.bearer_auth(jwt).send().await.unwrap()
        }
    };
    for body in [json!({"role": "operator"}), json!({"is_active": false}), Value::Null] {
        let refused = expect_error(change(admin.uid.clone(), body.clone()).await, StatusCode::CONFLICT).await;
        assert!(refused["error"].as_str().unwrap().contains("admin is the last active admin"), "{body}: {refused}");
    }
    // An inactive admin does not count; another active one does.
    let idle = app.user("idle", Role::Admin).await;
    expect_json(change(idle.uid.clone(), json!({"is_active": false})).await, StatusCode::OK).await;
    expect_error(change(admin.uid.clone(), json!({"role": "viewer"})).await, StatusCode::CONFLICT).await;
    let second = app.user("second", Role::Admin).await;
    expect_json(change(admin.uid.clone(), json!({"lastname": "still admin"})).await, StatusCode::OK).await;
    // Two admins demoting each other at the same moment, again and again: exactly one of them
    // wins each time, and neither waits on the other for ever.
    let demote = |uid: &str, by: &TestUser| {
        let request = app.request(Method::PUT, &format!("/api/v2/users/{uid}")).bearer_auth(&by.jwt);
        request.json(&json!({"role": "operator"})).send()
    };
    for round in 0..10 {
        let (a, b) = tokio::join!(demote(&second.uid, &admin), demote(&admin.uid, &second));
        // The loser is refused as the last admin, or (once demoted) as no admin at all.
        let statuses = [a.unwrap().status(), b.unwrap().status()];
        let won = statuses.iter().filter(|s| **s == StatusCode::OK).count();
        assert!(
            won == 1 && statuses.iter().all(|s| [200, 403, 409].contains(&s.as_u16())),
            "round {round}: {statuses:?}"
        );
        let admins: Vec<String> = sqlx::query_scalar("SELECT uid FROM users WHERE role = 'admin' AND is_active")
            .fetch_all(&app.db)
            .await
            .unwrap();
        assert_eq!(admins.len(), 1, "round {round}");
        let (left, demoted) = if admins[0] == admin.uid { (&admin, &second) } else { (&second, &admin) };
        let promote = app.request(Method::PUT, &format!("/api/v2/users/{}", demoted.uid)).bearer_auth(&left.jwt);
        expect_json(promote.json(&json!({"role": "admin"})).send().await.unwrap(), StatusCode::OK).await;
    }
}
