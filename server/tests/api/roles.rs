//! Every role against every route class: 401 without credentials, 403 for a role that may
//! not, success for one that may.

use dhis2gw_wire::Role;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use dhis2gw_test_support::*;

struct Route {
    method: Method,
    path: String,
    body: Option<Value>,
    allowed: &'static [Role],
    success: StatusCode,
}

#[tokio::test]
async fn role_matrix() {
    let app = spawn_app().await;
    let admin = app.user("admin", Role::Admin).await;
    let callers = [
        (Role::Admin, admin.jwt.clone()),
        (Role::Operator, app.user("operator", Role::Operator).await.jwt),
        (Role::Viewer, app.user("viewer", Role::Viewer).await.jwt),
        (Role::Partner, app.user("partner", Role::Partner).await.jwt),
    ];
    let target = app.user("target", Role::Viewer).await;
    let token_id = {
        app.api_token(&admin, &target).await;
        let list = app
            .request(Method::GET, &format!("/api/v2/users/{}/tokens", target.uid))
            .bearer_auth(&admin.jwt)
            .send()
            .await
            .unwrap();
        expect_json(list, StatusCode::OK).await[0]["id"].as_i64().unwrap()
    };
    let admin_only: &[Role] = &[Role::Admin];
    let everyone: &[Role] = &Role::ALL;
    let mut counter = 0;
    let mut new_user = || {
        counter += 1;
        Some(json!({"username": format!("new{counter}"), "password": "long enough"}))
    };
    let u = &target.uid;
    let routes = [
        Route {
            method: Method::GET,
            path: "/api/v2/me".into(),
            body: None,
            allowed: everyone,
            success: StatusCode::OK,
        },
        Route {
            method: Method::GET,
            path: "/api/v2/users".into(),
            body: None,
            allowed: admin_only,
            success: StatusCode::OK,
        },
        Route {
            method: Method::POST,
            path: "/api/v2/users".into(),
            body: new_user(),
            allowed: admin_only,
            success: StatusCode::CREATED,
        },
        Route {
            method: Method::POST,
            path: "/api/v2/user".into(),
            body: new_user(),
            allowed: admin_only,
            success: StatusCode::CREATED,
        },
        Route {
            method: Method::GET,
            path: format!("/api/v2/users/{u}"),
            body: None,
            allowed: admin_only,
            success: StatusCode::OK,
        },
        Route {
            method: Method::PUT,
            path: format!("/api/v2/users/{u}"),
            body: Some(json!({"telephone": "1"})),
            allowed: admin_only,
            success: StatusCode::OK,
        },
        Route {
            method: Method::GET,
            path: format!("/api/v2/users/{u}/tokens"),
            body: None,
            allowed: admin_only,
            success: StatusCode::OK,
        },
        Route {
            method: Method::POST,
            path: format!("/api/v2/users/{u}/tokens"),
            body: Some(json!({})),
            allowed: admin_only,
            success: StatusCode::CREATED,
        },
        Route {
            method: Method::DELETE,
            path: format!("/api/v2/users/{u}/tokens/{token_id}"),
            body: None,
            allowed: admin_only,
            success: StatusCode::OK,
        },
        Route {
            method: Method::DELETE,
            path: format!("/api/v2/users/{u}"),
            body: None,
            allowed: admin_only,
            success: StatusCode::OK,
        },
    ];
    for route in &routes {
        let send = |auth: Option<&str>| {
            let mut request = app.request(route.method.clone(), &route.path);
            if let Some(jwt) = auth {
                request = request.bearer_auth(jwt);
            }
            if let Some(body) = &route.body {
                request = request.json(body);
            }
            request.send()
        };
        expect_error(send(None).await.unwrap(), StatusCode::UNAUTHORIZED).await;
        // Forbidden roles first: the admin's call may change what the route acts on.
        let mut ordered: Vec<_> = callers.iter().collect();
        ordered.sort_by_key(|(role, _)| route.allowed.contains(role));
        for (role, jwt) in ordered {
            let response = send(Some(jwt)).await.unwrap();
            let expected = if route.allowed.contains(role) { route.success } else { StatusCode::FORBIDDEN };
            let status = response.status();
            let body = response.text().await.unwrap();
            assert_eq!(status, expected, "{role} {} {}: {body}", route.method, route.path);
        }
    }
}
