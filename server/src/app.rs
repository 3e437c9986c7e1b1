//! The application context: what the HTTP layer, the scheduler and the domain operations
//! share, built once by [`crate::startup`].

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;

use crate::access::auth::JwtKeys;
use crate::infra::config::Config;
use crate::infra::dhis2::Dhis2Client;
use crate::infra::error::{AppError, AppResult};
use crate::infra::metrics::Metrics;
use crate::infra::queue::Queue;
use crate::mappings::MappingCache;

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
    pub credentials: Arc<crate::access::users::KnownCredentials>,
    /// Bounds password hashing and guesses.
    pub sign_in: Arc<crate::access::auth::SignInGuard>,
    /// Partners' request buckets and refusals over their limits, in this process.
    pub limits: Arc<crate::access::partners::Limits>,
    /// Stores accepted submissions, those that arrive together in one statement.
    pub intake: crate::infra::intake_writer::IntakeWriter,
    /// The delivery workers' pool (asynchronous commits), apart so intake never waits for it.
    pub worker_db: PgPool,
    pub metrics: Arc<Metrics>,
    /// Every DHIS2 server's connection, and where new submissions go.
    pub servers: Arc<crate::servers::Registry>,
    /// The synced org-unit hierarchy, as the intake checks submissions against it.
    pub hierarchy: Arc<crate::orgunits::Hierarchy>,
    /// The synced DHIS2 metadata (data sets, elements, combos), as the intake checks values.
    pub metadata: Arc<crate::metadata::Catalog>,
    /// Metadata read through the DHIS2-compatible API: the read's key → (fetched, status, body);
    /// bounded by bytes and age ([`crate::infra::dhis2::proxy::answer_cache`]).
    pub dhis2_api_cache: moka::sync::Cache<String, crate::infra::dhis2::proxy::CachedAnswer>,
    /// How alert notifications go out (email, webhooks).
    pub alert_channels: Arc<crate::infra::notify::Channels>,
}

/// How long a readiness check waits for each dependency.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

impl AppState {
    /// Whether PostgreSQL and Redis answer: `postgres` and `redis`, each `ok` or `down: why`.
    pub async fn dependencies(&self) -> BTreeMap<String, String> {
        let postgres = async {
            sqlx::query_scalar!(r#"SELECT 1 AS "one!""#).fetch_one(&self.db).await.map(drop).map_err(|e| e.to_string())
        };
        let redis = async {
            let mut conn = self.redis.get_multiplexed_async_connection().await.map_err(|e| e.to_string())?;
            redis::cmd("PING").query_async::<String>(&mut conn).await.map(drop).map_err(|e| e.to_string())
        };
        let (postgres, redis) = tokio::join!(within_timeout(postgres), within_timeout(redis));
        [("postgres", postgres), ("redis", redis)].into_iter().map(|(k, v)| (k.to_string(), v)).collect()
    }

    /// The primary DHIS2 server's client; 503 when none is configured.
    pub fn primary(&self) -> AppResult<&Arc<Dhis2Client>> {
        self.dhis2.as_ref().ok_or_else(no_primary)
    }
}

/// Why work that needs DHIS2 cannot be done on a gateway without one.
pub fn no_primary() -> AppError {
    AppError::Unavailable("No DHIS2 server is configured (api.dhis2_base_url)".into())
}

async fn within_timeout(check: impl Future<Output = Result<(), String>>) -> String {
    match tokio::time::timeout(CHECK_TIMEOUT, check).await {
        Ok(Ok(())) => "ok".into(),
        Ok(Err(e)) => format!("down: {e}"),
        Err(_) => format!("down: no answer within {} s", CHECK_TIMEOUT.as_secs()),
    }
}
