//! Retention benchmark: two years of simulated traffic, a day at a time — each day's
//! submissions (a delivery and an attempt each, with a payload and DHIS2's answer), the
//! retention run of that night, and a weekly VACUUM as autovacuum would do — printing the
//! database's size every month. With the default settings succeeded submissions leave after 90
//! days and failed ones (2 %) after a year.
//!
//! Run with `cargo bench -p dhis2gw --bench retention`. Targets (issue 18): once retention is in
//! force for every kind of submission (day 400 on), the database stays flat (within 10 %), and
//! every submission is either in the database or in an archive.
//!
//! Between days 90 and 365 the database still grows although its rows hardly do: the failures
//! kept for a year are spread over every index page, so pages emptied of the succeeded
//! submissions around them cannot be recycled until the failures leave too.

use std::time::Instant;

use chrono::{Duration, Utc};
use dhis2gw::infra::config::{Config, Secret};
use dhis2gw::infra::db;
use dhis2gw_test_support::TestDatabase;

/// Submissions a simulated day.
const PER_DAY: i64 = 200;
const DAYS: i64 = 730;
/// From this day on every kind of submission has reached its retention.
const STEADY_FROM: i64 = 400;

#[tokio::main]
async fn main() {
    let database = TestDatabase::new();
    let archive = tempfile::tempdir().unwrap();
    let mut config = Config::default();
    config.database.uri.0 = database.url.clone();
    config.server.jwt_secret = Secret::new("retention-benchmark-retention-benchmark");
    config.server.migrations_dir = "embedded".into();
    config.retention.archive_directory = archive.path().display().to_string();
    let pool = db::connect(&config).await.unwrap();
    db::migrate(&pool, &config).await.unwrap();
    let server: i64 = sqlx::query_scalar(
        "INSERT INTO dhis2_servers (uid, name, base_url, auth_method) VALUES ('BenchServer', 'bench', 'http://dhis2', 'basic') RETURNING id",
    )
    .fetch_one(&pool)
    .await
    .unwrap();

    let start = Utc::now() - Duration::days(DAYS);
    let started = Instant::now();
    let (mut archived, mut at_kick_in, mut last) = (0u64, 0i64, 0i64);
    println!("{:>4}  {:>12}  {:>10}  {:>10}", "day", "submissions", "database", "archives");
    for day in 0..DAYS {
        let midnight = start + Duration::days(day);
        // A day's traffic: 2 % refused by DHIS2.
        sqlx::query(
            r#"WITH s AS (
                   INSERT INTO submission_log (payload, dhis2_payload, status, submitted_at, data_set, org_unit, period)
                   SELECT jsonb_build_object('dataValues', jsonb_build_object('positives', g, 'tests_male', g * 2, 'remarks', repeat('x', 200))),
                          jsonb_build_object('dataValues', jsonb_build_array(jsonb_build_object('dataElement', 'DeBench0001', 'value', g))),
                          CASE WHEN g % 50 = 0 THEN 'failed' ELSE 'succeeded' END,
                          $1 + make_interval(secs => g * 86000.0 / $2), 'pBOMPrpg1QY', 'DiszpKrYNg8', '202401'
                   FROM generate_series(1, $2) g
                   RETURNING id, status, submitted_at),
               d AS (
                   INSERT INTO submission_destinations (submission_id, server_id, status)
                   SELECT id, $3, status FROM s RETURNING id, submission_id, status)
               INSERT INTO delivery_attempts (submission_id, destination_id, attempt, outcome, http_status, request_payload, response_body)
               SELECT submission_id, id, 1, status, CASE WHEN status = 'failed' THEN 409 ELSE 200 END,
                      '{"dataValues": [{"dataElement": "DeBench0001", "value": "1"}]}',
                      repeat('{"status":"OK","importCount":{"imported":1}}', 10)
               FROM d"#,
        )
        .bind(midnight)
        .bind(PER_DAY)
        .bind(server)
        .execute(&pool)
        .await
        .unwrap();
        let done = dhis2gw::retention::run_as_of(&pool, &config, midnight + Duration::days(1)).await.unwrap();
        archived += done.files.iter().map(|f| f.records).sum::<u64>();
        if day % 7 == 6 {
            sqlx::query("VACUUM (ANALYZE) submission_log, submission_destinations, delivery_attempts, value_outcomes")
                .execute(&pool)
                .await
                .unwrap();
        }
        if day % 30 == 29 || day == DAYS - 1 {
            let size: i64 =
                sqlx::query_scalar("SELECT pg_database_size(current_database())").fetch_one(&pool).await.unwrap();
            let live: i64 = sqlx::query_scalar("SELECT count(*) FROM submission_log").fetch_one(&pool).await.unwrap();
            let archives = dhis2gw::retention::archive::size(archive.path());
            println!("{:>4}  {live:>12}  {:>7.1} MB  {:>7.1} MB", day + 1, size as f64 / 1e6, archives as f64 / 1e6);
            if at_kick_in == 0 && day + 1 >= STEADY_FROM {
                at_kick_in = size;
            }
            last = size;
        }
    }
    let tables: Vec<(String, i64)> = sqlx::query_as(
        "SELECT relname::text, pg_total_relation_size(relid) FROM pg_stat_user_tables ORDER BY 2 DESC LIMIT 4",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    for (table, bytes) in tables {
        println!("      {table:<24} {:>7.1} MB", bytes as f64 / 1e6);
    }
    let total = (PER_DAY * DAYS) as u64;
    let live: i64 = sqlx::query_scalar("SELECT count(*) FROM submission_log").fetch_one(&pool).await.unwrap();
    let growth = last as f64 / at_kick_in as f64 - 1.0;
    println!(
        "{total} submissions in two simulated years ({:.0} s): {archived} archived, {live} in the database; \
         growth from day {STEADY_FROM}: {:.1} %",
        started.elapsed().as_secs_f64(),
        growth * 100.0
    );
    pool.close().await;
    drop(database);
    let targets = [
        (growth > 0.10, "the database stays within 10 % once retention is in force for every submission"),
        (archived + live as u64 != total, "every submission is either in the database or in an archive"),
    ];
    let missed: Vec<&str> = targets.iter().filter(|(missed, _)| *missed).map(|(_, what)| *what).collect();
    if !missed.is_empty() {
        eprintln!("missed: {}", missed.join(", "));
        std::process::exit(1);
    }
}
