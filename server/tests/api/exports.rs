//! Exports of the submissions log and the audit log: the screens' filters, CSV and XLSX,
//! streamed as written so a large export never sits in memory whole.

use std::io::Cursor;

use calamine::{Reader, Xlsx};
use dhis2gw_wire::Role;
use reqwest::{Method, StatusCode};

use dhis2gw_test_support::*;

const ROWS: i64 = 100_000;

/// The peak resident memory of this process (the gateway runs in it), in bytes.
fn peak_memory() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 1024
}

#[tokio::test]
async fn a_hundred_thousand_submissions_stream_out_without_the_export_in_memory() {
    let app = spawn_app().await;
    let admin = app.user("admin", Role::Admin).await;
    sqlx::query(
        "INSERT INTO submission_log (payload, status, data_set, org_unit, period, submitted_at, errors)
         SELECT jsonb_build_object('n', g), CASE WHEN g % 10 = 0 THEN 'failed' ELSE 'succeeded' END,
                'pBOMPrpg1QY', 'DiszpKrYNg8', '202401', now() - make_interval(secs => g),
                CASE WHEN g % 10 = 0 THEN 'a value, with \"quotes\" and a comma' END
         FROM generate_series(1, $1) g",
    )
    .bind(ROWS)
    .execute(&app.db)
    .await
    .unwrap();

    let before = peak_memory();
    let mut response = app.request(Method::GET, "/api/v2/logs/export").bearer_auth(&admin.jwt).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().get("content-length").is_none(), "streamed, not sized ahead");
    assert_eq!(response.headers()["content-disposition"], "attachment; filename=\"dhis2gw_submissions.csv\"");
    let (mut bytes, mut chunks, mut head) = (0usize, 0usize, Vec::new());
    let mut lines = 0usize;
    while let Some(chunk) = response.chunk().await.unwrap() {
        if head.len() < 4096 {
            head.extend_from_slice(&chunk[..chunk.len().min(4096)]);
        }
        lines += chunk.iter().filter(|b| **b == b'\n').count();
        bytes += chunk.len();
        chunks += 1;
    }
    let grown = peak_memory().saturating_sub(before);
    assert_eq!(lines, ROWS as usize + 1, "a header and every row");
    assert!(chunks > 10, "{chunks} chunks");
    // Holding the export whole would take at least its own size; streaming takes far less.
    assert!(grown < bytes as u64 / 2, "peak memory grew by {grown} bytes for an export of {bytes} bytes");
    println!("{ROWS} rows, {bytes} bytes in {chunks} chunks; peak memory grew by {grown} bytes");
    let head = String::from_utf8_lossy(&head);
    let mut head_lines = head.lines();
    assert_eq!(
        head_lines.next(),
        Some(
            "id,kind,submitted_at,partner,status,data_set,data_set_name,org_unit,period,retry_count,last_attempt_at,task_id,job_id,errors"
        )
    );
    assert!(head_lines.next().unwrap().contains(",succeeded,pBOMPrpg1QY,,DiszpKrYNg8,202401,0,"), "{head}");

    // The log's filters apply; XLSX reads back in a spreadsheet reader.
    let r = app.request(Method::GET, "/api/v2/logs/export?status=failed&format=xlsx").bearer_auth(&admin.jwt);
    let r = r.send().await.unwrap();
    assert_eq!(r.headers()["content-disposition"], "attachment; filename=\"dhis2gw_submissions.xlsx\"");
    let mut book = Xlsx::new(Cursor::new(r.bytes().await.unwrap().to_vec())).unwrap();
    let sheet = book.worksheet_range("Submissions").unwrap();
    assert_eq!(sheet.height(), (ROWS / 10) as usize + 1);
    let row = sheet.rows().nth(1).unwrap();
    assert_eq!(
        (row[4].to_string(), row[13].to_string()),
        ("failed".into(), "a value, with \"quotes\" and a comma".into())
    );

    for query in ["format=pdf", "status=lost", "colour=red"] {
        let r = app.request(Method::GET, &format!("/api/v2/logs/export?{query}")).bearer_auth(&admin.jwt);
        let e = expect_error(r.send().await.unwrap(), StatusCode::BAD_REQUEST).await;
        assert!(e.to_string().contains(query.split('=').next().unwrap()), "{query}: {e}");
    }
    // Partners export only their own submissions: none here.
    let partner = app.user("lab", Role::Partner).await;
    let r = app.request(Method::GET, "/api/v2/logs/export").bearer_auth(&partner.jwt).send().await.unwrap();
    assert_eq!(r.text().await.unwrap().lines().count(), 1);
}

#[tokio::test]
async fn the_audit_log_exports_with_its_filters_for_staff_only() {
    let app = spawn_app().await;
    let admin = app.user("admin", Role::Admin).await;
    for name in ["viewer-a", "viewer-b"] {
        let body = serde_json::json!({"username": name, "password": PASSWORD, "role": "viewer"});
        let r = app.request(Method::POST, "/api/v2/users").bearer_auth(&admin.jwt).json(&body).send().await.unwrap();
        expect_json(r, StatusCode::CREATED).await;
    }
    let r = app.request(Method::GET, "/api/v2/audit/export?action=user.create").bearer_auth(&admin.jwt);
    let text = r.send().await.unwrap().text().await.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert_eq!(lines[0], "id,created,actor,action,target_type,target_id,detail");
    assert!(lines[1].contains(",admin,user.create,user,") && lines[1].contains("viewer-b"), "newest first: {text}");

    let r = app.request(Method::GET, "/api/v2/audit/export?format=xlsx&q=viewer-a").bearer_auth(&admin.jwt);
    let mut book = Xlsx::new(Cursor::new(r.send().await.unwrap().bytes().await.unwrap().to_vec())).unwrap();
    let sheet = book.worksheet_range("Audit log").unwrap();
    assert_eq!(sheet.height(), 2);
    assert_eq!(sheet.rows().nth(1).unwrap()[3].to_string(), "user.create");

    let partner = app.user("lab", Role::Partner).await;
    let r = app.request(Method::GET, "/api/v2/audit/export").bearer_auth(&partner.jwt).send().await.unwrap();
    expect_error(r, StatusCode::FORBIDDEN).await;
}
