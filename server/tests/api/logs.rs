//! The submission log: filters, sorting, ownership, detail, requeue (single, batch, by task
//! id), delete (single, batch), purge and the audit trail.

use std::time::Duration;

use dhis2_double::{Version, fixture};
use dhis2gw_wire::Role;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use dhis2gw_test_support::*;

const FINAL: &[&str] = &["succeeded", "warning", "failed", "dead"];

async fn logs(p: &Pipeline, jwt: &str, query: &str) -> Value {
    let r = p.app.request(Method::GET, &format!("/api/v2/logs?{query}")).bearer_auth(jwt).send().await.unwrap();
    expect_json(r, StatusCode::OK).await
}

#[tokio::test]
async fn the_log_filters_and_partners_see_only_their_own() {
    let p = pipeline(Version::V2_40, |_| {}).await;
    let a = p.submit(json!({"positives": 1, "remarks": "needle in the payload"})).await;
    let b = p.submit(json!({"positives": "bad"})).await;
    p.settled(a, FINAL, Duration::from_secs(15)).await;
    p.settled(b, FINAL, Duration::from_secs(15)).await;
    let other = p.app.user("lab", Role::Partner).await;
    let other_body = json!({"orgUnit": fixture::OU_FACILITY_2, "period": "2024Q1", "dataSet": fixture::DS_QUARTERLY_TB, "dataValues": {"positives": 2}});
    let r = p
        .app
        .request(Method::POST, "/api/v2/aggregate")
        .bearer_auth(&other.jwt)
        .json(&other_body)
        .send()
        .await
        .unwrap();
    let c = expect_json(r, StatusCode::OK).await["submission_id"].as_i64().unwrap();
    p.settled(c, FINAL, Duration::from_secs(15)).await;

    let jwt = p.admin.jwt.clone();
    let ids = |page: &Value| -> Vec<i64> {
        page["items"].as_array().unwrap().iter().map(|i| i["id"].as_i64().unwrap()).collect()
    };
    let all = logs(&p, &jwt, "").await;
    assert_eq!((all["total"].as_i64(), ids(&all)), (Some(3), vec![c, b, a]));
    assert!(all["items"][0]["task_id"].is_string(), "plain fields, no {{String, Valid}} wrappers");
    assert_eq!(ids(&logs(&p, &jwt, "status=succeeded").await), [c, a]);
    assert_eq!(ids(&logs(&p, &jwt, "status=SUCCESS").await), [c, a], "the original's status words");
    assert_eq!(ids(&logs(&p, &jwt, "status=failed").await), [b]);
    assert_eq!(ids(&logs(&p, &jwt, &format!("data_set={}", fixture::DS_QUARTERLY_TB)).await), [c]);
    assert_eq!(ids(&logs(&p, &jwt, &format!("org_unit={}", fixture::OU_FACILITY_1)).await), [b, a]);
    assert_eq!(ids(&logs(&p, &jwt, "period=2024Q1").await), [c]);
    assert_eq!(ids(&logs(&p, &jwt, "user=LAB").await), [c]);
    assert_eq!(ids(&logs(&p, &jwt, "q=NEEDLE").await), [a]);
    assert_eq!(ids(&logs(&p, &jwt, &format!("job_id={b}")).await), [b]);
    let task = all["items"][2]["task_id"].as_str().unwrap().to_string();
    assert_eq!(ids(&logs(&p, &jwt, &format!("task_id={task}")).await), [a]);
    let today = chrono::Utc::now().with_timezone(&chrono_tz::Africa::Kampala).format("%Y-%m-%d").to_string();
    assert_eq!(
        logs(&p, &jwt, &format!("from_date={today}&to_date={today}")).await["total"],
        3,
        "to_date includes the whole day"
    );
    assert_eq!(logs(&p, &jwt, "to_date=2020-01-01").await["total"], 0);
    // The original's parameter: one whole day (it matched only rows stamped at midnight).
    assert_eq!(logs(&p, &jwt, &format!("submitted_at={today}")).await["total"], 3);
    assert_eq!(logs(&p, &jwt, "submitted_at=2020-01-01").await["total"], 0);
    let page = logs(&p, &jwt, "page=2&page_size=2").await;
    assert_eq!((ids(&page), page["total_pages"].as_i64()), (vec![a], Some(2)));
    for (query, field) in [
        ("status=bogus", "status"),
        ("from_date=yesterday", "from_date"),
        ("submitted_at=2024-01-01&from_date=2024-01-01", "submitted_at"),
        ("page_size=501", "page_size"),
        ("job_id=x", "job_id"),
        ("colour=red", "colour"),
    ] {
        let r = p.app.request(Method::GET, &format!("/api/v2/logs?{query}")).bearer_auth(&jwt).send().await.unwrap();
        let body = expect_error(r, StatusCode::BAD_REQUEST).await;
        assert!(details(&body)[0].contains(field), "{query}: {body}");
    }

    // The partner sees its own only, in the list and in detail.
    let own = logs(&p, &other.jwt, "").await;
    assert_eq!(ids(&own), [c]);
    let theirs = p.app.request(Method::GET, &format!("/api/v2/logs/{a}")).bearer_auth(&other.jwt).send().await.unwrap();
    expect_error(theirs, StatusCode::NOT_FOUND).await;
    let viewer = p.app.user("viewer", Role::Viewer).await;
    assert_eq!(logs(&p, &viewer.jwt, "").await["total"], 3);
}

