//! The console end to end, in a real browser and as the desktop app: the gateway (serving ui/dist at /console/) with
//! its own PostgreSQL database, Redis namespace and a DHIS2 test double, driven by Playwright in
//! Debian's Chromium (ui/e2e/console.test.mjs). `packaging/dev.sh test` builds ui/dist and
//! installs Playwright first.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use dhis2_double::{Dhis2Double, Version, fixture};
use dhis2gw_wire::Role;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::servers::{cc_server, conf_dir};
use dhis2gw_test_support::{FINAL, PASSWORD, Pipeline, expect_json, pipeline};

fn repository() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A gateway serving the built console, with the DHIS2 test double behind it.
async fn gateway_with_console(adjust: impl FnOnce(&mut dhis2gw::infra::config::Config)) -> Pipeline {
    let ui = repository().join("ui");
    let dist = ui.join("dist");
    assert!(
        dist.join("index.html").exists() && ui.join("e2e/node_modules/playwright-core").exists(),
        "the console is not built: run packaging/dev.sh test (it builds ui/dist and installs Playwright)"
    );
    pipeline(Version::V2_43, |c| {
        c.server.console_directory = dist.display().to_string();
        adjust(c);
    })
    .await
}

/// Where screenshots go: `DHIS2GW_SCREENSHOTS` (ui/screenshots/ when refreshing the README's), or
/// a temporary folder.
fn screenshots(work: &tempfile::TempDir) -> PathBuf {
    std::env::var("DHIS2GW_SCREENSHOTS").map(PathBuf::from).unwrap_or_else(|_| work.path().join("shots"))
}

