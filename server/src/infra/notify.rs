//! Sending alert notifications ([`crate::alerts`]): by email over SMTP (lettre) and by webhook (a JSON POST with a
//! Slack/Teams-compatible `text`, signed with HMAC-SHA256 when a secret is set).
//!
//! Every notification is a row of `alert_notifications` first; a sender task in each process
//! claims due rows (`FOR UPDATE SKIP LOCKED`, under a short lease), sends them and records the
//! answer, or retries with back-off and finally records why it gave up. Deliveries to DHIS2
//! never wait for any of this.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use dhis2gw_wire::AlertTestResult;
use lettre::message::{Mailbox, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde_json::json;
use sqlx::{PgExecutor, PgPool};
use tokio::sync::Notify;

use crate::infra::config::{Config, SmtpTls};

/// Tries before a notification is given up.
const MAX_ATTEMPTS: i32 = 8;
/// How long a claimed notification is left to its sender before another process may try.
const LEASE_SECS: f64 = 120.0;
/// How long an SMTP server or webhook may take to answer.
const SEND_TIMEOUT: Duration = Duration::from_secs(20);
/// Notifications claimed at once.
const BATCH: i64 = 20;
/// Answers are kept to this many characters.
const ANSWER_CHARS: usize = 500;

/// Where a notification goes, by the recipient's form.
pub fn channel_of(recipient: &str) -> &'static str {
    if recipient.starts_with("http://") || recipient.starts_with("https://") { "webhook" } else { "email" }
}

/// The configured ways out.
pub struct Channels {
    mailer: Option<(AsyncSmtpTransport<Tokio1Executor>, Mailbox)>,
    http: reqwest::Client,
    webhook_key: Option<aws_lc_rs::hmac::Key>,
    /// Wakes the sender when notifications are queued.
    pub queued: Notify,
    /// How notifications name this gateway: `server.public_url`, else the host's name.
    pub gateway: String,
}

