//! What the gateway's tests and benchmarks share: the PostgreSQL and Redis they use, a
//! database per test that drops itself, a gateway started in-process on port 0 with the calls
//! tests make to it ([`TestApp`]), the gateway binary with a clean environment
//! ([`gateway_command`]), and the delivery fixture ([`pipeline`]).

pub mod receivers;

use std::path::Path;
use std::process::Command;
use std::sync::Once;
use std::time::{Duration, Instant};

use dhis2_double::{Dhis2Double, Version, fixture};
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

/// A database of one test's own, named `dhis2gw_test_…` (the test command drops any a killed
/// run left). It is dropped with this value, its connections closed, whoever holds them.
pub struct TestDatabase {
    pub url: String,
    name: String,
    /// Left in place when dropped.
    kept: bool,
}

impl TestDatabase {
    /// A fresh name; the database is created by whoever connects first (the gateway does).
    pub fn new() -> Self {
        let name = format!("dhis2gw_test_{}", uuid::Uuid::new_v4().simple());
        TestDatabase { url: format!("{}/{name}", postgres_server()), name, kept: false }
    }

    /// A database named `name` that outlives this value: a benchmark's large fixture, made once
    /// and reused by later runs.
    pub fn kept(name: &str) -> Self {
        TestDatabase { url: format!("{}/{name}", postgres_server()), name: name.to_string(), kept: true }
    }
}

impl Default for TestDatabase {
    fn default() -> Self {
        TestDatabase::new()
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if self.kept {
            return;
        }
        // Drop may run inside a runtime (a test) or outside one (a benchmark's end): a thread
        // with a runtime of its own works in both.
        let (server, name) = (postgres_server(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(async {
                use sqlx::Connection;
                let mut admin = sqlx::PgConnection::connect(&format!("{server}/postgres")).await?;
                // The name is ours (dhis2gw_test_ and a UUID), never input.
                let drop = format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#);
                sqlx::query(sqlx::AssertSqlSafe(drop)).execute(&mut admin).await?;
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
            })
        })
        .join();
        if let Ok(Err(e)) = dropped {
            eprintln!("could not drop test database {}: {e}", self.name);
        }
    }
}

/// A configuration of its own for one test: `database` and a fresh Redis key prefix.
pub fn test_config(database: &TestDatabase) -> Config {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let mut config = Config::default();
    config.database.uri.0 = database.url.clone();
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
    // Retention runs only where a test calls it, archiving to a folder of its own.
    config.retention.succeeded_days = 0;
    config.retention.failed_days = 0;
    config.retention.archive_directory =
        std::env::temp_dir().join(format!("dhis2gw-archive-{id}")).display().to_string();
    // The DHIS2 test doubles listen on 127.0.0.1.
    config.server.allow_private_dhis2_addresses = true;
    // The gateway crate's own folders, next to this crate's.
    let shipped = |dir: &str| format!("{}/../{dir}", env!("CARGO_MANIFEST_DIR"));
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
    /// The database this gateway created, dropped with it (none when the test pointed it at
    /// another gateway's).
    _database: Option<TestDatabase>,
}

static TRACING: Once = Once::new();

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
    let database = TestDatabase::new();
    let mut config = test_config(&database);
    adjust(&mut config);
    let database = (config.database.uri.0 == database.url).then_some(database);
    TRACING.call_once(|| {
        dhis2gw::infra::telemetry::init(&config).expect("logging to stdout starts");
    });
    let queue_prefix = config.server.queue_prefix.clone();
    let app = Application::build(config).await.expect("gateway starts");
    let address = format!("http://127.0.0.1:{}", app.port());
    let db = app.state().db.clone();
    tokio::spawn(app.run_until(std::future::pending()));
    TestApp { address, db, client: reqwest::Client::new(), queue_prefix, _database: database }
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

