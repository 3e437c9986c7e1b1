//! Talking to a DHIS2 server: the HTTP client (auth, base URL, timeouts), in [`summary`]
//! reading its import answers in every version's shape, in [`share`] dividing one answer
//! among the submissions a request carried, and in [`refusal`] who must act on what it refused.

pub mod proxy;
pub mod refusal;
pub mod share;
pub mod summary;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::Value;

use crate::infra::config::{ApiConfig, AuthMethod};
use crate::infra::metrics::Metrics;

/// How long a server's reported version is trusted before it is asked again.
const VERSION_TTL: Duration = Duration::from_secs(600);

/// A DHIS2 server the gateway delivers to.
pub struct Dhis2Client {
    http: reqwest::Client,
    /// `<base>/api`, whether or not the configured base URL ended in `/api`.
    api: String,
    auth: Auth,
    version: Mutex<Option<(Instant, String)>>,
    metrics: Arc<Metrics>,
}

pub enum Auth {
    Basic { user: String, password: String },
    Pat(String),
}

/// How a tracker payload is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrackerMode {
    /// `async=false`: the ImportReport is the answer.
    Sync,
    /// `async=true`: DHIS2 answers with a job to poll.
    Async,
    /// `importMode=VALIDATE`: checked, nothing stored.
    Validate,
}

/// DHIS2's answer, as received.
#[derive(Clone, Debug)]
pub struct Answer {
    pub url: String,
    pub status: u16,
    pub body: String,
    pub duration: Duration,
    /// How long the server asked to be left alone (`Retry-After`, in seconds or as a date).
    pub retry_after: Option<Duration>,
}

/// The request never got an HTTP answer (connection refused or reset, timeout, TLS).
#[derive(Clone, Debug, thiserror::Error)]
#[error("{message}")]
pub struct TransportError {
    pub url: String,
    pub message: String,
    pub duration: Duration,
    /// No answer came and it was not a timeout: the server (or its address) is not there.
    pub unreachable: bool,
}

impl Dhis2Client {
    /// The primary server from the `api` section, or `None` when no base URL is configured.
    pub fn from_config(api: &ApiConfig, metrics: Arc<Metrics>) -> anyhow::Result<Option<Dhis2Client>> {
        if api.dhis2_base_url.trim().is_empty() {
            return Ok(None);
        }
        let auth = match api.effective_auth_method() {
            AuthMethod::Basic => {
                Auth::Basic { user: api.dhis2_user.clone(), password: api.dhis2_password.expose().to_string() }
            }
            AuthMethod::Pat => Auth::Pat(api.dhis2_pat.expose().to_string()),
        };
        Dhis2Client::new(&api.dhis2_base_url, auth, Duration::from_secs(api.dhis2_timeout), metrics, None).map(Some)
    }

