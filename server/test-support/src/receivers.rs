//! Where the gateway's alert notifications land in tests: a small SMTP server speaking enough
//! of RFC 5321 for a real client (EHLO with AUTH PLAIN/LOGIN, MAIL, RCPT, DATA with
//! dot-stuffing, RSET, NOOP, QUIT), and a webhook receiver. Both keep what they received and
//! can be told to refuse the next messages, to test retries.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// One email as the SMTP server received it.
#[derive(Clone, Debug)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    /// Headers and body, as sent (dot-stuffing undone).
    pub data: String,
    /// `user:password` when the client authenticated.
    pub auth: Option<String>,
}

impl Mail {
    /// The value of a header, its folded lines joined.
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\n\n").next().unwrap_or("").replace("\n ", " ").replace("\n\t", " ");
        head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }
}

#[derive(Clone)]
struct Shared<T> {
    received: Arc<Mutex<Vec<T>>>,
    refuse: Arc<AtomicUsize>,
}

impl<T: Clone> Shared<T> {
    fn new() -> Self {
        Shared { received: Arc::default(), refuse: Arc::default() }
    }

    fn refusing(&self) -> bool {
        self.refuse.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok()
    }

    fn all(&self) -> Vec<T> {
        self.received.lock().unwrap().clone()
    }

    /// Waits until `pred` holds for what was received, or panics after `within`.
    async fn wait(&self, within: Duration, what: &str, pred: impl Fn(&[T]) -> bool) -> Vec<T> {
        let deadline = Instant::now() + within;
        loop {
            let all = self.all();
            if pred(&all) {
                return all;
            }
            assert!(Instant::now() < deadline, "{what}: not received within {within:?} ({} received)", all.len());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

pub struct SmtpServer {
    pub port: u16,
    shared: Shared<Mail>,
}

impl SmtpServer {
    pub async fn start() -> SmtpServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let shared = Shared::<Mail>::new();
        let serving = shared.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let shared = serving.clone();
                tokio::spawn(async move {
                    let _ = session(socket, shared).await;
                });
            }
        });
        SmtpServer { port, shared }
    }

    /// The next `n` messages are refused with a temporary error (451) at MAIL FROM.
    pub fn refuse_next(&self, n: usize) {
        self.shared.refuse.store(n, Ordering::SeqCst);
    }

    pub fn mails(&self) -> Vec<Mail> {
        self.shared.all()
    }

    /// Waits for at least `n` mails.
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Mail> {
        self.wait(within, |m| m.len() >= n).await
    }

    /// Waits until `pred` holds for the mails received.
    pub async fn wait(&self, within: Duration, pred: impl Fn(&[Mail]) -> bool) -> Vec<Mail> {
        self.shared.wait(within, "mail", pred).await
    }
}

async fn session(socket: tokio::net::TcpStream, shared: Shared<Mail>) -> std::io::Result<()> {
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read);
    write.write_all(b"220 test-smtp ESMTP ready\r\n").await?;
    let (mut from, mut to, mut auth) = (String::new(), Vec::new(), None::<String>);
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_string();
        let verb = command.split_whitespace().next().unwrap_or("").to_ascii_uppercase();
        let reply: String = match verb.as_str() {
            "EHLO" => "250-test-smtp\r\n250-8BITMIME\r\n250-AUTH PLAIN LOGIN\r\n250 SMTPUTF8".into(),
            "HELO" => "250 test-smtp".into(),
            "AUTH" => {
                let parts: Vec<&str> = command.split_whitespace().collect();
                let decoded = |b64: &str| {
                    use base64::Engine;
                    String::from_utf8(base64::engine::general_purpose::STANDARD.decode(b64).unwrap_or_default())
                        .unwrap_or_default()
                };
                match parts.get(1).map(|m| m.to_ascii_uppercase()).as_deref() {
                    Some("PLAIN") => {
                        let plain = decoded(parts.get(2).copied().unwrap_or(""));
                        let mut fields = plain.split('\0').skip(1);
                        auth = Some(format!("{}:{}", fields.next().unwrap_or(""), fields.next().unwrap_or("")));
                        "235 2.7.0 Authentication successful".into()
                    }
                    Some("LOGIN") => {
                        let mut answers = Vec::new();
                        for prompt in ["334 VXNlcm5hbWU6\r\n", "334 UGFzc3dvcmQ6\r\n"] {
                            write.write_all(prompt.as_bytes()).await?;
                            line.clear();
                            lines.read_line(&mut line).await?;
                            answers.push(decoded(line.trim()));
                        }
                        auth = Some(answers.join(":"));
                        "235 2.7.0 Authentication successful".into()
                    }
                    _ => "504 5.5.4 Unrecognized authentication type".into(),
                }
            }
            "MAIL" if shared.refusing() => "451 4.3.0 Try again later (refused by the test)".into(),
            "MAIL" => {
                from = address_in(&command);
                to.clear();
                "250 2.1.0 OK".into()
            }
            "RCPT" => {
                to.push(address_in(&command));
                "250 2.1.5 OK".into()
            }
            "DATA" => {
                write.write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n").await?;
                let mut data = String::new();
                loop {
                    line.clear();
                    if lines.read_line(&mut line).await? == 0 {
                        return Ok(());
                    }
                    let text = line.trim_end_matches(['\r', '\n']);
                    if text == "." {
                        break;
                    }
                    data.push_str(text.strip_prefix('.').unwrap_or(text));
                    data.push('\n');
                }
                let mail = Mail { from: from.clone(), to: to.clone(), data, auth: auth.clone() };
                let n = {
                    let mut received = shared.received.lock().unwrap();
                    received.push(mail);
                    received.len()
                };
                format!("250 2.0.0 OK queued as test-{n}")
            }
            "RSET" => {
                from.clear();
                to.clear();
                "250 2.0.0 OK".into()
            }
            "NOOP" => "250 2.0.0 OK".into(),
            "QUIT" => {
                write.write_all(b"221 2.0.0 Bye\r\n").await?;
                return Ok(());
            }
            _ => "502 5.5.2 Command not implemented".into(),
        };
        write.write_all(format!("{reply}\r\n").as_bytes()).await?;
    }
}

/// The address in `MAIL FROM:<a@b>` or `RCPT TO:<a@b>`.
fn address_in(command: &str) -> String {
    command.split_once('<').and_then(|(_, rest)| rest.split_once('>')).map(|(a, _)| a.to_string()).unwrap_or_default()
}

/// One webhook call.
#[derive(Clone, Debug)]
pub struct Hook {
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Hook {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a webhook body is JSON")
    }
}

pub struct WebhookReceiver {
    pub url: String,
    shared: Shared<Hook>,
}

impl WebhookReceiver {
    pub async fn start() -> WebhookReceiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://127.0.0.1:{}/hook", listener.local_addr().unwrap().port());
        let shared = Shared::<Hook>::new();
        let receiving = shared.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                let shared = receiving.clone();
                async move {
                    if shared.refusing() {
                        return (StatusCode::SERVICE_UNAVAILABLE, "refused by the test");
                    }
                    shared.received.lock().unwrap().push(Hook { headers, body });
                    (StatusCode::OK, "ok")
                }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        WebhookReceiver { url, shared }
    }

    /// The next `n` calls are answered 503.
    pub fn refuse_next(&self, n: usize) {
        self.shared.refuse.store(n, Ordering::SeqCst);
    }

    pub fn hooks(&self) -> Vec<Hook> {
        self.shared.all()
    }

    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Hook> {
        self.shared.wait(within, "webhook", |h| h.len() >= n).await
    }
}