/// The `dhis2gw` binary at `binary` as an operator runs it, with a clean environment (only
/// `PATH` and an empty `DHIS2GW_LOGDIR`; the caller adds the rest) and an empty configuration file in `dir`, so a machine's
/// /etc/dhis2gw/dhis2gw.yml never leaks in. A `--config` among the caller's arguments wins.
pub fn gateway_command(binary: &str, dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(binary);
    // Logs to the terminal unless the caller names a folder: the default is the system's
    // /var/log/dhis2gw, where a run as root would leave files the service cannot append to.
    command.env_clear().env("PATH", std::env::var("PATH").unwrap_or_default()).env("DHIS2GW_LOGDIR", "");
    if !args.iter().any(|a| a.starts_with("--config")) {
        let empty = dir.join("empty.yml");
        if !empty.exists() {
            std::fs::create_dir_all(dir)
                .and_then(|()| std::fs::write(&empty, ""))
                .expect("the scratch folder is writable");
        }
        command.arg("--config").arg(empty);
    }
    command.args(args);
    command
}

/// A gateway delivering to a fresh test double, with fast retries and sweeps.
pub struct Pipeline {
    pub app: TestApp,
    pub dhis2: Dhis2Double,
    pub admin: TestUser,
    pub partner_token: String,
}

pub async fn pipeline(version: Version, adjust: impl FnOnce(&mut Config)) -> Pipeline {
    let dhis2 = Dhis2Double::start(version).await;
    let app = spawn_app_with(|c| {
        c.api.dhis2_base_url = dhis2.base_url();
        c.api.dhis2_user = dhis2_double::USERNAME.into();
        c.api.dhis2_password = Secret::new(dhis2_double::PASSWORD);
        c.api.retry_cron_expression = "*/1 * * * * *".into();
        c.api.dhis2_timeout = 2;
        c.server.request_process_interval = 1;
        adjust(c);
    })
    .await;
    let admin = app.user("admin", Role::Admin).await;
    let partner = app.user("emr", Role::Partner).await;
    let partner_token = app.api_token(&admin, &partner).await;
    for (code, element, coc) in [
        ("tests_male", fixture::DE_HIV_TESTS, Some(fixture::COC_MALE)),
        ("tests_female", fixture::DE_HIV_TESTS, Some(fixture::COC_FEMALE)),
        ("positives", fixture::DE_POSITIVES, None),
        ("remarks", fixture::DE_REMARKS, None),
    ] {
        let body = json!({"code": code, "what": "de", "dataElement": element, "categoryOptionCombo": coc, "dataSet": fixture::DS_MONTHLY_HIV});
        let r = app.request(Method::POST, "/api/v2/mappings").bearer_auth(&admin.jwt).json(&body).send().await.unwrap();
        expect_json(r, StatusCode::CREATED).await;
    }
    Pipeline { app, dhis2, admin, partner_token }
}

impl Pipeline {
    // For dhis2_api.rs.
    /// A request as a DHIS2 client sends it: `Authorization: ApiToken <token>`.
    pub fn dhis2_client(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.app
            .request(method, &format!("/dhis2/api/{path}"))
            .header("Authorization", format!("ApiToken {}", self.partner_token))
    }