#[tokio::test]
async fn fixing_a_mapping_and_requeueing_fixes_a_failed_submission() {
    let p = pipeline(Version::V2_43, |_| {}).await;
    // A mapping that points at a data element outside the data set sinks the group on 2.43.
    let wrong = json!({"code": "art", "dataElement": fixture::DE_ORPHAN});
    let r =
        p.app.request(Method::POST, "/api/v2/mappings").bearer_auth(&p.admin.jwt).json(&wrong).send().await.unwrap();
    let mapping_id = expect_json(r, StatusCode::CREATED).await["id"].as_i64().unwrap();
    let id = p.submit(json!({"art": "true", "positives": 4})).await;
    let failed = p.settled(id, FINAL, Duration::from_secs(15)).await;
    assert_eq!(failed["status"], "failed");

    let fixed = json!({"code": "art", "dataElement": fixture::DE_ON_ART});
    let r = p
        .app
        .request(Method::PUT, &format!("/api/v2/mappings/{mapping_id}"))
        .bearer_auth(&p.admin.jwt)
        .json(&fixed)
        .send()
        .await
        .unwrap();
    expect_json(r, StatusCode::OK).await;
    let r = p
        .app
        .request(Method::POST, &format!("/api/v2/logs/{id}/restart"))
        .bearer_auth(&p.admin.jwt)
        .send()
        .await
        .unwrap();
    assert_eq!(expect_json(r, StatusCode::OK).await["reEnqueued"], 1);
    let done = p.settled(id, FINAL, Duration::from_secs(15)).await;
    assert_eq!(done["status"], "succeeded", "{done:#}");
    assert_eq!(done["attempts"].as_array().unwrap().len(), 2, "history is kept");
    assert_eq!(
        done["dhis2_payload"]["dataValues"][0]["dataElement"],
        fixture::DE_ON_ART,
        "rebuilt from current mappings"
    );
    assert_ne!(done["task_id"], failed["task_id"]);
    let audit: Vec<String> = sqlx::query_scalar("SELECT action FROM audit_log WHERE actor = 'admin' ORDER BY id")
        .fetch_all(&p.app.db)
        .await
        .unwrap();
    assert!(audit.ends_with(&["mapping.update".to_string(), "submission.requeue".to_string()]), "{audit:?}");
}

