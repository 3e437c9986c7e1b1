//! The `dhis2gw` binary as an operator runs it: subcommands, configuration from file and
//! environment, first admin, graceful shutdown.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use dhis2gw_test_support::*;

const BINARY: &str = env!("CARGO_BIN_EXE_dhis2gw");

/// A scratch directory and a fresh database for one test of the binary (both removed after).
pub struct Operator {
    dir: PathBuf,
    database: TestDatabase,
}

impl Operator {
    pub fn new() -> Self {
        Operator::on(TestDatabase::new())
    }

    /// An operator of a gateway on `database` (one made beforehand, say).
    pub fn on(database: TestDatabase) -> Self {
        let dir = std::env::temp_dir().join(format!("dhis2gw-cli-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        Operator { dir, database }
    }

    fn write_config(&self, yaml: &str) -> PathBuf {
        let path = self.dir.join("dhis2gw.yml");
        std::fs::write(&path, yaml).unwrap();
        path
    }

    /// The command with a clean environment: only what the test sets reaches the gateway.
    fn command(&self, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut command = gateway_command(BINARY, &self.dir, args);
        command.envs(env.iter().copied());
        command
    }

    fn run(&self, args: &[&str], env: &[(&str, &str)], stdin: &str) -> Output {
        let mut child = self
            .command(args, env)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    }

    pub fn base_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("DHIS2GW_DB", self.database.url.clone()),
            ("DHIS2GW_JWT_SECRET", JWT_SECRET.to_string()),
            ("DHIS2GW_REDIS", redis_address()),
            ("DHIS2GW_MIGRATIONS_DIR", "embedded".to_string()),
            // A queue of its own: gateways of different databases must not share one.
            ("DHIS2GW_QUEUE_PREFIX", format!("test_{}", uuid::Uuid::new_v4().simple())),
            // Stdout only, unless a test is about log files.
            ("DHIS2GW_LOGDIR", String::new()),
            ("DHIS2GW_CONF_DIR", String::new()),
        ]
    }

