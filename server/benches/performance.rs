//! The gateway's performance targets (issue 19) in one table, each beside its limit: run with
//! `cargo bench -p dhis2gw --bench performance`.
//!
//! The gateway runs as its own process (the release binary) against the local PostgreSQL and
//! Redis, delivering to the DHIS2 test double with 50 ms latency and `max_concurrent` 5.
//! 1. PostgreSQL's limit: `pgbench` single-row inserts at 32 clients for 10 s.
//! 2. Intake: 32 partner connections post `POST /aggregate` (10 values, token auth) for 10 s
//!    with deliveries paused (the server disabled), so that only intake is measured.
//! 3. Delivery: the server enabled, the intake's backlog drains; deliveries per second over
//!    30 s, against `max_concurrent / latency`.
//! 4. Mapping import: a 100,000-row CSV and the same rows as XLSX, previewed then imported.
//! 5. Coalescing: 1,000 small submissions (2 values; every 100th with a value DHIS2 refuses)
//!    wait while the server is paused and then drain, once sent one by one and once with
//!    `dhis2_coalesce_max_values` 1,000, each run with its own gateway, database and double:
//!    requests to DHIS2 per 1,000 submissions, and whether every submission and every value
//!    in DHIS2 ended the same.
//!
//! Memory is the gateway's resident set: idle after start, and the most it held during each phase.
//! Exits non-zero when a target is missed.

mod common;

use std::time::{Duration, Instant};

use dhis2_double::{Dhis2Double, Version, fixture};
use dhis2gw_test_support::TestDatabase;
use dhis2gw_wire::MappingFields;
use serde_json::json;

const CLIENTS: usize = 32;
const INTAKE_SECONDS: u64 = 10;
const DRAIN_WINDOW: Duration = Duration::from_secs(30);
const LATENCY: Duration = Duration::from_millis(50);
/// The documented default of `server.max_concurrent`.
const MAX_CONCURRENT: u64 = 5;
const MAPPING_ROWS: usize = 100_000;
const SMALL_SUBMISSIONS: usize = 1_000;
const COALESCE_MAX_VALUES: &str = "1000";

/// One line of the table: what was measured, the figure, the target, whether it was met.
struct Line {
    figure: String,
    measured: String,
    target: String,
    met: Option<bool>,
}

#[derive(Default)]
struct Table(Vec<Line>);

impl Table {
    /// A figure with no target of its own (a limit, a context).
    fn info(&mut self, figure: &str, measured: String) {
        self.add(Line { figure: figure.into(), measured, target: String::new(), met: None });
    }

    fn check(&mut self, figure: &str, measured: String, target: &str, met: bool) {
        self.add(Line { figure: figure.into(), measured, target: target.into(), met: Some(met) });
    }

    /// Adds a line, and says it at once: a long run shows its progress.
    fn add(&mut self, line: Line) {
        eprintln!("{}: {} (target {})", line.figure, line.measured, line.target);
        self.0.push(line);
    }

    fn print(&self) {
        let width = self.0.iter().map(|l| l.figure.chars().count()).max().unwrap_or(0);
        let measured = self.0.iter().map(|l| l.measured.chars().count()).max().unwrap_or(0);
        println!("\n| {:<width$} | {:<measured$} | target | |", "figure", "measured");
        println!("|{}|{}|---|---|", "-".repeat(width + 2), "-".repeat(measured + 2));
        for l in &self.0 {
            let met = match l.met {
                Some(true) => "met",
                Some(false) => "MISSED",
                None => "",
            };
            println!("| {:<width$} | {:<measured$} | {} | {met} |", l.figure, l.measured, l.target);
        }
    }

    fn missed(&self) -> Vec<String> {
        self.0.iter().filter(|l| l.met == Some(false)).map(|l| l.figure.clone()).collect()
    }
}

async fn count_final(db: &sqlx::PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM submission_log WHERE status IN ('succeeded', 'warning', 'failed', 'dead')")
        .fetch_one(db)
        .await
        .unwrap()
}