#[tokio::test]
async fn batch_requeue_by_ids_task_ids_and_filter() {
    let p = pipeline(Version::V2_40, |_| {}).await;
    let a = p.submit(json!({"positives": "x1"})).await;
    let b = p.submit(json!({"positives": "x2"})).await;
    let c = p.submit(json!({"positives": 3})).await;
    for id in [a, b, c] {
        p.settled(id, FINAL, Duration::from_secs(15)).await;
    }
    let batch = |body: Value| {
        p.app.request(Method::POST, "/api/v2/aggregate/reenqueue/batch").bearer_auth(&p.admin.jwt).json(&body).send()
    };
    let by_filter = expect_json(batch(json!({"filter": {"status": "failed"}})).await.unwrap(), StatusCode::OK).await;
    assert_eq!((by_filter["reEnqueued"].as_u64(), by_filter["failed"].as_u64()), (Some(2), Some(0)));
    for id in [a, b] {
        p.settled(id, FINAL, Duration::from_secs(15)).await;
    }
    let by_ids = expect_json(batch(json!({"ids": [c, 999999]})).await.unwrap(), StatusCode::OK).await;
    assert_eq!((by_ids["reEnqueued"].as_u64(), by_ids["failed"].as_u64()), (Some(1), Some(1)));
    assert!(by_ids["errors"][0].as_str().unwrap().contains("999999"));
    p.settled(c, FINAL, Duration::from_secs(15)).await;
    let task = p.log(a).await["task_id"].as_str().unwrap().to_string();
    let by_task = expect_json(batch(json!({"task_ids": [task, "nope"]})).await.unwrap(), StatusCode::OK).await;
    assert_eq!((by_task["reEnqueued"].as_u64(), by_task["failed"].as_u64()), (Some(1), Some(1)));
    expect_error(batch(json!({})).await.unwrap(), StatusCode::BAD_REQUEST).await;
    expect_error(batch(json!({"ids": [1], "task_ids": ["x"]})).await.unwrap(), StatusCode::BAD_REQUEST).await;
    for everything in [json!({}), json!({"status": " ", "page": "2"})] {
        let body = expect_error(batch(json!({"filter": everything})).await.unwrap(), StatusCode::BAD_REQUEST).await;
        assert!(details(&body)[0].starts_with("filter: give at least one criterion"), "{body}");
    }
    let bad_filter =
        expect_error(batch(json!({"filter": {"status": "bogus"}})).await.unwrap(), StatusCode::BAD_REQUEST).await;
    assert!(details(&bad_filter)[0].contains("status"));

    // The original's single route, by task id, with GET and POST.
    p.settled(a, FINAL, Duration::from_secs(15)).await;
    let task = p.log(a).await["task_id"].as_str().unwrap().to_string();
    let r = p
        .app
        .request(Method::GET, &format!("/api/v2/aggregate/reenqueue/{task}"))
        .bearer_auth(&p.admin.jwt)
        .send()
        .await
        .unwrap();
    assert_eq!(expect_json(r, StatusCode::OK).await["reEnqueued"], 1);
    let r = p
        .app
        .request(Method::POST, "/api/v2/aggregate/reenqueue/unknown-task")
        .bearer_auth(&p.admin.jwt)
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::NOT_FOUND).await;
    // A partner may not requeue.
    let r = p
        .app
        .request(Method::POST, "/api/v2/aggregate/reenqueue/batch")
        .header("Authorization", format!("Token {}", p.partner_token))
        .json(&json!({"ids": [a]}))
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::FORBIDDEN).await;
}

#[tokio::test]
async fn delete_and_purge() {
    let p = pipeline(Version::V2_40, |_| {}).await;
    let a = p.submit(json!({"positives": 1})).await;
    let b = p.submit(json!({"positives": 2})).await;
    for id in [a, b] {
        p.settled(id, FINAL, Duration::from_secs(15)).await;
    }
    let operator = p.app.user("operator", Role::Operator).await;
    let r =
        p.app.request(Method::DELETE, &format!("/api/v2/logs/{a}")).bearer_auth(&operator.jwt).send().await.unwrap();
    assert_eq!(expect_json(r, StatusCode::OK).await["message"], "Deleted 1 log(s)");
    let r =
        p.app.request(Method::DELETE, &format!("/api/v2/logs/{a}")).bearer_auth(&operator.jwt).send().await.unwrap();
    expect_error(r, StatusCode::NOT_FOUND).await;
    let r = p
        .app
        .request(Method::DELETE, "/api/v2/logs/purge?date=2999-01-01T00:00:00Z")
        .bearer_auth(&operator.jwt)
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::FORBIDDEN).await;
    for query in ["", "?date=yesterday"] {
        let r = p
            .app
            .request(Method::DELETE, &format!("/api/v2/logs/purge{query}"))
            .bearer_auth(&p.admin.jwt)
            .send()
            .await
            .unwrap();
        let body = expect_error(r, StatusCode::BAD_REQUEST).await;
        assert!(details(&body)[0].starts_with("date"));
    }
    // A day, as the console's date field sends it: its start in server.timezone (Kampala, +03).
    let r = p.app.request(Method::DELETE, "/api/v2/logs/purge?date=2000-01-01").bearer_auth(&p.admin.jwt).send();
    let message = expect_json(r.await.unwrap(), StatusCode::OK).await["message"].clone();
    assert_eq!(message, "Deleted 0 logs older than 1999-12-31T21:00:00+00:00");
    let r = p
        .app
        .request(Method::DELETE, "/api/v2/logs/purge?date=2999-01-01T00:00:00Z")
        .bearer_auth(&p.admin.jwt)
        .send()
        .await
        .unwrap();
    assert!(expect_json(r, StatusCode::OK).await["message"].as_str().unwrap().starts_with("Deleted 1 logs older than"));
    assert_eq!(logs(&p, &p.admin.jwt, "").await["total"], 0);
    let actions: Vec<String> =
        sqlx::query_scalar("SELECT action FROM audit_log WHERE action LIKE 'submission.%' ORDER BY id")
            .fetch_all(&p.app.db)
            .await
            .unwrap();
    assert_eq!(actions, ["submission.delete", "submission.purge", "submission.purge"]);
    let tamper = sqlx::query("UPDATE audit_log SET actor = 'someone else'").execute(&p.app.db).await;
    assert!(tamper.is_err(), "the audit log is append-only");
}

