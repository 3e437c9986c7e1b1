//! `GET /overview`: counts by local day and status, the queue, the last delivery error and
//! the servers, for staff only; and what it still answers while Redis is down.

use std::time::Duration;

use chrono::{Days, NaiveTime, TimeZone, Utc};
use dhis2_double::Version;
use dhis2gw_wire::{Overview, Role};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use dhis2gw_test_support::*;

const FINAL: &[&str] = &["succeeded", "warning", "failed", "dead"];
/// UTC+14: local days and UTC days differ for 14 hours of every day.
const TZ: chrono_tz::Tz = chrono_tz::Pacific::Kiritimati;

async fn overview(app: &TestApp, jwt: &str) -> Overview {
    let r = app.request(Method::GET, "/api/v2/overview").bearer_auth(jwt).send().await.unwrap();
    serde_json::from_value(expect_json(r, StatusCode::OK).await).expect("the wire type reads it back")
}

fn counts(map: &std::collections::BTreeMap<String, i64>) -> Value {
    serde_json::to_value(map).unwrap()
}

#[tokio::test]
async fn counts_by_local_day_and_status_with_the_last_error_and_the_servers() {
    let p = pipeline(Version::V2_40, |c| c.server.timezone = TZ).await;
    let ok = p.submit(json!({"positives": 1})).await;
    let bad = p.submit(json!({"positives": "bad"})).await;
    let early = p.submit(json!({"positives": 2})).await;
    let late_yesterday = p.submit(json!({"positives": 3})).await;
    let three_days = p.submit(json!({"positives": 4})).await;
    let ten_days = p.submit(json!({"positives": 5})).await;
    let too_old = p.submit(json!({"positives": 6})).await;
    for id in [ok, bad, early, late_yesterday, three_days, ten_days, too_old] {
        p.settled(id, FINAL, Duration::from_secs(15)).await;
    }
    // Placed around local midnights: bucketing by UTC days would count them on other days.
    let today = Utc::now().with_timezone(&TZ).date_naive();
    let midnight = |days_ago: u64| {
        TZ.from_local_datetime(&(today - Days::new(days_ago)).and_time(NaiveTime::MIN)).unwrap().to_utc()
    };
    for (id, at) in [
        (early, midnight(0) + chrono::Duration::minutes(5)),
        (late_yesterday, midnight(0) - chrono::Duration::minutes(5)),
        (three_days, midnight(3) + chrono::Duration::hours(12)),
        (ten_days, midnight(10) + chrono::Duration::hours(1)),
        (too_old, midnight(30) + chrono::Duration::hours(23)),
    ] {
        sqlx::query("UPDATE submission_log SET submitted_at = $2 WHERE id = $1")
            .bind(id)
            .bind(at)
            .execute(&p.app.db)
            .await
            .unwrap();
    }

    let viewer = p.app.user("viewer", Role::Viewer).await;
    let o = overview(&p.app, &viewer.jwt).await;
    assert_eq!(o.timezone, "Pacific/Kiritimati");
    assert!((Utc::now() - o.generated_at).num_seconds().abs() < 60);
    let windows: Vec<(&str, i64, Value)> =
        o.windows.iter().map(|w| (w.window.as_str(), w.total, counts(&w.by_status))).collect();
    assert_eq!(
        windows,
        [
            ("today", 3, json!({"failed": 1, "succeeded": 2})),
            ("7d", 5, json!({"failed": 1, "succeeded": 4})),
            ("30d", 6, json!({"failed": 1, "succeeded": 5})),
        ]
    );
    assert_eq!(o.daily.len(), 30);
    let day = |days_ago: u64| (today - Days::new(days_ago)).format("%Y-%m-%d").to_string();
    assert_eq!((o.daily[0].day.clone(), o.daily[29].day.clone()), (day(29), day(0)), "oldest first, today last");
    let by_day: Vec<(String, Value)> = o.daily.iter().map(|d| (d.day.clone(), counts(&d.by_status))).collect();
    for (days_ago, expected) in [
        (0, json!({"failed": 1, "succeeded": 2})),
        (1, json!({"succeeded": 1})),
        (2, json!({})),
        (3, json!({"succeeded": 1})),
        (10, json!({"succeeded": 1})),
        (29, json!({})),
    ] {
        assert_eq!(by_day[29 - days_ago as usize], (day(days_ago), expected), "{days_ago} days ago");
    }
    let listed: usize = o.daily.iter().map(|d| d.by_status.values().sum::<i64>() as usize).sum();
    assert_eq!(listed, 6, "the submission 30 days ago is outside the 30 days");

    let error = o.last_error.expect("the rejected submission");
    assert_eq!((error.submission_id, error.server.as_deref()), (bad, Some("primary")));
    assert!(!error.error.is_empty() && error.http_status.is_some(), "{error:?}");
    assert_eq!((o.queue.in_flight, o.queue.pending, o.queue.redis_error.as_deref()), (0, 0, None));
    let servers = p.app.request(Method::GET, "/api/v2/servers").bearer_auth(&viewer.jwt).send().await.unwrap();
    assert_eq!(serde_json::to_value(&o.servers).unwrap(), expect_json(servers, StatusCode::OK).await);

    // A delivery under way is in flight and pending.
    p.dhis2.set_latency(Duration::from_millis(1500));
    let slow = p.submit(json!({"positives": 7})).await;
    p.settled(slow, &["processing"], Duration::from_secs(5)).await;
    let o = overview(&p.app, &p.admin.jwt).await;
    assert_eq!((o.queue.in_flight, o.queue.pending, o.servers[0].pending), (1, 1, 1));
    p.settled(slow, FINAL, Duration::from_secs(15)).await;

    let operator = p.app.user("operator", Role::Operator).await;
    overview(&p.app, &operator.jwt).await;
    let partner = p
        .app
        .request(Method::GET, "/api/v2/overview")
        .header("Authorization", format!("Token {}", p.partner_token))
        .send()
        .await
        .unwrap();
    expect_error(partner, StatusCode::FORBIDDEN).await;
    expect_error(p.app.request(Method::GET, "/api/v2/overview").send().await.unwrap(), StatusCode::UNAUTHORIZED).await;
}

