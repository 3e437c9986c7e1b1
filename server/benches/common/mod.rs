//! What the benchmarks share: the gateway as its own process (the release binary) against the
//! local PostgreSQL and Redis and a DHIS2 test double, its fixture mappings and partner
//! token, and partners posting `POST /aggregate` as fast as they can.

// Each benchmark is its own crate and uses part of this.
#![allow(dead_code)]

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use dhis2_double::{Dhis2Double, fixture};
use dhis2gw_test_support::{TestDatabase, gateway_command, redis_address};
use serde_json::{Value, json};

const JWT_SECRET: &str = "bench-secret-bench-secret-bench-secret";

pub struct Gateway {
    child: Child,
    pub base: String,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        // After `kill_hard` there is nobody left to tell, and `kill` would say so.
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).stderr(Stdio::null()).status();
        let _ = self.child.wait();
    }
}

impl Gateway {
    /// SIGKILL: no shutdown, deliveries cut wherever they are.
    pub fn kill_hard(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Peak resident memory of the gateway process, in MB (VmHWM).
    pub fn peak_rss_mb(&self) -> f64 {
        memory_mb(self.child.id(), "VmHWM:")
    }

    /// Counts the CPU time spent from now on (see [`CpuUse`]).
    pub fn cpu_use(&self) -> CpuUse {
        CpuUse::start(self.child.id())
    }

    /// Watches the gateway's resident memory from now on (see [`MemoryWatch`]).
    pub fn watch_memory(&self) -> MemoryWatch {
        MemoryWatch::start(self.child.id())
    }
}

/// Where the machine's CPU went during a phase: the gateway, PostgreSQL's processes, Redis, and
/// this benchmark itself (the partners posting, and the DHIS2 test double).
pub struct CpuUse {
    gateway: u32,
    began: Instant,
    at_start: [f64; 4],
}

impl CpuUse {
    fn start(gateway: u32) -> CpuUse {
        CpuUse { gateway, began: Instant::now(), at_start: Self::seconds(gateway) }
    }

    /// CPU seconds (user and system) used so far by each of the four.
    fn seconds(gateway: u32) -> [f64; 4] {
        // SAFETY: sysconf only reads a constant of the system.
        let ticks_per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
        // `/proc/<pid>/stat`: after the command's name in brackets, utime and stime are the 12th and 13th fields.
        let of = |pid: &str| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let fields: Vec<&str> = stat.rsplit_once(')').map_or("", |(_, rest)| rest).split_whitespace().collect();
            let tick = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
            (tick(11) + tick(12)) / ticks_per_second
        };
        let named = |name: &str| -> f64 {
            let Ok(processes) = std::fs::read_dir("/proc") else { return 0.0 };
            processes
                .flatten()
                .map(|p| p.file_name().to_string_lossy().into_owned())
                .filter(|pid| pid.bytes().all(|b| b.is_ascii_digit()))
                .filter(|pid| std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == name))
                .map(|pid| of(&pid))
                .sum()
        };
        [of(&gateway.to_string()), named("postgres"), named("redis-server"), of("self")]
    }

    /// Each one's share since the start, in % of one core.
    pub fn shares(&self) -> String {
        let elapsed = self.began.elapsed().as_secs_f64();
        let now = Self::seconds(self.gateway);
        let share = |i: usize| 100.0 * (now[i] - self.at_start[i]) / elapsed;
        format!(
            "gateway {:.0} %, PostgreSQL {:.0} %, Redis {:.0} %, partners (this benchmark) {:.0} %",
            share(0),
            share(1),
            share(2),
            share(3)
        )
    }
}

