//! The HTTP API: shared state, the router that merges every resource's routes, the OpenAPI
//! document, and the middleware every request passes through (request id, one log line per
//! request, panic guard, body limit, CORS).

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tracing::Instrument;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

use crate::app::AppState;
use crate::infra::error::AppError;
use crate::infra::metrics::{HttpLabels, Metrics};

mod aggregate;
mod alerts;
mod audit;
pub mod auth;
pub mod client;
mod console;
mod dhis2_api;
mod download;
pub mod error;
pub mod extract;
mod health;
mod holds;
mod logs;
mod mappings;
mod metadata;
mod metrics;
mod orgunits;
mod overview;
mod pages;
mod reports;
mod servers;
mod session;
mod standards;
mod tracker;
mod users;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

#[derive(OpenApi)]
#[openapi(
    info(
        title = "dhis2gw",
        description = "DHIS2 integration gateway. Every route under `/api/v2` is also served under `/api` for clients of the original v1.0.0.\n\nAuthenticate with `Authorization: Bearer <JWT from /api/v2/users/getToken>`, `Authorization: Token <partner API token>` or HTTP Basic.",
        license(name = "MIT OR Apache-2.0")
    ),
    modifiers(&SecuritySchemes),
    tags(
        (name = "auth", description = "Sign in and refresh tokens"),
        (name = "users", description = "Users, roles and partner API tokens (admins)"),
        (name = "submissions", description = "Submitting data, the submission log, requeue"),
        (name = "held", description = "Values waiting for DHIS2 to open a closed period or undo an approval"),
        (name = "mappings", description = "Partner codes to DHIS2 identifiers"),
        (name = "servers", description = "DHIS2 servers: the primary and CC servers (admins)"),
        (name = "orgunits", description = "The organisation-unit hierarchy synced from DHIS2"),
        (name = "metadata", description = "DHIS2's data sets, data elements and combos as synced, which submissions are checked against"),
        (name = "overview", description = "The console's summary: submissions by status, queue, server health"),
        (name = "reports", description = "Reporting completeness: expected reports received on time, late or missing"),
        (name = "audit", description = "Who did what (staff)"),
        (name = "alerts", description = "Alert rules, what fires and the notifications sent (staff; admins change rules)"),
        (name = "health", description = "Liveness and readiness probes, Prometheus metrics"),
    )
)]
struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::builder().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
        );
        components.add_security_scheme(
            "token",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "A partner API token, sent as `Token <token>`",
            ))),
        );
        components.add_security_scheme("basic", SecurityScheme::Http(Http::new(HttpAuthScheme::Basic)));
    }
}

/// The API routes (without the `/api/v2` prefix) and their OpenAPI description.
fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(session::router())
        .merge(users::router())
        .merge(aggregate::router())
        .merge(standards::router())
        .merge(tracker::router())
        .merge(logs::router())
        .merge(holds::router())
        .merge(mappings::router())
        .merge(servers::router())
        .merge(orgunits::router())
        .merge(metadata::router())
        .merge(overview::router())
        .merge(reports::router())
        .merge(audit::router())
        .merge(alerts::router())
}

/// The OpenAPI document of the whole gateway.
pub fn openapi() -> utoipa::openapi::OpenApi {
    build_routes().1
}

fn build_routes() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (api, api_doc) = api_routes().split_for_parts();
    let (health, health_doc) = health::router().merge(metrics::router()).split_for_parts();
    let doc = merge_closed_compositions(ApiDoc::openapi().nest("/api/v2", api_doc).merge_from(health_doc));
    let router = Router::new().nest("/api/v2", api.clone()).nest("/api", api).merge(health);
    (router, doc)
}

/// A struct that refuses unknown fields (a request body) flattened into another (its response)
/// comes out of utoipa as an `allOf` of closed objects, which no document satisfies: each
/// refuses the others' properties. Each such `allOf` becomes the one closed object it means.
fn merge_closed_compositions(doc: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    let mut document = serde_json::to_value(&doc).expect("the OpenAPI document serialises");
    let schemas = document["components"]["schemas"].clone();
    merge_all_of(&mut document, &schemas);
    serde_json::from_value(document).expect("the merged document is still OpenAPI")
}

fn merge_all_of(node: &mut serde_json::Value, schemas: &serde_json::Value) {
    use serde_json::Value;
    match node {
        Value::Array(items) => items.iter_mut().for_each(|item| merge_all_of(item, schemas)),
        Value::Object(object) => {
            object.values_mut().for_each(|value| merge_all_of(value, schemas));
            let Some(Value::Array(parts)) = object.get("allOf") else { return };
            let parts: Vec<&Value> = parts
                .iter()
                .map(|part| match part["$ref"].as_str().and_then(|r| r.strip_prefix("#/components/schemas/")) {
                    Some(name) => &schemas[name],
                    None => part,
                })
                .collect();
            let closed = parts.iter().any(|part| part["additionalProperties"] == false);
            if !closed || !parts.iter().all(|part| part["properties"].is_object()) {
                return;
            }
            let mut properties = serde_json::Map::new();
            let mut required = Vec::new();
            for part in parts {
                properties
                    .extend(part["properties"].as_object().into_iter().flatten().map(|(k, v)| (k.clone(), v.clone())));
                required.extend(part["required"].as_array().into_iter().flatten().cloned());
            }
            object.remove("allOf");
            object.insert("type".into(), "object".into());
            object.insert("properties".into(), properties.into());
            if !required.is_empty() {
                object.insert("required".into(), required.into());
            }
            object.insert("additionalProperties".into(), false.into());
        }
        _ => {}
    }
}

/// Where the OpenAPI document is served, and where Swagger UI reads it.
const OPENAPI_PATH: &str = "/api-docs/openapi.json";