    /// Polls a job's notifications until the newest says it completed. Patient: a delivery
    /// retried while DHIS2 was down waits out its backoff (1, 2, 4, 8, 16 s…; longer the longer
    /// a loaded machine kept DHIS2 "down"), or the circuit's wait, until a ping answers.
    pub async fn completed(&self, path: &str) -> Value {
        let started = Instant::now();
        loop {
            let notes = expect_json(self.dhis2_client(Method::GET, path).send().await.unwrap(), StatusCode::OK).await;
            if notes[0]["completed"] == true {
                return notes;
            }
            assert!(started.elapsed() < Duration::from_secs(90), "{path} never completed: {notes}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    // For orgunits.rs.
    pub async fn get_as_admin(&self, path: &str) -> Value {
        let r = self.app.request(Method::GET, path).bearer_auth(&self.admin.jwt).send().await.unwrap();
        expect_json(r, StatusCode::OK).await
    }

    pub async fn sync_org_units(&self) -> reqwest::Response {
        self.app.request(Method::POST, "/api/v2/orgunits/sync").bearer_auth(&self.admin.jwt).send().await.unwrap()
    }

    // For metadata.rs.
    pub async fn sync_metadata(&self) -> reqwest::Response {
        self.app.request(Method::POST, "/api/v2/metadata/sync").bearer_auth(&self.admin.jwt).send().await.unwrap()
    }

    // For security.rs.
    pub fn as_partner(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.app.request(method, path).header("Authorization", format!("ApiToken {}", self.partner_token))
    }

    /// Requests the double got on paths other than the import and health ones.
    pub fn metadata_requests_to(&self, paths: &[&str]) -> Vec<String> {
        self.dhis2.requests().into_iter().map(|r| r.path).filter(|p| paths.iter().any(|x| p.starts_with(x))).collect()
    }

    // For servers.rs.
    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> reqwest::Response {
        let request = self.app.request(method, path).bearer_auth(&self.admin.jwt);
        let request = match body {
            Some(body) => request.json(&body),
            None => request,
        };
        request.send().await.unwrap()
    }

    /// Waits until the submission's destination on `server` reaches one of `statuses`.
    pub async fn destination(&self, id: i64, server: &str, statuses: &[&str]) -> Value {
        let started = Instant::now();
        loop {
            let log = self.log(id).await;
            let destination = log["destinations"].as_array().unwrap().iter().find(|d| d["server"] == server).cloned();
            if let Some(d) = destination.filter(|d| statuses.contains(&d["status"].as_str().unwrap_or_default())) {
                return d;
            }
            assert!(started.elapsed() < Duration::from_secs(20), "{server} of {id} not in {statuses:?}: {log:#}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    // For tracker.rs.
    pub async fn post_tracker(&self, body: &Value, query: &str) -> reqwest::Response {
        self.app
            .request(Method::POST, &format!("/api/v2/tracker{query}"))
            .header("Authorization", format!("Token {}", self.partner_token))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn submit_tracker(&self, body: &Value) -> Value {
        expect_json(self.post_tracker(body, "").await, StatusCode::OK).await
    }

    pub fn submission(&self, values: Value) -> Value {
        json!({"orgUnit": fixture::OU_FACILITY_1, "period": "202401", "dataSet": fixture::DS_MONTHLY_HIV, "dataValues": values})
    }

    pub async fn post(&self, body: &Value) -> reqwest::Response {
        self.app
            .request(Method::POST, "/api/v2/aggregate")
            .header("Authorization", format!("Token {}", self.partner_token))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// Posts and expects acceptance; returns the submission id.
    pub async fn submit(&self, values: Value) -> i64 {
        let body = expect_json(self.post(&self.submission(values)).await, StatusCode::OK).await;
        body["submission_id"].as_i64().unwrap()
    }

    pub async fn log(&self, id: i64) -> Value {
        let r = self
            .app
            .request(Method::GET, &format!("/api/v2/logs/{id}"))
            .bearer_auth(&self.admin.jwt)
            .send()
            .await
            .unwrap();
        expect_json(r, StatusCode::OK).await
    }

    /// Waits until the submission reaches one of `statuses`.
    pub async fn settled(&self, id: i64, statuses: &[&str], within: Duration) -> Value {
        let started = Instant::now();
        loop {
            let log = self.log(id).await;
            if statuses.contains(&log["status"].as_str().unwrap_or_default()) {
                return log;
            }
            assert!(started.elapsed() < within, "submission {id} still {} after {within:?}: {log:#}", log["status"]);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

pub const FINAL: &[&str] = &["succeeded", "warning", "failed", "dead"];
