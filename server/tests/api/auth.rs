//! Signing in, the four Authorization forms, token refresh and rotation, throttling.

use base64::Engine;
use dhis2gw_wire::Role;
use reqwest::{Method, StatusCode, header};
use serde_json::json;

use dhis2gw_test_support::*;

#[tokio::test]
async fn get_token_accepts_json_or_basic_credentials() {
    let app = spawn_app().await;
    let admin = app.user("admin", Role::Admin).await;
    let by_json = app
        .request(Method::POST, "/api/v2/users/getToken")
        .json(&json!({"username": "admin", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let body = expect_json(by_json, StatusCode::OK).await;
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["expires_in"].as_i64().unwrap() > 800);
    assert!(body["expires"].as_str().unwrap().contains('T'));
    assert_eq!(body["user"]["uid"], admin.uid.as_str());
    assert!(body["refresh_token"].as_str().unwrap().len() > 40);

    // The console's access token is taken with the Token scheme too.
    let jwt = body["token"].as_str().unwrap().to_string();
    for form in [format!("Token {jwt}"), format!("Token: {jwt}")] {
        assert_eq!(me_as(&app, &form).await["username"], "admin", "{form}");
    }

    // Basic and no body, as partners of the original do: its answer, a token for 30 days.
    let by_basic = app
        .request(Method::POST, "/api/v2/users/getToken")
        .header(header::AUTHORIZATION, basic("admin", PASSWORD))
        .send()
        .await
        .unwrap();
    let body = expect_json(by_basic, StatusCode::CREATED).await;
    assert_eq!(body["message"], "Token created successfully");
    let expires: chrono::DateTime<chrono::Utc> = body["expires"].as_str().unwrap().parse().unwrap();
    let days = (expires - chrono::Utc::now()).num_minutes() as f64 / (24.0 * 60.0);
    assert!((29.99..=30.0).contains(&days), "{days}");
    let token = body["token"].as_str().unwrap();
    for form in [format!("Token {token}"), format!("Token: {token}"), format!("Bearer {token}")] {
        assert_eq!(me_as(&app, &form).await["username"], "admin", "{form}");
    }
}

/// `GET /me` with this `Authorization` header, which must work.
async fn me_as(app: &TestApp, authorization: &str) -> serde_json::Value {
    let me = app.request(Method::GET, "/api/v2/me").header(header::AUTHORIZATION, authorization).send().await.unwrap();
    expect_json(me, StatusCode::OK).await
}

#[tokio::test]
async fn get_token_with_basic_keeps_each_users_ten_newest_and_lives_as_configured() {
    let app = spawn_app_with(|c| c.server.partner_token_ttl = 3600).await;
    let admin = app.user("admin", Role::Admin).await;
    let partner = app.user("emr", Role::Partner).await;
    let mut tokens = Vec::new();
    for _ in 0..11 {
        let r = app
            .request(Method::POST, "/api/v2/users/getToken")
            .header(header::AUTHORIZATION, basic("emr", PASSWORD))
            .send()
            .await
            .unwrap();
        let body = expect_json(r, StatusCode::CREATED).await;
        let expires: chrono::DateTime<chrono::Utc> = body["expires"].as_str().unwrap().parse().unwrap();
        assert!((expires - chrono::Utc::now()).num_seconds() <= 3600);
        tokens.push(body["token"].as_str().unwrap().to_string());
    }
    let status = |token: String| {
        let app = &app;
        async move {
            let r = app.request(Method::GET, "/api/v2/me").header(header::AUTHORIZATION, format!("Token {token}"));
            r.send().await.unwrap().status()
        }
    };
    assert_eq!(status(tokens[0].clone()).await, StatusCode::UNAUTHORIZED, "the oldest beyond ten stopped");
    assert_eq!(status(tokens[1].clone()).await, StatusCode::OK);
    assert_eq!(status(tokens[10].clone()).await, StatusCode::OK);
    // The console lists them among the partner's tokens, with their expiry.
    let listed = app
        .request(Method::GET, &format!("/api/v2/users/{}/tokens", partner.uid))
        .bearer_auth(&admin.jwt)
        .send()
        .await
        .unwrap();
    let listed = expect_json(listed, StatusCode::OK).await;
    let active: Vec<&serde_json::Value> =
        listed.as_array().unwrap().iter().filter(|t| t["is_active"] == true).collect();
    assert_eq!(active.len(), 10);
    assert!(active.iter().all(|t| t["name"] == "getToken" && t["expires_at"].is_string()));
}

#[tokio::test]
async fn wrong_unknown_and_deactivated_sign_ins_are_401_with_www_authenticate() {
    let app = spawn_app().await;
    let admin = app.user("admin", Role::Admin).await;
    let viewer = app.user("viewer", Role::Viewer).await;
    app.request(Method::DELETE, &format!("/api/v2/users/{}", viewer.uid)).bearer_auth(&admin.jwt).send().await.unwrap();
    for (username, password) in [("admin", "wrong password"), ("nobody", PASSWORD), ("viewer", PASSWORD)] {
        let response = app
            .request(Method::POST, "/api/v2/users/getToken")
            .json(&json!({"username": username, "password": password}))
            .send()
            .await
            .unwrap();
        assert!(response.headers().contains_key(header::WWW_AUTHENTICATE));
        expect_error(response, StatusCode::UNAUTHORIZED).await;
    }
}

#[tokio::test]
async fn every_authorization_form_reaches_a_route_and_legacy_api_prefix_works() {
    let app = spawn_app().await;
    let admin = app.user("admin", Role::Admin).await;
    let partner = app.user("partner", Role::Partner).await;
    let token = app.api_token(&admin, &partner).await;
    let forms = [
        format!("Bearer {}", partner.jwt),
        format!("Token {token}"),
        format!("Token: {token}"),
        format!("ApiToken {token}"),
        basic("partner", PASSWORD),
    ];
    for form in &forms {
        for prefix in ["/api/v2", "/api"] {
            let response = app
                .request(Method::GET, &format!("{prefix}/me"))
                .header(header::AUTHORIZATION, form)
                .send()
                .await
                .unwrap();
            let body = expect_json(response, StatusCode::OK).await;
            assert_eq!(body["username"], "partner", "{form} on {prefix}");
        }
    }
}

#[tokio::test]
async fn basic_auth_can_be_disabled() {
    let app = spawn_app_with(|c| c.server.allow_basic_auth = false).await;
    app.user("admin", Role::Admin).await;
    let response = app
        .request(Method::GET, "/api/v2/me")
        .header(header::AUTHORIZATION, basic("admin", PASSWORD))
        .send()
        .await
        .unwrap();
    let body = expect_error(response, StatusCode::UNAUTHORIZED).await;
    assert!(body["error"].as_str().unwrap().contains("disabled"));
}

#[tokio::test]
async fn forged_expired_and_unsigned_jwts_are_refused() {
    let app = spawn_app().await;
    let admin = app.user("admin", Role::Admin).await;
    let now = chrono::Utc::now().timestamp();
    let claims = |exp: i64| json!({"sub": admin.uid, "name": "admin", "role": "admin", "iss": "dhis2gw", "iat": now - 7200, "exp": exp, "jti": "x"});
    let sign = |secret: &str, exp: i64| {
        jsonwebtoken::encode(
            &jsonwebtoken::Header::default(),
            &claims(exp),
            &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    };
    let b64 = |v: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
    let unsigned = format!("{}.{}.", b64(r#"{"alg":"none","typ":"JWT"}"#), b64(&claims(now + 3600).to_string()));
    let mut tampered = admin.jwt.clone();
    tampered.pop();
    tampered.push(if admin.jwt.ends_with('A') { 'B' } else { 'A' });
    let cases = [
        ("expired", sign(JWT_SECRET, now - 3600)),
        ("other secret", sign("some-other-secret-some-other-secret!", now + 3600)),
        ("alg none", unsigned),
        ("tampered signature", tampered),
        ("garbage", "not.a.jwt".to_string()),
    ];
    for (what, token) in cases {
        let response = app.request(Method::GET, "/api/v2/me").bearer_auth(&token).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{what}");
    }
    // The same claims, properly signed, are accepted: the refusals above are about the token.
    let good = app.request(Method::GET, "/api/v2/me").bearer_auth(sign(JWT_SECRET, now + 3600)).send().await.unwrap();
    assert_eq!(good.status(), StatusCode::OK);
}

#[tokio::test]
async fn revoked_expired_and_deactivated_owners_api_tokens_are_refused() {
    let app = spawn_app().await;
    let admin = app.user("admin", Role::Admin).await;
    let partner = app.user("partner", Role::Partner).await;
    let me =
        |token: String| app.request(Method::GET, "/api/v2/me").header(header::AUTHORIZATION, format!("Token {token}"));

    let revoked = app.api_token(&admin, &partner).await;
    assert_eq!(me(revoked.clone()).send().await.unwrap().status(), StatusCode::OK);
    let list = app
        .request(Method::GET, &format!("/api/v2/users/{}/tokens", partner.uid))
        .bearer_auth(&admin.jwt)
        .send()
        .await
        .unwrap();
    let list = expect_json(list, StatusCode::OK).await;
    let id = list[0]["id"].as_i64().unwrap();
    assert!(list[0].get("token").is_none(), "secret must not be listed: {list}");
    assert!(!list[0]["last_used_at"].is_null(), "use is recorded: {list}");
    let revoke = app
        .request(Method::DELETE, &format!("/api/v2/users/{}/tokens/{id}", partner.uid))
        .bearer_auth(&admin.jwt)
        .send()
        .await
        .unwrap();
    assert_eq!(expect_json(revoke, StatusCode::OK).await["is_active"], false);
    expect_error(me(revoked).send().await.unwrap(), StatusCode::UNAUTHORIZED).await;

    let expired = app.api_token(&admin, &partner).await;
    sqlx::query("UPDATE user_apitoken SET expires_at = now() - interval '1 second' WHERE token_prefix = $1")
        .bind(expired.chars().take(10).collect::<String>())
        .execute(&app.db)
        .await
        .unwrap();
    expect_error(me(expired).send().await.unwrap(), StatusCode::UNAUTHORIZED).await;

    let owner_deactivated = app.api_token(&admin, &partner).await;
    app.request(Method::DELETE, &format!("/api/v2/users/{}", partner.uid))
        .bearer_auth(&admin.jwt)
        .send()
        .await
        .unwrap();
    expect_error(me(owner_deactivated).send().await.unwrap(), StatusCode::UNAUTHORIZED).await;
    // A deactivated user's JWT stops working at once, too.
    let response = app.request(Method::GET, "/api/v2/me").bearer_auth(&partner.jwt).send().await.unwrap();
    expect_error(response, StatusCode::UNAUTHORIZED).await;
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_whole_family() {
    let app = spawn_app().await;
    let admin = app.user("admin", Role::Admin).await;
    let refresh = |token: &str| {
        app.request(Method::POST, "/api/v2/users/refreshToken").json(&json!({"refresh_token": token})).send()
    };
    let first = expect_json(refresh(&admin.refresh_token).await.unwrap(), StatusCode::OK).await;
    let second_token = first["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(second_token, admin.refresh_token);
    let me = app.request(Method::GET, "/api/v2/me").bearer_auth(first["token"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(me.status(), StatusCode::OK);

    // The rotated-out token is refused, and its reuse revokes the newer one as well.
    let reused = expect_error(refresh(&admin.refresh_token).await.unwrap(), StatusCode::UNAUTHORIZED).await;
    assert!(reused["error"].as_str().unwrap().contains("already used"), "{reused}");
    expect_error(refresh(&second_token).await.unwrap(), StatusCode::UNAUTHORIZED).await;

    // A separate sign-in is a separate family and keeps working.
    let other = app.sign_in("admin", PASSWORD).await;
    expect_json(refresh(&other.refresh_token).await.unwrap(), StatusCode::OK).await;
    expect_error(refresh("rt_unknown").await.unwrap(), StatusCode::UNAUTHORIZED).await;
}

#[tokio::test]
async fn changing_a_password_ends_sessions_and_old_password() {
    let app = spawn_app().await;
    let admin = app.user("admin", Role::Admin).await;
    let operator = app.user("operator", Role::Operator).await;
    let change = app
        .request(Method::PUT, &format!("/api/v2/users/{}", operator.uid))
        .bearer_auth(&admin.jwt)
        .json(&json!({"password": "a brand new password"}))
        .send()
        .await
        .unwrap();
    expect_json(change, StatusCode::OK).await;
    let refresh = app
        .request(Method::POST, "/api/v2/users/refreshToken")
        .json(&json!({"refresh_token": operator.refresh_token}))
        .send()
        .await
        .unwrap();
    expect_error(refresh, StatusCode::UNAUTHORIZED).await;
    let old = app
        .request(Method::POST, "/api/v2/users/getToken")
        .json(&json!({"username": "operator", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    expect_error(old, StatusCode::UNAUTHORIZED).await;
    app.sign_in("operator", "a brand new password").await;
}

#[tokio::test]
async fn repeated_failures_lock_a_username_for_a_while() {
    let app = spawn_app().await;
    app.user("admin", Role::Admin).await;
    let attempt = |password: &'static str| {
        app.request(Method::POST, "/api/v2/users/getToken")
            .json(&json!({"username": "ADMIN", "password": password}))
            .send()
    };
    for _ in 0..5 {
        assert_eq!(attempt("wrong").await.unwrap().status(), StatusCode::UNAUTHORIZED);
    }
    let locked = attempt(PASSWORD).await.unwrap();
    let retry_after: i64 = locked.headers()[header::RETRY_AFTER].to_str().unwrap().parse().unwrap();
    assert!((800..=900).contains(&retry_after), "{retry_after}");
    expect_error(locked, StatusCode::TOO_MANY_REQUESTS).await;
    // Basic auth on API routes is throttled the same way.
    let basic_call = app
        .request(Method::GET, "/api/v2/me")
        .header(header::AUTHORIZATION, basic("admin", PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(basic_call.status(), StatusCode::TOO_MANY_REQUESTS);
    // Other usernames are unaffected.
    app.user("other", Role::Viewer).await;
}