/// Runs one of ui/e2e's Node test files (under `xvfb-run` for a display when asked) and fails
/// with its report when any of its tests fails.
async fn run_node_test(script: &str, xvfb: bool, vars: &[(&str, String)]) {
    let script = repository().join("ui/e2e").join(script);
    let mut command = if xvfb {
        let mut c = tokio::process::Command::new("xvfb-run");
        c.args(["-a", "-s", "-screen 0 1440x900x24", "node"]);
        c
    } else {
        tokio::process::Command::new("node")
    };
    command.arg("--test").arg("--test-reporter=spec").arg(&script);
    for (name, value) in vars {
        command.env(name, value);
    }
    let run = command
        .env("GSETTINGS_BACKEND", "memory")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node and xvfb-run are installed (packaging/dev.sh test installs them)");
    let output = tokio::time::timeout(Duration::from_secs(240), run.wait_with_output())
        .await
        .expect("the test finishes within 4 minutes")
        .unwrap();
    let report = format!("{}\n{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "{} failed:\n{report}", script.display());
    println!("{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_administrator_fixes_a_rejected_submission_in_the_browser_console() {
    let p = gateway_with_console(|c| c.api.dhis2_facility_level = 4).await;

    // A submission DHIS2 rejects: 'orphan' is mapped to a data element outside the data set.
    let mapping = json!({"code": "orphan", "dataElement": fixture::DE_ORPHAN, "dataSet": fixture::DS_MONTHLY_HIV});
    let r =
        p.app.request(Method::POST, "/api/v2/mappings").bearer_auth(&p.admin.jwt).json(&mapping).send().await.unwrap();
    expect_json(r, StatusCode::CREATED).await;
    let rejected = p.submit(json!({"orphan": 7, "positives": 2})).await;
    assert_eq!(p.settled(rejected, FINAL, Duration::from_secs(20)).await["status"], "failed");
    // Some history for the overview, and for the log to have two pages of 10.
    for n in 0..12 {
        let id = p.submit(json!({"positives": n, "remarks": format!("week {n}")})).await;
        p.settled(id, FINAL, Duration::from_secs(20)).await;
    }
    p.app.user("viewer", Role::Viewer).await;
    // Then DHIS2's hierarchy and metadata: the console shows names, and the 'orphan' mapping as
    // broken. (Synced earlier, the rejected submission would have been refused at the door.)
    expect_json(p.sync_org_units().await, StatusCode::OK).await;
    expect_json(p.sync_metadata().await, StatusCode::OK).await;

    // The CSV that fixes the mapping, as an M&E officer would prepare it.
    let work = tempfile::tempdir().unwrap();
    let csv = work.path().join("fixed-mappings.csv");
    let fix = format!(
        "code,what,dataelement,category_option_combo,dataset\norphan,de,{},{},{}\n",
        fixture::DE_HIV_TESTS,
        fixture::COC_MALE,
        fixture::DS_MONTHLY_HIV
    );
    std::fs::write(&csv, fix).unwrap();
    // A month of data values, as a partner's spreadsheet: two facilities, one unmapped key.
    let data = work.path().join("may.csv");
    let rows = format!(
        "org_unit,period,data_element,value\n{ou1},202405,tests_male,4\n{ou1},202405,positives,1\n{ou1},202405,not_mapped,9\n{ou2},202405,positives,2\n",
        ou1 = fixture::OU_FACILITY_1_CODE,
        ou2 = fixture::OU_FACILITY_2_CODE,
    );
    std::fs::write(&data, rows).unwrap();
    run_node_test(
        "console.test.mjs",
        false,
        &[
            ("GATEWAY", p.app.address.clone()),
            ("ADMIN_USER", "admin".into()),
            ("VIEWER_USER", "viewer".into()),
            ("PASSWORD", PASSWORD.into()),
            ("REJECTED_ID", rejected.to_string()),
            ("FIX_CSV", csv.display().to_string()),
            ("DATA_CSV", data.display().to_string()),
            ("SCREENSHOTS", screenshots(&work).display().to_string()),
        ],
    )
    .await;

    // What the browser did is what the gateway holds: the fix arrived in DHIS2 ...
    let log = p.log(rejected).await;
    assert_eq!(log["status"], "succeeded", "{log:#}");
    let stored = p.dhis2.value(fixture::DE_HIV_TESTS, "202401", fixture::OU_FACILITY_1, fixture::COC_MALE);
    assert_eq!(stored.map(|v| v.value), Some("7".to_string()), "the requeued value reached DHIS2");
    // ... the uploaded spreadsheet's values too ...
    let uploaded = p.dhis2.value(fixture::DE_POSITIVES, "202405", fixture::OU_FACILITY_2, fixture::DEFAULT_COC);
    assert_eq!(uploaded.map(|v| v.value), Some("2".to_string()), "the spreadsheet's values reached DHIS2");
    // ... and the partner user the console created can submit with the token it showed.
    let users =
        p.app.request(Method::GET, "/api/v2/users?username=lab-system").bearer_auth(&p.admin.jwt).send().await.unwrap();
    let users = expect_json(users, StatusCode::OK).await;
    assert_eq!(users["items"][0]["role"], "partner", "{users:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_desktop_app_signs_in_and_imports_a_file_chosen_in_the_native_dialog() {
    // The debug build of desktop/, next to this test binary (packaging/dev.sh test builds it).
    let app = std::env::current_exe().unwrap().parent().and_then(|deps| deps.parent()).unwrap().join("dhis2gw-console");
    assert!(app.exists(), "{} is not built: run packaging/dev.sh test", app.display());
    let p = gateway_with_console(|_| {}).await;
    let work = tempfile::tempdir().unwrap();
    let csv = work.path().join("new-mappings.csv");
    std::fs::write(
        &csv,
        format!("code,what,dataelement,dataset\nart_started,de,{},{}\n", fixture::DE_ON_ART, fixture::DS_MONTHLY_HIV),
    )
    .unwrap();
    let config_home = work.path().join("config");
    run_node_test(
        "desktop.test.mjs",
        true,
        &[
            ("GATEWAY", p.app.address.clone()),
            ("ADMIN_USER", "admin".into()),
            ("PASSWORD", PASSWORD.into()),
            ("DESKTOP_APP", app.display().to_string()),
            ("NEW_CSV", csv.display().to_string()),
            ("XDG_CONFIG_HOME", config_home.display().to_string()),
            ("SCREENSHOTS", screenshots(&work).display().to_string()),
        ],
    )
    .await;
    // The import the native dialog started reached the gateway.
    let r =
        p.app.request(Method::GET, "/api/v2/mappings?code=art_started").bearer_auth(&p.admin.jwt).send().await.unwrap();
    let mappings = expect_json(r, StatusCode::OK).await;
    assert_eq!(mappings["items"][0]["dataElement"], fixture::DE_ON_ART, "{mappings:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_shows_how_a_submission_reached_each_of_several_servers() {
    // A CC server that is down when the submission arrives, and back a little later.
    let cc = Dhis2Double::start(Version::V2_40).await;
    cc.set_down(true);
    let dir = conf_dir(json!([cc_server("cc-west", &cc)]));
    let p = gateway_with_console(|c| {
        c.server.conf_dir = dir.clone();
        c.api.cc_dhis2_servers = vec!["cc-west".into()];
    })
    .await;
    let id = p.submit(json!({"positives": 11, "remarks": "fan-out"})).await;
    let started = std::time::Instant::now();
    while p.log(id).await["attempts"].as_array().is_none_or(|a| !a.iter().any(|a| a["server"] == "cc-west")) {
        assert!(started.elapsed() < Duration::from_secs(20), "cc-west was never tried");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    cc.set_down(false);
    assert_eq!(p.settled(id, FINAL, Duration::from_secs(60)).await["status"], "succeeded");
    let stored = cc.value(fixture::DE_POSITIVES, "202401", fixture::OU_FACILITY_1, fixture::DEFAULT_COC);
    assert_eq!(stored.map(|v| v.value), Some("11".to_string()));

    let work = tempfile::tempdir().unwrap();
    run_node_test(
        "fanout.test.mjs",
        false,
        &[
            ("GATEWAY", p.app.address.clone()),
            ("ADMIN_USER", "admin".into()),
            ("PASSWORD", PASSWORD.into()),
            ("SUBMISSION_ID", id.to_string()),
            ("SCREENSHOTS", screenshots(&work).display().to_string()),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_administrator_sees_held_values_and_sends_them_once_dhis2_opens_the_period() {
    let p = gateway_with_console(|c| c.api.dhis2_facility_level = 4).await;
    p.dhis2.set_expiry_days(fixture::DS_MONTHLY_HIV, 10);
    expect_json(p.sync_org_units().await, StatusCode::OK).await;
    expect_json(p.sync_metadata().await, StatusCode::OK).await;
    // Three months ago: closed 10 days after its end.
    let today = chrono::Utc::now().date_naive();
    let period = chrono::Datelike::with_day(&today, 1)
        .and_then(|d| d.checked_sub_months(chrono::Months::new(3)))
        .unwrap()
        .format("%Y%m")
        .to_string();
    let body = json!({"orgUnit": fixture::OU_FACILITY_1, "period": period, "dataSet": fixture::DS_MONTHLY_HIV,
                      "dataValues": {"positives": 4, "remarks": "late"}});
    let id = expect_json(p.post(&body).await, StatusCode::OK).await["submission_id"].as_i64().unwrap();
    assert_eq!(p.settled(id, &["held"], Duration::from_secs(20)).await["status"], "held");

    let work = tempfile::tempdir().unwrap();
    run_node_test(
        "held.test.mjs",
        false,
        &[
            ("GATEWAY", p.app.address.clone()),
            ("ADMIN_USER", "admin".into()),
            ("PASSWORD", PASSWORD.into()),
            ("SUBMISSION_ID", id.to_string()),
            ("PERIOD", period.clone()),
            ("ORG_UNIT", fixture::OU_FACILITY_1.into()),
            ("DATA_SET", fixture::DS_MONTHLY_HIV.into()),
            ("DHIS2", p.dhis2.base_url()),
            ("DHIS2_USER", dhis2_double::USERNAME.into()),
            ("DHIS2_PASSWORD", dhis2_double::PASSWORD.into()),
            ("SCREENSHOTS", screenshots(&work).display().to_string()),
        ],
    )
    .await;
    // What the browser did is what DHIS2 holds.
    assert_eq!(p.log(id).await["status"], "succeeded");
    let stored = p.dhis2.value(fixture::DE_POSITIVES, &period, fixture::OU_FACILITY_1, fixture::DEFAULT_COC);
    assert_eq!(stored.map(|v| v.value), Some("4".to_string()));
    assert_eq!(p.dhis2.lock_exceptions().len(), 1, "the lock exception came from the test, as a DHIS2 admin's");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_administrator_watches_alerts_tunes_a_rule_and_tests_a_recipient_in_the_console() {
    use dhis2gw_test_support::receivers::SmtpServer;
    let smtp = SmtpServer::start().await;
    let p = gateway_with_console(|c| {
        let a = &mut c.alerts;
        (a.smtp_host, a.smtp_port, a.smtp_tls) = ("127.0.0.1".into(), smtp.port, dhis2gw::infra::config::SmtpTls::None);
        a.recipients = vec!["ops@moh.example.org".into()];
        a.webhook_secret = dhis2gw::infra::config::Secret::new("signing");
        a.check_interval = 1;
        // Fires at once: any database is larger than 0 MB.
        let rule = json!([{"name": "database-size", "kind": "database_size", "threshold": 0}]);
        a.rules = serde_json::from_value(rule).unwrap();
    })
    .await;
    let fired = smtp.wait_for(1, Duration::from_secs(20)).await;
    assert!(fired[0].header("Subject").unwrap().contains("FIRING: the database holds"));

    let work = tempfile::tempdir().unwrap();
    run_node_test(
        "alerts.test.mjs",
        false,
        &[
            ("GATEWAY", p.app.address.clone()),
            ("ADMIN_USER", "admin".into()),
            ("PASSWORD", PASSWORD.into()),
            ("MAIL_TO", "me@moh.example.org".into()),
            ("SCREENSHOTS", screenshots(&work).display().to_string()),
        ],
    )
    .await;
    let test_mail = smtp.mails().into_iter().find(|m| m.to == ["me@moh.example.org"]).expect("the test mail arrived");
    assert!(test_mail.header("Subject").unwrap().contains("Test notification"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_me_officer_reads_which_facilities_reported_and_opens_the_submissions_behind_a_cell() {
    let p = gateway_with_console(|c| c.api.dhis2_facility_level = 4).await;
    // Last month's reports are timely whatever today is; those of three months ago are not.
    p.dhis2.set_timely_days(fixture::DS_MONTHLY_HIV, 40);
    expect_json(p.sync_org_units().await, StatusCode::OK).await;
    expect_json(p.sync_metadata().await, StatusCode::OK).await;
    let month = |n: u32| {
        let first = chrono::Datelike::with_day(&chrono::Utc::now().date_naive(), 1).unwrap();
        first.checked_sub_months(chrono::Months::new(n)).unwrap().format("%Y%m").to_string()
    };
    let (old, last) = (month(3), month(1));
    let mut ids = Vec::new();
    for (org_unit, period) in [(fixture::OU_FACILITY_1, &last), (fixture::OU_FACILITY_2, &old)] {
        let body = json!({"orgUnit": org_unit, "period": period, "dataSet": fixture::DS_MONTHLY_HIV,
                          "dataValues": {"positives": 2, "tests_male": 7}});
        ids.push(expect_json(p.post(&body).await, StatusCode::OK).await["submission_id"].as_i64().unwrap());
    }
    for id in &ids {
        p.settled(*id, FINAL, Duration::from_secs(30)).await;
    }
    let work = tempfile::tempdir().unwrap();
    run_node_test(
        "reporting.test.mjs",
        false,
        &[
            ("GATEWAY", p.app.address.clone()),
            ("ADMIN_USER", "admin".into()),
            ("PASSWORD", PASSWORD.into()),
            ("OLD", old.clone()),
            ("LAST", last.clone()),
            ("LAST_ID", ids[0].to_string()),
            ("SCREENSHOTS", screenshots(&work).display().to_string()),
        ],
    )
    .await;
}