impl Channels {
    pub fn new(whole: &Config) -> anyhow::Result<Arc<Self>> {
        let config = &whole.alerts;
        let mailer = if config.smtp_host.trim().is_empty() {
            None
        } else {
            let host = config.smtp_host.trim();
            let tls = TlsParameters::new(host.to_string()).context("alerts.smtp_host")?;
            let (tls, port) = match config.smtp_tls {
                SmtpTls::None => (Tls::None, 25),
                SmtpTls::Starttls => (Tls::Required(tls), 587),
                SmtpTls::Tls => (Tls::Wrapper(tls), 465),
            };
            let port = if config.smtp_port == 0 { port } else { config.smtp_port };
            let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
                .port(port)
                .tls(tls)
                .timeout(Some(SEND_TIMEOUT));
            if !config.smtp_user.is_empty() {
                builder = builder
                    .credentials(Credentials::new(config.smtp_user.clone(), config.smtp_password.expose().to_string()));
            }
            let from: Mailbox =
                config.smtp_from.parse().with_context(|| format!("alerts.smtp_from '{}'", config.smtp_from))?;
            Some((builder.build(), from))
        };
        let http = reqwest::Client::builder()
            .timeout(SEND_TIMEOUT)
            .user_agent(concat!("dhis2gw/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("building the webhook client")?;
        let webhook_key = (!config.webhook_secret.is_empty()).then(|| {
            aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, config.webhook_secret.expose().as_bytes())
        });
        let gateway = match whole.server.public_url.trim() {
            "" => hostname::get().map(|h| h.to_string_lossy().into_owned()).unwrap_or_else(|_| "localhost".into()),
            url => url.to_string(),
        };
        Ok(Arc::new(Channels { mailer, http, webhook_key, queued: Notify::new(), gateway }))
    }

    /// Sends one notification; the recipient's answer, or why it was not sent.
    pub async fn send(&self, note: &Outgoing) -> Result<String, String> {
        match channel_of(&note.recipient) {
            "webhook" => self.post(note).await,
            _ => self.mail(note).await,
        }
    }

    async fn mail(&self, note: &Outgoing) -> Result<String, String> {
        let Some((mailer, from)) = &self.mailer else {
            return Err("email is not configured (alerts.smtp_host is empty)".into());
        };
        let to: Mailbox =
            note.recipient.parse().map_err(|e| format!("'{}' is not an email address: {e}", note.recipient))?;
        let message = Message::builder()
            .from(from.clone())
            .to(to)
            .subject(&note.title)
            .header(ContentType::TEXT_PLAIN)
            .body(note.body.clone())
            .map_err(|e| format!("composing the email: {e}"))?;
        let response = mailer.send(message).await.map_err(|e| format!("SMTP: {e}"))?;
        Ok(format!("{} {}", response.code(), response.message().collect::<Vec<_>>().join(" ")))
    }

    async fn post(&self, note: &Outgoing) -> Result<String, String> {
        let body = json!({
            "text": format!("*{}*\n{}", note.title, note.body),
            "title": note.title,
            "body": note.body,
            "event": note.event,
            "rule": note.rule,
            "subject": note.subject,
            "id": note.id,
        })
        .to_string();
        let mut request = self
            .http
            .post(&note.recipient)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("X-Dhis2gw-Event", &note.event);
        if let Some(key) = &self.webhook_key {
            let tag = aws_lc_rs::hmac::sign(key, body.as_bytes());
            request = request.header("X-Dhis2gw-Signature", format!("sha256={}", hex::encode(tag.as_ref())));
        }
        let response = request.body(body).send().await.map_err(|e| format!("webhook: {e}"))?;
        let status = response.status();
        let text: String = response.text().await.unwrap_or_default().chars().take(ANSWER_CHARS).collect();
        let answer =
            format!("HTTP {}{}", status.as_u16(), if text.is_empty() { String::new() } else { format!(": {text}") });
        if status.is_success() { Ok(answer) } else { Err(answer) }
    }
}

/// A notification to send.
#[derive(Clone, Debug)]
pub struct Outgoing {
    pub id: i64,
    pub event: String,
    pub rule: Option<String>,
    pub subject: Option<String>,
    pub recipient: String,
    pub title: String,
    pub body: String,
}

/// Queues one notification per recipient.
pub async fn enqueue<'e>(
    db: impl PgExecutor<'e>,
    event: &str,
    rule: Option<&str>,
    subject: Option<&str>,
    recipients: &[String],
    title: &str,
    body: &str,
) -> sqlx::Result<()> {
    let channels: Vec<&str> = recipients.iter().map(|r| channel_of(r)).collect();
    sqlx::query!(
        r#"INSERT INTO alert_notifications (event, rule, subject, channel, recipient, title, body)
           SELECT $1, $2, $3, channel, recipient, $6, $7 FROM unnest($4::text[], $5::text[]) AS r (channel, recipient)"#,
        event,
        rule,
        subject,
        &channels as &[&str],
        recipients,
        title,
        body,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Sends a test notification now and records it with its answer.
pub async fn test(db: &PgPool, channels: &Channels, recipient: &str) -> sqlx::Result<AlertTestResult> {
    let gateway = &channels.gateway;
    let mut note = Outgoing {
        id: 0,
        event: "test".into(),
        rule: None,
        subject: None,
        recipient: recipient.to_string(),
        title: format!("[dhis2gw] Test notification from {gateway}"),
        body: format!(
            "This is a test of the alerts of the dhis2gw gateway at {gateway}. If you read this, notifications to {recipient} arrive."
        ),
    };
    note.id = sqlx::query_scalar!(
        r#"INSERT INTO alert_notifications (event, channel, recipient, title, body, attempts)
           VALUES ('test', $1, $2, $3, $4, 1) RETURNING id"#,
        channel_of(recipient),
        recipient,
        note.title,
        note.body,
    )
    .fetch_one(db)
    .await?;
    let result = channels.send(&note).await;
    let (answer, error) = match &result {
        Ok(answer) => (Some(answer.clone()), None),
        Err(error) => (None, Some(error.clone())),
    };
    sqlx::query!(
        r#"UPDATE alert_notifications SET status = CASE WHEN $2::text IS NULL THEN 'sent' ELSE 'failed' END,
               answer = $3, error = $2, sent_at = CASE WHEN $2::text IS NULL THEN now() END
           WHERE id = $1"#,
        note.id,
        error,
        answer,
    )
    .execute(db)
    .await?;
    Ok(AlertTestResult {
        channel: channel_of(recipient).into(),
        recipient: recipient.into(),
        sent: error.is_none(),
        answer,
        error,
    })
}

/// Sends what is due; how many were tried.
pub async fn send_due(db: &PgPool, channels: &Channels) -> sqlx::Result<usize> {
    let due = sqlx::query_as!(
        Outgoing,
        r#"UPDATE alert_notifications SET attempts = attempts + 1, next_attempt_at = now() + make_interval(secs => $1)
           WHERE id IN (SELECT id FROM alert_notifications WHERE status = 'pending' AND next_attempt_at <= now()
                        ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED)
           RETURNING id, event, rule, subject, recipient, title, body"#,
        LEASE_SECS,
        BATCH,
    )
    .fetch_all(db)
    .await?;
    for note in &due {
        match channels.send(note).await {
            Ok(answer) => {
                sqlx::query!(
                    "UPDATE alert_notifications SET status = 'sent', answer = $2, error = NULL, sent_at = now() WHERE id = $1",
                    note.id,
                    answer,
                )
                .execute(db)
                .await?;
            }
            Err(error) => {
                tracing::warn!(recipient = note.recipient, error, "an alert notification was not sent");
                sqlx::query!(
                    r#"UPDATE alert_notifications
                       SET error = $2, status = CASE WHEN attempts >= $3 THEN 'failed' ELSE 'pending' END,
                           next_attempt_at = now() + make_interval(secs => least(30 * 2 ^ (attempts - 1), 3600))
                       WHERE id = $1"#,
                    note.id,
                    error,
                    MAX_ATTEMPTS,
                )
                .execute(db)
                .await?;
            }
        }
    }
    Ok(due.len())
}

/// The sender: sends what is due when notifications are queued, and every few seconds for
/// retries, until `stopping` resolves.
pub async fn run_sender(db: PgPool, channels: Arc<Channels>, stopping: impl Future<Output = ()>) {
    const TICK: Duration = Duration::from_secs(5);
    tokio::pin!(stopping);
    loop {
        match send_due(&db, &channels).await {
            // A full batch: there may be more.
            Ok(n) if n as i64 == BATCH => continue,
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "could not send alert notifications; trying again"),
        }
        tokio::select! {
            () = &mut stopping => return,
            () = channels.queued.notified() => {}
            () = tokio::time::sleep(TICK) => {}
        }
    }
}
