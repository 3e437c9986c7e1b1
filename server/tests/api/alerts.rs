//! Alerts, black-box: a rule fires once, reminds at `alert_repeat`, recovers once; email goes to
//! a real SMTP server and webhooks to a local receiver with their signature checked; failed
//! sends are retried and recorded; the digest lists the partners that did not report.

use std::time::Duration;

use chrono::{Timelike, Utc};
use dhis2_double::Version;
use dhis2gw::infra::config::{Config, Secret, SmtpTls};
use dhis2gw_test_support::receivers::{SmtpServer, WebhookReceiver};
use dhis2gw_test_support::*;
use dhis2gw_wire::{AlertKind, AlertRule, Role};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const OPS: &str = "ops@moh.example.org";
const WEBHOOK_SECRET: &str = "webhook-signing-secret";

/// Alerts by email through `smtp` (authenticated, in the clear) and by signed webhook to
/// `hook`, checked every second.
fn alerts_to(c: &mut Config, smtp: &SmtpServer, hook: &WebhookReceiver) {
    let a = &mut c.alerts;
    a.smtp_host = "127.0.0.1".into();
    a.smtp_port = smtp.port;
    a.smtp_tls = SmtpTls::None;
    a.smtp_user = "gateway".into();
    a.smtp_password = Secret::new("mail-password");
    a.smtp_from = "dhis2gw <gateway@moh.example.org>".into();
    a.recipients = vec![OPS.into(), hook.url.clone()];
    a.webhook_secret = Secret::new(WEBHOOK_SECRET);
    a.check_interval = 1;
    a.digest_time = String::new();
}

fn rule(name: &str, kind: AlertKind) -> AlertRule {
    AlertRule { name: name.into(), kind, enabled: true, threshold: None, window: None, after: None, recipients: vec![] }
}

async fn get(p: &Pipeline, path: &str) -> Value {
    let r = p.app.request(Method::GET, path).bearer_auth(&p.admin.jwt).send().await.unwrap();
    expect_json(r, StatusCode::OK).await
}

