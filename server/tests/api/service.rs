//! Health probes, the OpenAPI document and Swagger UI.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use dhis2gw_test_support::*;

#[tokio::test]
async fn liveness_and_readiness_report_each_dependency() {
    let app = spawn_app().await;
    let live = expect_json(app.request(Method::GET, "/health/live").send().await.unwrap(), StatusCode::OK).await;
    assert_eq!(live["status"], "ok");
    let ready = expect_json(app.request(Method::GET, "/health/ready").send().await.unwrap(), StatusCode::OK).await;
    assert_eq!((ready["checks"]["postgres"].as_str(), ready["checks"]["redis"].as_str()), (Some("ok"), Some("ok")));
}

#[tokio::test]
async fn readiness_is_503_naming_redis_when_it_is_unreachable() {
    // Port 1 on loopback: nothing listens there.
    let app = spawn_app_with(|c| c.server.redis_address = "127.0.0.1:1".parse().unwrap()).await;
    let response = app.request(Method::GET, "/health/ready").send().await.unwrap();
    let body = expect_error(response, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(body["checks"]["postgres"], "ok");
    assert!(body["checks"]["redis"].as_str().unwrap().starts_with("down"), "{body}");
    assert!(body["error"].as_str().unwrap().contains("redis"), "{body}");
}

#[tokio::test]
async fn openapi_lists_every_route_with_schemas_and_security() {
    let app = spawn_app().await;
    let spec =
        expect_json(app.request(Method::GET, "/api-docs/openapi.json").send().await.unwrap(), StatusCode::OK).await;
    assert!(spec["openapi"].as_str().unwrap().starts_with("3.1"));
    let expected = [
        ("/api/v2/users/getToken", "post"),
        ("/api/v2/users/refreshToken", "post"),
        ("/api/v2/me", "get"),
        ("/api/v2/user", "post"),
        ("/api/v2/users", "get"),
        ("/api/v2/users", "post"),
        ("/api/v2/users/{uid}", "get"),
        ("/api/v2/users/{uid}", "put"),
        ("/api/v2/users/{uid}", "delete"),
        ("/api/v2/users/{uid}/tokens", "get"),
        ("/api/v2/users/{uid}/tokens", "post"),
        ("/api/v2/users/{uid}/tokens/{id}", "delete"),
        ("/api/v2/overview", "get"),
        ("/api/v2/audit", "get"),
        ("/api/v2/audit/actions", "get"),
        ("/api/v2/logs/delete", "post"),
        ("/health/live", "get"),
        ("/health/ready", "get"),
    ];
    for (path, method) in expected {
        assert!(spec["paths"][path][method].is_object(), "{method} {path} missing from the spec");
    }
    let schemes = &spec["components"]["securitySchemes"];
    for scheme in ["bearer", "token", "basic"] {
        assert!(schemes[scheme].is_object(), "security scheme {scheme}");
    }
    for schema in [
        "User",
        "CreateUser",
        "UpdateUser",
        "TokenResponse",
        "ErrorBody",
        "CreatedApiToken",
        "Health",
        "Overview",
        "AuditEntry",
        "DeleteResult",
    ] {
        assert!(spec["components"]["schemas"][schema].is_object(), "schema {schema}");
    }
    // A closed object composed with others (a request body flattened into a response) fits
    // no document; `GET /mappings` answered such a schema.
    let mapping = &spec["components"]["schemas"]["Mapping"];
    for property in ["id", "uid", "code", "dataElement", "created", "health", "names"] {
        assert!(mapping["properties"][property].is_object(), "Mapping.{property}: {mapping}");
    }
    let mut compositions = vec![&spec];
    while let Some(node) = compositions.pop() {
        match node {
            Value::Object(object) => {
                for part in object.get("allOf").and_then(Value::as_array).into_iter().flatten() {
                    let part = match part["$ref"].as_str() {
                        Some(r) => &spec["components"]["schemas"][r.trim_start_matches("#/components/schemas/")],
                        None => part,
                    };
                    assert_ne!(part["additionalProperties"], false, "a closed part of an allOf: {node}");
                }
                compositions.extend(object.values());
            }
            Value::Array(items) => compositions.extend(items),
            _ => {}
        }
    }
}

#[tokio::test]
async fn swagger_ui_is_served_from_the_binary() {
    let app = spawn_app().await;
    for path in ["/swagger/", "/swagger/index.html"] {
        let response = app.request(Method::GET, path).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let html = response.text().await.unwrap();
        assert!(html.contains("swagger-ui") && !html.contains("https://"), "{path} must not load from a CDN");
    }
    let bundle = app.request(Method::GET, "/swagger/swagger-ui-bundle.js").send().await.unwrap();
    assert_eq!(bundle.status(), StatusCode::OK);
    assert!(bundle.bytes().await.unwrap().len() > 500_000);
    let init = app.request(Method::GET, "/swagger/swagger-initializer.js").send().await.unwrap().text().await.unwrap();
    assert!(init.contains("/api-docs/openapi.json"), "{init}");
}

#[tokio::test]
async fn cors_headers_only_for_configured_origins() {
    let closed = spawn_app().await;
    let preflight = |app: &TestApp, origin: &str| {
        app.request(Method::OPTIONS, "/api/v2/users")
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "GET")
            .header("Access-Control-Request-Headers", "authorization")
            .send()
    };
    let r = preflight(&closed, "https://console.example.org").await.unwrap();
    assert!(
        r.headers().get("access-control-allow-origin").is_none(),
        "only the desktop console's origins are allowed by default"
    );
    let open = spawn_app_with(|c| c.server.cors_allowed_origins = vec!["https://console.example.org".into()]).await;
    let r = preflight(&open, "https://console.example.org").await.unwrap();
    assert_eq!(r.headers()["access-control-allow-origin"], "https://console.example.org");
    let r = preflight(&open, "https://evil.example").await.unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
}