    pub fn database_url(&self) -> &str {
        &self.database.url
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub fn env_refs<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A running `dhis2gw`; killed when dropped, so a failing test leaves no process behind.
pub struct Gateway(Child);

impl std::ops::Deref for Gateway {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Gateway {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `dhis2gw` and waits until it answers /health/ready.
pub async fn start_gateway(op: &Operator, env: &[(&str, &str)]) -> (Gateway, String) {
    let port = free_port().to_string();
    let mut env = env.to_vec();
    env.extend([("DHIS2GW_SERVER_PORT", port.as_str()), ("DHIS2GW_HOST", "127.0.0.1")]);
    let child = op.command(&[], &env).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    ready(child, &format!("http://127.0.0.1:{port}")).await
}

/// Waits until the gateway `child` answers /health/ready at `base`.
async fn ready(mut child: Child, base: &str) -> (Gateway, String) {
    let base = base.to_string();
    let client = reqwest::Client::new();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(30) {
        if let Ok(r) = client.get(format!("{base}/health/ready")).send().await
            && r.status() == StatusCode::OK
        {
            return (Gateway(child), base);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    child.kill().ok();
    child.wait().ok();
    panic!("gateway did not become ready on {base}");
}

fn terminate(child: &Child) {
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
}

#[test]
fn version_is_printed() {
    let op = Operator::new();
    let out = op.run(&["--version"], &[], "");
    assert!(out.status.success());
    assert_eq!(text(&out.stdout).trim(), format!("dhis2gw {}", env!("CARGO_PKG_VERSION")));
}

#[test]
fn every_documented_environment_variable_sets_its_key() {
    let op = Operator::new();
    let cases = [
        ("DHIS2GW_DB", "postgres://gw:pw@db.example/gw", "uri: \"postgres://gw:********@db.example/gw\""),
        ("DHIS2GW_HOST", "0.0.0.0", "host: \"0.0.0.0\""),
        ("DHIS2GW_SERVER_PORT", "9191", "port: 9191"),
        ("DHIS2GW_REDIS", "redis.example:6380", "redis_address: \"redis.example:6380\""),
        ("DHIS2GW_MAX_RETRIES", "7", "max_retries: 7"),
        ("DHIS2GW_MAX_CONCURRENT", "9", "max_concurrent: 9"),
        ("DHIS2GW_REQUEST_PROCESS_INTERVAL", "11", "request_process_interval: 11"),
        ("DHIS2GW_TEMPLATES_DIR", "/t", "templates_directory: \"/t\""),
        ("DHIS2GW_STATIC_DIR", "/s", "static_directory: \"/s\""),
        ("DHIS2GW_LOGDIR", "/l", "logdir: \"/l\""),
        ("RTC_DOCS_DIR", "/d", "docs_directory: \"/d\""),
        ("DHIS2GW_MIGRATTIONS_DIR", "/m", "migrations_dir: \"/m\""),
        ("DISPATCHER2_TIMEZONE", "Africa/Nairobi", "timezone: \"Africa/Nairobi\""),
        ("DHIS2GW_JWT_SECRET", JWT_SECRET, "jwt_secret: \"********\""),
        ("dhis2_country", "Uganda", "dhis2_country: \"Uganda\""),
        ("dhis2_base_url", "https://dhis2.example/", "dhis2_base_url: \"https://dhis2.example/\""),
        ("dhis2_user", "gw", "dhis2_user: \"gw\""),
        ("dhis2_password", "pw", "dhis2_password: \"********\""),
        ("dhis2_pat", "d2p_x", "dhis2_pat: \"********\""),
        ("save_response", "false", "save_response: false"),
        ("mapping_scheme", "uid", "mapping_scheme: \"UID\""),
        ("dhis2_data_set", "pBOMPrpg1QX", "dhis2_data_set: \"pBOMPrpg1QX\""),
        ("dhis_2_attribute_option_combo", "HllvX50cXC0", "dhis2_attribute_option_combo: \"HllvX50cXC0\""),
        ("dhis2_auth_method", "token", "dhis2_auth_method: \"pat\""),
        ("dhis2_tree_i_ds", "a,b", "dhis2_tree_i_ds: [\"a\",\"b\"]"),
        ("dhis2_facility_level", "4", "dhis2_facility_level: 4"),
        ("DHIS2GW_DHIS2_DISTRICT_OULEVEL_NAME", "District", "dhis2_district_oulevel_name: \"District\""),
        ("cc_dhis2_servers", "cc1", "cc_dhis2_servers: [\"cc1\"]"),
        ("cc_dhis2_hierarchy_servers", "h1", "cc_dhis2_hierarchy_servers: [\"h1\"]"),
        ("cc_dhis2_create_servers", "c1", "cc_dhis2_create_servers: [\"c1\"]"),
        ("cc_dhis2_update_servers", "u1", "cc_dhis2_update_servers: [\"u1\"]"),
        ("cc_dhis2_ou_group_add_servers", "g1", "cc_dhis2_ou_group_add_servers: [\"g1\"]"),
        ("sync_cron_expression", "0 */2 * * *", "sync_cron_expression: \"0 */2 * * *\""),
        ("retry_cron_expression", "*/1 * * * *", "retry_cron_expression: \"*/1 * * * *\""),
        // Clean spellings.
        ("DHIS2GW_MIGRATIONS_DIR", "/m2", "migrations_dir: \"/m2\""),
        ("DHIS2GW_DOCS_DIR", "/d2", "docs_directory: \"/d2\""),
        ("DHIS2GW_TIMEZONE", "Europe/Oslo", "timezone: \"Europe/Oslo\""),
        ("DHIS2GW_DHIS2_BASE_URL", "https://other.example", "dhis2_base_url: \"https://other.example\""),
        ("DHIS2GW_SYNC_CRON_EXPRESSION", "30 1 * * * *", "sync_cron_expression: \"30 1 * * * *\""),
        ("DHIS2GW_JWT_SECRET_FILE", "/j", "jwt_secret_file: \"/j\""),
        ("DHIS2GW_LOG_RETENTION_DAYS", "30", "log_retention_days: 30"),
        ("DHIS2GW_METRICS_TOKEN", "scrape-me", "metrics_token: \"********\""),
        ("DHIS2GW_CREDENTIALS_KEY", JWT_SECRET, "credentials_key: \"********\""),
        ("DHIS2GW_CREDENTIALS_KEY_FILE", "/k", "credentials_key_file: \"/k\""),
        ("DHIS2GW_CONF_DIR", "/c", "conf_dir: \"/c\""),
        ("DHIS2GW_DHIS2_API_PATH", "/dhis", "dhis2_api_path: \"/dhis\""),
        ("DHIS2GW_DHIS2_API_SYNC_WAIT", "5", "dhis2_api_sync_wait: 5"),
        ("DHIS2GW_DHIS2_API_CACHE_TTL", "60", "dhis2_api_cache_ttl: 60"),
        ("DHIS2GW_TRACKER_ASYNC_THRESHOLD", "1000", "tracker_async_threshold: 1000"),
    ];
    for (name, value, line) in cases {
        // The secrets themselves are set, so the *_FILE variables are shown, not read.
        let mut env = vec![("DHIS2GW_JWT_SECRET", JWT_SECRET), ("DHIS2GW_CREDENTIALS_KEY", JWT_SECRET)];
        env.push((name, value));
        let out = op.run(&["config"], &env, "");
        let stdout = text(&out.stdout);
        assert!(out.status.success(), "{name}: {}", text(&out.stderr));
        let expected = format!("{line}  # env {name}");
        assert!(stdout.contains(&expected), "{name}: expected {expected:?} in\n{stdout}");
    }
}

#[test]
fn environment_overrides_the_file_and_both_option_spellings_work() {
    let op = Operator::new();
    let path = op.write_config(
        "server:\n  http_port: 8000\n  max_retries: 2\n  jwt_secret: from-the-file-from-the-file-from-the-file\napi:\n  save_response: 'no'\n",
    );
    let path = path.to_str().unwrap();
    let out = op.run(&["--config-file", path, "config"], &[("DHIS2GW_MAX_RETRIES", "6")], "");
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(stdout.contains(&format!("port: 8000  # file {path}")), "{stdout}");
    assert!(stdout.contains("max_retries: 6  # env DHIS2GW_MAX_RETRIES"), "{stdout}");
    assert!(stdout.contains("save_response: false  # file"), "{stdout}");
    assert!(stdout.contains("max_concurrent: 5  # default"), "{stdout}");
    assert!(!stdout.contains("from-the-file"), "secrets are masked");
    let out = op.run(&["--config", path, "config"], &[("DHIS2GW_SERVER_PORT", "8001")], "");
    assert!(text(&out.stdout).contains("port: 8001  # env DHIS2GW_SERVER_PORT"));
}

#[test]
fn invalid_configuration_stops_every_command_with_one_line_naming_the_key() {
    let op = Operator::new();
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let cases: &[Case] = &[
        (&[], &[], "server.jwt_secret"),
        (&["migrate"], &[("DHIS2GW_JWT_SECRET", JWT_SECRET), ("DHIS2GW_SERVER_PORT", "http")], "server.port"),
        (
            &["create-user", "--username", "a", "--role", "admin", "--password-stdin"],
            &[("DHIS2GW_JWT_SECRET", JWT_SECRET), ("retry_cron_expression", "sometimes")],
            "api.retry_cron_expression",
        ),
        (
            &["config"],
            &[("DHIS2GW_JWT_SECRET", JWT_SECRET), ("dhis2_auth_method", "kerberos")],
            "api.dhis2_auth_method",
        ),
        (&[], &[("DHIS2GW_JWT_SECRET", JWT_SECRET), ("DHIS2GW_REDIS", "redis://")], "server.redis_address"),
    ];
    for (args, env, key) in cases {
        let out = op.run(args, env, "");
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?} {env:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(stderr.contains(key), "{stderr} should name {key}");
    }
    let missing = op.run(&["--config", "/nonexistent/dhis2gw.yml", "config"], &[], "");
    assert_eq!(missing.status.code(), Some(2));
    assert!(text(&missing.stderr).contains("/nonexistent/dhis2gw.yml"));
    let broken = op.write_config("server: [unclosed");
    let out = op.run(&["--config", broken.to_str().unwrap(), "config"], &[], "");
    assert!(text(&out.stderr).contains("not valid YAML"), "{}", text(&out.stderr));
}

#[tokio::test]
async fn first_admin_then_a_partner_token_then_every_auth_form_from_env_only() {
    let op = Operator::new();
    let env = op.base_env();
    let env = env_refs(&env);
    let created = op.run(
        &["create-user", "--username", "admin", "--role", "admin", "--password-stdin"],
        &env,
        "an admin password\n",
    );
    assert!(created.status.success(), "{}", text(&created.stderr));
    assert!(text(&created.stdout).contains("created admin user admin"));
    let again = op.run(
        &["create-user", "--username", "Admin", "--role", "viewer", "--password-stdin"],
        &env,
        "another password\n",
    );
    assert_eq!(again.status.code(), Some(1));
    assert!(text(&again.stderr).contains("username is already taken"), "{}", text(&again.stderr));
    let no_tty = op.run(&["create-user", "--username", "x", "--role", "viewer"], &env, "");
    assert!(text(&no_tty.stderr).contains("--password-stdin"));

    let (mut gateway, base) = start_gateway(&op, &env).await;
    let client = reqwest::Client::new();
    let token: serde_json::Value = client
        .post(format!("{base}/api/v2/users/getToken"))
        .json(&json!({"username": "admin", "password": "an admin password"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let jwt = token["token"].as_str().unwrap();
    let partner: serde_json::Value = client
        .post(format!("{base}/api/v2/users"))
        .bearer_auth(jwt)
        .json(&json!({"username": "emr", "password": "partner password", "role": "partner"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let api_token: serde_json::Value = client
        .post(format!("{base}/api/v2/users/{}/tokens", partner["uid"].as_str().unwrap()))
        .bearer_auth(jwt)
        .json(&json!({"name": "EMR"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let secret = api_token["token"].as_str().unwrap();
    let forms = [
        format!("Token {secret}"),
        format!("Token: {secret}"),
        format!("Basic {}", base64::Engine::encode(&base64::engine::general_purpose::STANDARD, "emr:partner password")),
    ];
    for form in &forms {
        let me = client.get(format!("{base}/api/v2/me")).header("Authorization", form).send().await.unwrap();
        assert_eq!(me.status(), StatusCode::OK, "{form}");
        let users = client.get(format!("{base}/api/v2/users")).header("Authorization", form).send().await.unwrap();
        assert_eq!(users.status(), StatusCode::FORBIDDEN, "partner on user routes with {form}");
    }
    let admin_users = client.get(format!("{base}/api/v2/users")).bearer_auth(jwt).send().await.unwrap();
    assert_eq!(admin_users.status(), StatusCode::OK);
    terminate(&gateway);
    assert!(gateway.wait().unwrap().success());
}

#[tokio::test]
async fn with_a_logdir_the_log_also_goes_to_a_dated_file_there() {
    let op = Operator::new();
    let logdir = op.dir.join("logs");
    let mut env = op.base_env();
    env.retain(|(k, _)| *k != "DHIS2GW_LOGDIR");
    env.push(("DHIS2GW_LOGDIR", logdir.display().to_string()));
    let env = env_refs(&env);
    let (mut gateway, base) = start_gateway(&op, &env).await;
    reqwest::get(format!("{base}/health/live")).await.unwrap();
    terminate(&gateway);
    assert!(gateway.wait().unwrap().success());
    // The folder did not exist: it is made, with nothing said about it.
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut gateway.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(!stderr.contains("log directory"), "{stderr}");
    let today = chrono::Utc::now().format("%Y-%m-%d");
    let file = logdir.join(format!("dhis2gw.log.{today}"));
    let log = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    assert!(log.contains("dhis2gw listening") && log.contains("stopped"), "{log}");
    assert!(!log.contains('\u{1b}'), "no colour codes in files");

    // A directory that cannot be made stops the start with the key named.
    let blocker = op.dir.join("not-a-directory");
    std::fs::write(&blocker, "").unwrap();
    let mut env = op.base_env();
    env.retain(|(k, _)| *k != "DHIS2GW_LOGDIR");
    env.push(("DHIS2GW_LOGDIR", blocker.join("logs").display().to_string()));
    let out = op.run(&[], &env_refs(&env), "");
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("server.logdir: cannot write log files in"), "{}", text(&out.stderr));
}

#[tokio::test]
async fn systemd_hears_ready_once_serving_and_stopping_on_sigterm() {
    let op = Operator::new();
    let socket_path = op.dir.join("notify.sock");
    let socket = std::os::unix::net::UnixDatagram::bind(&socket_path).unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut env = op.base_env();
    env.push(("NOTIFY_SOCKET", socket_path.display().to_string()));
    let (mut gateway, base) = start_gateway(&op, &env_refs(&env)).await;
    let mut message = [0u8; 256];
    let n = socket.recv(&mut message).unwrap();
    assert_eq!(&message[..n], b"READY=1\n");
    assert_eq!(reqwest::get(format!("{base}/health/ready")).await.unwrap().status(), StatusCode::OK);
    terminate(&gateway);
    let n = socket.recv(&mut message).unwrap();
    assert_eq!(&message[..n], b"STOPPING=1\n");
    assert!(gateway.wait().unwrap().success());
}

#[tokio::test]
async fn sigterm_lets_in_flight_requests_finish_then_exits_zero() {
    let op = Operator::new();
    let env = op.base_env();
    let env = env_refs(&env);
    op.run(&["create-user", "--username", "admin", "--role", "admin", "--password-stdin"], &env, "an admin password\n");
    let (mut gateway, base) = start_gateway(&op, &env).await;
    let client = reqwest::Client::new();
    // Sign-ins hash a password, so a burst of them is still running when the signal arrives.
    let requests: Vec<_> = (0..16)
        .map(|_| {
            let request = client
                .post(format!("{base}/api/v2/users/getToken"))
                .json(&json!({"username": "admin", "password": "an admin password"}));
            tokio::spawn(request.send())
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(30)).await;
    terminate(&gateway);
    for request in requests {
        let response = request.await.unwrap().expect("in-flight request completed");
        assert_eq!(response.status(), StatusCode::OK);
    }
    let status = gateway.wait().unwrap();
    assert!(status.success(), "{status}");
    assert!(client.get(format!("{base}/health/live")).send().await.is_err(), "no longer accepting");
}

#[tokio::test]
async fn bootstrap_admin_is_created_only_on_an_empty_database() {
    let op = Operator::new();
    let mut env = op.base_env();
    env.push(("DHIS2GW_BOOTSTRAP_ADMIN_USER", "root".into()));
    env.push(("DHIS2GW_BOOTSTRAP_ADMIN_PASSWORD", "bootstrap password".into()));
    let env = env_refs(&env);
    let (mut gateway, base) = start_gateway(&op, &env).await;
    let client = reqwest::Client::new();
    let sign_in = |base: &str| {
        client
            .post(format!("{base}/api/v2/users/getToken"))
            .json(&json!({"username": "root", "password": "bootstrap password"}))
            .send()
    };
    assert_eq!(sign_in(&base).await.unwrap().status(), StatusCode::OK);
    terminate(&gateway);
    gateway.wait().unwrap();

    // A changed bootstrap password on a database that has users changes nothing.
    let mut env2: Vec<(&str, &str)> =
        env.iter().filter(|(k, _)| *k != "DHIS2GW_BOOTSTRAP_ADMIN_PASSWORD").copied().collect();
    env2.push(("DHIS2GW_BOOTSTRAP_ADMIN_PASSWORD", "a different password"));
    let (mut gateway, base) = start_gateway(&op, &env2).await;
    assert_eq!(sign_in(&base).await.unwrap().status(), StatusCode::OK);
    terminate(&gateway);
    gateway.wait().unwrap();
}

#[test]
fn migrate_creates_the_database_and_is_idempotent() {
    let op = Operator::new();
    let env = op.base_env();
    let env = env_refs(&env);
    for _ in 0..2 {
        let out = op.run(&["migrate"], &env, "");
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert!(text(&out.stdout).contains("up to date"));
    }
}

#[tokio::test]
async fn the_originals_configuration_and_database_start_the_gateway_with_no_manual_step() {
    let op = Operator::on(crate::upgrade::original_database(7, "", Some(crate::upgrade::DATA)).await);
    let dhis2 = dhis2_double::Dhis2Double::start(dhis2_double::Version::V2_40).await;
    let port = free_port().to_string();
    let yaml = include_str!("../fixtures/v1/dhis2gw.yml")
        .replace("@DATABASE_URI@", op.database_url())
        .replace("@PORT@", &port)
        .replace("@QUEUE_PREFIX@", &format!("test_{}", uuid::Uuid::new_v4().simple()))
        .replace("@DHIS2_BASE_URL@", &dhis2.base_url())
        .replace("@DHIS2_USER@", dhis2_double::USERNAME)
        .replace("@DHIS2_PASSWORD@", dhis2_double::PASSWORD);
    let path = op.write_config(&yaml);
    let path = path.to_str().unwrap();
    // The package makes the secrets beside the configuration; the original's names none.
    std::fs::write(op.dir.join("jwt.secret"), JWT_SECRET).unwrap();

    let shown = op.run(&["--config", path, "config"], &[], "");
    let stdout = text(&shown.stdout);
    assert!(shown.status.success(), "{}", text(&shown.stderr));
    assert!(!stdout.contains("misspelled"), "{stdout}");
    for line in [
        "# a key of the original dhis2gw, not used here: pbs.pbsurl",
        "# a key of the original dhis2gw, not used here: server.proxy_port",
        "# a key of the original dhis2gw, not used here: database.db_host",
        "# server.templates_directory: /usr/share/dhis2gw/docs/templates does not exist; using ./templates",
    ] {
        assert!(stdout.contains(line), "{line}\n{stdout}");
    }
    let dry = op.run(&["--config", path, "migrate-from-v1", "--dry-run"], &[], "");
    let dry = text(&dry.stdout);
    assert!(
        dry.starts_with("dry run, nothing changed") && dry.contains("users: 4 imported, 0 already imported"),
        "{dry}"
    );

    let child = op.command(&["--config", path], &[]).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let (gateway, base) = ready(child, &format!("http://localhost:{port}")).await;
    let client = reqwest::Client::new();
    let body = json!({"orgUnit": "OrgFac00001", "period": "202410", "dataSet": "pBOMPrpg1QY",
                      "dataValues": {"hiv_tested_female": 7}});
    let posted = client
        .post(format!("{base}/api/v2/aggregate"))
        .header("Authorization", "Token a3f1c2e4b5d6978812ab34cd56ef7890a1b2c3d4")
        .json(&body)
        .send()
        .await
        .unwrap();
    let id = expect_json(posted, StatusCode::OK).await["submission_id"].as_i64().unwrap();
    let started = Instant::now();
    loop {
        let log = client
            .get(format!("{base}/api/v2/logs/{id}"))
            .basic_auth("meofficer", Some("me-password-2"))
            .send()
            .await
            .unwrap();
        let log = expect_json(log, StatusCode::OK).await;
        if log["status"] == "succeeded" {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "not delivered: {log:#}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The seed admin came over disabled; ops give it a password, which enables it.
    let sign_in = |password: &'static str| {
        client
            .post(format!("{base}/api/v2/users/getToken"))
            .json(&json!({"username": "admin", "password": password}))
            .send()
    };
    assert_eq!(sign_in("@dm1n").await.unwrap().status(), StatusCode::UNAUTHORIZED);
    let set = op.run(
        &["--config", path, "set-password", "--username", "admin", "--password-stdin"],
        &[],
        "a new admin password\n",
    );
    assert!(text(&set.stdout).contains("set the password of admin and enabled it"), "{}", text(&set.stderr));
    assert_eq!(sign_in("a new admin password").await.unwrap().status(), StatusCode::OK);
    terminate(&gateway);
    let again = op.run(&["--config", path, "migrate-from-v1"], &[], "");
    let again = text(&again.stdout);
    assert!(
        again.contains("users: 0 imported, 4 already imported") && again.contains("submissions: 0 imported"),
        "{again}"
    );
    let finalized = op.run(&["--config", path, "migrate-from-v1", "--finalize"], &[], "");
    assert!(
        text(&finalized.stdout).contains("the original dhis2gw's tables are dropped"),
        "{}",
        text(&finalized.stderr)
    );
    let gone = op.run(&["--config", path, "migrate-from-v1"], &[], "");
    assert!(text(&gone.stdout).contains("no database of the original dhis2gw"), "{}", text(&gone.stdout));
}