    /// `resolver`: how host names are resolved, when not as usual (see `servers::address`).
    pub fn new(
        base_url: &str,
        auth: Auth,
        timeout: Duration,
        metrics: Arc<Metrics>,
        resolver: Option<Arc<dyn reqwest::dns::Resolve>>,
    ) -> anyhow::Result<Dhis2Client> {
        let builder = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(10).min(timeout))
            .user_agent(concat!("dhis2gw/", env!("CARGO_PKG_VERSION")));
        let builder = match resolver {
            Some(resolver) => builder.dns_resolver(resolver),
            None => builder,
        };
        let http = builder.build().context("building the HTTP client")?;
        Ok(Dhis2Client { http, api: api_root(base_url), auth, version: Mutex::new(None), metrics })
    }

    pub fn api_root(&self) -> &str {
        &self.api
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.authorized(self.http.request(method, format!("{}{path}", self.api)))
    }

    fn authorized(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.auth {
            Auth::Basic { user, password } => request.basic_auth(user, Some(password)),
            Auth::Pat(token) => request.header(reqwest::header::AUTHORIZATION, format!("ApiToken {token}")),
        }
    }

    /// `POST /api/dataValueSets?<query>` with the payload exactly as given (the query holds
    /// import options such as `dryRun=true` or id schemes; empty for none).
    pub async fn post_data_value_set(&self, payload: &Value, query: &str) -> Result<Answer, TransportError> {
        let path = if query.is_empty() { "/dataValueSets".to_string() } else { format!("/dataValueSets?{query}") };
        self.send(self.request(reqwest::Method::POST, &path).json(payload)).await
    }

    /// `POST /api/tracker`, creating or updating (UIDs decide), synchronously or as a job.
    pub async fn post_tracker(&self, payload: &Value, mode: TrackerMode) -> Result<Answer, TransportError> {
        let (run_async, import_mode) = match mode {
            TrackerMode::Sync => (false, "COMMIT"),
            TrackerMode::Async => (true, "COMMIT"),
            TrackerMode::Validate => (false, "VALIDATE"),
        };
        let path = format!("/tracker?async={run_async}&importMode={import_mode}&importStrategy=CREATE_AND_UPDATE");
        self.send(self.request(reqwest::Method::POST, &path).json(payload)).await
    }

    /// `GET /api/<path_and_query>`, e.g. metadata for the org-unit sync.
    pub async fn get(&self, path_and_query: &str) -> Result<Answer, TransportError> {
        self.send(self.request(reqwest::Method::GET, &format!("/{path_and_query}"))).await
    }

    /// `GET /api/<path_and_query>` for a JSON answer the gateway reads itself (the syncs):
    /// anything but a 200 with JSON is an error naming the request.
    pub async fn get_json(&self, path_and_query: &str) -> anyhow::Result<Value> {
        let answer = self.get(path_and_query).await.map_err(|e| anyhow::anyhow!("{}: {}", e.url, e.message))?;
        if answer.status != 200 {
            let start: String = answer.body.chars().take(200).collect();
            anyhow::bail!("DHIS2 answered HTTP {} to /api/{path_and_query}: {start}", answer.status);
        }
        serde_json::from_str(&answer.body)
            .map_err(|_| anyhow::anyhow!("DHIS2's answer to /api/{path_and_query} is not JSON"))
    }

    /// `GET /api/<segments>?<query>` for a request a client shaped: each segment is
    /// percent-encoded as one path segment, so nothing in it can climb to another resource.
    pub async fn get_resource(
        &self,
        segments: &[String],
        query: &[(String, String)],
    ) -> Result<Answer, TransportError> {
        let mut url = reqwest::Url::parse(&self.api).map_err(|e| TransportError {
            url: self.api.clone(),
            message: format!("the API root is not a URL: {e}"),
            duration: Duration::ZERO,
            unreachable: false,
        })?;
        url.path_segments_mut().expect("http URLs have a path").extend(segments);
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        self.send(self.authorized(self.http.get(url))).await
    }

    /// `POST /api/metadata` (create or update; the payload's UIDs decide).
    pub async fn post_metadata(&self, payload: &Value) -> Result<Answer, TransportError> {
        let path = "/metadata?importStrategy=CREATE_AND_UPDATE&atomicMode=ALL";
        self.send(self.request(reqwest::Method::POST, path).json(payload)).await
    }

    /// `POST /api/organisationUnitGroups/{group}/organisationUnits/{unit}`: adds a member.
    pub async fn add_group_member(&self, group: &str, unit: &str) -> Result<Answer, TransportError> {
        let path = format!("/organisationUnitGroups/{group}/organisationUnits/{unit}");
        self.send(self.request(reqwest::Method::POST, &path)).await
    }

    /// The progress notifications of a tracker job.
    pub async fn tracker_job(&self, job: &str) -> Result<Answer, TransportError> {
        self.send(self.request(reqwest::Method::GET, &format!("/tracker/jobs/{job}"))).await
    }

    /// The ImportReport of a finished tracker job.
    pub async fn tracker_report(&self, job: &str) -> Result<Answer, TransportError> {
        self.send(self.request(reqwest::Method::GET, &format!("/tracker/jobs/{job}/report?reportMode=ERRORS"))).await
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<Answer, TransportError> {
        let started = Instant::now();
        let request = request.build().map_err(|e| TransportError {
            url: self.api.clone(),
            message: e.to_string(),
            duration: started.elapsed(),
            unreachable: false,
        })?;
        let url = request.url().to_string();
        let transport = |e: reqwest::Error| TransportError {
            url: url.clone(),
            message: describe(&e),
            duration: started.elapsed(),
            // Refused, reset or closed without an answer: nobody is serving. A timeout may
            // be a slow import of this very payload, so it is not.
            unreachable: !e.is_timeout(),
        };
        let answer = async {
            let response = self.http.execute(request).await.map_err(transport)?;
            let status = response.status().as_u16();
            let retry_after =
                response.headers().get(reqwest::header::RETRY_AFTER).and_then(|v| retry_after(v.to_str().ok()?));
            let body = response.text().await.map_err(transport)?;
            Ok(Answer { url: url.clone(), status, body, duration: started.elapsed(), retry_after })
        }
        .await;
        self.metrics.dhis2_answered(answer.as_ref().ok().map(|a| a.status), started.elapsed());
        answer
    }

    /// The server's version from `/api/system/info`, cached for ten minutes.
    pub async fn version(&self) -> Option<String> {
        if let Some((at, version)) = self.version.lock().expect("not poisoned").as_ref()
            && at.elapsed() < VERSION_TTL
        {
            return Some(version.clone());
        }
        self.check().await.ok()
    }

    /// Whether `/api/system/ping` answers (it needs no credentials: only that DHIS2 is up).
    pub async fn ping(&self) -> bool {
        let ping = self.send(self.http.get(format!("{}/system/ping", self.api))).await;
        ping.is_ok_and(|answer| answer.status == 200)
    }

    /// Asks `/api/system/info` now: the version, or why the server cannot be used.
    pub async fn check(&self) -> Result<String, String> {
        let answer = self.send(self.request(reqwest::Method::GET, "/system/info")).await.map_err(|e| e.message)?;
        if answer.status != 200 {
            return Err(format!("/api/system/info answered HTTP {}", answer.status));
        }
        let info: Value = serde_json::from_str(&answer.body)
            .map_err(|_| "/api/system/info did not answer JSON (is the base URL a DHIS2 server?)".to_string())?;
        let version = info["version"].as_str().ok_or("/api/system/info has no version")?.to_string();
        *self.version.lock().expect("not poisoned") = Some((Instant::now(), version.clone()));
        Ok(version)
    }
}