#[tokio::main]
async fn main() {
    let run = uuid::Uuid::new_v4().simple().to_string()[..8].to_string();
    let mut table = Table::default();
    let database = TestDatabase::new();

    let dhis2 = Dhis2Double::start(Version::V2_40).await;
    dhis2.set_latency(LATENCY);
    let gateway = common::start_gateway(&dhis2, &run, &database, MAX_CONCURRENT, &[]).await;
    let token = common::prepare(&gateway).await;
    let jwt = common::admin_jwt(&gateway).await;
    let db = sqlx::PgPool::connect(&database.url).await.unwrap();
    let client = reqwest::Client::new();
    let server = primary_server(&gateway, &jwt).await;
    set_enabled(&gateway, &jwt, &server, false).await;

    // 1. PostgreSQL's own limit, on the same database (the gateway made it) and machine.
    let pgbench = common::pgbench_insert_rate(&database.url, CLIENTS, INTAKE_SECONDS).await;
    table.info(&format!("PostgreSQL 1-row inserts (pgbench, {CLIENTS} clients)"), format!("{pgbench:.0}/s"));

    tokio::time::sleep(Duration::from_secs(3)).await;
    let memory = gateway.watch_memory();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let idle = memory.phase_mb();
    table.check("memory, idle", format!("{idle:.1} MB"), "≤ 30 MB", idle <= 30.0);

    // 2. Intake, deliveries paused.
    let cpu = gateway.cpu_use();
    let (latencies, elapsed) = common::intake(&gateway, &token, CLIENTS, INTAKE_SECONDS, common::Form::Lab).await;
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    table.info(&format!("CPU during intake, % of one core ({cores} cores)"), cpu.shares());
    let rate = latencies.len() as f64 / elapsed;
    let p99 = common::percentile(&latencies, 0.99).as_secs_f64() * 1e3;
    table.check(
        &format!("intake POST /aggregate (10 values, token, {CLIENTS} clients)"),
        format!("{rate:.0}/s = {:.2} × pgbench", rate / pgbench),
        "≥ 0.5 × pgbench",
        rate >= 0.5 * pgbench,
    );
    let ms = |p: f64| common::percentile(&latencies, p).as_secs_f64() * 1e3;
    table.check(
        "intake latency p50 / p90 / p99 / max",
        format!("{:.1} / {:.1} / {p99:.1} / {:.1} ms", ms(0.5), ms(0.9), ms(1.0)),
        "p99 ≤ 20 ms",
        p99 <= 20.0,
    );
    let during_intake = memory.phase_mb();
    table.check("memory, intake", format!("{during_intake:.1} MB"), "≤ 60 MB", during_intake <= 60.0);

    // 3. Delivery of the backlog.
    set_enabled(&gateway, &jwt, &server, true).await;
    let (delivered, written_twice) = deliveries(&dhis2, &db, latencies.len()).await;
    let ceiling = MAX_CONCURRENT as f64 / LATENCY.as_secs_f64();
    table.check(
        &format!("delivery (DHIS2 latency {} ms, max_concurrent {MAX_CONCURRENT})", LATENCY.as_millis()),
        format!("{delivered:.0}/s = {:.2} × {ceiling:.0}/s", delivered / ceiling),
        "≥ 0.9 ×",
        delivered >= 0.9 * ceiling,
    );
    table.check("values written twice", written_twice.to_string(), "0", written_twice == 0);
    let delivering = memory.phase_mb();
    table.check("memory, delivering", format!("{delivering:.1} MB"), "≤ 60 MB", delivering <= 60.0);

    // 4. Mapping import, CSV and XLSX.
    let rows = mapping_rows();
    let csv = mapping_csv(&rows);
    let xlsx = dhis2gw::mappings::files::workbook(&rows).unwrap();
    for (format, file, bytes) in [("csv", "mappings.csv", csv), ("excel", "mappings.xlsx", xlsx)] {
        for dry_run in [true, false] {
            let url = format!("{}/api/v2/mappings/import/{format}?dryRun={dry_run}", gateway.base);
            let form = reqwest::multipart::Form::new()
                .part("file", reqwest::multipart::Part::bytes(bytes.clone()).file_name(file));
            let began = Instant::now();
            let report = common::call(client.post(url).bearer_auth(&jwt).multipart(form)).await;
            let took = began.elapsed().as_secs_f64();
            let action = if dry_run { "previewed" } else { "imported" };
            assert_eq!(report["total"], json!(MAPPING_ROWS), "{}", report["rows"][0]);
            assert_eq!(report["rejected"], json!(0), "{}", report["rows"][0]);
            table.check(
                &format!("{MAPPING_ROWS} mapping rows, {} {action}", if format == "csv" { "CSV" } else { "XLSX" }),
                format!("{took:.2} s"),
                "≤ 5 s",
                took <= 5.0,
            );
        }
        let importing = memory.phase_mb();
        table.check(&format!("memory, importing {file}"), format!("{importing:.1} MB"), "≤ 200 MB", importing <= 200.0);
    }

    drop(memory);
    drop(gateway);

    // 5. Requests to DHIS2 per 1,000 small submissions, one by one and coalesced.
    let alone = small_submissions(&run, "0").await;
    let together = small_submissions(&run, COALESCE_MAX_VALUES).await;
    table.info(
        &format!("requests to DHIS2 per {SMALL_SUBMISSIONS} small submissions, one by one"),
        format!("{} ({:.1} s to deliver)", alone.requests, alone.seconds),
    );
    table.check(
        &format!("… coalesced (up to {COALESCE_MAX_VALUES} values a request)"),
        format!("{} ({:.1} s to deliver)", together.requests, together.seconds),
        "fewer",
        together.requests < alone.requests,
    );
    let alike = together.endings == alone.endings && together.stored == alone.stored;
    let warnings = alone.endings.iter().filter(|e| e.as_str() == "warning").count();
    table.check(
        "… every submission's status and every value in DHIS2 alike",
        format!(
            "{} ({warnings} warnings each, {} values stored)",
            if alike { "yes" } else { "NO" },
            alone.stored.len()
        ),
        "alike",
        alike,
    );

    println!(
        "dhis2gw performance, {} cores, {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::env::consts::ARCH
    );
    table.print();
    db.close().await;
    let missed = table.missed();
    common::exit_if_missed(&[(!missed.is_empty(), &missed.join(", "))]);
}

