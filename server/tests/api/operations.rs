//! What operators rely on in production: metrics, the pages served to browsers, and several
//! gateway processes sharing one database and queue.

use std::time::{Duration, Instant};

use dhis2_double::{Dhis2Double, Version, fixture};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::cli::{Operator, env_refs, start_gateway};
use dhis2gw_test_support::*;

/// The value of one sample line (`name{labels} value`) of a Prometheus exposition.
pub fn sample(exposition: &str, series: &str) -> Option<f64> {
    exposition.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok())
}

pub async fn scrape(client: &reqwest::Client, base: &str) -> String {
    let response = client.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("application/openmetrics-text"));
    response.text().await.unwrap()
}

#[tokio::test]
async fn metrics_count_requests_submissions_deliveries_and_dhis2_answers() {
    let p = pipeline(Version::V2_40, |_| {}).await;
    let id = p.submit(json!({"positives": 4})).await;
    p.settled(id, &["succeeded"], Duration::from_secs(15)).await;
    let bad = p.post(&json!({"orgUnit": "x"})).await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    p.app.request(Method::GET, "/no/such/route").send().await.unwrap();

    let text = scrape(&p.app.client, &p.app.address).await;
    let http = |status: u16| {
        format!(r#"dhis2gw_http_requests_total{{method="POST",route="/api/v2/aggregate",status="{status}"}}"#)
    };
    assert_eq!(sample(&text, &http(200)), Some(1.0), "{text}");
    assert_eq!(sample(&text, &http(400)), Some(1.0), "{text}");
    assert_eq!(
        sample(&text, r#"dhis2gw_http_requests_total{method="GET",route="unmatched",status="404"}"#),
        Some(1.0),
        "unmatched paths share one label, so scanners cannot grow the series: {text}"
    );
    let bucket = r#"dhis2gw_http_request_duration_seconds_bucket{le="+Inf",method="POST",route="/api/v2/aggregate",status="200"}"#;
    assert_eq!(sample(&text, bucket), Some(1.0), "{text}");
    assert_eq!(sample(&text, r#"dhis2gw_submissions_received_total{kind="aggregate"}"#), Some(1.0), "{text}");
    assert_eq!(sample(&text, r#"dhis2gw_deliveries_total{outcome="succeeded"}"#), Some(1.0), "{text}");
    assert_eq!(sample(&text, "dhis2gw_deliveries_in_flight"), Some(0.0), "{text}");
    assert!(sample(&text, r#"dhis2gw_dhis2_request_duration_seconds_count{status="200"}"#) >= Some(1.0), "{text}");
    assert_eq!(sample(&text, r#"dhis2gw_queue_depth{state="due"}"#), Some(0.0), "{text}");
    assert_eq!(sample(&text, r#"dhis2gw_db_pool_max_connections{pool="api"}"#), Some(5.0), "{text}");
    assert!(sample(&text, r#"dhis2gw_db_pool_connections{pool="workers",state="idle"}"#).is_some(), "{text}");
    assert!(text.trim_end().ends_with("# EOF"), "a complete OpenMetrics exposition");

    // Without a token, a request relayed by a proxy on this host is not a local client.
    let proxied = p.app.request(Method::GET, "/metrics").header("X-Forwarded-For", "203.0.113.9").send().await.unwrap();
    expect_error(proxied, StatusCode::FORBIDDEN).await;
}

#[tokio::test]
async fn with_a_metrics_token_only_its_bearer_may_scrape() {
    let app = spawn_app_with(|c| c.server.metrics_token = dhis2gw::infra::config::Secret::new("scrape-secret")).await;
    let scrape_with = |auth: Option<&'static str>| {
        let request = app.request(Method::GET, "/metrics");
        let request = match auth {
            Some(value) => request.header("Authorization", value),
            None => request,
        };
        async move { request.send().await.unwrap() }
    };
    for auth in [None, Some("Bearer wrong"), Some("Basic c2NyYXBlLXNlY3JldA=="), Some("scrape-secret")] {
        let body = expect_error(scrape_with(auth).await, StatusCode::UNAUTHORIZED).await;
        assert!(body["error"].as_str().unwrap().contains("server.metrics_token"), "{body}");
    }
    assert_eq!(scrape_with(Some("Bearer scrape-secret")).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn landing_page_docs_and_static_files_are_served_safely() {
    let app = spawn_app().await;
    let get = |path: &str| app.request(Method::GET, path).send();
    let landing = get("/").await.unwrap();
    assert_eq!(landing.status(), StatusCode::OK);
    assert!(landing.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let html = landing.text().await.unwrap();
    for link in ["/swagger/", "/docs/partner-guide", "/docs/admin-guide", "/docs/operations-guide"] {
        assert!(html.contains(&format!("href=\"{link}\"")), "{link} in {html}");
    }
    assert!(html.contains(dhis2gw::VERSION));

    let page = get("/docs/partner-guide").await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let page = page.text().await.unwrap();
    assert!(
        page.contains("<h1 id=\"partner-integration-guide\">")
            && page.contains("<table>")
            && page.contains("aria-current=\"page\""),
        "{page}"
    );
    assert_eq!(get("/docs/partner-guide.md").await.unwrap().status(), StatusCode::OK);

    for hostile in
        ["/docs/..%2F..%2FCargo.toml", "/docs/%2e%2e%2fCargo", "/docs/.hidden", "/docs/missing", "/docs/a%00b"]
    {
        let body = expect_error(get(hostile).await.unwrap(), StatusCode::NOT_FOUND).await;
        assert!(body["error"].as_str().unwrap().starts_with("No documentation page"), "{hostile}: {body}");
    }
    let icon = get("/static/favicon.svg").await.unwrap();
    assert_eq!(icon.status(), StatusCode::OK);
    assert_eq!(icon.headers()["content-type"], "image/svg+xml");
    for outside in ["/static/../Cargo.toml", "/static/%2e%2e/Cargo.toml", "/static/..%2FCargo.toml"] {
        assert_eq!(get(outside).await.unwrap().status(), StatusCode::NOT_FOUND, "{outside}");
    }
}

#[tokio::test]
async fn an_edited_template_shows_without_a_restart_and_a_broken_one_is_a_clear_500() {
    let dir = std::env::temp_dir().join(format!("dhis2gw-templates-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let templates = dir.display().to_string();
    let app = spawn_app_with(|c| c.server.templates_directory = templates).await;
    let landing = || async { app.request(Method::GET, "/").send().await.unwrap() };
    assert!(landing().await.text().await.unwrap().contains("Swagger UI"), "built-in template without files");
    std::fs::write(dir.join("index.html"), "<p>Ministry gateway {{ version }}</p>").unwrap();
    assert_eq!(landing().await.text().await.unwrap(), format!("<p>Ministry gateway {}</p>", dhis2gw::VERSION));
    std::fs::write(dir.join("index.html"), "{% if %}").unwrap();
    expect_error(landing().await, StatusCode::INTERNAL_SERVER_ERROR).await;
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Two gateway processes on one database and queue: partners post to either, both deliver,
/// and every submission reaches DHIS2 exactly once.
#[tokio::test]
async fn two_gateway_processes_share_the_work_and_deliver_each_submission_once() {
    const SUBMISSIONS: usize = 120;
    let dhis2 = Dhis2Double::start(Version::V2_40).await;
    dhis2.set_latency(Duration::from_millis(20));
    let op = Operator::new();
    let mut env = op.base_env();
    env.extend([
        ("dhis2_base_url", dhis2.base_url()),
        ("dhis2_user", dhis2_double::USERNAME.into()),
        ("dhis2_password", dhis2_double::PASSWORD.into()),
        ("DHIS2GW_MAX_CONCURRENT", "2".into()),
        ("DHIS2GW_BOOTSTRAP_ADMIN_USER", "admin".into()),
        ("DHIS2GW_BOOTSTRAP_ADMIN_PASSWORD", PASSWORD.into()),
    ]);
    let env = env_refs(&env);
    let (_first, a) = start_gateway(&op, &env).await;
    let (_second, b) = start_gateway(&op, &env).await;
    let client = reqwest::Client::new();
    let admin = client
        .post(format!("{a}/api/v2/users/getToken"))
        .json(&json!({"username": "admin", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let admin = expect_json(admin, StatusCode::OK).await["token"].as_str().unwrap().to_string();
    let mapping =
        json!({"code": "positives", "dataElement": fixture::DE_POSITIVES, "dataSet": fixture::DS_MONTHLY_HIV});
    let created = client.post(format!("{a}/api/v2/mappings")).bearer_auth(&admin).json(&mapping).send().await.unwrap();
    expect_json(created, StatusCode::CREATED).await;

    let posts = (0..SUBMISSIONS).map(|i| {
        let (client, admin) = (client.clone(), admin.clone());
        // Alternate gateways, as a load balancer would.
        let base = if i % 2 == 0 { a.clone() } else { b.clone() };
        let period = format!("{}{:02}", 2000 + i / 12, i % 12 + 1);
        async move {
            let body = json!({"orgUnit": fixture::OU_FACILITY_1, "period": period, "dataSet": fixture::DS_MONTHLY_HIV, "dataValues": {"positives": i}});
            let r = client.post(format!("{base}/api/v2/aggregate")).bearer_auth(&admin).json(&body).send().await.unwrap();
            expect_json(r, StatusCode::OK).await
        }
    });
    futures_util::future::join_all(posts).await;

    let db = sqlx::PgPool::connect(op.database_url()).await.unwrap();
    let started = Instant::now();
    loop {
        let done: i64 = sqlx::query_scalar("SELECT count(*) FROM submission_log WHERE status = 'succeeded'")
            .fetch_one(&db)
            .await
            .unwrap();
        if done as usize == SUBMISSIONS {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "{done} of {SUBMISSIONS} delivered after a minute");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let most_attempts: i64 = sqlx::query_scalar(
        "SELECT COALESCE(max(n), 0) FROM (SELECT count(*) AS n FROM delivery_attempts GROUP BY destination_id) t",
    )
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(most_attempts, 1, "a submission was sent twice");
    assert_eq!(dhis2.import_requests(), SUBMISSIONS, "DHIS2 received each submission once");
    assert_eq!(dhis2.values().len(), SUBMISSIONS);

    let mut delivered = Vec::new();
    for base in [&a, &b] {
        let text = scrape(&client, base).await;
        delivered.push(sample(&text, r#"dhis2gw_deliveries_total{outcome="succeeded"}"#).unwrap_or(0.0) as usize);
    }
    assert_eq!(delivered.iter().sum::<usize>(), SUBMISSIONS, "{delivered:?}");
    assert!(delivered.iter().all(|&n| n > 0), "both processes delivered: {delivered:?}");
    db.close().await;
}

#[tokio::test]
async fn the_openapi_document_describes_metrics() {
    let app = spawn_app().await;
    let doc: Value = app.request(Method::GET, "/api-docs/openapi.json").send().await.unwrap().json().await.unwrap();
    assert!(doc["paths"]["/metrics"]["get"].is_object(), "{}", doc["paths"]);
}