#[tokio::test]
async fn batch_delete_by_ids_task_ids_and_filter_skips_what_single_delete_refuses() {
    let p = pipeline(Version::V2_40, |_| {}).await;
    let a = p.submit(json!({"positives": 1})).await;
    let b = p.submit(json!({"positives": "bad"})).await;
    let c = p.submit(json!({"positives": 3})).await;
    let d = p.submit(json!({"positives": 4})).await;
    for id in [a, b, c, d] {
        p.settled(id, FINAL, Duration::from_secs(15)).await;
    }
    let operator = p.app.user("operator", Role::Operator).await;
    let delete =
        |jwt: &str, body: Value| p.app.request(Method::POST, "/api/v2/logs/delete").bearer_auth(jwt).json(&body).send();
    // Being delivered right now: DELETE /logs/{id} refuses it, so the batch skips it.
    sqlx::query("UPDATE submission_log SET status = 'processing' WHERE id = $1")
        .bind(c)
        .execute(&p.app.db)
        .await
        .unwrap();
    let single =
        p.app.request(Method::DELETE, &format!("/api/v2/logs/{c}")).bearer_auth(&operator.jwt).send().await.unwrap();
    expect_error(single, StatusCode::CONFLICT).await;

    let by_ids =
        expect_json(delete(&operator.jwt, json!({"ids": [a, c, 999999]})).await.unwrap(), StatusCode::OK).await;
    assert_eq!((by_ids["deleted"].as_u64(), by_ids["skipped"].as_u64()), (Some(1), Some(2)), "{by_ids}");
    let errors: Vec<String> = serde_json::from_value(by_ids["errors"].clone()).unwrap();
    assert_eq!(errors.len(), 2);
    assert!(errors[0].starts_with(&format!("Submission {c} is being delivered right now")), "{errors:?}");
    assert_eq!(errors[1], "Submission 999999: not found");
    let gone =
        p.app.request(Method::GET, &format!("/api/v2/logs/{a}")).bearer_auth(&operator.jwt).send().await.unwrap();
    expect_error(gone, StatusCode::NOT_FOUND).await;

    let by_filter =
        expect_json(delete(&operator.jwt, json!({"filter": {"status": "failed"}})).await.unwrap(), StatusCode::OK)
            .await;
    assert_eq!(by_filter, json!({"deleted": 1, "skipped": 0, "errors": []}));
    let task = p.log(d).await["task_id"].as_str().unwrap().to_string();
    let by_task =
        expect_json(delete(&p.admin.jwt, json!({"task_ids": [task, "nope"]})).await.unwrap(), StatusCode::OK).await;
    assert_eq!((by_task["deleted"].as_u64(), by_task["skipped"].as_u64()), (Some(1), Some(1)));
    assert_eq!(by_task["errors"][0], "Task nope: no submission has this task id");
    assert_eq!(logs(&p, &p.admin.jwt, "").await["total"], 1, "only the one being delivered is left");

    for (body, detail) in [
        (json!({}), None),
        (json!({"ids": [c], "task_ids": ["x"]}), None),
        (json!({"filter": {}}), Some("filter: give at least one criterion")),
        (json!({"filter": {"status": " ", "page": "2"}}), Some("filter: give at least one criterion")),
        (json!({"filter": {"status": "bogus"}}), Some("status: unknown status 'bogus'")),
        (json!({"ids": "all"}), Some("ids: ")),
    ] {
        let error = expect_error(delete(&operator.jwt, body.clone()).await.unwrap(), StatusCode::BAD_REQUEST).await;
        if let Some(detail) = detail {
            assert!(details(&error)[0].starts_with(detail), "{body}: {error}");
        }
    }
    let viewer = p.app.user("viewer", Role::Viewer).await;
    expect_error(delete(&viewer.jwt, json!({"ids": [c]})).await.unwrap(), StatusCode::FORBIDDEN).await;
    let partner = p
        .app
        .request(Method::POST, "/api/v2/logs/delete")
        .header("Authorization", format!("Token {}", p.partner_token))
        .json(&json!({"ids": [c]}))
        .send()
        .await
        .unwrap();
    expect_error(partner, StatusCode::FORBIDDEN).await;

    // One audit entry per batch, with what it did.
    let audited: Vec<(String, Value)> =
        sqlx::query_as("SELECT actor, detail FROM audit_log WHERE action = 'submission.delete_batch' ORDER BY id")
            .fetch_all(&p.app.db)
            .await
            .unwrap();
    let counts: Vec<(&str, &Value, &Value)> =
        audited.iter().map(|(actor, d)| (actor.as_str(), &d["deleted"], &d["skipped"])).collect();
    assert_eq!(
        counts,
        [("operator", &json!(1), &json!(2)), ("operator", &json!(1), &json!(0)), ("admin", &json!(1), &json!(1))]
    );
    assert_eq!(audited[1].1["selection"]["filter"], json!({"status": "failed"}));
}

