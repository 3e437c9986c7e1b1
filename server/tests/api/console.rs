//! The web console served at `/console/` from `server.console_directory`, and CORS for the
//! desktop console's webview.

use std::path::PathBuf;

use reqwest::{Method, StatusCode, header};

use dhis2gw_test_support::*;

const INDEX: &str = "<!doctype html><title>dhis2gw console</title><script type=module src=./app-1f2e3d.js></script>";

/// A console as trunk builds it: index.html and fingerprinted assets.
fn console_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dhis2gw-console-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(dir.join("snippets")).unwrap();
    std::fs::write(dir.join("index.html"), INDEX).unwrap();
    std::fs::write(dir.join("app-1f2e3d.js"), "export default 42;").unwrap();
    std::fs::write(dir.join("snippets").join("x.js"), "// snippet").unwrap();
    dir
}

/// A client that shows redirects instead of following them.
fn client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

#[tokio::test]
async fn the_console_is_served_at_console_with_index_html_never_cached() {
    let dir = console_dir();
    let app = spawn_app_with(|c| c.server.console_directory = dir.display().to_string()).await;
    let get = |path: &str| client().get(app.url(path)).send();

    let redirect = get("/console").await.unwrap();
    assert!(redirect.status().is_redirection(), "{}", redirect.status());
    assert_eq!(redirect.headers()[header::LOCATION], "/console/");

    for path in ["/console/", "/console/index.html", "/console/logs/42"] {
        let page = get(path).await.unwrap();
        assert_eq!(page.status(), StatusCode::OK, "{path}");
        assert!(page.headers()[header::CONTENT_TYPE].to_str().unwrap().starts_with("text/html"), "{path}");
        assert_eq!(page.headers()[header::CACHE_CONTROL], "no-cache", "{path}");
        assert_eq!(page.text().await.unwrap(), INDEX, "{path}");
    }
    let script = get("/console/app-1f2e3d.js").await.unwrap();
    assert_eq!(script.status(), StatusCode::OK);
    assert!(script.headers()[header::CONTENT_TYPE].to_str().unwrap().contains("javascript"));
    assert!(script.headers().get(header::CACHE_CONTROL).is_none(), "fingerprinted: cacheable");
    assert_eq!(script.text().await.unwrap(), "export default 42;");
    assert_eq!(get("/console/snippets/x.js").await.unwrap().status(), StatusCode::OK);
    let folder = get("/console/snippets").await.unwrap();
    assert_eq!(folder.headers().get(header::LOCATION).map(|l| l.to_str().unwrap()), Some("/console/snippets/"));

    // A missing asset is a 404, not the page; nothing outside the directory is reachable.
    assert_eq!(get("/console/app-000000.js").await.unwrap().status(), StatusCode::NOT_FOUND);
    std::fs::write(dir.parent().unwrap().join("dhis2gw-console-secret.txt"), "secret").unwrap();
    for path in
        ["/console/../dhis2gw-console-secret.txt", "/console/..%2fdhis2gw-console-secret.txt", "/console/%2e%2e/x"]
    {
        let response = get(path).await.unwrap();
        assert_ne!(response.status(), StatusCode::OK, "{path}");
        assert!(!response.text().await.unwrap().contains("secret"), "{path}");
    }

    let landing = get("/").await.unwrap().text().await.unwrap();
    assert!(landing.contains(r#"href="/console/""#), "the landing page links to the console");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_switched_off_console_is_not_there() {
    let dir = console_dir();
    let app = spawn_app_with(|c| {
        c.server.console_directory = dir.display().to_string();
        c.server.console_enabled = false;
    })
    .await;
    for path in ["/console", "/console/", "/console/app-1f2e3d.js"] {
        let response = client().get(app.url(path)).send().await.unwrap();
        expect_error(response, StatusCode::NOT_FOUND).await;
    }
    let landing = client().get(app.url("/")).send().await.unwrap().text().await.unwrap();
    assert!(!landing.contains("/console/"), "no link to a console that is off");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_console_not_installed_is_a_404_saying_where_it_was_looked_for() {
    let missing = std::env::temp_dir().join(format!("dhis2gw-no-console-{}", uuid::Uuid::new_v4()));
    let app = spawn_app_with(|c| c.server.console_directory = missing.display().to_string()).await;
    for path in ["/console/", "/console/app.js"] {
        let body = expect_error(client().get(app.url(path)).send().await.unwrap(), StatusCode::NOT_FOUND).await;
        let expected = format!(
            "The console is not installed here (server.console_directory '{}' does not exist)",
            missing.display()
        );
        assert_eq!(body["error"], expected.as_str(), "{path}");
    }
    let landing = client().get(app.url("/")).send().await.unwrap().text().await.unwrap();
    assert!(!landing.contains("/console/"), "no link to a console that is not installed");
}

async fn preflight(app: &TestApp, origin: &str) -> reqwest::Response {
    app.request(Method::OPTIONS, "/api/v2/users/getToken")
        .header(header::ORIGIN, origin)
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
        .header(header::ACCESS_CONTROL_REQUEST_HEADERS, "content-type,authorization")
        .send()
        .await
        .unwrap()
}

fn allowed_origin(response: &reqwest::Response) -> Option<String> {
    response.headers().get(header::ACCESS_CONTROL_ALLOW_ORIGIN).map(|v| v.to_str().unwrap().to_string())
}

#[tokio::test]
async fn the_desktop_consoles_origins_are_always_allowed_and_others_only_when_configured() {
    let app = spawn_app().await;
    for origin in ["tauri://localhost", "http://tauri.localhost"] {
        let response = preflight(&app, origin).await;
        assert!(response.status().is_success(), "{origin}: {}", response.status());
        assert_eq!(allowed_origin(&response).as_deref(), Some(origin));
    }
    assert_eq!(allowed_origin(&preflight(&app, "http://evil.example").await), None);
    let r = app.request(Method::GET, "/health/live").header(header::ORIGIN, "tauri://localhost").send().await.unwrap();
    assert_eq!(allowed_origin(&r).as_deref(), Some("tauri://localhost"), "on the actual request too");

    let configured =
        spawn_app_with(|c| c.server.cors_allowed_origins = vec!["https://console.example.org/".into()]).await;
    for origin in ["https://console.example.org", "tauri://localhost"] {
        assert_eq!(allowed_origin(&preflight(&configured, origin).await).as_deref(), Some(origin));
    }
    assert_eq!(allowed_origin(&preflight(&configured, "http://evil.example").await), None);
    let any = spawn_app_with(|c| c.server.cors_allowed_origins = vec!["*".into()]).await;
    assert_eq!(allowed_origin(&preflight(&any, "http://evil.example").await).as_deref(), Some("*"));
}
