//! Requests to the gateway's REST API: one request shape and one error type. Calls made with
//! a session's token, refreshed when the gateway answers 401, are [`crate::session`]'s.

use dhis2gw_wire::routes as paths;
use dhis2gw_wire::{ErrorBody, RefreshRequest, TokenRequest, TokenResponse};
use gloo_net::http::{Request, RequestBuilder, Response};
use serde::Serialize;

/// What went wrong with a call, in words an administrator can act on.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiError {
    /// The HTTP status; 0 when the gateway could not be reached at all.
    pub status: u16,
    pub message: String,
    /// The fields the gateway named, as `"<field>: <problem>"`.
    pub detail: Vec<String>,
}

impl ApiError {
    pub fn unreachable(gateway: &str) -> Self {
        ApiError {
            status: 0,
            message: format!(
                "Cannot reach the gateway at {gateway}. Check the address, your network, and that the gateway is running."
            ),
            detail: Vec::new(),
        }
    }

    pub fn expired() -> Self {
        ApiError { status: 401, message: "Your session has expired. Sign in again.".into(), detail: Vec::new() }
    }

    pub fn unexpected(what: impl std::fmt::Display) -> Self {
        ApiError { status: 0, message: format!("Unexpected answer from the gateway: {what}"), detail: Vec::new() }
    }

