//! Malformed and hostile input: always a 4xx JSON error naming the problem, never a 500.

use dhis2gw_wire::Role;
use reqwest::{Method, StatusCode, header};
use serde_json::json;

use dhis2gw_test_support::*;

#[tokio::test]
async fn malformed_bodies_are_400_naming_the_field() {
    let app = spawn_app().await;
    let admin = app.user("admin", Role::Admin).await;
    let post = |body: &'static str| {
        app.request(Method::POST, "/api/v2/users")
            .bearer_auth(&admin.jwt)
            .header(header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
    };
    for body in ["{\"username\":", "not json", "{} trailing", "\u{feff}{}"] {
        let error = expect_error(post(body).await.unwrap(), StatusCode::BAD_REQUEST).await;
        assert!(error["error"].as_str().unwrap().contains("JSON"), "{body}: {error}");
    }
    let empty = expect_error(post("").await.unwrap(), StatusCode::BAD_REQUEST).await;
    assert!(empty["error"].as_str().unwrap().contains("empty"));
    let cases = [
        (r#"{"username": 5, "password": "long enough"}"#, "username"),
        (r#"{"username": "a", "password": ["x"]}"#, "password"),
        (r#"{"username": "a", "password": "long enough", "is_active": "perhaps"}"#, "is_active"),
        (r#"[1, 2]"#, "[0]"),
        (r#"{"username": "a", "password": "long enough", "extra": 1}"#, "extra"),
    ];
    for (body, field) in cases {
        let error = expect_error(post(body).await.unwrap(), StatusCode::BAD_REQUEST).await;
        assert!(details(&error).iter().any(|d| d.contains(field)), "{body}: {error}");
    }
    // A NUL character cannot be stored by PostgreSQL: refused, not a 500.
    let nul = expect_error(
        post(r#"{"username": "a", "password": "long enough", "email": "a\u0000@b.org"}"#).await.unwrap(),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(!details(&nul).is_empty() || nul["error"].as_str().unwrap().contains("NUL"), "{nul}");
    let nul_name = post(r#"{"username": "ab", "password": "long enough", "firstname": "x\u0000"}"#).await.unwrap();
    expect_error(nul_name, StatusCode::BAD_REQUEST).await;
}

#[tokio::test]
async fn bodies_over_the_limit_are_413() {
    let app = spawn_app_with(|c| c.server.max_body_size = 64 * 1024).await;
    let admin = app.user("admin", Role::Admin).await;
    let huge = json!({"username": "big", "password": "x".repeat(200 * 1024)});
    let response = app.request(Method::POST, "/api/v2/users").bearer_auth(&admin.jwt).json(&huge).send().await.unwrap();
    expect_error(response, StatusCode::PAYLOAD_TOO_LARGE).await;
    let sign_in = app.request(Method::POST, "/api/v2/users/getToken").json(&huge).send().await.unwrap();
    expect_error(sign_in, StatusCode::PAYLOAD_TOO_LARGE).await;
}

#[tokio::test]
async fn sql_metacharacters_in_filters_are_plain_text() {
    let app = spawn_app().await;
    let admin = app.user("admin", Role::Admin).await;
    app.user("under_score", Role::Viewer).await;
    app.user("percent", Role::Viewer).await;
    let total = |query: String| {
        let app = &app;
        let jwt = admin.jwt.clone();
        async move {
            let response =
                app.request(Method::GET, &format!("/api/v2/users?{query}")).bearer_auth(jwt).send().await.unwrap();
            expect_json(response, StatusCode::OK).await["total"].as_i64().unwrap()
        }
    };
    let encode = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    assert_eq!(total(format!("username={}", encode("' OR 1=1 --"))).await, 0);
    assert_eq!(total(format!("username={}", encode("admin'; DROP TABLE users; --"))).await, 0);
    assert_eq!(total(format!("username={}", encode("_"))).await, 1, "_ is literal");
    assert_eq!(total(format!("username={}", encode("%"))).await, 0, "% is literal");
    assert_eq!(total(format!("email={}", encode("\\"))).await, 0);
    let nul = app.request(Method::GET, "/api/v2/users?username=a%00b").bearer_auth(&admin.jwt).send().await.unwrap();
    let body = expect_error(nul, StatusCode::BAD_REQUEST).await;
    assert!(details(&body)[0].starts_with("username"), "{body}");
    assert_eq!(total(String::new()).await, 3, "the users table survived");
}

#[tokio::test]
async fn unknown_routes_methods_and_odd_paths_answer_json() {
    let app = spawn_app().await;
    let admin = app.user("admin", Role::Admin).await;
    expect_error(app.request(Method::GET, "/nope").send().await.unwrap(), StatusCode::NOT_FOUND).await;
    expect_error(
        app.request(Method::GET, "/api/v2/nope").bearer_auth(&admin.jwt).send().await.unwrap(),
        StatusCode::NOT_FOUND,
    )
    .await;
    expect_error(
        app.request(Method::PATCH, "/api/v2/users").bearer_auth(&admin.jwt).send().await.unwrap(),
        StatusCode::METHOD_NOT_ALLOWED,
    )
    .await;
    for path in ["/api/v2/users/%00", "/api/v2/users/%FF%FE", &format!("/api/v2/users/{}", "a".repeat(5000))] {
        let response = app.request(Method::GET, path).bearer_auth(&admin.jwt).send().await.unwrap();
        let status = response.status();
        assert!(status.is_client_error(), "{path}: {status}");
        expect_error(response, status).await;
    }
    let bad_id = app
        .request(Method::DELETE, &format!("/api/v2/users/{}/tokens/abc", admin.uid))
        .bearer_auth(&admin.jwt)
        .send()
        .await
        .unwrap();
    let body = expect_error(bad_id, StatusCode::BAD_REQUEST).await;
    assert!(details(&body)[0].starts_with("path"), "{body}");
}

#[tokio::test]
async fn hostile_authorization_headers_are_401() {
    let app = spawn_app().await;
    app.user("admin", Role::Admin).await;
    let values: Vec<header::HeaderValue> = vec![
        header::HeaderValue::from_bytes(b"Basic \xff\xfe").unwrap(),
        header::HeaderValue::from_static("Basic"),
        header::HeaderValue::from_static("Basic bm9jb2xvbg=="),
        header::HeaderValue::from_static("Basic %%%"),
        header::HeaderValue::from_static("Bearer"),
        header::HeaderValue::from_static("Token:"),
        header::HeaderValue::from_static("Digest abc"),
        header::HeaderValue::from_str(&format!("Token {}", "x".repeat(4000))).unwrap(),
    ];
    for value in values {
        let response =
            app.request(Method::GET, "/api/v2/me").header(header::AUTHORIZATION, value.clone()).send().await.unwrap();
        expect_error(response, StatusCode::UNAUTHORIZED).await;
    }
}
