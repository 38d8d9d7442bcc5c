//! Building the application: database, object store, sample data, routes,
//! and the HTTP server bound to its listener (port 0 in tests).

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::{App, HttpResponse, HttpServer, web};

use crate::alerts::{Alerts, Severity};
use crate::config::Settings;
use crate::error::{ApiError, extractor_error};
use crate::master_data::import::{ImportError, Importer, Outcome};
use crate::master_data::{self, Limits};
use crate::metrics::Metrics;
use crate::onboarding::Onboarding;
use crate::release::{ReleaseError, Releases};
use crate::storage::{Storage, StorageError};
use crate::store::{Db, StoreError, channels, versions};

/// Everything a request handler may need; cheap to clone.
pub struct AppState {
    pub settings: Settings,
    pub db: Db,
    pub storage: Storage,
    pub importer: Importer,
    pub onboarding: Onboarding,
    pub releases: Releases,
    pub metrics: Metrics,
    pub alerts: Alerts,
    pub sign_in: crate::dashboard::throttle::SignInGuard,
}

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Import(#[from] ImportError),
    #[error("the built-in sample workbook is invalid: {0}")]
    Sample(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
}

/// The importer and the release pipeline over `db` and `storage`: the
/// server's, and the CLI's (`import`, with alerts disabled).
pub fn pipeline(
    settings: &Settings,
    db: &Db,
    storage: &Storage,
    metrics: &Metrics,
    alerts: &Alerts,
) -> (Importer, Releases) {
    let importer = Importer {
        db: db.clone(),
        storage: storage.clone(),
        limits: Limits {
            max_bytes: settings.max_upload_bytes,
            ..Limits::default()
        },
        metrics: metrics.clone(),
        alerts: alerts.clone(),
        writing: Default::default(),
    };
    let releases = Releases {
        db: db.clone(),
        storage: storage.clone(),
        allow_self_approval: settings.allow_self_approval,
        alerts: alerts.clone(),
    };
    (importer, releases)
}

impl AppState {
    /// Connect to the database (running migrations) and the object store.
    pub async fn connect(settings: Settings) -> Result<AppState, StartupError> {
        let db = Db::new(&settings.database_url, settings.db_pool_size)?;
        let migrating = db.clone();
        tokio::task::spawn_blocking(move || migrating.migrate())
            .await
            .map_err(|e| StoreError::Migration(e.to_string()))??;
        let storage = Storage::from_url(&settings.store, &settings.s3).await?;
        let metrics = Metrics::new();
        let alerts = Alerts::start(&settings.alerts);
        let (importer, releases) = pipeline(&settings, &db, &storage, &metrics, &alerts);
        let onboarding = Onboarding::with_settings(db.clone(), metrics.clone(), settings.answers);
        let sign_in =
            crate::dashboard::throttle::SignInGuard::new(settings.sign_in_per_ip_per_minute);
        Ok(AppState {
            sign_in,
            metrics,
            alerts,
            releases,
            onboarding,
            settings,
            db,
            storage,
            importer,
        })
    }

    /// On a database with no version, import the built-in sample and point
    /// both channels at it. Safe when several instances start at once.
    pub async fn load_sample_if_empty(&self) -> Result<(), StartupError> {
        if self.db.run(versions::count).await? > 0 {
            return Ok(());
        }
        let outcome = self
            .importer
            .import(
                master_data::SAMPLE_WORKBOOK.to_vec(),
                Some(master_data::SAMPLE_FILE_NAME.into()),
                "system",
            )
            .await?;
        let version = match outcome {
            Outcome::Created { version, .. } | Outcome::Existing { version, .. } => version,
            Outcome::Invalid { report } => return Err(StartupError::Sample(report.render_text())),
        };
        self.releases
            .seed_sample(&version.id)
            .await
            .map_err(|e| match e {
                ReleaseError::Store(e) => StartupError::Store(e),
                ReleaseError::Storage(e) => StartupError::Storage(e),
                other => StartupError::Sample(other.to_string()),
            })?;
        tracing::info!(version = %version.id, "sample workbook loaded on staging and production");
        Ok(())
    }
}

pub struct Application {
    port: u16,
    server: Server,
    /// Background tasks (follower, readiness watcher), stopped with the server.
    tasks: Vec<tokio::task::JoinHandle<()>>,
    alerts: Alerts,
}

/// How long shutdown waits for queued alerts to be delivered.
const ALERT_DRAIN: std::time::Duration = std::time::Duration::from_secs(10);

impl Application {
    pub async fn build(settings: Settings) -> Result<Application, StartupError> {
        let state = AppState::connect(settings).await?;
        if state.settings.sample {
            state.load_sample_if_empty().await?;
        }
        let bind = state.settings.bind.clone();
        let listener = TcpListener::bind(&bind).map_err(|source| StartupError::Bind {
            addr: bind.clone(),
            source,
        })?;
        let port = listener
            .local_addr()
            .map_err(|source| StartupError::Bind {
                addr: bind.clone(),
                source,
            })?
            .port();
        let mut tasks = Vec::new();
        if state.settings.follow_store {
            tasks.push(tokio::spawn(crate::release::follow_store(
                state.importer.clone(),
                state.alerts.clone(),
            )));
        }
        tasks.push(tokio::spawn(watch_readiness(
            state.db.clone(),
            state.alerts.clone(),
        )));
        if !state.settings.analytics.interval.is_zero() {
            tasks.push(tokio::spawn(crate::analytics::aggregator::run(
                state.db.clone(),
                state.settings.analytics.clone(),
            )));
        }
        if state.settings.analytics.sink {
            tasks.push(tokio::spawn(crate::analytics::sink::run(
                state.db.clone(),
                state.storage.clone(),
                state.settings.analytics.retention_days,
            )));
        }
        let alerts = state.alerts.clone();
        let workers = state.settings.workers;
        let max_connections = state.settings.max_connections;
        let state = web::Data::new(state);
        let mut server = HttpServer::new(move || {
            let observed = state.clone();
            App::new()
                .wrap_fn(move |req, srv| {
                    use actix_web::dev::Service;
                    let started = std::time::Instant::now();
                    let state = observed.clone();
                    let call = srv.call(req);
                    async move {
                        let res = crate::dashboard::without_sign_in_error(call.await?);
                        crate::metrics::record(&state.metrics, &state.alerts, started, &res);
                        Ok(res)
                    }
                })
                .wrap(actix_web::middleware::from_fn(crate::boundary::guard))
                .wrap(
                    actix_web::middleware::ErrorHandlers::new()
                        .default_handler(crate::error::default_error_handler),
                )
                .wrap(tracing_actix_web::TracingLogger::default())
                .app_data(state.clone())
                .configure(|cfg| configure(cfg, state.settings.debug))
        })
        .shutdown_timeout(30);
        // The connection cap is per worker in actix: share the instance's out.
        let workers =
            workers.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        server = server
            .workers(workers)
            .max_connections(max_connections.div_ceil(workers).max(1));
        let server = server
            .listen(listener)
            .map_err(|source| StartupError::Bind { addr: bind, source })?
            .run();
        Ok(Application {
            port,
            server,
            tasks,
            alerts,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn server_handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serve until stopped; SIGTERM and SIGINT stop accepting connections and
    /// let in-flight requests (imports included) finish. Then the background
    /// tasks stop and the alerts already queued are delivered.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let served = self.server.await;
        for task in &self.tasks {
            task.abort();
        }
        self.alerts.drain(ALERT_DRAIN).await;
        served
    }
}

/// Routes and extractor settings; the debug API only when `debug` is on.
pub fn configure(cfg: &mut web::ServiceConfig, debug: bool) {
    if debug {
        cfg.configure(crate::debug::routes);
    }
    cfg.app_data(
        // The body is read as JSON whatever its declared type (none, or the
        // form type `curl -d` sends): these APIs authenticate with bearer
        // tokens, never cookies, so a form post from a browser gains nothing
        // (README, "Errors").
        web::JsonConfig::default()
            .content_type_required(false)
            .content_type(|_| true)
            .limit(1024 * 1024)
            .error_handler(|err, _| {
                let too_large = matches!(
                    err,
                    actix_web::error::JsonPayloadError::OverflowKnownLength { .. }
                        | actix_web::error::JsonPayloadError::Overflow { .. }
                );
                extractor_error(format!("the body must be JSON: {err}"), too_large)
            }),
    )
    .app_data(web::PathConfig::default().error_handler(|err, _| extractor_error(err, false)))
    .app_data(web::QueryConfig::default().error_handler(|err, _| extractor_error(err, false)))
    .route("/healthz", web::get().to(crate::health::healthz))
    .route("/readyz", web::get().to(crate::health::readyz))
    .route("/metrics", web::get().to(crate::health::metrics))
    .configure(crate::api::routes)
    .configure(crate::admin::routes)
    .configure(crate::dashboard::routes)
    .default_service(web::to(not_found));
}

/// How often an instance checks its own readiness, to alert when it is lost.
const READINESS_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

/// Alert when the database stops answering or production loses its flow,
/// and again when it recovers.
async fn watch_readiness(db: Db, alerts: Alerts) {
    let mut ready = true;
    let mut tick = tokio::time::interval(READINESS_INTERVAL);
    loop {
        tick.tick().await;
        let now = match db.run(|c| channels::get(c, channels::PRODUCTION)).await {
            Ok(Some(_)) => Ok(()),
            Ok(None) => Err("no version is published on production".to_owned()),
            Err(e) => Err(format!("the database cannot be reached: {e}")),
        };
        match (&now, ready) {
            (Err(why), true) => alerts.send(
                Severity::Critical,
                "readiness_lost",
                format!("instance not ready: {why}"),
            ),
            (Ok(()), false) => alerts.send(
                Severity::Info,
                "readiness_recovered",
                "instance ready again",
            ),
            _ => {}
        }
        ready = now.is_ok();
    }
}

async fn not_found(req: actix_web::HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound(format!(
        "there is no route {} {}",
        req.method(),
        req.path()
    )))
}
