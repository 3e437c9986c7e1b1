//! The pipeline's acceptance run, under faults: a partner posts 10,000 submissions (valid,
//! partially invalid, unmapped) while Redis is restarted once and the gateway is killed
//! with SIGKILL once and started again. Afterwards it checks, and prints, that
//! - every accepted submission has exactly one final state, each explained;
//! - the DHIS2 test double holds every accepted value;
//! - a value reached DHIS2 more than once only where a delivery was cut by the kill;
//! - every conflict in the log names the partner's key.
//!
//! Run with `cargo bench -p dhis2gw --bench acceptance`. It restarts the local Redis
//! (`redis-server` on 127.0.0.1:6379, as `packaging/dev.sh` starts it), so run it alone.
//! Exits non-zero when an invariant does not hold.

use std::collections::{HashMap, HashSet};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use dhis2_double::{Dhis2Double, Version, fixture};
use dhis2gw_test_support::{TestDatabase, gateway_command};
use serde_json::{Value, json};

const SUBMISSIONS: usize = 10_000;
const CLIENTS: usize = 16;
const JWT_SECRET: &str = "acceptance-secret-acceptance-secret!";

struct Gateway {
    child: Child,
}

impl Gateway {
    fn start(run: &str, dhis2: &Dhis2Double, port: u16, database: &TestDatabase) -> Gateway {
        let scratch = std::env::temp_dir().join(format!("dhis2gw-acceptance-{run}"));
        let child = gateway_command(env!("CARGO_BIN_EXE_dhis2gw"), &scratch, &[])
            .env("DHIS2GW_DB", &database.url)
            .env("DHIS2GW_QUEUE_PREFIX", format!("acceptance_{run}"))
            .env("DHIS2GW_JWT_SECRET", JWT_SECRET)
            .env("DHIS2GW_HOST", "127.0.0.1")
            .env("DHIS2GW_SERVER_PORT", port.to_string())
            .env("DHIS2GW_MAX_CONCURRENT", "10")
            .env("DHIS2GW_REQUEST_PROCESS_INTERVAL", "1")
            .env("DHIS2GW_LOG_LEVEL", "warn")
            .env("DHIS2GW_MIGRATIONS_DIR", "embedded")
            .env("DHIS2GW_BOOTSTRAP_ADMIN_USER", "admin")
            .env("DHIS2GW_BOOTSTRAP_ADMIN_PASSWORD", "acceptance admin")
            .env("retry_cron_expression", "*/2 * * * * *")
            .env("dhis2_timeout", "5")
            .env("dhis2_base_url", dhis2.base_url())
            .env("dhis2_user", dhis2_double::USERNAME)
            .env("dhis2_password", dhis2_double::PASSWORD)
            .stdout(Stdio::null())
            .spawn()
            .expect("the dhis2gw binary starts");
        Gateway { child }
    }