#[tokio::test]
async fn the_log_sorts_by_any_column_both_ways_with_stable_pages() {
    let p = pipeline(Version::V2_40, |_| {}).await;
    let a = p.submit(json!({"positives": 1})).await;
    let b = p.submit(json!({"positives": "bad"})).await;
    // The admin's own submission, for sorting by user.
    let r = p
        .app
        .request(Method::POST, "/api/v2/aggregate")
        .bearer_auth(&p.admin.jwt)
        .json(&p.submission(json!({"positives": 3})))
        .send()
        .await
        .unwrap();
    let c = expect_json(r, StatusCode::OK).await["submission_id"].as_i64().unwrap();
    for id in [a, b, c] {
        p.settled(id, FINAL, Duration::from_secs(15)).await;
    }
    for (id, retries, period, org_unit, data_set, attempted) in [
        (a, 2, Some("202403"), "OrgB", Some("DsB"), Some("2024-05-01T12:00:00Z")),
        (b, 0, Some("202401"), "OrgA", None, None),
        (c, 2, None, "OrgC", Some("DsA"), Some("2024-05-01T11:00:00Z")),
    ] {
        sqlx::query(
            "UPDATE submission_log SET retry_count = $2, period = $3, org_unit = $4, data_set = $5,
                 last_attempt_at = $6::timestamptz WHERE id = $1",
        )
        .bind(id)
        .bind(retries)
        .bind(period)
        .bind(org_unit)
        .bind(data_set)
        .bind(attempted)
        .execute(&p.app.db)
        .await
        .unwrap();
    }
    let jwt = p.admin.jwt.clone();
    let ids = |page: &Value| -> Vec<i64> {
        page["items"].as_array().unwrap().iter().map(|i| i["id"].as_i64().unwrap()).collect()
    };
    // Ties are broken by id in the same direction; empty values come last ascending and first
    // descending, as the column's index holds them. Page by page, one row a page, by number
    // and by following each page's `next`: every submission once, in the same order, across
    // the empty values' edge too.
    for (query, expected) in [
        ("", vec![c, b, a]),
        ("sort=submitted_at&order=desc", vec![c, b, a]),
        ("sort=submitted_at&order=asc", vec![a, b, c]),
        ("order=asc", vec![a, b, c]),
        ("sort=status&order=asc", vec![b, a, c]),
        ("sort=status", vec![c, a, b]),
        ("sort=retry_count&order=asc", vec![b, a, c]),
        ("sort=retry_count&order=desc", vec![c, a, b]),
        ("sort=period&order=asc", vec![b, a, c]),
        ("sort=period&order=desc", vec![c, a, b]),
        ("sort=org_unit&order=asc", vec![b, a, c]),
        ("sort=org_unit", vec![c, a, b]),
        ("sort=data_set&order=asc", vec![c, a, b]),
        ("sort=data_set&order=DESC", vec![b, a, c]),
        ("sort=user&order=asc", vec![c, a, b]),
        ("sort=user&order=desc", vec![b, a, c]),
        ("sort=last_attempt_at&order=asc", vec![c, a, b]),
        ("sort=last_attempt_at&order=desc", vec![b, a, c]),
        ("sort=status&order=asc&status=succeeded", vec![a, c]),
    ] {
        assert_eq!(ids(&logs(&p, &jwt, query).await), expected, "{query}");
        let mut by_number = Vec::new();
        for page in 1..=3 {
            by_number.extend(ids(&logs(&p, &jwt, &format!("{query}&page={page}&page_size=1")).await));
        }
        assert_eq!(by_number, expected, "{query}, by page number");
        // As the console asks: the page's number with the position it starts at.
        let mut followed = Vec::new();
        let mut page = logs(&p, &jwt, &format!("{query}&page_size=1")).await;
        while let Some(next) = page["next"].as_str() {
            followed.extend(ids(&page));
            let number = page["page"].as_i64().unwrap() + 1;
            page = logs(&p, &jwt, &format!("{query}&page_size=1&page={number}&after={next}")).await;
        }
        followed.extend(ids(&page));
        assert_eq!(followed, expected, "{query}, following next");
    }
    // A position is of one order: another's, or a made-up one, is refused by name.
    let by_period = logs(&p, &jwt, "sort=period&page_size=1").await;
    let position = by_period["next"].as_str().unwrap();
    // Made up in the shape of one, with values the columns cannot hold.
    use base64::Engine;
    let forged = |position: Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(&position).unwrap())
    };
    let at = "2024-01-01T00:00:00Z";
    let retries = forged(json!({"sort": "retry_count", "order": "desc", "value": "many", "at": at, "id": 1}));
    let attempted =
        forged(json!({"sort": "last_attempt_at", "order": "desc", "value": "yesterday", "at": at, "id": 1}));
    let period = forged(json!({"sort": "period", "order": "desc", "value": "2024\u{0}", "at": at, "id": 1}));
    let time = forged(
        json!({"sort": "submitted_at", "order": "desc", "value": null, "at": "+20000-01-01T00:00:00Z", "id": 1}),
    );
    for query in [
        format!("sort=status&after={position}"),
        format!("sort=period&order=asc&after={position}"),
        "after=page-9".into(),
        format!("sort=retry_count&after={retries}"),
        format!("sort=last_attempt_at&after={attempted}"),
        format!("sort=period&after={period}"),
        format!("after={time}"),
    ] {
        let r = p.app.request(Method::GET, &format!("/api/v2/logs?{query}")).bearer_auth(&jwt).send().await.unwrap();
        let body = expect_error(r, StatusCode::BAD_REQUEST).await;
        assert!(details(&body)[0].starts_with("after"), "{query}: {body}");
    }
    for (query, field) in [("sort=colour", "sort"), ("sort=id", "sort"), ("order=up", "order")] {
        let r = p.app.request(Method::GET, &format!("/api/v2/logs?{query}")).bearer_auth(&jwt).send().await.unwrap();
        let body = expect_error(r, StatusCode::BAD_REQUEST).await;
        assert!(details(&body)[0].starts_with(field), "{query}: {body}");
    }
}

