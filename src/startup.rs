//! Building the application: database, object store, sample data, routes,
//! and the HTTP server bound to its listener (port 0 in tests).

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::http::StatusCode;
use actix_web::{App, HttpResponse, HttpServer, ResponseError, web};

use crate::alerts::{Alerts, Severity};
use crate::background::Background;
use crate::config::Settings;
use crate::error::{ApiError, extractor_error};
pub use crate::state::{AppState, StartupError, pipeline};
use crate::store::{Db, channels};
use crate::words::AlertKind;

pub struct Application {
    port: u16,
    server: Server,
    /// The follower, readiness watcher, aggregator, sink, alert delivery and
    /// group committer: stopped after the server.
    background: Background,
}

/// How long shutdown waits for background work (queued alerts, a group
/// being committed) once the server has stopped.
const BACKGROUND_STOP: std::time::Duration = std::time::Duration::from_secs(10);

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
        let background = state.background.clone();
        if state.settings.follow_store {
            background.spawn(
                "follower",
                crate::release::follow_store(state.importer.clone(), state.alerts.clone()),
            );
        }
        background.spawn(
            "readiness",
            watch_readiness(state.db.clone(), state.alerts.clone()),
        );
        if state.db.backend == crate::store::Backend::Postgres {
            background.spawn("statistics", keep_statistics(state.db.clone()));
        }
        if !state.settings.analytics.interval.is_zero() {
            background.spawn(
                "aggregator",
                crate::analytics::aggregator::run(
                    state.db.clone(),
                    state.settings.analytics.clone(),
                ),
            );
        }
        if !state.settings.rollouts.interval.is_zero() {
            background.spawn(
                "guardrails",
                crate::release::guard::watch(state.releases.clone(), state.settings.rollouts),
            );
        }
        if state.settings.analytics.sink {
            background.spawn(
                "sink",
                crate::analytics::sink::run(
                    state.db.clone(),
                    state.storage.clone(),
                    state.settings.analytics.retention_days,
                ),
            );
        }
        let workers = state.settings.workers;
        let max_connections = state.settings.max_connections;
        let per_client =
            crate::throttle::ConnectionLimit::new(state.settings.max_connections_per_client);
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
                        .default_handler(default_error_handler),
                )
                .wrap(tracing_actix_web::TracingLogger::default())
                .app_data(state.clone())
                .configure(|cfg| configure(cfg, state.settings.debug))
        })
        // Each connection counts against its client's share while it is open.
        .on_connect(move |connection, extensions| {
            if let Some(peer) = connection
                .downcast_ref::<actix_web::rt::net::TcpStream>()
                .and_then(|s| s.peer_addr().ok())
            {
                extensions.insert(per_client.admit(peer.ip()));
            }
        })
        .shutdown_timeout(30)
        // The process owns SIGTERM and SIGINT (run_until_stopped).
        .disable_signals();
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
            background,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn server_handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serve until stopped (SIGTERM, SIGINT, or the server handle): stop
    /// accepting connections and let in-flight requests (imports included)
    /// finish, then cancel the background work and wait for it, at most
    /// [`BACKGROUND_STOP`]: the alerts already queued are delivered.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let handle = self.server.handle();
        let signals = tokio::spawn(async move {
            stop_signal().await;
            tracing::info!("stopping: no new connections, requests in flight finish");
            let graceful = handle.clone();
            tokio::spawn(async move { graceful.stop(true).await });
            // A second signal does not wait for requests in flight.
            stop_signal().await;
            tracing::warn!("stopping now: requests in flight are dropped");
            handle.stop(false).await;
        });
        let served = self.server.await;
        signals.abort();
        self.background.stop(BACKGROUND_STOP).await;
        served
    }
}

/// SIGTERM (what an orchestrator sends) or SIGINT (Ctrl-C).
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "no SIGTERM handler; stopping on Ctrl-C only");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
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
        // (docs/src/errors.md).
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

/// How often an instance looks for tables that outgrew their statistics.
const STATISTICS_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

/// Keep the planner's statistics of the answer path's tables current while
/// they grow ([`crate::store::statistics`]).
async fn keep_statistics(db: Db) {
    let mut tick = tokio::time::interval(STATISTICS_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match db.run(crate::store::statistics::analyse_grown).await {
            Ok(tables) if !tables.is_empty() => {
                tracing::info!(?tables, "analysed tables that outgrew their statistics");
            }
            Ok(_) => {}
            Err(e) => tracing::debug!(error = %e, "statistics check skipped"),
        }
    }
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
        let now = match db
            .run(|c| channels::get(c, channels::Channel::Production))
            .await
        {
            Ok(Some(_)) => Ok(()),
            Ok(None) => Err("no version is published on production".to_owned()),
            Err(e) => Err(format!("the database cannot be reached: {e}")),
        };
        match (&now, ready) {
            (Err(why), true) => alerts.send(
                Severity::Critical,
                AlertKind::ReadinessLost,
                format!("instance not ready: {why}"),
            ),
            (Ok(()), false) => alerts.send(
                Severity::Info,
                AlertKind::ReadinessRecovered,
                "instance ready again",
            ),
            _ => {}
        }
        ready = now.is_ok();
    }
}