    fn kill_hard(mut self) {
        let _ = Command::new("kill").args(["-KILL", &self.child.id().to_string()]).status();
        let _ = self.child.wait();
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn ready(base: &str) {
    let client = reqwest::Client::new();
    for _ in 0..600 {
        if client.get(format!("{base}/health/live")).send().await.is_ok_and(|r| r.status().is_success()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the gateway did not come up");
}

fn redis_cli(args: &[&str]) {
    let _ = Command::new("redis-cli").args(["-h", "127.0.0.1", "-p", "6379"]).args(args).stdout(Stdio::null()).status();
}

fn restart_redis() {
    redis_cli(&["shutdown", "nosave"]);
    std::thread::sleep(Duration::from_secs(2));
    Command::new("redis-server")
        .args(["--daemonize", "yes", "--bind", "127.0.0.1", "--port", "6379", "--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .status()
        .expect("redis-server restarts");
}

/// What submission `n` holds: mostly valid, every 7th has one bad value, every 13th an
/// unmapped key, every 97th nothing mappable at all (refused with 422). The value of `male`
/// is `n`, which identifies the submission in what DHIS2 received.
fn submission(n: usize) -> Value {
    let period = format!("{}{:02}", 2000 + n / 12 % 25, n % 12 + 1);
    let org_unit = if n.is_multiple_of(2) { fixture::OU_FACILITY_1 } else { fixture::OU_FACILITY_2 };
    if n.is_multiple_of(97) {
        return json!({"orgUnit": org_unit, "period": period, "dataSet": fixture::DS_MONTHLY_HIV, "dataValues": {"nobody_knows": 1}});
    }
    let mut values = json!({"male": n, "positives": n % 50});
    if n.is_multiple_of(7) {
        values["positives"] = json!("not a number");
    }
    if n.is_multiple_of(13) {
        values["unmapped"] = json!(1);
    }
    json!({"orgUnit": org_unit, "period": period, "dataSet": fixture::DS_MONTHLY_HIV, "dataValues": values})
}

#[tokio::main]
async fn main() {
    let run = uuid::Uuid::new_v4().simple().to_string()[..8].to_string();
    let database = TestDatabase::new();
    let dhis2 = Dhis2Double::start(Version::V2_40).await;
    dhis2.set_latency(Duration::from_millis(20));
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let base = format!("http://127.0.0.1:{port}");
    let mut gateway = Some(Gateway::start(&run, &dhis2, port, &database));
    ready(&base).await;
    let client = reqwest::Client::new();
    let jwt = client
        .post(format!("{base}/api/v2/users/getToken"))
        .json(&json!({"username": "admin", "password": "acceptance admin"}))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    for (code, element, coc) in
        [("male", fixture::DE_HIV_TESTS, Some(fixture::COC_MALE)), ("positives", fixture::DE_POSITIVES, None)]
    {
        let body = json!({"code": code, "dataElement": element, "categoryOptionCombo": coc});
        client.post(format!("{base}/api/v2/mappings")).bearer_auth(&jwt).json(&body).send().await.unwrap();
    }

    // Post, in parallel, with a restart of Redis at 30 % and a SIGKILL of the gateway at 60 %.
    let started = Instant::now();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(usize, Option<Value>, u16)>(1024);
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(1));
    for _ in 0..CLIENTS {
        let (tx, next, client, base, jwt) = (tx.clone(), next.clone(), client.clone(), base.clone(), jwt.clone());
        tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if n > SUBMISSIONS {
                    return;
                }
                let body = submission(n);
                // A partner retries with the same Idempotency-Key until it gets an answer.
                loop {
                    let response = client
                        .post(format!("{base}/api/v2/aggregate"))
                        .bearer_auth(&jwt)
                        .header("Idempotency-Key", format!("acceptance-{n}"))
                        .json(&body)
                        .send()
                        .await;
                    match response {
                        Ok(r) if r.status().is_success() || r.status().is_client_error() => {
                            let status = r.status().as_u16();
                            let body = r.json::<Value>().await.ok();
                            tx.send((n, body, status)).await.unwrap();
                            break;
                        }
                        _ => tokio::time::sleep(Duration::from_millis(200)).await,
                    }
                }
            }
        });
    }
    drop(tx);
    let mut answers: HashMap<usize, (Option<Value>, u16)> = HashMap::new();
    let (mut redis_restarted, mut killed) = (false, false);
    while let Some((n, body, status)) = rx.recv().await {
        answers.insert(n, (body, status));
        if !redis_restarted && answers.len() >= SUBMISSIONS * 3 / 10 {
            redis_restarted = true;
            println!("restarting Redis after {} answers", answers.len());
            tokio::task::spawn_blocking(restart_redis).await.unwrap();
        }
        if !killed && answers.len() >= SUBMISSIONS * 6 / 10 {
            killed = true;
            println!("SIGKILL to the gateway after {} answers", answers.len());
            gateway.take().unwrap().kill_hard();
            gateway = Some(Gateway::start(&run, &dhis2, port, &database));
        }
    }
    let intake = started.elapsed();
    let accepted: HashMap<i64, usize> = answers
        .iter()
        .filter(|(_, (_, status))| *status == 200)
        .map(|(n, (body, _))| (body.as_ref().unwrap()["submission_id"].as_i64().unwrap(), *n))
        .collect();
    let refused = answers.values().filter(|(_, s)| *s == 422).count();
    println!(
        "intake: {} answers in {:.1} s: {} accepted, {} refused (nothing mappable)",
        answers.len(),
        intake.as_secs_f64(),
        accepted.len(),
        refused
    );

    // Wait until every accepted submission is final.
    let db = sqlx::PgPool::connect(&database.url).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(1200);
    loop {
        let open: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM submission_log WHERE status NOT IN ('succeeded','warning','failed','dead')",
        )
        .fetch_one(&db)
        .await
        .unwrap();
        if open == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "{open} submissions never reached a final state");
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    println!("all final after {:.1} s", started.elapsed().as_secs_f64());

    let mut failures = Vec::new();
    let rows: Vec<(i64, String, Option<String>, Value)> =
        sqlx::query_as("SELECT id, status, errors, dhis2_payload FROM submission_log").fetch_all(&db).await.unwrap();
    let stored: HashSet<i64> = rows.iter().map(|r| r.0).collect();
    if stored.len() != accepted.len() || !accepted.keys().all(|id| stored.contains(id)) {
        failures.push(format!("{} accepted, {} stored", accepted.len(), stored.len()));
    }
    let mut by_status: HashMap<String, usize> = HashMap::new();
    for (id, status, errors, _) in &rows {
        *by_status.entry(status.clone()).or_default() += 1;
        if status != "succeeded" && errors.as_deref().is_none_or(str::is_empty) {
            failures.push(format!("submission {id} is {status} without an explanation"));
        }
    }
    println!("final states: {by_status:?}");
    // Every accepted value that DHIS2 accepted is held by the double.
    let values: HashMap<(String, String, String, String), dhis2_double::StoredValue> = dhis2
        .values()
        .into_iter()
        .map(|v| ((v.data_element.clone(), v.period.clone(), v.org_unit.clone(), v.category_option_combo.clone()), v))
        .collect();
    let mut expected_values = 0;
    for (_, status, _, payload) in &rows {
        if !matches!(status.as_str(), "succeeded" | "warning") {
            continue;
        }
        for dv in payload["dataValues"].as_array().unwrap() {
            let value = dv["value"].as_str().unwrap();
            if value == "not a number" {
                continue;
            }
            expected_values += 1;
            let key = (
                dv["dataElement"].as_str().unwrap().to_string(),
                payload["period"].as_str().unwrap().to_string(),
                payload["orgUnit"].as_str().unwrap().to_string(),
                dv["categoryOptionCombo"].as_str().unwrap_or(fixture::DEFAULT_COC).to_string(),
            );
            if !values.contains_key(&key) {
                failures.push(format!("DHIS2 lacks {key:?}"));
            }
        }
    }
    // Which submissions reached DHIS2 more than once: `male` carries the submission's number.
    let mut received: HashMap<String, usize> = HashMap::new();
    for request in dhis2.requests().iter().filter(|r| r.method == "POST" && r.path.ends_with("/dataValueSets")) {
        let body: Value = serde_json::from_str(&request.body).unwrap_or_default();
        for dv in body["dataValues"].as_array().into_iter().flatten() {
            if dv["dataElement"] == fixture::DE_HIV_TESTS {
                *received.entry(dv["value"].as_str().unwrap_or_default().to_string()).or_default() += 1;
            }
        }
    }
    let more_than_once = received.values().filter(|n| **n > 1).count();
    println!(
        "submissions that reached DHIS2 more than once: {more_than_once} (at most the 10 in flight at the kill, plus retries after timeouts)"
    );
    if more_than_once > 10 {
        failures.push(format!("{more_than_once} submissions reached DHIS2 more than once"));
    }
    let conflicts: Vec<(Value,)> =
        sqlx::query_as("SELECT conflicts FROM delivery_attempts WHERE jsonb_array_length(conflicts) > 0")
            .fetch_all(&db)
            .await
            .unwrap();
    let unnamed = conflicts
        .iter()
        .flat_map(|(c,)| c.as_array().unwrap().clone())
        .filter(|c| c["partner_keys"].as_array().is_none_or(Vec::is_empty))
        .count();
    if unnamed > 0 {
        failures.push(format!("{unnamed} conflicts do not name a partner key"));
    }
    println!("conflicts recorded: {}, each naming the partner's key: {}", conflicts.len(), unnamed == 0);
    println!("values expected in DHIS2: {expected_values}; values held: {}", values.len());
    drop(gateway);
    if failures.is_empty() {
        println!("acceptance: every invariant holds");
    } else {
        for f in failures.iter().take(20) {
            println!("FAILED: {f}");
        }
        std::process::exit(1);
    }
}