/// What became of the small submissions of one run.
struct Drained {
    requests: usize,
    seconds: f64,
    /// Each submission's status, in the order they were posted.
    endings: Vec<String>,
    /// Every value DHIS2 holds, as `(key, value)`, sorted.
    stored: Vec<(String, String)>,
}

/// Posts [`SMALL_SUBMISSIONS`] two-value submissions while the server is paused, resumes it,
/// and waits until all are final; with `coalesce_max_values`.
async fn small_submissions(run: &str, coalesce_max_values: &str) -> Drained {
    let database = TestDatabase::new();
    let dhis2 = Dhis2Double::start(Version::V2_40).await;
    dhis2.set_latency(LATENCY);
    let run = format!("{run}c{coalesce_max_values}");
    let env = [("DHIS2GW_DHIS2_COALESCE_MAX_VALUES", coalesce_max_values)];
    let gateway = common::start_gateway(&dhis2, &run, &database, MAX_CONCURRENT, &env).await;
    let token = common::prepare(&gateway).await;
    let jwt = common::admin_jwt(&gateway).await;
    let server = primary_server(&gateway, &jwt).await;
    set_enabled(&gateway, &jwt, &server, false).await;
    let client = reqwest::Client::new();
    let url = format!("{}/api/v2/aggregate", gateway.base);
    let mut ids = Vec::with_capacity(SMALL_SUBMISSIONS);
    for i in 0..SMALL_SUBMISSIONS {
        let org_unit = [fixture::OU_FACILITY_1, fixture::OU_FACILITY_2, fixture::OU_FACILITY_3][i % 3];
        let period = format!("{}{:02}", 1000 + i / 36, i / 3 % 12 + 1);
        let positives = if i % 100 == 99 { json!("n/a") } else { json!(i % 7) };
        let body = json!({"orgUnit": org_unit, "period": period, "dataSet": fixture::DS_MONTHLY_HIV,
            "dataValues": {"male": i, "positives": positives}});
        let accepted =
            common::call(client.post(&url).header("Authorization", format!("Token {token}")).json(&body)).await;
        ids.push(accepted["submission_id"].as_i64().unwrap());
    }
    let db = sqlx::PgPool::connect(&database.url).await.unwrap();
    let began = Instant::now();
    set_enabled(&gateway, &jwt, &server, true).await;
    while (count_final(&db).await as usize) < SMALL_SUBMISSIONS {
        assert!(began.elapsed() < Duration::from_secs(120), "the small submissions did not drain");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let seconds = began.elapsed().as_secs_f64();
    let endings: Vec<String> = sqlx::query_scalar("SELECT status FROM submission_log WHERE id = ANY($1) ORDER BY id")
        .bind(&ids)
        .fetch_all(&db)
        .await
        .unwrap();
    let mut stored: Vec<(String, String)> = dhis2
        .values()
        .into_iter()
        .map(|v| (format!("{}/{}/{}/{}", v.data_element, v.period, v.org_unit, v.category_option_combo), v.value))
        .collect();
    stored.sort();
    db.close().await;
    Drained { requests: dhis2.import_requests(), seconds, endings, stored }
}

/// The uid of the gateway's primary DHIS2 server.
async fn primary_server(gateway: &common::Gateway, jwt: &str) -> String {
    let servers =
        common::call(reqwest::Client::new().get(format!("{}/api/v2/servers", gateway.base)).bearer_auth(jwt)).await;
    let primary = servers.as_array().into_iter().flatten().find(|s| s["is_primary"] == json!(true));
    let primary = primary.expect("a primary server");
    primary["uid"].as_str().unwrap().to_string()
}

/// Pauses (or resumes) deliveries to a server, as an admin does from the console.
async fn set_enabled(gateway: &common::Gateway, jwt: &str, server: &str, enabled: bool) {
    let url = format!("{}/api/v2/servers/{server}", gateway.base);
    common::call(reqwest::Client::new().put(url).bearer_auth(jwt).json(&json!({"enabled": enabled}))).await;
}

/// Deliveries per second while the backlog of `accepted` drains (over at most
/// [`DRAIN_WINDOW`]), and how many values DHIS2 was sent more than once.
async fn deliveries(dhis2: &Dhis2Double, db: &sqlx::PgPool, accepted: usize) -> (f64, usize) {
    let drain_start = Instant::now();
    let delivered_at_start = count_final(db).await;
    let mut last = (drain_start, delivered_at_start);
    while drain_start.elapsed() < DRAIN_WINDOW {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let delivered = count_final(db).await;
        if delivered as usize >= accepted {
            break;
        }
        last = (Instant::now(), delivered);
    }
    let rate = (last.1 - delivered_at_start) as f64 / last.0.duration_since(drain_start).as_secs_f64().max(1e-9);
    (rate, dhis2.values().iter().filter(|v| v.times_written > 1).count())
}

/// A partner system's code list: 100,000 codes, each to one of the lab elements.
fn mapping_rows() -> Vec<MappingFields> {
    (0..MAPPING_ROWS)
        .map(|i| MappingFields {
            code: format!("LIS-{i:06}"),
            what: "de".into(),
            name: format!("Lab system test {i}"),
            data_element: fixture::DE_LAB[i % 10].into(),
            category_option_combo: Some(fixture::DEFAULT_COC.into()),
            source_name: "lab-system".into(),
            instance_name: "default".into(),
            ..Default::default()
        })
        .collect()
}

/// The rows as the CSV a spreadsheet program would save.
fn mapping_csv(rows: &[MappingFields]) -> Vec<u8> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer
        .write_record(["code", "what", "name", "dataelement", "category_option_combo", "source_name", "instance_name"])
        .unwrap();
    for r in rows {
        let coc = r.category_option_combo.as_deref().unwrap_or_default();
        writer
            .write_record([&r.code, &r.what, &r.name, &r.data_element, coc, &r.source_name, &r.instance_name])
            .unwrap();
    }
    writer.into_inner().unwrap()
}