#[tokio::test]
async fn past_ten_thousand_the_total_is_an_estimate_and_says_so_and_below_it_is_exact() {
    let p = pipeline(Version::V2_40, |_| {}).await;
    // 15,000 finished submissions written straight to the log, 7 of them for one org unit.
    sqlx::query(
        "INSERT INTO submission_log (payload, status, org_unit, period, submitted_at) \
         SELECT jsonb_build_object('n', g), 'succeeded', CASE WHEN g % 2000 = 0 THEN 'OrgFew00001' ELSE 'OrgMany0001' END, \
                '202401', now() - make_interval(secs => g) FROM generate_series(1, 15000) g",
    )
    .execute(&p.app.db)
    .await
    .unwrap();
    sqlx::query("ANALYZE submission_log").execute(&p.app.db).await.unwrap();
    let all = p.get_as_admin("/api/v2/logs?page_size=25&page=3").await;
    assert_eq!(all["total_is_estimate"], true, "{all:#}");
    let total = all["total"].as_i64().unwrap();
    assert!((10_001..=30_000).contains(&total), "a fair estimate of 15,000: {total}");
    assert_eq!(all["items"].as_array().unwrap().len(), 25);
    let few = p.get_as_admin("/api/v2/logs?org_unit=OrgFew00001").await;
    assert_eq!((few["total"].as_i64(), few["total_is_estimate"].as_bool()), (Some(7), Some(false)));
}

/// The plan PostgreSQL picks for a page of the log with these criteria and this order: the
/// query the gateway runs for a page, as the JSON text of its plan and its nodes.
async fn log_plan(p: &Pipeline, criteria: &Value, sort: &str, direction: &str) -> (String, Vec<Value>) {
    log_plan_after(p, criteria, sort, direction, None).await
}