async fn notifications(p: &Pipeline, query: &str) -> Vec<Value> {
    get(p, &format!("/api/v2/alerts/notifications?page_size=100{query}")).await["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn dhis2_down_sends_one_email_and_one_webhook_when_down_a_reminder_later_and_one_when_back() {
    let (smtp, hook) = (SmtpServer::start().await, WebhookReceiver::start().await);
    let p = pipeline(Version::V2_40, |c| {
        alerts_to(c, &smtp, &hook);
        c.alerts.rules = vec![AlertRule { after: Some(1), ..rule("server-unavailable", AlertKind::ServerUnavailable) }];
    })
    .await;
    p.dhis2.set_down(true);
    let submitted = p.submit(json!({"positives": 7})).await;

    // The health check (every 15 s) sees DHIS2 down; the next alert check fires.
    let mails = smtp.wait_for(1, Duration::from_secs(45)).await;
    let down = &mails[0];
    assert_eq!(down.to, vec![OPS.to_string()]);
    assert_eq!(down.from, "gateway@moh.example.org");
    assert_eq!(down.auth.as_deref(), Some("gateway:mail-password"));
    let subject = down.header("Subject").unwrap();
    assert!(subject.starts_with("[dhis2gw] FIRING: DHIS2 server primary has not answered for"), "{subject}");
    let hooks = hook.wait_for(1, Duration::from_secs(10)).await;
    let body = hooks[0].json();
    assert_eq!(
        (body["event"].as_str(), body["rule"].as_str(), body["subject"].as_str()),
        (Some("fired"), Some("server-unavailable"), Some("primary"))
    );
    assert!(body["text"].as_str().unwrap().starts_with("*[dhis2gw] FIRING"), "Slack/Teams text: {body}");
    let signature = hooks[0].headers["x-dhis2gw-signature"].to_str().unwrap().to_string();
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, WEBHOOK_SECRET.as_bytes());
    let expected = aws_lc_rs::hmac::sign(&key, &hooks[0].body);
    assert_eq!(signature, format!("sha256={}", hex::encode(expected.as_ref())));

    // Many more checks while it stays down: nothing more.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!((smtp.mails().len(), hook.hooks().len()), (1, 1), "no flood while it stays down");
    let overview = get(&p, "/api/v2/alerts").await;
    assert_eq!(overview["firing"].as_array().unwrap().len(), 1, "{overview}");
    assert_eq!(overview["firing"][0]["subject"], "primary");

    // Six hours after the last notification: one reminder.
    sqlx::query("UPDATE alert_states SET last_notified_at = now() - interval '6 hours 1 second'")
        .execute(&p.app.db)
        .await
        .unwrap();
    let mails = smtp.wait_for(2, Duration::from_secs(10)).await;
    assert!(mails[1].header("Subject").unwrap().starts_with("[dhis2gw] STILL FIRING: DHIS2 server primary"));
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(smtp.mails().len(), 2, "one reminder, not one per check");

    p.dhis2.set_down(false);
    let mails = smtp.wait_for(3, Duration::from_secs(45)).await;
    let back = mails[2].header("Subject").unwrap();
    assert!(
        back.starts_with("[dhis2gw] RECOVERED: DHIS2 server unreachable or switched off (primary) after"),
        "{back}"
    );
    assert!(mails[2].data.contains("back to normal for primary"));
    hook.wait_for(3, Duration::from_secs(10)).await;
    p.settled(submitted, &["succeeded"], Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!((smtp.mails().len(), hook.hooks().len()), (3, 3), "nothing more once it is back");

    // Every notification is recorded with the answer it got.
    let sent = notifications(&p, "&status=sent").await;
    assert_eq!(sent.len(), 6, "{sent:#?}");
    let events: Vec<(&str, &str)> =
        sent.iter().map(|n| (n["event"].as_str().unwrap(), n["channel"].as_str().unwrap())).collect();
    for event in ["fired", "reminder", "recovered"] {
        assert!(events.contains(&(event, "email")) && events.contains(&(event, "webhook")), "{events:?}");
    }
    for n in &sent {
        let answer = n["answer"].as_str().unwrap();
        assert!(answer.starts_with("250 2.0.0 OK queued as test-") || answer == "HTTP 200: ok", "{answer}");
    }
    assert!(get(&p, "/api/v2/alerts").await["firing"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn rules_are_listed_changed_checked_and_reset_by_admins_only() {
    let (smtp, hook) = (SmtpServer::start().await, WebhookReceiver::start().await);
    let p = pipeline(Version::V2_40, |c| {
        alerts_to(c, &smtp, &hook);
        c.alerts.rules = vec![AlertRule { threshold: Some(5.0), ..rule("failures", AlertKind::Failures) }];
    })
    .await;
    let rules = get(&p, "/api/v2/alerts/rules").await;
    let origin = |rules: &Value, name: &str| {
        rules.as_array().unwrap().iter().find(|r| r["rule"]["name"] == name).map(|r| r["origin"].clone())
    };
    assert_eq!(rules.as_array().unwrap().len(), AlertKind::ALL.len());
    assert_eq!(origin(&rules, "failures"), Some(json!("config")));
    assert_eq!(origin(&rules, "queue-age"), Some(json!("default")));

    let put = |name: &str, body: Value, jwt: String| {
        p.app.request(Method::PUT, &format!("/api/v2/alerts/rules/{name}")).bearer_auth(jwt).json(&body).send()
    };
    let admin = p.admin.jwt.clone();
    for (name, body, field) in [
        ("big-db", json!({"threshold": 1}), "kind"),
        ("big-db", json!({"kind": "disk"}), "kind"),
        ("big-db", json!({"kind": "database_size", "recipients": ["not an address"]}), "recipients"),
        ("big-db", json!({"kind": "database_size", "threshold": -1}), "threshold"),
        ("Big DB", json!({"kind": "database_size"}), "name"),
        ("big-db", json!({"kind": "database_size", "colour": "red"}), "colour"),
    ] {
        let e = expect_error(put(name, body.clone(), admin.clone()).await.unwrap(), StatusCode::BAD_REQUEST).await;
        assert!(
            details(&e).iter().any(|d| d.contains(field)) || e["error"].as_str().unwrap().contains(field),
            "{body}: {e}"
        );
    }
    let viewer = p.app.user("watcher", Role::Viewer).await;
    let body = json!({"kind": "database_size", "threshold": 0, "recipients": [hook.url]});
    expect_error(put("big-db", body.clone(), viewer.jwt.clone()).await.unwrap(), StatusCode::FORBIDDEN).await;
    let created = expect_json(put("big-db", body, admin.clone()).await.unwrap(), StatusCode::OK).await;
    assert_eq!(created["origin"], "console");
    assert_eq!(created["effective_recipients"], json!([hook.url]));

    // Checking shows what it finds, and nobody hears of it.
    let r =
        p.app.request(Method::POST, "/api/v2/alerts/rules/big-db/check").bearer_auth(&viewer.jwt).send().await.unwrap();
    let findings = expect_json(r, StatusCode::OK).await;
    assert_eq!(findings[0]["subject"], "database", "{findings}");
    assert!(findings[0]["value"].as_f64().unwrap() > 1.0);

    // In force at the next check: the webhook alone hears of it, after one refused call.
    hook.refuse_next(1);
    let refused = loop {
        let notes = notifications(&p, "&rule=big-db").await;
        if notes.first().is_some_and(|n| n["error"].is_string()) {
            break notes[0].clone();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!((refused["status"].as_str(), refused["attempts"].as_i64()), (Some("pending"), Some(1)));
    assert_eq!(refused["error"], "HTTP 503: refused by the test");
    // Its retry is due in 30 s; bring it forward.
    sqlx::query("UPDATE alert_notifications SET next_attempt_at = now()").execute(&p.app.db).await.unwrap();
    let first = hook.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(first[0].json()["rule"], "big-db");
    let retried = notifications(&p, "&rule=big-db").await;
    assert_eq!(retried.len(), 1);
    assert_eq!((retried[0]["status"].as_str(), retried[0]["attempts"].as_i64()), (Some("sent"), Some(2)));
    assert!(smtp.mails().is_empty(), "the rule's own recipients replace alerts.recipients");

    // Switching it off forgets what it fired for, without a word; deleting removes it.
    let off = json!({"kind": "database_size", "threshold": 0, "enabled": false});
    expect_json(put("big-db", off, admin.clone()).await.unwrap(), StatusCode::OK).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(get(&p, "/api/v2/alerts").await["firing"].as_array().unwrap().is_empty());
    assert_eq!(hook.hooks().len(), 1);
    let delete = || p.app.request(Method::DELETE, "/api/v2/alerts/rules/big-db").bearer_auth(&admin).send();
    let gone = expect_json(delete().await.unwrap(), StatusCode::OK).await;
    assert_eq!(gone["message"], "The rule 'big-db' is removed");
    expect_error(delete().await.unwrap(), StatusCode::NOT_FOUND).await;
    let audit = get(&p, "/api/v2/audit?target_type=alert_rule").await;
    assert_eq!(audit["total"], 3, "{audit}");
    let r = p
        .app
        .request(Method::GET, "/api/v2/alerts/notifications?status=lost")
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(details(&expect_error(r, StatusCode::BAD_REQUEST).await), vec!["status"]);
}

#[tokio::test]
async fn a_test_send_reports_the_smtp_or_webhook_answer_and_failures_are_kept() {
    let (smtp, hook) = (SmtpServer::start().await, WebhookReceiver::start().await);
    let p = pipeline(Version::V2_40, |c| alerts_to(c, &smtp, &hook)).await;
    let test = |recipient: &str| {
        p.app
            .request(Method::POST, "/api/v2/alerts/test")
            .bearer_auth(&p.admin.jwt)
            .json(&json!({"recipient": recipient}))
            .send()
    };
    smtp.refuse_next(1);
    let refused = expect_json(test("me@example.org").await.unwrap(), StatusCode::OK).await;
    assert_eq!(refused["sent"], false);
    assert!(refused["error"].as_str().unwrap().contains("451"), "{refused}");
    let sent = expect_json(test("me@example.org").await.unwrap(), StatusCode::OK).await;
    assert_eq!((sent["sent"].as_bool(), sent["channel"].as_str()), (Some(true), Some("email")));
    assert!(sent["answer"].as_str().unwrap().starts_with("250 2.0.0 OK queued as test-1"), "{sent}");
    assert!(smtp.mails()[0].header("Subject").unwrap().contains("Test notification"));
    let webhook = expect_json(test(&hook.url).await.unwrap(), StatusCode::OK).await;
    assert_eq!((webhook["sent"].as_bool(), webhook["answer"].as_str()), (Some(true), Some("HTTP 200: ok")));
    assert_eq!(hook.hooks()[0].json()["event"], "test");
    let nowhere = expect_json(test("http://127.0.0.1:9/none").await.unwrap(), StatusCode::OK).await;
    assert_eq!(nowhere["sent"], false);
    let e = expect_error(test("someone").await.unwrap(), StatusCode::BAD_REQUEST).await;
    assert_eq!(details(&e), vec!["recipient"]);

    let tests = notifications(&p, "&event=test").await;
    let statuses: Vec<&str> = tests.iter().map(|n| n["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, vec!["failed", "sent", "sent", "failed"], "newest first: {tests:#?}");
    let overview = get(&p, "/api/v2/alerts").await;
    assert_eq!((overview["smtp_host"].as_str(), overview["webhook_signed"].as_bool()), (Some("127.0.0.1"), Some(true)));

    // The hourly prune forgets finished notifications after 90 days, never one still being sent.
    sqlx::query("UPDATE alert_notifications SET created = now() - interval '91 days' WHERE status = 'sent'")
        .execute(&p.app.db)
        .await
        .unwrap();
    sqlx::query("INSERT INTO alert_notifications (event, channel, recipient, title, body, created, next_attempt_at) VALUES ('test', 'email', 'x@example.org', 't', 'b', now() - interval '1 year', now() + interval '1 hour')")
        .execute(&p.app.db)
        .await
        .unwrap();
    assert_eq!(dhis2gw::alerts::prune(&p.app.db).await.unwrap(), 2);
    let left = notifications(&p, "").await;
    let statuses: Vec<&str> = left.iter().map(|n| n["status"].as_str().unwrap()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == "failed").count(), 2, "{statuses:?}");
    assert!(statuses.contains(&"pending"), "the old one still to send stays: {statuses:?}");
}

/// A zone whose local time is about 06:00 now, so a digest at 00:00 is due and not late.
fn zone_at_six_in_the_morning() -> chrono_tz::Tz {
    let mut offset = 6 - Utc::now().hour() as i32;
    if offset < -12 {
        offset += 24;
    }
    // Etc/GMT zones count the other way.
    let name = if offset == 0 { "Etc/GMT".to_string() } else { format!("Etc/GMT{:+}", -offset) };
    name.parse().unwrap()
}

#[tokio::test]
async fn the_digest_lists_silent_partners_and_each_partner_hears_of_its_refused_values() {
    let (smtp, hook) = (SmtpServer::start().await, WebhookReceiver::start().await);
    let p = pipeline(Version::V2_40, |c| {
        alerts_to(c, &smtp, &hook);
        c.alerts.recipients = vec![OPS.into()];
        c.alerts.digest_time = "00:00".into();
        c.alerts.partner_digests = true;
        c.server.timezone = zone_at_six_in_the_morning();
    })
    .await;
    // A lab system that sent every other day until six days ago.
    let admin = &p.admin;
    let lab = p.app.user("lab-system", Role::Partner).await;
    let lab_token = p.app.api_token(admin, &lab).await;
    for days_ago in [10, 8, 6] {
        let body = p.submission(json!({"positives": days_ago}));
        let r = p
            .app
            .request(Method::POST, "/api/v2/aggregate")
            .header("Authorization", format!("Token {lab_token}"))
            .json(&body)
            .send()
            .await
            .unwrap();
        let id = expect_json(r, StatusCode::OK).await["submission_id"].as_i64().unwrap();
        p.settled(id, FINAL, Duration::from_secs(20)).await;
        sqlx::query("UPDATE submission_log SET submitted_at = now() - make_interval(days => $2) WHERE id = $1")
            .bind(id)
            .bind(days_ago)
            .execute(&p.app.db)
            .await
            .unwrap();
    }
    // The EMR reports today, and DHIS2 refuses one of its values.
    sqlx::query("UPDATE users SET email = 'emr-team@clinic.example.org' WHERE username = 'emr'")
        .execute(&p.app.db)
        .await
        .unwrap();
    let id = p.submit(json!({"positives": "many", "tests_male": 4})).await;
    p.settled(id, FINAL, Duration::from_secs(20)).await;
    // Today's digest went out at start, before any of this; compose it again.
    sqlx::query("DELETE FROM alert_digests").execute(&p.app.db).await.unwrap();

    let subject = |m: &dhis2gw_test_support::receivers::Mail| m.header("Subject").unwrap_or_default();
    let mails = smtp
        .wait(Duration::from_secs(30), |mails| {
            mails.iter().any(|m| subject(m).contains("Daily digest") && m.data.contains("lab-system"))
                && mails.iter().any(|m| m.to == ["emr-team@clinic.example.org"])
                && mails.iter().any(|m| subject(m).contains("FIRING: partner lab-system"))
        })
        .await;
    let digests: Vec<_> = mails.iter().filter(|m| subject(m).contains("Daily digest")).collect();
    assert_eq!(digests.len(), 2, "the one at start and the one composed again");
    assert!(digests.iter().all(|d| d.to == [OPS]));
    let digest = digests[1];
    assert!(subject(digest).contains("1 partners did not report"), "{}", subject(digest));
    assert!(digest.data.contains("Partners that did not report: 1"), "{}", digest.data);
    assert!(digest.data.contains("  - lab-system (last submission 6 days ago)"), "{}", digest.data);
    assert!(digest.data.contains("Values refused by DHIS2: 1"), "{}", digest.data);
    let silent = mails.iter().find(|m| subject(m).contains("FIRING: partner lab-system")).expect("silent alert");
    assert_eq!(silent.to, [OPS]);
    assert!(silent.data.contains("it usually sends every 2 days"), "{}", silent.data);
    let partner: Vec<_> = mails.iter().filter(|m| m.to == ["emr-team@clinic.example.org"]).collect();
    assert_eq!(partner.len(), 1, "{mails:#?}");
    assert!(subject(partner[0]).contains("1 values refused by DHIS2"));
    assert!(partner[0].data.contains("positives"), "{}", partner[0].data);
    let before = smtp.mails().len();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(smtp.mails().len(), before, "one digest a day");
}