/// Swagger UI and the OpenAPI document it shows, kept as the JSON it is sent as: utoipa's
/// structure of it held 1.9 MB for as long as the gateway ran (seen with heaptrack).
fn api_docs<S: Clone + Send + Sync + 'static>(doc: &utoipa::openapi::OpenApi) -> Router<S> {
    let json = bytes::Bytes::from(serde_json::to_vec(doc).expect("the OpenAPI document serialises"));
    let swagger = SwaggerUi::new("/swagger").config(utoipa_swagger_ui::Config::from(OPENAPI_PATH));
    let document = move || std::future::ready(([(header::CONTENT_TYPE, "application/json")], json.clone()));
    Router::from(swagger).route(OPENAPI_PATH, axum::routing::get(document))
}

/// The complete application: routes, Swagger UI and middleware.
pub fn app(state: AppState) -> Router {
    let (routes, doc) = build_routes();
    let swagger = api_docs(&doc);
    let cors = cors_layer(&state.config.server.cors_allowed_origins);
    let body_limit = state.config.server.max_body_size;
    let metrics = state.metrics.clone();
    let pages = pages::router(&state).merge(console::router(&state));
    let dhis2_api_path = state.config.server.dhis2_api_path.trim().to_string();
    let routes = if dhis2_api_path.is_empty() {
        routes
    } else {
        // Rewritten before the nested router matches, hence a service rather than a route layer.
        let api = tower::ServiceBuilder::new()
            .map_request(dhis2_api::without_json_suffix)
            .service(dhis2_api::router().with_state(state.clone()));
        routes.nest_service(&dhis2_api_path, api)
    };
    routes
        .merge(swagger)
        .merge(pages)
        // Inside routing, where the matched route is known; `log_request` reads it back.
        .route_layer(middleware::from_fn(remember_route))
        .fallback(|| async { AppError::NotFound("No such route".into()) })
        .method_not_allowed_fallback(|| async {
            (
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                axum::Json(dhis2gw_wire::ErrorBody {
                    error: "Method not allowed on this route".into(),
                    detail: Vec::new(),
                }),
            )
        })
        .with_state(state)
        .layer(middleware::from_fn(refuse_cross_site_posts))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(CatchPanicLayer::custom(|_| AppError::Internal(anyhow::anyhow!("handler panicked")).into_response()))
        .layer(middleware::from_fn_with_state(metrics, log_request))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        // Every answer: never sniffed into another type, never framed, no referrer sent on.
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")))
        .layer(SetResponseHeaderLayer::if_not_present(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(cors)
}

/// The origins of the desktop console's webview (Tauri: `tauri://localhost` on macOS and
/// Linux, `http://tauri.localhost` on Windows), always allowed.
pub const DESKTOP_ORIGINS: [&str; 2] = ["tauri://localhost", "http://tauri.localhost"];

/// Browsers may call from the desktop console's origins and from `server.cors_allowed_origins`
/// (`*`: from anywhere); other origins get no CORS headers, so browsers refuse their calls.
/// Credentials are bearer tokens, never cookies, so an allowed origin gains nothing a page
/// does not already hold.
fn cors_layer(origins: &[String]) -> CorsLayer {
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        let configured = origins.iter().map(|o| o.trim_end_matches('/'));
        AllowOrigin::list(DESKTOP_ORIGINS.into_iter().chain(configured).filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    CorsLayer::new()
        .allow_origin(allow)
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE, Method::OPTIONS])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, HeaderName::from_static("idempotency-key")])
        .expose_headers([REQUEST_ID, header::CONTENT_DISPOSITION])
}

/// Refuses a POST that a hostile web page could have made a browser send with credentials
/// the browser remembers (HTTP Basic): one without an explicit token whose content type is
/// absent or one a cross-site form or `fetch` may send without asking (form, multipart,
/// text). Signing in is exempt: its answer cannot be read cross-site, and the original's
/// partners sign in with Basic and no body.
async fn refuse_cross_site_posts(request: Request, next: Next) -> Response {
    const WITHOUT_ASKING: [&str; 3] = ["application/x-www-form-urlencoded", "multipart/form-data", "text/plain"];
    let headers = request.headers();
    let mime = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or_default().trim().to_ascii_lowercase());
    let forgeable = mime.as_deref().is_none_or(|m| WITHOUT_ASKING.contains(&m));
    if request.method() == Method::POST
        && forgeable
        && !extract::explicit_credentials(headers)
        && !request.uri().path().ends_with("/users/getToken")
    {
        return AppError::UnsupportedMediaType(
            "A POST without a Bearer or Token credential must declare its body's type (Content-Type: \
             application/json, application/adx+xml, application/fhir+json, or text/csv for CSV); forms and \
             plain text are refused"
                .into(),
        )
        .into_response();
    }
    next.run(request).await
}

/// Copies the matched route pattern onto the response for [`log_request`].
async fn remember_route(request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().cloned();
    let mut response = next.run(request).await;
    if let Some(route) = route {
        response.extensions_mut().insert(route);
    }
    response
}

/// One line per request (method, path, status, latency and, once authenticated, the user),
/// and the request's metrics.
async fn log_request(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_id = request.headers().get(&REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let method = request.method().to_string();
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        method = %method,
        path = %request.uri().path(),
        user = tracing::field::Empty,
    );
    let response = next.run(request).instrument(span.clone()).await;
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    let route = response.extensions().get::<MatchedPath>().map_or("unmatched", |r| r.as_str()).to_string();
    metrics.http_request(HttpLabels { method, route, status }, elapsed);
    let latency_ms = elapsed.as_secs_f64() * 1000.0;
    span.in_scope(|| tracing::info!(status, latency_ms = format!("{latency_ms:.1}"), "request"));
    response
}