    /// The gateway's JSON error body, or a message made from the status when it sent none.
    pub fn from_body(status: u16, body: &str) -> Self {
        match serde_json::from_str::<ErrorBody>(body) {
            Ok(e) => ApiError { status, message: e.error, detail: e.detail },
            Err(_) => ApiError { status, message: format!("The gateway answered HTTP {status}"), detail: Vec::new() },
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)?;
        for d in &self.detail {
            write!(f, "; {d}")?;
        }
        Ok(())
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// The body of a request.
pub enum Body {
    None,
    Json(serde_json::Value),
    /// A file upload as the `file` field of a multipart form.
    File {
        name: String,
        bytes: Vec<u8>,
    },
}

#[derive(Clone, Copy)]
enum Verb {
    Get,
    Post,
    Put,
    Delete,
}

/// One call to `/api/v2/…`.
pub struct Call {
    verb: Verb,
    path: String,
    query: Vec<(String, String)>,
    body: Body,
}

impl Call {
    fn new(verb: Verb, path: impl Into<String>) -> Self {
        Call { verb, path: path.into(), query: Vec::new(), body: Body::None }
    }
    pub fn get(path: impl Into<String>) -> Self {
        Call::new(Verb::Get, path)
    }
    pub fn post(path: impl Into<String>) -> Self {
        Call::new(Verb::Post, path)
    }
    pub fn put(path: impl Into<String>) -> Self {
        Call::new(Verb::Put, path)
    }
    pub fn delete(path: impl Into<String>) -> Self {
        Call::new(Verb::Delete, path)
    }

    /// Query parameters; empty values are left out, as the gateway treats them as "no filter".
    pub fn query<K: Into<String>, V: Into<String>>(mut self, pairs: impl IntoIterator<Item = (K, V)>) -> Self {
        for (k, v) in pairs {
            let v = v.into();
            if !v.trim().is_empty() {
                self.query.push((k.into(), v.trim().to_string()));
            }
        }
        self
    }

    /// A typed filter as query parameters: what it leaves out (`None`) is not sent.
    pub fn filter(self, filter: &impl Serialize) -> Self {
        let fields = match serde_json::to_value(filter) {
            Ok(serde_json::Value::Object(fields)) => fields,
            _ => Default::default(),
        };
        self.query(fields.into_iter().filter_map(|(k, v)| match v {
            serde_json::Value::Null => None,
            serde_json::Value::String(s) => Some((k, s)),
            other => Some((k, other.to_string())),
        }))
    }

    pub fn json(mut self, body: &impl Serialize) -> Self {
        self.body = Body::Json(serde_json::to_value(body).expect("request bodies serialise"));
        self
    }

    pub fn file(mut self, name: String, bytes: Vec<u8>) -> Self {
        self.body = Body::File { name, bytes };
        self
    }

    /// The URL of this call on a gateway.
    pub fn url(&self, gateway: &str) -> String {
        api_url(gateway, &self.path, &self.query)
    }

    fn build(&self, gateway: &str, token: Option<&str>) -> ApiResult<Request> {
        let url = self.url(gateway);
        let mut builder: RequestBuilder = match self.verb {
            Verb::Get => Request::get(&url),
            Verb::Post => Request::post(&url),
            Verb::Put => Request::put(&url),
            Verb::Delete => Request::delete(&url),
        };
        if let Some(token) = token {
            builder = builder.header("Authorization", &format!("Bearer {token}"));
        }
        let request = match &self.body {
            Body::None => builder.build(),
            Body::Json(value) => builder.json(value),
            Body::File { name, bytes } => {
                let form = web_sys::FormData::new().map_err(|_| ApiError::unexpected("no FormData"))?;
                let blob = crate::platform::blob(bytes, "application/octet-stream");
                form.append_with_blob_and_filename("file", &blob, name)
                    .map_err(|_| ApiError::unexpected("cannot attach the file"))?;
                builder.body(form)
            }
        };
        request.map_err(ApiError::unexpected)
    }
}

/// `{gateway}/api/v2{path}?{query}`, tolerating a trailing slash on the gateway address.
pub fn api_url(gateway: &str, path: &str, query: &[(String, String)]) -> String {
    let mut url = format!("{}/api/v2{}", gateway.trim().trim_end_matches('/'), path);
    if !query.is_empty() {
        url.push('?');
        url.push_str(&serde_urlencoded::to_string(query).unwrap_or_default());
    }
    url
}

pub async fn send(call: &Call, gateway: &str, token: Option<&str>) -> ApiResult<Response> {
    let request = call.build(gateway, token)?;
    request.send().await.map_err(|_| ApiError::unreachable(gateway))
}

pub async fn error_of(response: Response) -> ApiError {
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    ApiError::from_body(status, &body)
}

/// Signs in with a username and password.
pub async fn sign_in(gateway: &str, username: &str, password: &str) -> ApiResult<TokenResponse> {
    let call = Call::post(paths::SIGN_IN)
        .json(&TokenRequest { username: username.to_string(), password: password.to_string() });
    let response = send(&call, gateway, None).await?;
    match response.status() {
        200 => response.json().await.map_err(ApiError::unexpected),
        401 => Err(ApiError { status: 401, message: "Wrong username or password.".into(), detail: Vec::new() }),
        _ => Err(error_of(response).await),
    }
}

/// Trades a refresh token for new tokens (each refresh token works once).
pub async fn refresh(gateway: &str, refresh_token: &str) -> ApiResult<TokenResponse> {
    let call = Call::post(paths::REFRESH).json(&RefreshRequest { refresh_token: refresh_token.to_string() });
    let response = send(&call, gateway, None).await?;
    match response.status() {
        200 => response.json().await.map_err(ApiError::unexpected),
        401 => Err(ApiError::expired()),
        _ => Err(error_of(response).await),
    }
}

/// Ends the sign-in on the gateway: every refresh token of it stops working there.
pub async fn sign_out(gateway: &str, refresh_token: &str) -> ApiResult<()> {
    let call = Call::post(paths::SIGN_OUT).json(&RefreshRequest { refresh_token: refresh_token.to_string() });
    let response = send(&call, gateway, None).await?;
    match response.status() {
        204 => Ok(()),
        _ => Err(error_of(response).await),
    }
}

/// Runs a call in the background and hands its result to `done`.
pub fn spawn<T: 'static>(future: impl Future<Output = T> + 'static, done: impl FnOnce(T) + 'static) {
    leptos::task::spawn_local(async move { done(future.await) });
}
