//! The fan-out acceptance run: a day of traffic, compressed, through a gateway that sends every
//! aggregate submission to a primary and two CC DHIS2 test doubles, while one CC server is
//! down for part of the day. Afterwards it checks, and prints, that
//! - every accepted submission ends `succeeded` at every destination, none `dead`;
//! - the primary and both CC servers hold every accepted aggregate value;
//! - the primary holds every tracked entity, enrollment and event sent (tracker goes to the
//!   primary only);
//! - the log tells how each destination got there (attempts per server).
//!
//! Run with `cargo bench -p dhis2gw --bench fanout`. `FANOUT_HOUR_MS` sets how long one hour
//! of the day lasts (default 2500 ms: a day in a minute). Exits non-zero when an invariant fails.

use std::time::{Duration, Instant};

use dhis2_double::{Dhis2Double, Version, fixture};
use dhis2gw::infra::config::{Config, Secret};
use dhis2gw::startup::Application;
use dhis2gw_test_support::TestDatabase;
use serde_json::{Value, json};

const HOURS: usize = 24;
const AGGREGATE_PER_HOUR: usize = 30;
const TRACKER_PER_HOUR: usize = 8;
/// The hours of the day during which the second CC server is down.
const OUTAGE: std::ops::Range<usize> = 8..11;

fn config(conf_dir: &str, database: &TestDatabase) -> Config {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let mut c = Config::default();
    c.database.uri.0 = database.url.clone();
    c.server.host = "127.0.0.1".into();
    c.server.port = 0;
    c.server.queue_prefix = format!("fanout_{id}");
    c.server.migrations_dir = "embedded".into();
    c.server.jwt_secret = Secret::new("fanout-secret-fanout-secret-fanout!!");
    c.server.credentials_key = Secret::new("fanout-credentials-fanout-credentials");
    c.server.conf_dir = conf_dir.into();
    c.server.logdir = String::new();
    c.server.log_level = "warn".into();
    c.server.max_concurrent = 10;
    c.server.request_process_interval = 1;
    c.server.bootstrap_admin_user = "admin".into();
    c.server.bootstrap_admin_password = Secret::new("fanout admin password");
    c.api.retry_cron_expression = "*/2 * * * * *".into();
    c.api.cc_dhis2_servers = vec!["cc-east".into(), "cc-west".into()];
    c
}

struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    async fn call(&self, method: reqwest::Method, path: &str, auth: &str, body: Option<Value>) -> Value {
        let request = self.http.request(method, format!("{}{path}", self.base)).header("Authorization", auth);
        let request = match body {
            Some(body) => request.json(&body),
            None => request,
        };
        let response = request.send().await.expect("the gateway answers");
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "{path}: {status} {body}");
        body
    }
}

fn aggregate(i: usize) -> (Value, String, i64) {
    let period = format!("{}{:02}", 2000 + i / 12, i % 12 + 1);
    let value = (i * 7 % 1000) as i64;
    let body = json!({"orgUnit": fixture::OU_FACILITY_1, "period": period, "dataSet": fixture::DS_MONTHLY_HIV,
                      "dataValues": {"positives": value, "tests_male": value + 1}});
    (body, period, value)
}

fn person(hour: usize, i: usize) -> Value {
    let id = format!("P-{hour}-{i}");
    json!({"trackedEntities": [{"ref": id, "trackedEntityType": fixture::TET_PERSON, "orgUnit": fixture::OU_FACILITY_2,
        "attributes": [{"attribute": fixture::ATTR_PATIENT_ID, "value": id}],
        "enrollments": [{"ref": format!("{id}-care"), "program": fixture::PROGRAM_CARE, "orgUnit": fixture::OU_FACILITY_2,
            "enrolledAt": "2024-03-01",
            "events": [{"ref": format!("{id}-visit"), "programStage": fixture::STAGE_VISIT, "orgUnit": fixture::OU_FACILITY_2,
                "occurredAt": "2024-03-01", "dataValues": [{"dataElement": fixture::DE_WEIGHT, "value": "60"}]}]}]}]})
}

