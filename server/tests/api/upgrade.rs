//! Upgrading in place from the original dhis2gw (Go, 1.x): its database, built as its
//! migrations 1–7 left it (`server/tests/fixtures/v1`), is adopted when the gateway starts on
//! it; its users, partner tokens, mappings and history keep working.

use std::time::{Duration, Instant};

use dhis2_double::{Dhis2Double, Version, fixture};
use dhis2gw::infra::config::Secret;
use dhis2gw::upgrade::{self, Mode};
use dhis2gw_test_support::*;
use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};
use sqlx::{Connection, PgPool};

const STEPS: [&str; 7] = [
    include_str!("../fixtures/v1/migrations/0001.sql"),
    include_str!("../fixtures/v1/migrations/0002.sql"),
    include_str!("../fixtures/v1/migrations/0003.sql"),
    include_str!("../fixtures/v1/migrations/0004.sql"),
    include_str!("../fixtures/v1/migrations/0005.sql"),
    include_str!("../fixtures/v1/migrations/0006.sql"),
    include_str!("../fixtures/v1/migrations/0007.sql"),
];
pub const DATA: &str = include_str!("../fixtures/v1/data.sql");
const DATA_V3: &str = include_str!("../fixtures/v1/data_v3.sql");

/// The emr partner's token in the original, never expiring.
const OLD_TOKEN: &str = "a3f1c2e4b5d6978812ab34cd56ef7890a1b2c3d4";
/// Rows of the original's submission log in data.sql.
const HISTORY: i64 = 400;

/// A database as the original left it at migration `version`, with `settings` (the
/// fixture's knobs, `v1fixture.legacy_unique = on` …) and `data`.
pub async fn original_database(version: usize, settings: &str, data: Option<&str>) -> TestDatabase {
    let database = TestDatabase::new();
    let name = database.url.rsplit('/').next().unwrap().to_string();
    let mut admin = sqlx::PgConnection::connect(&format!("{}/postgres", postgres_server())).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(r#"CREATE DATABASE "{name}""#))).execute(&mut admin).await.unwrap();
    let pool = PgPool::connect(&database.url).await.unwrap();
    for step in &STEPS[..version] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("{settings}{step}"))).execute(&pool).await.unwrap();
    }
    if let Some(data) = data {
        sqlx::raw_sql(sqlx::AssertSqlSafe(data)).execute(&pool).await.unwrap();
    }
    pool.close().await;
    database
}

async fn gateway_on(database: &TestDatabase, dhis2: &Dhis2Double) -> TestApp {
    spawn_app_with(|c| {
        c.database.uri.0 = database.url.clone();
        c.api.dhis2_base_url = dhis2.base_url();
        c.api.dhis2_user = dhis2_double::USERNAME.into();
        c.api.dhis2_password = Secret::new(dhis2_double::PASSWORD);
        c.api.retry_cron_expression = "*/1 * * * * *".into();
        c.server.request_process_interval = 1;
    })
    .await
}

async fn sign_in(app: &TestApp, username: &str, password: &str) -> reqwest::Response {
    let body = json!({"username": username, "password": password});
    app.request(Method::POST, "/api/v2/users/getToken").json(&body).send().await.unwrap()
}

async fn get(app: &TestApp, token: &str, path: &str) -> Value {
    expect_json(app.request(Method::GET, path).bearer_auth(token).send().await.unwrap(), StatusCode::OK).await
}

