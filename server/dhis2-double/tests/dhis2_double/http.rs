//! A minimal HTTP/1.1 client over a raw `TcpStream`, so tests can see exactly what the
//! double does on the wire (including connections closed without any response).

use std::io;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use dhis2_double::{Dhis2Double, PASSWORD, USERNAME, Version};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// An HTTP response as received.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.body))
    }
}

/// One keep-alive connection to the double.
pub struct Conn {
    stream: BufReader<TcpStream>,
    host: String,
}

impl Conn {
    pub async fn open(base_url: &str) -> io::Result<Conn> {
        let host = base_url.trim_start_matches("http://").to_owned();
        let stream = TcpStream::connect(&host).await?;
        Ok(Conn { stream: BufReader::new(stream), host })
    }

    /// Sends one request and reads its response; an error if the connection is closed or
    /// reset before a complete response arrives.
    pub async fn send(
        &mut self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> io::Result<Reply> {
        let mut head =
            format!("{method} {target} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\n", self.host, body.len());
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        let stream = self.stream.get_mut();
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(body.as_bytes()).await?;
        self.read_reply().await
    }

    async fn read_line(&mut self) -> io::Result<String> {
        let mut line = String::new();
        if self.stream.read_line(&mut line).await? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        Ok(line.trim_end().to_owned())
    }

    async fn read_reply(&mut self) -> io::Result<Reply> {
        let status_line = self.read_line().await?;
        let status = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| io::Error::other(format!("bad status line {status_line:?}")))?;
        let mut headers = Vec::new();
        loop {
            let line = self.read_line().await?;
            if line.is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                headers.push((k.trim().to_owned(), v.trim().to_owned()));
            }
        }
        let mut reply = Reply { status, headers, body: String::new() };
        let mut body = Vec::new();
        if matches!(status, 204 | 304) {
            // No body, and no length to say so.
        } else if let Some(len) = reply.header("content-length") {
            let len: usize = len.parse().map_err(io::Error::other)?;
            body.resize(len, 0);
            self.stream.read_exact(&mut body).await?;
        } else if reply.header("transfer-encoding").is_some_and(|te| te.eq_ignore_ascii_case("chunked")) {
            loop {
                let size = usize::from_str_radix(&self.read_line().await?, 16).map_err(io::Error::other)?;
                let mut chunk = vec![0; size + 2];
                self.stream.read_exact(&mut chunk).await?;
                if size == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..size]);
            }
        } else {
            self.stream.read_to_end(&mut body).await?;
        }
        reply.body = String::from_utf8_lossy(&body).into_owned();
        Ok(reply)
    }
}

/// `Authorization` value for the fixture user.
pub fn basic() -> String {
    format!("Basic {}", STANDARD.encode(format!("{USERNAME}:{PASSWORD}")))
}

/// One request on a fresh connection.
pub async fn send(
    base_url: &str,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> io::Result<Reply> {
    let mut conn = Conn::open(base_url).await?;
    tokio::time::timeout(Duration::from_secs(10), conn.send(method, target, headers, body))
        .await
        .map_err(io::Error::other)?
}

/// An authenticated GET that must get a response.
pub async fn get(dhis2: &Dhis2Double, target: &str) -> Reply {
    let auth = basic();
    send(&dhis2.base_url(), "GET", target, &[("Authorization", &auth)], "").await.expect("a response")
}

/// An authenticated JSON POST to `/api/dataValueSets?{query}`.
pub async fn try_post_import(dhis2: &Dhis2Double, query: &str, body: &Value) -> io::Result<Reply> {
    let auth = basic();
    let target = format!("/api/dataValueSets?{query}");
    let headers = [("Authorization", auth.as_str()), ("Content-Type", "application/json")];
    send(&dhis2.base_url(), "POST", &target, &headers, &body.to_string()).await
}

/// Like [`try_post_import`], but a response is required.
pub async fn post_import(dhis2: &Dhis2Double, query: &str, body: &Value) -> Reply {
    try_post_import(dhis2, query, body).await.expect("a response")
}

/// The ImportSummary inside a sync import reply, wherever the version puts it.
pub fn summary(version: Version, reply: &Reply) -> Value {
    let json = reply.json();
    match version {
        Version::V2_37 => json,
        _ => json["response"].clone(),
    }
}

/// An authenticated request with a JSON body (if not empty) that must get a response.
pub async fn request(dhis2: &Dhis2Double, method: &str, target: &str, body: &str) -> Reply {
    let auth = basic();
    let headers = [("Authorization", auth.as_str()), ("Content-Type", "application/json")];
    send(&dhis2.base_url(), method, target, &headers, body).await.expect("a response")
}

/// An authenticated JSON POST that must get a response.
pub async fn post_json(dhis2: &Dhis2Double, target: &str, body: &Value) -> Reply {
    request(dhis2, "POST", target, &body.to_string()).await
}