/// The same, for the page after a position (as the gateway gives it to `log_page`).
async fn log_plan_after(
    p: &Pipeline,
    criteria: &Value,
    sort: &str,
    direction: &str,
    after: Option<Value>,
) -> (String, Vec<Value>) {
    let explain = "EXPLAIN (FORMAT JSON) SELECT id FROM log_page($1::jsonb, $2, $3, 25, 0, $4::jsonb)";
    let plan: Value = sqlx::query_scalar(explain)
        .bind(criteria)
        .bind(sort)
        .bind(direction)
        .bind(after)
        .fetch_one(&p.app.db)
        .await
        .unwrap();
    let mut nodes = Vec::new();
    let mut todo = vec![plan[0]["Plan"].clone()];
    while let Some(mut node) = todo.pop() {
        if let Some(Value::Array(children)) = node.as_object_mut().and_then(|n| n.remove("Plans")) {
            todo.extend(children);
        }
        nodes.push(node);
    }
    (plan.to_string(), nodes)
}

/// Whether any node of a plan reads the whole log.
fn reads_whole_log(nodes: &[Value]) -> bool {
    nodes.iter().any(|n| n["Node Type"] == "Seq Scan" && n["Relation Name"] == "submission_log")
}

#[tokio::test]
async fn the_main_filters_and_sorts_are_planned_on_their_indexes() {
    let p = pipeline(Version::V2_40, |_| {}).await;
    // 60,000 submissions by five partners (one of them small), 3 % with a refused value.
    sqlx::query(
        "INSERT INTO users (uid, username, password, role) \
         SELECT 'PlanPartnr' || g, 'plan-partner-' || g, 'x', 'partner' FROM generate_series(1, 5) g",
    )
    .execute(&p.app.db)
    .await
    .unwrap();
    sqlx::query(
        "WITH s AS (
             INSERT INTO submission_log (payload, status, org_unit, period, data_set, task_id, submitted_at, user_id,
                                         retry_count, last_attempt_at)
             SELECT jsonb_build_object('facility', 'Facility ' || g), CASE WHEN g % 33 = 0 THEN 'warning' ELSE 'succeeded' END,
                    'OrgUnit' || lpad((g % 3000)::text, 4, '0'), '2024' || lpad((1 + g % 12)::text, 2, '0'),
                    'DataSet' || g % 5, md5(g::text), now() - make_interval(mins => g),
                    (SELECT id FROM users WHERE username = 'plan-partner-' || CASE WHEN g % 1000 = 0 THEN 5 ELSE 1 + g % 4 END),
                    g % 3, now() - make_interval(mins => g - 1)
             FROM generate_series(1, 60000) g
             RETURNING id, status),
         d AS (
             INSERT INTO submission_destinations (submission_id, server_id, status)
             SELECT id, (SELECT min(id) FROM dhis2_servers), status FROM s WHERE status = 'warning'
             RETURNING id, submission_id)
         INSERT INTO value_outcomes (submission_id, destination_id, value_index, partner_key, data_element, outcome,
                                     class, error_code)
         SELECT submission_id, id, 0, 'positives', 'DeHivPos001', 'refused', 'data', 'E7619' FROM d",
    )
    .execute(&p.app.db)
    .await
    .unwrap();
    sqlx::query("ANALYZE").execute(&p.app.db).await.unwrap();
    let week_ago = (chrono::Utc::now() - chrono::Duration::days(7)).to_rfc3339();
    // As the gateway asks: a partner's name comes with the partner's id.
    let small_partner: i64 = sqlx::query_scalar("SELECT id FROM users WHERE username = 'plan-partner-5'")
        .fetch_one(&p.app.db)
        .await
        .unwrap();
    let filters = [
        (json!({"from": week_ago, "to": chrono::Utc::now().to_rfc3339()}), "submission_log_submitted_idx"),
        (json!({"org_unit": "OrgUnit0042"}), "submission_log_org_unit_idx"),
        (json!({"period": "202403", "org_unit": "OrgUnit0042"}), "submission_log_org_unit_idx"),
        (json!({"task_id": "c4ca4238a0b923820dcc509a6f75849b"}), "submission_log_task_idx"),
        (json!({"user": "plan-partner-5", "user_id": small_partner}), "submission_log_user_idx"),
        // A text no submission holds: one some do may be a bound of the statistics' histogram, and so
        // be expected to be common.
        (json!({"q": "%Facility 99999%"}), "submission_log_text_idx"),
        // Refused values that few submissions have come with those submissions' ids.
        (json!({"class": "data", "code": "E7619", "among": [60, 120, 180]}), "submission_log_pkey"),
    ];
    for (criteria, index) in &filters {
        let (plan, nodes) = log_plan(&p, criteria, "submitted_at", "desc").await;
        assert!(plan.contains(index), "{criteria} should use {index}: {plan}");
        // Bounded by the index, not merely read in its order and filtered.
        assert!(plan.contains("\"Index Cond\""), "{criteria} is not an index condition: {plan}");
        assert!(!reads_whole_log(&nodes), "{criteria} reads the whole log: {plan}");
    }
    // Sorted by a column, the whole log is read off that column's index in either direction;
    // by partner, a page's worth of each partner's is, and only those are sorted.
    let sorts = [
        ("period", "submission_log_period_idx"),
        ("status", "submission_log_status_sort_idx"),
        ("org_unit", "submission_log_org_unit_idx"),
        ("data_set", "submission_log_data_set_idx"),
        ("retry_count", "submission_log_retry_count_idx"),
        ("last_attempt_at", "submission_log_last_attempt_idx"),
        ("submitted_at", "submission_log_submitted_idx"),
        ("user", "submission_log_user_idx"),
    ];
    for (sort, index) in sorts {
        for direction in ["asc", "desc"] {
            let (plan, nodes) = log_plan(&p, &json!({}), sort, direction).await;
            assert!(plan.contains(index), "sorted by {sort} {direction} should use {index}: {plan}");
            assert!(!reads_whole_log(&nodes), "sorted by {sort} {direction} reads the whole log: {plan}");
            let sorted = nodes.iter().filter(|n| n["Node Type"] == "Sort").map(|n| n["Plan Rows"].as_f64().unwrap());
            assert!(sorted.fold(0.0, f64::max) <= 1_000.0, "sorted by {sort} {direction} sorts many rows: {plan}");
        }
    }
    // A page deep in the log starts at its position in the index, in either direction: it
    // neither reads nor skips the rows before it.
    let deep: (i64, chrono::DateTime<chrono::Utc>, String, String) = sqlx::query_as(
        "SELECT s.id, s.submitted_at, s.period, u.username FROM submission_log s JOIN users u ON u.id = s.user_id
         ORDER BY s.id LIMIT 1 OFFSET 30000",
    )
    .fetch_one(&p.app.db)
    .await
    .unwrap();
    let (id, at, period, partner) = deep;
    // By partner, the position's partner is read from the position on, off its own index or
    // off the time index (where its submissions are common enough to be met reading that).
    for (sort, value, indexes) in [
        ("submitted_at", None, &["submission_log_submitted_idx"][..]),
        ("period", Some(period), &["submission_log_period_idx"]),
        ("user", Some(partner), &["submission_log_user_idx", "submission_log_submitted_idx"]),
    ] {
        for direction in ["asc", "desc"] {
            let after = json!({"value": value, "at": at, "id": id});
            let (plan, nodes) = log_plan_after(&p, &json!({}), sort, direction, Some(after)).await;
            assert!(
                indexes.iter().any(|index| plan.contains(index)),
                "after a position by {sort} {direction} should use one of {indexes:?}: {plan}"
            );
            assert!(plan.contains("ROW("), "after a position by {sort} {direction} is not bounded by it: {plan}");
            assert!(!reads_whole_log(&nodes), "after a position by {sort} {direction} reads the whole log: {plan}");
            let sorted = nodes.iter().filter(|n| n["Node Type"] == "Sort").map(|n| n["Plan Rows"].as_f64().unwrap());
            assert!(sorted.fold(0.0, f64::max) <= 1_000.0, "after a position by {sort} {direction} sorts many: {plan}");
        }
    }
}

#[tokio::test]
async fn new_submissions_are_merged_into_the_search_index_outside_requests() {
    let p = pipeline(Version::V2_40, |_| {}).await;
    let index_limit: String = sqlx::query_scalar(
        "SELECT array_to_string(reloptions, ',') FROM pg_class WHERE relname = 'submission_log_text_idx'",
    )
    .fetch_one(&p.app.db)
    .await
    .unwrap();
    assert_eq!(index_limit, "gin_pending_list_limit=16384", "requests do not fill the pending list");
    let id = p.submit(json!({"positives": 3, "remarks": "seen at the Kisoro needle clinic"})).await;
    dhis2gw::submissions::log::merge_search_index(&p.app.db).await.unwrap();
    let left: i64 = sqlx::query_scalar("SELECT gin_clean_pending_list('submission_log_text_idx'::regclass)")
        .fetch_one(&p.app.db)
        .await
        .unwrap();
    assert_eq!(left, 0, "the pending list was merged");
    let found = logs(&p, &p.admin.jwt, "q=needle clinic").await;
    assert_eq!(found["items"][0]["id"].as_i64(), Some(id), "{found:#}");
}