async fn settled(app: &TestApp, token: &str, id: i64) -> Value {
    let started = Instant::now();
    loop {
        let log = get(app, token, &format!("/api/v2/logs/{id}")).await;
        if FINAL.contains(&log["status"].as_str().unwrap_or_default()) {
            return log;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "submission {id} not delivered: {log:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn the_originals_database_is_adopted_and_its_partner_admin_and_history_keep_working() {
    let original = original_database(7, "", Some(DATA)).await;
    let dhis2 = Dhis2Double::start(Version::V2_40).await;
    let app = gateway_on(&original, &dhis2).await;

    // The admin signs in with the old password; from then on it is kept as argon2id.
    let admin = expect_json(sign_in(&app, "meofficer", "me-password-2").await, StatusCode::OK).await;
    assert_eq!(admin["user"]["role"], "admin");
    assert_eq!(admin["user"]["uid"], "Rt5Vn8Wc3Pz");
    assert_eq!(admin["user"]["email"], "me.officer@example.org");
    let hash: String =
        sqlx::query_scalar("SELECT password FROM users WHERE username = 'meofficer'").fetch_one(&app.db).await.unwrap();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    let admin = admin["token"].as_str().unwrap().to_string();
    expect_json(sign_in(&app, "meofficer", "me-password-2").await, StatusCode::OK).await;
    // The seed account with its default password came over disabled; the deactivated stays so.
    expect_error(sign_in(&app, "admin", "@dm1n").await, StatusCode::UNAUTHORIZED).await;
    expect_error(sign_in(&app, "oldlab", "lab-password-3").await, StatusCode::UNAUTHORIZED).await;
    let users = get(&app, &admin, "/api/v2/users?page_size=50").await;
    let role_of =
        |name: &str| users["items"].as_array().unwrap().iter().find(|u| u["username"] == name).unwrap().clone();
    assert_eq!(role_of("emr")["role"], "partner");
    assert_eq!(role_of("admin")["is_active"], false);

    // The partner's old token, in all three header forms.
    for form in [format!("Token {OLD_TOKEN}"), format!("Token: {OLD_TOKEN}"), format!("Bearer {OLD_TOKEN}")] {
        let me = app.request(Method::GET, "/api/v2/me").header(header::AUTHORIZATION, &form).send().await.unwrap();
        assert_eq!(expect_json(me, StatusCode::OK).await["username"], "emr", "{form}");
    }
    // Revoked in the original: refused here too. Past its expiry, which the original ignored:
    // still works, for a while.
    for (token, expected) in [
        ("9f8e7d6c5b4a39281706f5e4d3c2b1a098765432", StatusCode::UNAUTHORIZED),
        ("b7c6d5e4f3a2918273645546372819a0b1c2d3e4", StatusCode::OK),
    ] {
        let me = app.request(Method::GET, "/api/v2/me").header(header::AUTHORIZATION, format!("Token {token}"));
        assert_eq!(me.send().await.unwrap().status(), expected, "{token}");
    }
    let emr = role_of("emr");
    let tokens = get(&app, &admin, &format!("/api/v2/users/{}/tokens", emr["uid"].as_str().unwrap())).await;
    let never = tokens.as_array().unwrap().iter().find(|t| t["prefix"] == "a3f1c2").expect("listed");
    assert_eq!((never["name"].as_str(), never["expires_at"].is_null()), (Some(upgrade::LEGACY_TOKEN_NAME), true));

    // The old mappings translate the old partner's next post, which is delivered.
    let body = json!({"orgUnit": fixture::OU_FACILITY_1, "period": "202410", "dataSet": fixture::DS_MONTHLY_HIV,
                      "dataValues": {"hiv_tested_male": 12, "hiv_positive": 2}});
    let posted = app
        .request(Method::POST, "/api/v2/aggregate")
        .header(header::AUTHORIZATION, format!("Token {OLD_TOKEN}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let posted = expect_json(posted, StatusCode::OK).await;
    assert_eq!(posted["payload"]["completeDate"].as_str().map(str::len), Some(10), "registered as the original did");
    let id = posted["submission_id"].as_i64().unwrap();
    assert_eq!(settled(&app, &admin, id).await["status"], "succeeded");
    let stored = dhis2.value(fixture::DE_HIV_TESTS, "202410", fixture::OU_FACILITY_1, fixture::COC_MALE).unwrap();
    assert_eq!(stored.value, "12");

    // Last month's history is listed, filterable, and an old failed row can be sent again.
    let all = get(&app, &admin, "/api/v2/logs?page_size=1").await;
    assert_eq!(all["total"], HISTORY + 1);
    let failed = get(&app, &admin, "/api/v2/logs?status=failed&page_size=500").await;
    let conflict = failed["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["errors"].as_str().is_some_and(|e| e.contains("409 Conflict")))
        .expect("an old 409")
        .clone();
    let old_id = conflict["id"].as_i64().unwrap();
    let detail = get(&app, &admin, &format!("/api/v2/logs/{old_id}")).await;
    assert_eq!(detail["attempts"][0]["import_status"], "failed", "{detail:#}");
    let requeued =
        app.request(Method::POST, &format!("/api/v2/logs/{old_id}/restart")).bearer_auth(&admin).send().await.unwrap();
    assert!(requeued.status().is_success(), "{}", requeued.text().await.unwrap());
    let delivered = settled(&app, &admin, old_id).await;
    assert!(matches!(delivered["status"].as_str(), Some("succeeded" | "warning")), "{delivered:#}");
    assert_eq!(delivered["destinations"].as_array().unwrap().len(), 1);

    // The original's tables are untouched; adopting again changes nothing.
    let untouched: i64 =
        sqlx::query_scalar("SELECT count(*) FROM public.submission_log").fetch_one(&app.db).await.unwrap();
    assert_eq!(untouched, HISTORY);
    let again = upgrade::adopt(&app.db, Mode::Import, 3600).await.unwrap().unwrap();
    assert!(!again.imported_anything(), "{again}");
    assert_eq!((again.users.already, again.tokens.already, again.submissions.already), (4, 4, HISTORY as u64));

    // Finalizing leaves only ours, which still serves.
    upgrade::finalize(&app.db, 3600).await.unwrap();
    let left: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' AND c.relkind = 'r'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(left, 0, "the original's tables are gone");
    assert_eq!(get(&app, &admin, "/api/v2/logs?page_size=1").await["total"], HISTORY + 1);
    assert!(upgrade::adopt(&app.db, Mode::Import, 3600).await.unwrap().is_none());
}

#[tokio::test]
async fn the_first_adoption_reports_what_came_over_and_what_was_left() {
    let original = original_database(7, "", Some(DATA)).await;
    let db = {
        let mut config = test_config(&original);
        config.database.uri.0 = original.url.clone();
        let db = dhis2gw::infra::db::connect(&config).await.unwrap();
        dhis2gw::infra::db::migrate(&db, &config).await.unwrap();
        db
    };
    let dry = upgrade::adopt(&db, Mode::DryRun, 3600).await.unwrap().unwrap();
    let report = upgrade::adopt(&db, Mode::Import, 3600).await.unwrap().unwrap();
    assert_eq!(dry.to_string(), report.to_string(), "a dry run says what the import does");
    assert_eq!((report.users.imported, report.tokens.imported, report.submissions.imported), (4, 4, HISTORY as u64));
    assert!(report.tokens.skipped.iter().any(|s| s.starts_with("token 3: revoked")), "{report}");
    // 15 rows: the one without a data element and two older duplicates are left, and named.
    assert_eq!(report.mappings.imported, 12, "{report}");
    let skipped = report.mappings.skipped.join("\n");
    assert!(skipped.contains("mapping 14 (malaria_cases): dataElement: is required"), "{skipped}");
    assert!(
        skipped.contains("mapping 7 (hiv_positive): same code, what, source and instance as mapping 3"),
        "{skipped}"
    );
    assert!(skipped.contains("mapping 5 (on_art)"), "{skipped}");
    let notes = report.notes.join("\n");
    assert!(notes.contains("user admin still has the original's default password"), "{notes}");
    assert!(notes.contains("token 4 expired on"), "{notes}");
    assert!(notes.contains("23 submission(s) were still queued"), "{notes}");
    assert!(notes.contains("2 submission(s) lack dataSet, orgUnit, period or dataValues"), "{notes}");
    // The audit log says what came over.
    let audited: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'v1.adopt'").fetch_one(&db).await.unwrap();
    assert_eq!(audited, 1);
    // The ou mapping without a code is keyed by the partner's org unit, as the original read it.
    let ou: String =
        sqlx::query_scalar("SELECT dest_orgunit FROM dhis2_mappings WHERE what = 'ou' AND code = 'VOTE-012'")
            .fetch_one(&db)
            .await
            .unwrap();
    assert_eq!(ou, "OrgDist0001");
    db.close().await;
}

#[tokio::test]
async fn every_released_shape_of_the_originals_schema_is_adopted() {
    // v1.0.0 (version 1, tokens without expiry), v1.0.1/2 (version 4 with the legacy
    // constraint), a version 3 with data, HEAD builds without the 0006 constraint, HEAD.
    let shapes: [(usize, &str, Option<&str>); 5] = [
        (1, "SET LOCAL v1fixture.tokens_expire = off;", None),
        (3, "", Some(DATA_V3)),
        (4, "SET LOCAL v1fixture.legacy_unique = on;", Some(DATA_V3)),
        (7, "SET LOCAL v1fixture.unique_in_0006 = off;", Some(DATA)),
        (7, "SET LOCAL v1fixture.legacy_unique = on;", None),
    ];
    for (version, settings, data) in shapes {
        let original = original_database(version, settings, data).await;
        let mut config = test_config(&original);
        config.database.uri.0 = original.url.clone();
        let db = dhis2gw::infra::db::connect(&config).await.unwrap();
        dhis2gw::infra::db::migrate(&db, &config).await.unwrap();
        let report = upgrade::adopt(&db, Mode::Import, 3600).await.unwrap().expect("the original is found");
        let users: i64 = sqlx::query_scalar("SELECT count(*) FROM public.users").fetch_one(&db).await.unwrap();
        let history: i64 =
            sqlx::query_scalar("SELECT count(*) FROM public.submission_log").fetch_one(&db).await.unwrap();
        assert_eq!(report.users.imported as i64, users, "version {version} {settings}: {report}");
        assert_eq!(report.submissions.imported as i64, history, "version {version} {settings}: {report}");
        if data.is_some() {
            assert!(report.tokens.imported > 0 && report.mappings.imported > 0, "version {version}: {report}");
        }
        db.close().await;
    }
}