/// A figure of `/proc/<pid>/status` (`VmRSS:`, `VmHWM:`), in MB.
fn memory_mb(pid: u32, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// The most resident memory a process held during each phase of a benchmark: VmHWM only
/// ever grows, so a phase after a hungrier one needs its own samples (every 20 ms).
pub struct MemoryWatch {
    highest_kb: Arc<std::sync::atomic::AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl MemoryWatch {
    fn start(pid: u32) -> MemoryWatch {
        let highest_kb = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (highest, stopped) = (highest_kb.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                let kb = (memory_mb(pid, "VmRSS:") * 1024.0) as u64;
                highest.fetch_max(kb, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        MemoryWatch { highest_kb, stop }
    }

    /// The most memory held since the last phase ended (or the watch began), in MB; the next
    /// phase starts now.
    pub fn phase_mb(&self) -> f64 {
        self.highest_kb.swap(0, Ordering::Relaxed) as f64 / 1024.0
    }
}

impl Drop for MemoryWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Starts the gateway with its own database and queue prefix, delivering to `dhis2` with
/// `max_concurrent` workers; `env` adds or overrides settings.
pub async fn start_gateway(
    dhis2: &Dhis2Double,
    run: &str,
    database: &TestDatabase,
    max_concurrent: u64,
    env: &[(&str, &str)],
) -> Gateway {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port().to_string();
    let scratch = std::env::temp_dir().join(format!("dhis2gw-bench-{run}"));
    let logs = scratch.join("logs");
    std::fs::create_dir_all(&logs).expect("the scratch folder is writable");
    let mut command = gateway_command(env!("CARGO_BIN_EXE_dhis2gw"), &scratch, &[]);
    command
        .env("DHIS2GW_DB", &database.url)
        .env("DHIS2GW_REDIS", redis_address())
        .env("DHIS2GW_QUEUE_PREFIX", format!("bench_{run}"))
        .env("DHIS2GW_JWT_SECRET", JWT_SECRET)
        .env("DHIS2GW_HOST", "127.0.0.1")
        .env("DHIS2GW_SERVER_PORT", &port)
        .env("DHIS2GW_MAX_CONCURRENT", max_concurrent.to_string())
        .env("DHIS2GW_DB_MAX_CONNECTIONS", "40")
        .env("DHIS2GW_LOG_LEVEL", "warn")
        // A log folder, as the package makes and configures (`server.logdir`): its writer has
        // memory of its own.
        .env("DHIS2GW_LOGDIR", &logs)
        .env("DHIS2GW_MIGRATIONS_DIR", "embedded")
        .env("DHIS2GW_BOOTSTRAP_ADMIN_USER", "admin")
        .env("DHIS2GW_BOOTSTRAP_ADMIN_PASSWORD", "bench admin password")
        .env("dhis2_base_url", dhis2.base_url())
        .env("dhis2_user", dhis2_double::USERNAME)
        .env("dhis2_password", dhis2_double::PASSWORD);
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command.stdout(Stdio::null()).spawn().expect("the dhis2gw binary starts");
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    for _ in 0..300 {
        if client.get(format!("{base}/health/ready")).send().await.is_ok_and(|r| r.status().is_success()) {
            return Gateway { child, base };
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    child.kill().ok();
    child.wait().ok();
    panic!("the gateway did not become ready");
}

pub async fn call(request: reqwest::RequestBuilder) -> Value {
    let response = request.send().await.expect("gateway answers");
    let status = response.status();
    let body: Value = response.json().await.unwrap_or_default();
    assert!(status.is_success(), "{status}: {body}");
    body
}

/// An admin JWT.
pub async fn admin_jwt(gateway: &Gateway) -> String {
    let tokens = call(
        reqwest::Client::new()
            .post(format!("{}/api/v2/users/getToken", gateway.base))
            .json(&json!({"username": "admin", "password": "bench admin password"})),
    )
    .await;
    tokens["token"].as_str().unwrap().to_string()
}

/// What the benchmark partners send in each submission.
#[derive(Clone, Copy)]
pub enum Form {
    /// Two values of Monthly HIV (`male`, `positives`).
    Hiv,
    /// Ten values of Monthly lab (`lab01`..`lab10`): a lab's or an HMIS form's monthly report.
    Lab,
}

impl Form {
    /// The submission `n` of client `c` for `org_unit` and `period`.
    fn body(self, org_unit: &str, period: &str, n: u64, c: usize) -> Value {
        match self {
            Form::Hiv => json!({"orgUnit": org_unit, "period": period, "dataSet": fixture::DS_MONTHLY_HIV,
                "dataValues": {"male": n, "positives": c + 1}}),
            Form::Lab => {
                let values: serde_json::Map<String, Value> =
                    (1..=10u64).map(|i| (format!("lab{i:02}"), json!(n % 1000 + i))).collect();
                json!({"orgUnit": org_unit, "period": period, "dataSet": fixture::DS_MONTHLY_LAB, "dataValues": values})
            }
        }
    }
}

/// Mappings for both [`Form`]s, and a partner API token.
pub async fn prepare(gateway: &Gateway) -> String {
    let client = reqwest::Client::new();
    let base = &gateway.base;
    let jwt = admin_jwt(gateway).await;
    let lab = (0..10).map(|i| (format!("lab{:02}", i + 1), fixture::DE_LAB[i], None));
    for (code, element, coc) in [
        ("male".to_string(), fixture::DE_HIV_TESTS, Some(fixture::COC_MALE)),
        ("positives".to_string(), fixture::DE_POSITIVES, None),
    ]
    .into_iter()
    .chain(lab)
    {
        let body = json!({"code": code, "dataElement": element, "categoryOptionCombo": coc});
        call(client.post(format!("{base}/api/v2/mappings")).bearer_auth(&jwt).json(&body)).await;
    }
    partner(gateway, &jwt, "partner").await
}

/// A new partner user named `name`, and its API token.
pub async fn partner(gateway: &Gateway, jwt: &str, name: &str) -> String {
    let client = reqwest::Client::new();
    let base = &gateway.base;
    let partner = call(
        client
            .post(format!("{base}/api/v2/users"))
            .bearer_auth(jwt)
            .json(&json!({"username": name, "password": "partner password", "role": "partner"})),
    )
    .await;
    let token = call(
        client
            .post(format!("{base}/api/v2/users/{}/tokens", partner["uid"].as_str().unwrap()))
            .bearer_auth(jwt)
            .json(&json!({})),
    )
    .await;
    token["token"].as_str().unwrap().to_string()
}

pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// `clients` partners post `form` for `seconds`, each submission a new (org unit, period) of
/// its monthly data set; returns every request's latency, sorted, and the time it took.
pub async fn intake(gateway: &Gateway, token: &str, clients: usize, seconds: u64, form: Form) -> (Vec<Duration>, f64) {
    let client = reqwest::Client::builder().pool_max_idle_per_host(clients).build().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let workers: Vec<_> = (0..clients)
        .map(|c| {
            let (client, stop, url, token) =
                (client.clone(), stop.clone(), format!("{}/api/v2/aggregate", gateway.base), token.to_string());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    // A distinct (org unit, past month) per submission, so every one stores new
                    // values: three facilities, twelve months of the years 1000 to 1999.
                    let i = c as u64 * 1_000 + n;
                    let org_unit =
                        [fixture::OU_FACILITY_1, fixture::OU_FACILITY_2, fixture::OU_FACILITY_3][(i / 12 % 3) as usize];
                    let period = format!("{}{:02}", 1000 + i / 36 % 1000, i % 12 + 1);
                    let body = form.body(org_unit, &period, n, c);
                    let t = Instant::now();
                    let response =
                        client.post(&url).header("Authorization", format!("Token {token}")).json(&body).send().await;
                    let status = response.map(|r| r.status());
                    assert!(status.as_ref().is_ok_and(|s| s.is_success()), "intake failed: {status:?} for {body}");
                    latencies.push(t.elapsed());
                }
                latencies
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut latencies = Vec::new();
    for w in workers {
        latencies.extend(w.await.unwrap());
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    (latencies, elapsed)
}

/// Exits non-zero naming each target whose condition is true (missed). Exiting runs no
/// destructors: stop the gateway (drop it) before.
pub fn exit_if_missed(targets: &[(bool, &str)]) {
    let missed: Vec<&str> = targets.iter().filter(|(missed, _)| *missed).map(|(_, what)| *what).collect();
    if !missed.is_empty() {
        eprintln!("missed: {}", missed.join(", "));
        std::process::exit(1);
    }
}

/// PostgreSQL's own limit for the intake: single-row inserts per second by `pgbench` at
/// `clients` connections for `seconds`, into a table of the benchmark's database.
pub async fn pgbench_insert_rate(database_url: &str, clients: usize, seconds: u64) -> f64 {
    let pool = sqlx::PgPool::connect(database_url).await.unwrap();
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS pgbench_rows (id bigserial PRIMARY KEY, v int, at timestamptz DEFAULT now())",
    )
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
    let script = std::env::temp_dir().join(format!("dhis2gw-pgbench-{}.sql", std::process::id()));
    std::fs::write(&script, "\\set v random(1, 1000000)\nINSERT INTO pgbench_rows (v) VALUES (:v);\n").unwrap();
    let output = Command::new("pgbench")
        .args(["--no-vacuum", "--client", &clients.to_string(), "--jobs", "2", "--time", &seconds.to_string()])
        .arg("--file")
        .arg(&script)
        .arg(database_url)
        .output()
        .expect("pgbench runs (Debian's postgresql-client has it)");
    let _ = std::fs::remove_file(&script);
    let text = String::from_utf8_lossy(&output.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("tps = "))
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("pgbench printed no rate: {text}{}", String::from_utf8_lossy(&output.stderr)))
}