/// A `Retry-After` value: whole seconds, or an HTTP date (how long from now).
fn retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    (at.with_timezone(&chrono::Utc) - chrono::Utc::now()).to_std().ok().or(Some(Duration::ZERO))
}

/// `https://x/`, `https://x/api` and `https://x/api/` all mean the API root `https://x/api`.
fn api_root(base_url: &str) -> String {
    let trimmed = base_url.trim().trim_end_matches('/');
    let root = trimmed.strip_suffix("/api").unwrap_or(trimmed);
    format!("{root}/api")
}

/// reqwest's top-level message hides the cause ("error sending request"); name it.
fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    let mut cause = String::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        cause = s.to_string();
        source = s.source();
    }
    if cause.is_empty() { kind.to_string() } else { format!("{kind}: {cause}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_read_in_seconds_or_as_a_date() {
        assert_eq!(retry_after(" 120 "), Some(Duration::from_secs(120)));
        let in_a_minute = (chrono::Utc::now() + chrono::Duration::seconds(61)).to_rfc2822().replace("+0000", "GMT");
        let wait = retry_after(&in_a_minute).unwrap();
        assert!((58..=61).contains(&wait.as_secs()), "{wait:?} for {in_a_minute}");
        assert_eq!(retry_after("Sun, 06 Nov 1994 08:49:37 GMT"), Some(Duration::ZERO), "past: at once");
        assert_eq!(retry_after("soon"), None);
    }

    #[test]
    fn base_url_with_or_without_api_gives_the_same_root() {
        for base in [
            "https://dhis2.example",
            "https://dhis2.example/",
            "https://dhis2.example/api",
            "https://dhis2.example/api/",
        ] {
            assert_eq!(api_root(base), "https://dhis2.example/api", "{base}");
        }
        assert_eq!(api_root("https://x.org/dhis/api/"), "https://x.org/dhis/api");
    }
}
