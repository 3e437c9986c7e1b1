//! Several DHIS2 servers: admins manage them, every submission also goes to the CC servers,
//! each destination has its own status, retries and requeue, and a switched-off server's
//! deliveries wait.

use std::time::{Duration, Instant};

use dhis2_double::{Dhis2Double, Version, fixture};
use dhis2gw_wire::Role;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use dhis2gw_test_support::*;

const FINAL: &[&str] = &["succeeded", "warning", "failed", "dead"];

/// A conf.d folder holding one file with `servers`.
pub fn conf_dir(servers: Value) -> String {
    let dir = std::env::temp_dir().join(format!("dhis2gw-conf-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("cc.yml"), serde_yaml_ng::to_string(&json!({"servers": servers})).unwrap()).unwrap();
    dir.display().to_string()
}

pub fn cc_server(name: &str, dhis2: &Dhis2Double) -> Value {
    json!({"name": name, "base_url": dhis2.base_url(), "username": dhis2_double::USERNAME, "password": dhis2_double::PASSWORD})
}

#[tokio::test]
async fn admins_manage_servers_whose_credentials_are_encrypted_and_never_shown() {
    let other = Dhis2Double::start(Version::V2_37).await;
    let p = pipeline(Version::V2_40, |_| {}).await;
    let created = p.call(Method::POST, "/api/v2/servers", Some(cc_server("hmis", &other))).await;
    let created = expect_json(created, StatusCode::CREATED).await;
    assert_eq!((created["has_password"].as_bool(), created["origin"].as_str()), (Some(true), Some("api")));
    let text = created.to_string();
    assert!(!text.contains(dhis2_double::PASSWORD) && created.get("password").is_none(), "{text}");
    let sealed: Vec<u8> = sqlx::query_scalar("SELECT password_enc FROM dhis2_servers WHERE name = 'hmis'")
        .fetch_one(&p.app.db)
        .await
        .unwrap();
    assert!(!sealed.windows(8).any(|w| w == dhis2_double::PASSWORD.as_bytes()), "stored encrypted");

    // Its health shows without waiting for the minute's check.
    let uid = created["uid"].as_str().unwrap().to_string();
    let started = Instant::now();
    let checked = loop {
        let server =
            expect_json(p.call(Method::GET, &format!("/api/v2/servers/{uid}"), None).await, StatusCode::OK).await;
        if server["dhis2_version"].is_string() {
            break server;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "never checked: {server}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(checked["dhis2_version"].as_str().unwrap().starts_with("2.37"), "{checked}");
    assert!(checked["last_error"].is_null());
    let all = expect_json(p.call(Method::GET, "/api/v2/servers", None).await, StatusCode::OK).await;
    let names: Vec<&str> = all.as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["primary", "hmis"], "primary first");

    // Wrong credentials show as the server's last error.
    let wrong = p.call(Method::PUT, &format!("/api/v2/servers/{uid}"), Some(json!({"password": "nope"}))).await;
    assert_eq!(expect_json(wrong, StatusCode::OK).await["has_password"], true);
    let started = Instant::now();
    loop {
        let server =
            expect_json(p.call(Method::GET, &format!("/api/v2/servers/{uid}"), None).await, StatusCode::OK).await;
        if server["last_error"].as_str().is_some_and(|e| e.contains("401")) {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "no error recorded: {server}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let invalid =
        expect_error(p.call(Method::POST, "/api/v2/servers", Some(json!({}))).await, StatusCode::BAD_REQUEST).await;
    let problems = details(&invalid);
    for field in ["name:", "base_url:", "username, password:"] {
        assert!(problems.iter().any(|d| d.starts_with(field)), "{field} in {problems:?}");
    }
    for (body, field) in [
        (json!({"name": "x", "base_url": "https://x.example", "auth_method": "pat"}), "pat:"),
        (json!({"name": "a b", "base_url": "ftp://x", "username": "u", "password": "p"}), "name:"),
        (json!({"name": "primary", "base_url": "https://x.example", "pat": "d2p"}), "name:"),
        (json!({"name": "t", "base_url": "https://x.example", "pat": "d2p", "timeout": 0}), "timeout:"),
        (json!({"name": "t", "base_url": "https://x.example", "pat": "d2p", "colour": "red"}), ""),
    ] {
        let body =
            expect_error(p.call(Method::POST, "/api/v2/servers", Some(body)).await, StatusCode::BAD_REQUEST).await;
        assert!(details(&body).iter().any(|d| d.starts_with(field)) || field.is_empty(), "{field}: {body}");
    }
    let duplicate = p.call(Method::POST, "/api/v2/servers", Some(cc_server("hmis", &other))).await;
    expect_error(duplicate, StatusCode::CONFLICT).await;

    let primary = all[0]["uid"].as_str().unwrap();
    let path = format!("/api/v2/servers/{primary}");
    let moved = p.call(Method::PUT, &path, Some(json!({"base_url": "https://x.example"}))).await;
    let body = expect_error(moved, StatusCode::CONFLICT).await;
    assert!(body["error"].as_str().unwrap().contains("api section"), "{body}");
    expect_error(p.call(Method::DELETE, &format!("/api/v2/servers/{primary}"), None).await, StatusCode::CONFLICT).await;

    let viewer = p.app.user("viewer", Role::Viewer).await;
    let r = p.app.request(Method::GET, "/api/v2/servers").bearer_auth(&viewer.jwt).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = p.app.request(Method::POST, "/api/v2/servers").bearer_auth(&viewer.jwt).json(&cc_server("v", &other));
    expect_error(r.send().await.unwrap(), StatusCode::FORBIDDEN).await;
    let r = p.app.request(Method::GET, "/api/v2/servers").header("Authorization", format!("Token {}", p.partner_token));
    expect_error(r.send().await.unwrap(), StatusCode::FORBIDDEN).await;

    let deleted = p.call(Method::DELETE, &format!("/api/v2/servers/{uid}"), None).await;
    assert_eq!(expect_json(deleted, StatusCode::OK).await["message"], "Deleted DHIS2 server hmis");
    expect_error(p.call(Method::GET, &format!("/api/v2/servers/{uid}"), None).await, StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn every_submission_also_goes_to_cc_servers_and_a_down_one_catches_up_on_its_own() {
    let cc = Dhis2Double::start(Version::V2_43).await;
    cc.set_down(true);
    let dir = conf_dir(json!([cc_server("cc", &cc)]));
    let p = pipeline(Version::V2_40, |c| {
        c.server.conf_dir = dir.clone();
        c.api.cc_dhis2_servers = vec!["cc".into()];
    })
    .await;
    let id = p.submit(json!({"positives": 7})).await;
    p.destination(id, "primary", &["succeeded"]).await;
    let waiting = p.destination(id, "cc", &["retrying"]).await;
    assert!(waiting["last_error"].is_string(), "{waiting}");
    let status = p.log(id).await["status"].clone();
    // Retrying, or already at its next attempt: not done while a server still waits.
    assert!(status == "retrying" || status == "processing", "{status}");

    cc.set_down(false);
    p.destination(id, "cc", &["succeeded"]).await;
    let log = p.settled(id, FINAL, Duration::from_secs(5)).await;
    assert_eq!(log["status"], "succeeded");
    let servers: Vec<&str> =
        log["attempts"].as_array().unwrap().iter().map(|a| a["server"].as_str().unwrap()).collect();
    assert!(servers.contains(&"primary") && servers.iter().filter(|s| **s == "cc").count() >= 2, "{servers:?}");
    let stored =
        |d: &Dhis2Double| d.value(fixture::DE_POSITIVES, "202401", fixture::OU_FACILITY_1, fixture::DEFAULT_COC);
    assert_eq!(stored(&cc).map(|v| v.value), Some("7".into()));
    assert_eq!(p.dhis2.import_requests(), 1, "the primary is not sent it again while the CC server catches up");

    // Requeue one destination: only that server is sent it again.
    let again = p.call(Method::POST, &format!("/api/v2/logs/{id}/restart?server=cc"), None).await;
    assert_eq!(expect_json(again, StatusCode::OK).await["reEnqueued"], 1);
    let cc_before = cc.import_requests();
    p.destination(id, "cc", &["succeeded"]).await;
    let started = Instant::now();
    while cc.import_requests() == cc_before {
        assert!(started.elapsed() < Duration::from_secs(10), "cc was not sent it again");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    p.settled(id, FINAL, Duration::from_secs(10)).await;
    assert_eq!(p.dhis2.import_requests(), 1);
    let unknown = p.call(Method::POST, &format!("/api/v2/logs/{id}/restart?server=elsewhere"), None).await;
    let body = expect_error(unknown, StatusCode::NOT_FOUND).await;
    assert!(body["error"].as_str().unwrap().contains("elsewhere"), "{body}");

    // Servers from conf.d are changed in their file, not through the API.
    let all = expect_json(p.call(Method::GET, "/api/v2/servers", None).await, StatusCode::OK).await;
    let from_file = all.as_array().unwrap().iter().find(|s| s["name"] == "cc").unwrap();
    assert_eq!(from_file["origin"], "config");
    let uid = from_file["uid"].as_str().unwrap();
    let edit = p.call(Method::PUT, &format!("/api/v2/servers/{uid}"), Some(json!({"timeout": 5}))).await;
    let body = expect_error(edit, StatusCode::CONFLICT).await;
    assert!(body["error"].as_str().unwrap().contains("server.conf_dir"), "{body}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_switched_off_server_keeps_its_deliveries_waiting_until_switched_on() {
    let cc = Dhis2Double::start(Version::V2_40).await;
    let p = pipeline(Version::V2_40, |c| c.api.cc_dhis2_servers = vec!["cc".into()]).await;
    let created =
        expect_json(p.call(Method::POST, "/api/v2/servers", Some(cc_server("cc", &cc))).await, StatusCode::CREATED)
            .await;
    let uid = created["uid"].as_str().unwrap().to_string();
    let paused = p.call(Method::PUT, &format!("/api/v2/servers/{uid}"), Some(json!({"enabled": false}))).await;
    assert_eq!(expect_json(paused, StatusCode::OK).await["enabled"], false);

    let id = p.submit(json!({"positives": 3})).await;
    p.destination(id, "primary", &["succeeded"]).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let waiting = p.destination(id, "cc", &["queued"]).await;
    assert_eq!(waiting["retry_count"], 0, "waiting is not failing");
    assert_eq!(cc.import_requests(), 0);
    let server = expect_json(p.call(Method::GET, &format!("/api/v2/servers/{uid}"), None).await, StatusCode::OK).await;
    assert_eq!(server["pending"], 1);

    let resumed = p.call(Method::PUT, &format!("/api/v2/servers/{uid}"), Some(json!({"enabled": true}))).await;
    expect_json(resumed, StatusCode::OK).await;
    p.destination(id, "cc", &["succeeded"]).await;
    assert_eq!(cc.import_requests(), 1);
    let in_use = p.call(Method::DELETE, &format!("/api/v2/servers/{uid}"), None).await;
    let body = expect_error(in_use, StatusCode::CONFLICT).await;
    assert!(body["error"].as_str().unwrap().contains("switch it off"), "{body}");
}

#[tokio::test]
async fn an_invalid_conf_d_file_stops_the_start_naming_file_and_field() {
    let dir = conf_dir(json!([{"name": "cc", "base_url": "not a url", "pat": "d2p"}]));
    let database = TestDatabase::new();
    let mut config = test_config(&database);
    config.server.conf_dir = dir.clone();
    let error = match dhis2gw::startup::Application::build(config).await {
        Ok(_) => panic!("started with an invalid server file"),
        Err(e) => format!("{e:#}"),
    };
    assert!(error.contains("cc.yml servers[0]: base_url:"), "{error}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_file_the_original_dhis2gw_left_in_conf_d_does_not_stop_the_start() {
    // The original read conf.d/*.json as its own server definitions; our servers files have
    // `servers:`. A leftover one (and anything unreadable as YAML) is left alone.
    let cc = Dhis2Double::start(Version::V2_40).await;
    let dir = conf_dir(json!([cc_server("cc", &cc)]));
    let leftover = json!({"name": "hmis", "url": "https://hmis.example.org/api", "username": "admin",
                          "password": "district", "authMethod": "Basic"});
    std::fs::write(std::path::Path::new(&dir).join("hmis.json"), leftover.to_string()).unwrap();
    std::fs::write(std::path::Path::new(&dir).join("notes.yml"), "# kept by ops\n: [").unwrap();
    let p = pipeline(Version::V2_40, |c| c.server.conf_dir = dir.clone()).await;
    let servers = p.get_as_admin("/api/v2/servers").await;
    let names: Vec<&str> = servers.as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["primary", "cc"], "{servers:#}");
    std::fs::remove_dir_all(&dir).unwrap();
}