#[tokio::main]
async fn main() {
    let hour = Duration::from_millis(std::env::var("FANOUT_HOUR_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(2500));
    let primary = Dhis2Double::start(Version::V2_40).await;
    let east = Dhis2Double::start(Version::V2_43).await;
    let west = Dhis2Double::start(Version::V2_37).await;
    let conf_dir = std::env::temp_dir().join(format!("dhis2gw-fanout-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&conf_dir).unwrap();
    let server = |name: &str, d: &Dhis2Double| json!({"name": name, "base_url": d.base_url(), "username": dhis2_double::USERNAME, "password": dhis2_double::PASSWORD});
    let servers = json!({"servers": [server("cc-east", &east), server("cc-west", &west)]});
    std::fs::write(conf_dir.join("cc.yml"), serde_yaml_ng::to_string(&servers).unwrap()).unwrap();
    let database = TestDatabase::new();
    let mut config = config(&conf_dir.display().to_string(), &database);
    config.api.dhis2_base_url = primary.base_url();
    config.api.dhis2_user = dhis2_double::USERNAME.into();
    config.api.dhis2_password = Secret::new(dhis2_double::PASSWORD);
    let app = Application::build(config).await.expect("the gateway starts");
    let client = Client { http: reqwest::Client::new(), base: format!("http://127.0.0.1:{}", app.port()) };
    let db = app.state().db.clone();
    tokio::spawn(app.run_until(std::future::pending()));

    let signed_in = client
        .call(
            reqwest::Method::POST,
            "/api/v2/users/getToken",
            "",
            Some(json!({"username": "admin", "password": "fanout admin password"})),
        )
        .await;
    let admin = format!("Bearer {}", signed_in["token"].as_str().unwrap());
    for (code, element, coc) in
        [("positives", fixture::DE_POSITIVES, None), ("tests_male", fixture::DE_HIV_TESTS, Some(fixture::COC_MALE))]
    {
        let mapping = json!({"code": code, "dataElement": element, "categoryOptionCombo": coc, "dataSet": fixture::DS_MONTHLY_HIV});
        client.call(reqwest::Method::POST, "/api/v2/mappings", &admin, Some(mapping)).await;
    }
    let partner = client
        .call(
            reqwest::Method::POST,
            "/api/v2/users",
            &admin,
            Some(json!({"username": "emr", "password": "partner password", "role": "partner"})),
        )
        .await;
    let token = client
        .call(
            reqwest::Method::POST,
            &format!("/api/v2/users/{}/tokens", partner["uid"].as_str().unwrap()),
            &admin,
            Some(json!({"name": "emr"})),
        )
        .await;
    let partner = format!("Token {}", token["token"].as_str().unwrap());

    println!(
        "fan-out run: {HOURS} hours of {} ms, {AGGREGATE_PER_HOUR} aggregate + {TRACKER_PER_HOUR} tracker submissions an hour; cc-west down in hours {OUTAGE:?}",
        hour.as_millis()
    );
    let started = Instant::now();
    let mut expected = Vec::new();
    for h in 0..HOURS {
        west.set_down(OUTAGE.contains(&h));
        let hour_started = Instant::now();
        let posts = (0..AGGREGATE_PER_HOUR).map(|i| {
            let (body, period, value) = aggregate(h * AGGREGATE_PER_HOUR + i);
            let (client, partner) = (&client, &partner);
            async move {
                client.call(reqwest::Method::POST, "/api/v2/aggregate", partner, Some(body)).await;
                (period, value)
            }
        });
        expected.extend(futures_util::future::join_all(posts).await);
        for i in 0..TRACKER_PER_HOUR {
            client.call(reqwest::Method::POST, "/api/v2/tracker", &partner, Some(person(h, i))).await;
        }
        tokio::time::sleep(hour.saturating_sub(hour_started.elapsed())).await;
    }
    west.set_down(false);
    let traffic = started.elapsed();

    let drain_started = Instant::now();
    loop {
        let open: i64 = sqlx::query_scalar("SELECT count(*) FROM submission_destinations WHERE status NOT IN ('succeeded', 'warning', 'failed', 'dead')")
            .fetch_one(&db)
            .await
            .unwrap();
        if open == 0 {
            break;
        }
        if drain_started.elapsed() > Duration::from_secs(600) {
            eprintln!("FAILED: {open} deliveries still open ten minutes after the day ended");
            std::process::exit(1);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let drained = drain_started.elapsed();

    let mut failures = Vec::new();
    let by_server: Vec<(String, String, i64, i64, i64)> = sqlx::query_as(
        r#"SELECT s.name, d.status, count(*), COALESCE(max(a.n), 0), COALESCE(sum(a.n), 0)::bigint
           FROM submission_destinations d JOIN dhis2_servers s ON s.id = d.server_id
           LEFT JOIN LATERAL (SELECT count(*) AS n FROM delivery_attempts a WHERE a.destination_id = d.id) a ON true
           GROUP BY s.name, d.status ORDER BY s.name, d.status"#,
    )
    .fetch_all(&db)
    .await
    .unwrap();
    for (server, status, count, most, attempts) in &by_server {
        println!("  {server:8} {status:10} {count:5} deliveries, {attempts:5} attempts (at most {most} for one)");
        if status != "succeeded" {
            failures.push(format!("{count} deliveries to {server} ended {status}"));
        }
    }
    let unfinished: i64 = sqlx::query_scalar("SELECT count(*) FROM submission_log WHERE status <> 'succeeded'")
        .fetch_one(&db)
        .await
        .unwrap();
    println!("  {unfinished} submissions whose own status disagrees with their destinations'");
    if unfinished > 0 {
        failures.push(format!("{unfinished} submissions are not marked succeeded"));
    }
    for (name, double) in [("primary", &primary), ("cc-east", &east), ("cc-west", &west)] {
        let missing = expected
            .iter()
            .filter(|(period, value)| {
                let stored = double.value(fixture::DE_POSITIVES, period, fixture::OU_FACILITY_1, fixture::DEFAULT_COC);
                stored.is_none_or(|v| v.value != value.to_string())
            })
            .count();
        println!("  {name:8} holds {} of {} aggregate submissions' values", expected.len() - missing, expected.len());
        if missing > 0 {
            failures.push(format!("{name} lacks {missing} values"));
        }
    }
    let people = HOURS * TRACKER_PER_HOUR;
    let (tes, enrollments, events) =
        (primary.tracked_entities().len(), primary.enrollments().len(), primary.events().len());
    println!(
        "  primary  holds {tes} tracked entities, {enrollments} enrollments, {events} events of {people} people sent"
    );
    if (tes, enrollments, events) != (people, people, people) {
        failures.push("the primary lacks tracker data".into());
    }
    println!(
        "  traffic took {:.1} s; every delivery finished {:.1} s after the day ended",
        traffic.as_secs_f64(),
        drained.as_secs_f64()
    );
    std::fs::remove_dir_all(&conf_dir).ok();
    db.close().await;
    drop(database);
    if failures.is_empty() {
        println!("PASSED: every destination holds every accepted value");
    } else {
        eprintln!("FAILED: {}", failures.join("; "));
        std::process::exit(1);
    }
}
