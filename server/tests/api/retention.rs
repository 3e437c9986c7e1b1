//! Retention: finished submissions past their days are archived to a file, then deleted;
//! `dhis2gw archive list|show|restore` reads the file back and restores every field, after
//! which the submission is in the log and requeueable again.

use std::time::Duration;

use dhis2_double::Version;
use dhis2gw::infra::config::Config;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;

use dhis2gw_test_support::*;

const WAIT: Duration = Duration::from_secs(20);

/// Every row of these submissions in the four tables they span, as PostgreSQL serialises them.
async fn rows(db: &PgPool, ids: &[i64]) -> Vec<Value> {
    let mut all = Vec::new();
    for table in ["submission_log", "submission_destinations", "delivery_attempts", "value_outcomes"] {
        let key = if table == "submission_log" { "id" } else { "submission_id" };
        let query = format!("SELECT to_jsonb(t) FROM {table} t WHERE {key} = ANY($1) ORDER BY id");
        // The table names are the constants above.
        all.extend(sqlx::query_scalar::<_, Value>(sqlx::AssertSqlSafe(query)).bind(ids).fetch_all(db).await.unwrap());
    }
    all
}

fn text(output: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

#[tokio::test]
async fn old_submissions_are_archived_then_deleted_and_restored_with_every_field() {
    let database = TestDatabase::new();
    let url = database.url.clone();
    let p = pipeline(Version::V2_40, |c| c.database.uri.0 = url.clone()).await;
    let archive = tempfile::tempdir().unwrap();
    let mut config = Config::default();
    config.retention.archive_directory = archive.path().display().to_string();

    let succeeded_old = p.submit(json!({"positives": 1, "tests_male": 2})).await;
    let failed_young = p.submit(json!({"positives": "bad"})).await;
    let failed_old = p.submit(json!({"positives": "worse"})).await;
    let succeeded_new = p.submit(json!({"positives": 4})).await;
    for id in [succeeded_old, failed_young, failed_old, succeeded_new] {
        p.settled(id, FINAL, WAIT).await;
    }
    for (id, days) in [(succeeded_old, 100), (failed_young, 200), (failed_old, 400)] {
        sqlx::query("UPDATE submission_log SET submitted_at = submitted_at - make_interval(days => $2) WHERE id = $1")
            .bind(id)
            .bind(days)
            .execute(&p.app.db)
            .await
            .unwrap();
    }
    let archived = [succeeded_old, failed_old];
    let before = rows(&p.app.db, &archived).await;
    let refused = sqlx::query_scalar::<_, i64>(
        "SELECT count(*) FROM value_outcomes WHERE submission_id = $1 AND outcome = 'refused'",
    )
    .bind(failed_old)
    .fetch_one(&p.app.db)
    .await
    .unwrap();
    assert_eq!(refused, 1, "the archive carries each value's outcome too");
    assert!(before.len() > 2 + 2 + 2, "submissions, deliveries, attempts and outcomes: {before:#?}");

    let receipts = || async {
        let query = "SELECT count(*) FROM report_receipts WHERE submission_id = ANY($1)";
        sqlx::query_scalar::<_, i64>(query).bind(&archived[..]).fetch_one(&p.app.db).await.unwrap()
    };
    assert_eq!(receipts().await, 2, "one report (org unit and period) each");

    let done = dhis2gw::retention::run(&p.app.db, &config).await.unwrap();
    assert_eq!((done.files.len(), done.deleted), (1, 2));
    let manifest = &done.files[0];
    assert_eq!((manifest.records, manifest.first_id, manifest.last_id), (2, succeeded_old, failed_old));
    for id in archived {
        let r =
            p.app.request(Method::GET, &format!("/api/v2/logs/{id}")).bearer_auth(&p.admin.jwt).send().await.unwrap();
        expect_error(r, StatusCode::NOT_FOUND).await;
    }
    assert!(rows(&p.app.db, &archived).await.is_empty(), "their deliveries, attempts and outcomes went with them");
    assert_eq!(receipts().await, 2, "completeness outlives retention");
    for id in [failed_young, succeeded_new] {
        assert_ne!(p.log(id).await["status"], Value::Null, "kept: {id}");
    }
    let audit = p.app.request(Method::GET, "/api/v2/audit?target_type=archive").bearer_auth(&p.admin.jwt);
    let audit = expect_json(audit.send().await.unwrap(), StatusCode::OK).await;
    let actions: Vec<&str> = audit["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["archive.delete", "archive.write"]);
    // Nothing more is due: no second file, no file left half-written.
    assert_eq!(dhis2gw::retention::run(&p.app.db, &config).await.unwrap().files.len(), 0);
    assert_eq!(std::fs::read_dir(archive.path()).unwrap().count(), 2, "the archive and its manifest");

    // The command line reads it back and restores it.
    let binary = env!("CARGO_BIN_EXE_dhis2gw");
    let scratch = tempfile::tempdir().unwrap();
    let cli = |args: &[&str]| {
        gateway_command(binary, scratch.path(), args)
            .env("DHIS2GW_DB", &database.url)
            .env("DHIS2GW_JWT_SECRET", JWT_SECRET)
            .env("DHIS2GW_MIGRATIONS_DIR", "embedded")
            .env("DHIS2GW_RETENTION_ARCHIVE_DIRECTORY", archive.path())
            .output()
            .unwrap()
    };
    let list = cli(&["archive", "list"]);
    assert!(list.status.success(), "{}", text(&list));
    assert!(
        text(&list).contains(&format!("{}  2 submissions  ids {succeeded_old}-{failed_old}", manifest.file)),
        "{}",
        text(&list)
    );
    assert!(text(&list).contains("checksum ok"));
    let show = cli(&["archive", "show", &manifest.file]);
    assert!(
        text(&show).contains(&format!("{succeeded_old}  ")) && text(&show).contains("  failed  "),
        "{}",
        text(&show)
    );
    let check = cli(&["archive", "restore", &manifest.file]);
    assert!(text(&check).contains("would restore 2 submissions; 0 already in the log"), "{}", text(&check));
    assert!(rows(&p.app.db, &archived).await.is_empty(), "checking changes nothing");
    let restore = cli(&["archive", "restore", &manifest.file, "--into-log"]);
    assert!(restore.status.success(), "{}", text(&restore));
    assert!(text(&restore).contains("restored 2 submissions; 0 already in the log; 0 could not come back"));
    assert_eq!(rows(&p.app.db, &archived).await, before, "every row and field as it was");
    assert_eq!(receipts().await, 2, "restored, they count once");
    let again = cli(&["archive", "restore", &manifest.file, "--into-log"]);
    assert!(text(&again).contains("restored 0 submissions; 2 already in the log"), "{}", text(&again));

    // Restored, it is in the log and can be sent again.
    let r = p.app.request(Method::POST, &format!("/api/v2/logs/{succeeded_old}/restart")).bearer_auth(&p.admin.jwt);
    expect_json(r.send().await.unwrap(), StatusCode::OK).await;
    let log = p.settled(succeeded_old, &["succeeded"], WAIT).await;
    assert!(log["attempts"].as_array().unwrap().len() >= 2, "the archived attempt and the new one: {log:#}");

    // A damaged archive is refused, naming why.
    let path = archive.path().join(&manifest.file);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.truncate(bytes.len() - 10);
    std::fs::write(&path, bytes).unwrap();
    let damaged = cli(&["archive", "restore", &manifest.file, "--into-log"]);
    assert!(!damaged.status.success());
    assert!(text(&damaged).contains("does not match its manifest"), "{}", text(&damaged));
    assert!(text(&cli(&["archive", "list"])).contains("NOT USABLE"));
}
