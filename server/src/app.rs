//! The application context: what the HTTP layer, the scheduler and the domain operations
//! share, built once by [`crate::startup`].

use std::sync::Arc;

use sqlx::PgPool;

use crate::auth::JwtKeys;
use crate::config::Config;
use crate::dhis2::Dhis2Client;
use crate::error::{AppError, AppResult};
use crate::mappings::MappingCache;
use crate::metrics::Metrics;
use crate::queue::Queue;

/// What every part of the gateway reaches: pools, configuration, clients and the caches that
/// domain operations keep up to date. HTTP handlers get it as their router's state; the scheduler and
/// the CLI hold it too, so it lives outside `http`.
#[derive(Clone)]
pub struct AppState {
    pub db: PgPool,
    pub config: Arc<Config>,
    pub jwt: Arc<JwtKeys>,
    pub redis: redis::Client,
    pub queue: Queue,
    /// The primary DHIS2 server, when one is configured.
    pub dhis2: Option<Arc<Dhis2Client>>,
    pub primary_server_id: Option<i64>,
    /// The intake's view of the mappings; invalidated by every mapping change.
    pub mappings: Arc<MappingCache>,
    /// Recently verified API tokens and passwords; every user or token change clears them.
    pub credentials: Arc<crate::users::KnownCredentials>,
    /// Bounds password hashing and guesses.
    pub sign_in: Arc<crate::auth::SignInGuard>,
    /// The delivery workers' pool (asynchronous commits), apart so intake never waits for it.
    pub worker_db: PgPool,
    pub metrics: Arc<Metrics>,
    /// Every DHIS2 server's connection, and where new submissions go.
    pub servers: Arc<crate::servers::Registry>,
    /// The synced org-unit hierarchy, as the intake checks submissions against it.
    pub hierarchy: Arc<crate::orgunits::Hierarchy>,
    /// Metadata read through the DHIS2-compatible API: the read's key → (fetched, status, body);
    /// bounded by bytes and age ([`crate::dhis2::proxy::answer_cache`]).
    pub dhis2_api_cache: moka::sync::Cache<String, crate::dhis2::proxy::CachedAnswer>,
}

impl AppState {
    /// The primary DHIS2 server's client; 503 when none is configured.
    pub fn primary(&self) -> AppResult<&Arc<Dhis2Client>> {
        self.dhis2.as_ref().ok_or_else(no_primary)
    }
}

/// Why work that needs DHIS2 cannot be done on a gateway without one.
pub fn no_primary() -> AppError {
    AppError::Unavailable("No DHIS2 server is configured (api.dhis2_base_url)".into())
}