#[tokio::test]
async fn without_redis_the_overview_still_answers_and_says_why_the_queue_is_zero() {
    let app = spawn_app_with(|c| c.server.redis_address = "127.0.0.1:1".parse().unwrap()).await;
    let admin = app.user("admin", Role::Admin).await;
    let o = overview(&app, &admin.jwt).await;
    assert_eq!((o.queue.due, o.queue.scheduled), (0, 0));
    assert!(o.queue.redis_error.is_some(), "{:?}", o.queue);
    assert_eq!(o.windows.iter().map(|w| w.total).collect::<Vec<_>>(), [0, 0, 0]);
    assert_eq!(o.daily.len(), 30);
    assert!(o.daily.iter().all(|d| d.by_status.is_empty()));
    assert!(o.last_error.is_none());
}

#[tokio::test]
async fn storage_figures_show_the_database_its_tables_and_the_oldest_submission() {
    let p = pipeline(Version::V2_40, |_| {}).await;
    let first = p.submit(json!({"positives": 1})).await;
    p.submit(json!({"positives": 2})).await;
    let received =
        sqlx::query_scalar::<_, chrono::DateTime<Utc>>("SELECT submitted_at FROM submission_log WHERE id = $1")
            .bind(first)
            .fetch_one(&p.app.db)
            .await
            .unwrap();
    // PostgreSQL counts rows as its backends report them, within a second or so.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let storage = loop {
        let o = overview(&p.app, &p.admin.jwt).await;
        let rows = o.storage.tables.iter().find(|t| t.table == "submission_log").map_or(0, |t| t.rows);
        if rows == 2 {
            break o.storage;
        }
        assert!(std::time::Instant::now() < deadline, "submission_log rows: {rows}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert!(storage.database_bytes > 1_000_000, "{}", storage.database_bytes);
    assert_eq!(storage.oldest_submission.map(|t| t.timestamp_micros()), Some(received.timestamp_micros()));
    assert!(storage.tables.windows(2).all(|w| w[0].bytes >= w[1].bytes), "largest first");
    assert!(storage.tables.iter().any(|t| t.table == "delivery_attempts"));
    assert_eq!(storage.archive_bytes, 0, "nothing archived yet");

    let metrics = p.app.request(Method::GET, "/metrics").send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("dhis2gw_table_rows{table=\"submission_log\"} 2"), "{metrics}");
    assert!(metrics.contains(&format!("dhis2gw_oldest_submission_timestamp_seconds {}", received.timestamp())));
    let size = metrics.lines().find_map(|l| l.strip_prefix("dhis2gw_database_bytes ")).unwrap();
    assert!(size.parse::<i64>().unwrap() > 1_000_000);
}
