//! Building and running the gateway: database, migrations, the first admin, the HTTP
//! listener, and a graceful stop that lets in-flight requests finish.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::serve::ListenerExt;
use axum_server::tls_rustls::RustlsConfig;
use dhis2gw_wire::{CreateUser, RegisterCompletion, Role};
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::access::auth::JwtKeys;
use crate::access::users;
use crate::app::AppState;
use crate::delivery::{self, Deliverer};
use crate::http;
use crate::infra::config::Config;
use crate::infra::db;
use crate::infra::dhis2::Dhis2Client;
use crate::infra::error::AppError;
use crate::infra::metrics::Metrics;
use crate::infra::queue::Queue;
use crate::mappings::MappingCache;
use crate::{metadata, scheduler, servers, upgrade};

pub struct Application {
    listener: TcpListener,
    /// `server.tls_cert_file` and `tls_key_file`, loaded: HTTPS instead of HTTP.
    tls: Option<RustlsConfig>,
    state: AppState,
}

impl Application {
    /// Connects to PostgreSQL (creating the database if needed), applies migrations, creates
    /// the bootstrap admin if configured, and binds the listener (port 0 picks a free port).
    pub async fn build(mut config: Config) -> anyhow::Result<Self> {
        let db = db::connect(&config).await?;
        db::migrate(&db, &config).await?;
        adopt_original(&db, &config).await?;
        settle_where_the_original_was(&db, &mut config).await?;
        bootstrap_admin(&db, &config).await?;
        let primary_server_id = servers::sync_primary(&db, &config).await?;
        let worker_db = db::connect_workers(&db, &config).await?;
        let metrics = Arc::new(Metrics::default());
        let dhis2 = Dhis2Client::from_config(&config.api, metrics.clone())?.map(Arc::new);
        let primary = primary_server_id.zip(dhis2.clone());
        let servers = Arc::new(servers::Registry::new(worker_db.clone(), &config, primary, metrics.clone()));
        servers::reseal_unbound(&db, servers.key()).await?;
        servers::sync_conf_dir(&db, &config, servers.key()).await?;
        let redis = redis::Client::open(config.redis_url()).context("server.redis_address")?;
        let queue = Queue::new(&config, &db::installation_id(&db).await?);
        let (host, port) = (config.server.host.as_str(), config.server.port);
        let listener =
            TcpListener::bind((host, port)).await.with_context(|| format!("cannot listen on {host}:{port}"))?;
        let tls =
            match config.server.tls_files() {
                Some((cert, key)) => Some(RustlsConfig::from_pem_file(cert, key).await.with_context(|| {
                    format!("server.tls_cert_file, server.tls_key_file: cannot load {cert} and {key}")
                })?),
                None => None,
            };
        let jwt = Arc::new(JwtKeys::new(config.server.jwt_secret.expose(), config.server.access_token_ttl));
        let alert_channels = crate::infra::notify::Channels::new(&config)?;
        let metadata = Arc::new(metadata::Catalog::default());
        metadata.reload(&db).await?;
        for warning in metadata::check::default_warnings(&metadata.snapshot(), &config.api) {
            tracing::warn!("{warning}");
        }
        Ok(Application {
            listener,
            tls,
            state: AppState {
                mappings: Arc::new(MappingCache::new(config.api.mapping_scheme)),
                credentials: Arc::default(),
                intake: crate::infra::intake_writer::IntakeWriter::start(db.clone()),
                db,
                config: Arc::new(config),
                jwt,
                redis,
                queue,
                dhis2,
                primary_server_id,
                worker_db,
                metrics: metrics.clone(),
                servers,
                hierarchy: Arc::default(),
                metadata,
                dhis2_api_cache: crate::infra::dhis2::proxy::answer_cache(),
                sign_in: Arc::default(),
                alert_channels,
                limits: Arc::new(crate::access::partners::Limits::new(metrics.clone())),
            },
        })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or_default()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves and delivers until `shutdown` resolves, then stops accepting, lets in-flight
    /// requests and deliveries finish (up to `server.shutdown_timeout` seconds), and returns.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let state = self.state.clone();
        let grace = Duration::from_secs(state.config.server.shutdown_timeout);
        let (stopping_tx, stopping_rx) = tokio::sync::watch::channel(false);
        let stopping = move || {
            let mut rx = stopping_rx.clone();
            async move {
                let _ = rx.wait_for(|stopping| *stopping).await;
            }
        };
        let workers = state.dhis2.is_some().then(|| {
            let deliverer = Arc::new(Deliverer {
                db: state.worker_db.clone(),
                servers: state.servers.clone(),
                queue: state.queue.clone(),
                config: state.config.clone(),
                permits: Arc::new(Semaphore::new(state.config.server.max_concurrent as usize)),
                worker: format!("dhis2gw-{}-{}", std::process::id(), &uuid::Uuid::new_v4().simple().to_string()[..8]),
                metrics: state.metrics.clone(),
            });
            tokio::spawn(delivery::feed::run_feeder(deliverer.clone(), stopping()));
            tokio::spawn(delivery::run_workers(deliverer, stopping()))
        });
        crate::alerts::start(&state, stopping(), stopping());
        let mut scheduler = scheduler::start(&state).await?;
        let app = http::app(state.clone());
        // What migrations and building the routes freed is given back before the first request.
        crate::infra::memory::trim();
        let address = self.listener.local_addr()?;
        tracing::info!(%address, version = crate::VERSION, "dhis2gw listening");
        // Migrations ran and the port is bound: `systemctl start` may return now.
        notify_systemd(sd_notify::NotifyState::Ready);
        let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
        let stop_accepting = async move {
            shutdown.await;
            notify_systemd(sd_notify::NotifyState::Stopping);
            tracing::info!("shutting down: no new connections, finishing in-flight requests and deliveries");
            let _ = stopping_tx.send(true);
        };
        let files = state.config.server.tls_files().map(|(cert, key)| (cert.to_string(), key.to_string()));
        tokio::spawn(reload_on_hangup(self.tls.clone().zip(files)));
        let serve: std::pin::Pin<Box<dyn Future<Output = std::io::Result<()>> + Send>> = match self.tls {
            None => {
                // Answers go out as soon as they are written: without TCP_NODELAY, one written in
                // two parts may wait for the client's delayed acknowledgement of the first.
                let listener = self.listener.tap_io(|connection| {
                    if let Err(e) = connection.set_nodelay(true) {
                        tracing::debug!(error = %e, "cannot set TCP_NODELAY on a connection");
                    }
                });
                Box::pin(axum::serve(listener, app).with_graceful_shutdown(stop_accepting).into_future())
            }
            Some(tls) => {
                let handle = axum_server::Handle::new();
                let stopper = handle.clone();
                tokio::spawn(async move {
                    stop_accepting.await;
                    // In-flight requests get the grace period below, as over plain HTTP.
                    stopper.graceful_shutdown(None);
                });
                let listener = self.listener.into_std()?;
                Box::pin(axum_server::from_tcp_rustls(listener, tls)?.handle(handle).serve(app))
            }
        };
        let deadline = {
            let stopping = stopping();
            async move {
                stopping.await;
                tokio::time::sleep(grace).await;
            }
        };
        tokio::select! {
            result = serve => result.context("HTTP server failed")?,
            () = deadline => tracing::warn!("requests still running after {} s; stopping anyway", grace.as_secs()),
        }
        scheduler.shutdown().await.ok();
        if let Some(workers) = workers
            && tokio::time::timeout(grace, workers).await.is_err()
        {
            tracing::warn!("deliveries still running after {} s; the sweep will resume them", grace.as_secs());
        }
        state.db.close().await;
        state.worker_db.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// Reads the certificate and key again on every SIGHUP (`systemctl reload`, after a
/// renewal), without dropping a connection; a bad new pair is logged and the old one kept.
/// Without TLS a SIGHUP does nothing (rather than end the process, its default).
async fn reload_on_hangup(tls: Option<(RustlsConfig, (String, String))>) {
    #[cfg(unix)]
    {
        let Ok(mut hangups) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else {
            return tracing::warn!("cannot listen for SIGHUP; restart the gateway to load a renewed certificate");
        };
        while hangups.recv().await.is_some() {
            let Some((tls, (cert, key))) = &tls else {
                tracing::info!("SIGHUP: no TLS configured, nothing to reload");
                continue;
            };
            match tls.reload_from_pem_file(cert, key).await {
                Ok(()) => tracing::info!(%cert, "TLS certificate reloaded"),
                Err(e) => {
                    tracing::error!(%cert, error = %e, "TLS certificate not reloaded; the previous one stays in use")
                }
            }
        }
    }
    #[cfg(not(unix))]
    let _ = tls;
}

/// Tells systemd (`Type=notify`) about the service's state; nothing outside systemd.
fn notify_systemd(state: sd_notify::NotifyState) {
    if let Err(e) = sd_notify::notify(&[state]) {
        tracing::warn!(error = %e, "could not notify systemd");
    }
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {},
        () = terminate => {},
    }
}

/// Brings over what the original dhis2gw has in this database that is not here yet, and
/// says what came over and what ops should do.
async fn adopt_original(db: &PgPool, config: &Config) -> anyhow::Result<()> {
    let Some(report) = upgrade::adopt(db, upgrade::Mode::Import, config.server.partner_token_ttl).await? else {
        return Ok(());
    };
    if !report.imported_anything() {
        return Ok(());
    }
    for line in report.tallies() {
        tracing::info!("adopted from dhis2gw 1.x: {line}");
    }
    for note in &report.notes {
        tracing::warn!("{note}");
    }
    tracing::warn!(
        "the original's tables are kept; drop them with `dhis2gw migrate-from-v1 --finalize` once satisfied"
    );
    Ok(())
}

/// Where this gateway replaced the original dhis2gw: completion is registered as it did unless
/// configured otherwise, and a `server.host` it ignored is pointed out.
async fn settle_where_the_original_was(db: &PgPool, config: &mut Config) -> anyhow::Result<()> {
    let replaced = upgrade::replaced_original(db).await?;
    if config.api.register_completion.is_none() {
        // Sites that ran the original count on its registering every data set as complete.
        let policy = if replaced { RegisterCompletion::Always } else { RegisterCompletion::WhenRequested };
        config.api.register_completion = Some(policy);
        if replaced {
            tracing::info!("api.register_completion is not set: always, as the original dhis2gw did here");
        }
    }
    if replaced && matches!(config.server.host.as_str(), "localhost" | "127.0.0.1" | "::1") {
        tracing::warn!(
            host = %config.server.host,
            "server.host: only this machine reaches the gateway (the original dhis2gw listened on every address \
             whatever it said); set server.host: 0.0.0.0 if partners post from other machines"
        );
    }
    Ok(())
}

/// Creates the first admin from `server.bootstrap_admin_user`/`_password` on a database with
/// no users, for unattended installs. Never touches a database that has users.
async fn bootstrap_admin(db: &PgPool, config: &Config) -> anyhow::Result<()> {
    let (username, password) = (&config.server.bootstrap_admin_user, &config.server.bootstrap_admin_password);
    if username.is_empty() || password.is_empty() || users::count(db).await? > 0 {
        return Ok(());
    }
    let input = CreateUser {
        username: username.clone(),
        password: password.expose().to_string(),
        role: Some(Role::Admin),
        is_active: true,
        ..Default::default()
    };
    match users::bootstrap(db, input).await {
        Ok(_) => {
            tracing::info!(%username, "created the bootstrap admin");
            Ok(())
        }
        // Another gateway process created it at the same moment.
        Err(AppError::Conflict(_)) => Ok(()),
        Err(AppError::BadRequest { detail, .. }) => {
            anyhow::bail!("server.bootstrap_admin_*: {}", detail.join("; "))
        }
        Err(e) => Err(anyhow::anyhow!("{e}")),
    }
}