/// No route answered: 405 (with `Allow`) when the path is a route called
/// with another method (RFC 9110 §15.5.6), else 404.
async fn not_found(req: actix_web::HttpRequest) -> Result<HttpResponse, ApiError> {
    if req.resource_map().has_resource(req.path()) {
        return Err(ApiError::MethodNotAllowed {
            method: req.method().to_string(),
            path: req.path().to_owned(),
            allowed: crate::api::openapi::methods_of(req.path()),
        });
    }
    Err(ApiError::NotFound(format!(
        "there is no route {} {}",
        req.method(),
        req.path()
    )))
}

/// The request-body errors actix raises itself, before a handler runs.
fn is_payload_error(e: &actix_web::Error) -> bool {
    use actix_web::error::{
        JsonPayloadError, PathError, PayloadError, QueryPayloadError, UrlencodedError,
    };
    e.as_error::<PayloadError>().is_some()
        || e.as_error::<UrlencodedError>().is_some()
        || e.as_error::<JsonPayloadError>().is_some()
        || e.as_error::<QueryPayloadError>().is_some()
        || e.as_error::<PathError>().is_some()
        || e.as_error::<actix_multipart::MultipartError>().is_some()
}

/// The default error handler (docs/src/errors.md): an error built outside a
/// handler (an extractor's, or the request boundary's) is answered in the
/// face of the route: the dashboard's error page under `/admin` (not
/// `/admin/api`), the JSON error body everywhere else. Errors the handlers
/// return already have their face and pass through.
pub fn default_error_handler<B>(
    res: actix_web::dev::ServiceResponse<B>,
) -> actix_web::Result<actix_web::middleware::ErrorHandlerResponse<B>> {
    use actix_web::middleware::ErrorHandlerResponse;
    let page = crate::dashboard::is_page(res.request().path());
    let status = res.status();
    let replacement = match res.response().error() {
        Some(e) if e.as_error::<crate::dashboard::DashboardError>().is_some() => None,
        Some(e) => match e.as_error::<ApiError>() {
            Some(api) if page => Some(crate::dashboard::error_page(status, &api.to_string())),
            Some(_) => None,
            None if is_payload_error(e) => {
                let api = if status == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::PayloadTooLarge(format!("the request body is too large: {e}"))
                } else {
                    ApiError::InvalidRequest(format!(
                        "the request is not what this endpoint takes: {e}"
                    ))
                };
                Some(if page {
                    crate::dashboard::error_page(api.status_code(), &api.to_string())
                } else {
                    api.error_response()
                })
            }
            None => None,
        },
        None => None,
    };
    let Some(mut replacement) = replacement else {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    };
    let original = res.response();
    if let Some(retry) = original.headers().get("retry-after") {
        replacement
            .headers_mut()
            .insert(actix_web::http::header::RETRY_AFTER, retry.clone());
    }
    replacement
        .head_mut()
        .set_connection_type(original.head().connection_type());
    let (req, _) = res.into_parts();
    Ok(ErrorHandlerResponse::Response(
        actix_web::dev::ServiceResponse::new(req, replacement).map_into_right_body(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    /// An error actix raises itself gets the face of its route.
    #[actix_web::test]
    async fn payload_errors_get_the_face_of_their_route() {
        use actix_web::middleware::ErrorHandlerResponse;
        for (path, json) in [
            ("/admin/api/versions", true),
            ("/v1/onboarding/start", true),
            ("/admin/upload", false),
        ] {
            let res = actix_web::dev::ServiceResponse::new(
                actix_web::test::TestRequest::post()
                    .uri(path)
                    .to_http_request(),
                HttpResponse::from_error(actix_web::error::PayloadError::Overflow),
            );
            let Ok(ErrorHandlerResponse::Response(res)) = default_error_handler(res) else {
                panic!("an immediate response");
            };
            assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE, "{path}");
            let content_type = res
                .headers()
                .get("content-type")
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned();
            let body = actix_web::body::to_bytes(res.into_body()).await.unwrap();
            let body = String::from_utf8_lossy(&body);
            if json {
                assert_eq!(content_type, "application/json", "{path}");
                let v: Value = serde_json::from_str(&body).unwrap();
                assert_eq!(v["error"]["code"], "invalid_request", "{path}");
            } else {
                assert!(content_type.starts_with("text/html"), "{path}");
                assert!(body.contains("the request body is too large"), "{body}");
            }
        }
    }
}
