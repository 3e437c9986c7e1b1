//! Starting a gateway for one test, and the calls tests make to it.

use std::sync::Once;

use dhis2gw::infra::config::{Config, Secret};
use dhis2gw::startup::Application;
use dhis2gw_wire::{CreateUser, Role, TokenResponse};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;

pub const JWT_SECRET: &str = "test-secret-test-secret-test-secret!!";
pub const PASSWORD: &str = "correct horse battery";
pub const CREDENTIALS_KEY: &str = "test-credentials-key-test-credentials-key";

/// The PostgreSQL server tests create their databases on (trust auth, user postgres).
pub fn postgres_server() -> String {
    std::env::var("DHIS2GW_TEST_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

pub fn redis_address() -> String {
    std::env::var("DHIS2GW_TEST_REDIS").unwrap_or_else(|_| "127.0.0.1:6379".into())
}

/// A configuration of its own for one test: a fresh database name and Redis key prefix.
pub fn test_config() -> Config {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let mut config = Config::default();
    config.database.uri.0 = format!("{}/dhis2gw_test_{id}", postgres_server());
    config.database.max_connections = 5;
    config.server.host = "127.0.0.1".into();
    config.server.port = 0;
    config.server.redis_address = redis_address().parse().unwrap();
    config.server.queue_prefix = format!("test_{id}");
    config.server.migrations_dir = "embedded".into();
    config.server.jwt_secret = Secret::new(JWT_SECRET);
    config.server.log_level = "warn".into();
    config.server.logdir = String::new();
    config.server.conf_dir = String::new();
    config.server.credentials_key = Secret::new(CREDENTIALS_KEY);
    // The DHIS2 test doubles listen on 127.0.0.1.
    config.server.allow_private_dhis2_addresses = true;
    let shipped = |dir: &str| format!("{}/{dir}", env!("CARGO_MANIFEST_DIR"));
    config.server.docs_directory = shipped("docs");
    config.server.templates_directory = shipped("templates");
    config.server.static_directory = shipped("static");
    config
}

pub struct TestApp {
    pub address: String,
    pub db: PgPool,
    pub client: reqwest::Client,
    /// This gateway's Redis key prefix.
    pub queue_prefix: String,
}

static TRACING: Once = Once::new();

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
    let mut config = test_config();
    adjust(&mut config);
    TRACING.call_once(|| {
        dhis2gw::infra::telemetry::init(&config).expect("logging to stdout starts");
    });
    let queue_prefix = config.server.queue_prefix.clone();
    let app = Application::build(config).await.expect("gateway starts");
    let address = format!("http://127.0.0.1:{}", app.port());
    let db = app.state().db.clone();
    tokio::spawn(app.run_until(std::future::pending()));
    TestApp { address, db, client: reqwest::Client::new(), queue_prefix }
}

/// A user as a test knows it: credentials and a token for each auth scheme.
pub struct TestUser {
    pub uid: String,
    pub jwt: String,
    pub refresh_token: String,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, self.url(path))
    }

    /// Creates a user directly (as `dhis2gw create-user` does) and signs it in.
    pub async fn user(&self, username: &str, role: Role) -> TestUser {
        let input = CreateUser {
            username: username.into(),
            password: PASSWORD.into(),
            role: Some(role),
            is_active: true,
            ..Default::default()
        };
        let row = dhis2gw::access::users::insert(&self.db, input).await.expect("user created");
        let tokens = self.sign_in(username, PASSWORD).await;
        TestUser { uid: row.uid, jwt: tokens.token, refresh_token: tokens.refresh_token }
    }

    pub async fn sign_in(&self, username: &str, password: &str) -> TokenResponse {
        let response = self
            .request(Method::POST, "/api/v2/users/getToken")
            .json(&json!({"username": username, "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "sign-in of {username}");
        response.json().await.unwrap()
    }

    /// Creates a partner API token for `user` as `admin`; returns the secret.
    pub async fn api_token(&self, admin: &TestUser, user: &TestUser) -> String {
        let response = self
            .request(Method::POST, &format!("/api/v2/users/{}/tokens", user.uid))
            .bearer_auth(&admin.jwt)
            .json(&json!({"name": "test"}))
            .send()
            .await
            .unwrap();
        let body = expect_json(response, StatusCode::CREATED).await;
        body["token"].as_str().unwrap().to_string()
    }
}

/// Asserts the status and returns the JSON body, printing it when the status is wrong.
pub async fn expect_json(response: Response, status: StatusCode) -> Value {
    let actual = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(actual, status, "unexpected status; body: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("body is not JSON ({e}): {text}"))
}

/// Asserts an error status and the `{"error","detail"}` shape; returns the body.
pub async fn expect_error(response: Response, status: StatusCode) -> Value {
    let body = expect_json(response, status).await;
    assert!(body["error"].as_str().is_some_and(|e| !e.is_empty()), "no error message: {body}");
    body
}

/// The `detail` entries of an error body, as strings.
pub fn details(body: &Value) -> Vec<String> {
    body["detail"]
        .as_array()
        .map(|d| d.iter().map(|v| v.as_str().unwrap_or_default().to_string()).collect())
        .unwrap_or_default()
}

/// An `Authorization: Basic` header value.
pub fn basic(username: &str, password: &str) -> String {
    use base64::Engine;
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}")))
}
