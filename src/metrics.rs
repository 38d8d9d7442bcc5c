//! Prometheus metrics (the `prometheus` crate), served as text at `/metrics`.
//! Counters move as requests, answers and imports happen; the pool and
//! channel gauges are read when scraped.

use std::time::Instant;

use actix_web::HttpResponse;
use actix_web::body::MessageBody;
use actix_web::dev::ServiceResponse;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Error responses carry their [`ErrorCode`] in the response's extensions,
/// so the request middleware counts them by code (the one code enum).
use crate::error::code::ErrorCode;
use strum::VariantArray;

#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    pub requests: IntCounterVec,
    pub latency: HistogramVec,
    pub answers: IntCounterVec,
    pub errors: IntCounterVec,
    pub imports: IntCounterVec,
    /// Offline bundles by outcome (`full`, `not_modified`).
    pub bundles: IntCounterVec,
    /// Offline syncs by outcome (`accepted`, `replayed`, `refused`).
    pub syncs: IntCounterVec,
    pool: IntGaugeVec,
    channel_version: IntGaugeVec,
    /// Events the aggregator and the sink have yet to take.
    pending: IntGaugeVec,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry =
            Registry::new_custom(Some("sceneflow".into()), None).expect("a valid metrics prefix");
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
            registry
                .register(Box::new(c.clone()))
                .expect("registered once");
            c
        };
        let gauge = |name: &str, help: &str, labels: &[&str]| {
            let g = IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric");
            registry
                .register(Box::new(g.clone()))
                .expect("registered once");
            g
        };
        let latency = HistogramVec::new(
            HistogramOpts::new("http_request_duration_seconds", "Request latency by route")
                .buckets(vec![
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
                ]),
            &["route"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(latency.clone()))
            .expect("registered once");
        Metrics {
            requests: counter(
                "http_requests_total",
                "Requests by route, method and status",
                &["route", "method", "status"],
            ),
            // Per version and step, answers are the analytics API's figures
            // (the funnel): a label per uploaded version would be a new
            // series for the life of the process.
            answers: counter("answers_total", "Accepted answers", &[]),
            errors: counter("errors_total", "Error responses by code", &["code"]),
            imports: counter("imports_total", "Workbook imports by outcome", &["outcome"]),
            bundles: counter(
                "bundles_served_total",
                "Offline bundles served, by outcome (full, not_modified)",
                &["outcome"],
            ),
            syncs: counter(
                "syncs_total",
                "Offline syncs by outcome (accepted, replayed, refused)",
                &["outcome"],
            ),
            pool: gauge(
                "db_pool_connections",
                "Database pool connections by state",
                &["state"],
            ),
            channel_version: gauge(
                "channel_version",
                "1 for the version each channel serves",
                &["channel", "version"],
            ),
            pending: gauge(
                "events_pending",
                "Events the aggregator and the events sink have yet to take (their lag)",
                &["consumer"],
            ),
            latency,
            registry,
        }
        .with_every_series()
    }

    /// Every documented series from the start, at zero
    /// (docs/src/operations.md), and the build's identity; the process's own
    /// figures
    /// (`process_cpu_seconds_total`, `process_resident_memory_bytes`, open
    /// file descriptors, start time) from the `prometheus` crate's
    /// collector, unprefixed as the convention names them.
    fn with_every_series(self) -> Metrics {
        self.answers.with_label_values(&[] as &[&str]);
        for code in crate::error::code::ErrorCode::ALL {
            self.errors.with_label_values(&[code.as_str()]);
        }
        for outcome in ["created", "existing", "invalid", "error"] {
            self.imports.with_label_values(&[outcome]);
        }
        for outcome in ["full", "not_modified"] {
            self.bundles.with_label_values(&[outcome]);
        }
        let syncs = crate::words::SyncOutcome::VARIANTS
            .iter()
            .map(|o| o.as_str());
        for outcome in syncs.chain(["refused"]) {
            self.syncs.with_label_values(&[outcome]);
        }
        for state in ["idle", "in_use"] {
            self.pool.with_label_values(&[state]);
        }
        let build = IntGaugeVec::new(
            Opts::new("build_info", "1, labelled with the build's version"),
            &["version"],
        )
        .expect("valid metric");
        build.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
        self.registry
            .register(Box::new(build))
            .expect("registered once");
        self
    }

    /// Record one finished request.
    pub fn observe<B: MessageBody>(&self, started: Instant, res: &ServiceResponse<B>) {
        let route = res
            .request()
            .match_pattern()
            .unwrap_or_else(|| "unmatched".into());
        let status = res.status().as_u16().to_string();
        self.requests
            .with_label_values(&[
                route.as_str(),
                method_label(res.request().method()),
                status.as_str(),
            ])
            .inc();
        self.latency
            .with_label_values(&[route.as_str()])
            .observe(started.elapsed().as_secs_f64());
        if let Some(code) = res.response().extensions().get::<ErrorCode>() {
            self.errors.with_label_values(&[code.as_str()]).inc();
        }
    }

    /// The text exposition, with the gauges read now.
    pub fn render(
        &self,
        pool: (u32, u32),
        channels: &[(String, String)],
        pending: &[(&str, i64)],
    ) -> HttpResponse {
        for (consumer, events) in pending {
            self.pending.with_label_values(&[consumer]).set(*events);
        }
        // Idle and in use add up to the open connections: no third series.
        let (connections, idle) = pool;
        self.pool.with_label_values(&["idle"]).set(i64::from(idle));
        self.pool
            .with_label_values(&["in_use"])
            .set(i64::from(connections.saturating_sub(idle)));
        self.channel_version.reset();
        for (channel, version) in channels {
            self.channel_version
                .with_label_values(&[channel.as_str(), version.as_str()])
                .set(1);
        }
        let mut out = Vec::new();
        let mut families = self.registry.gather();
        families.extend(process_families());
        TextEncoder::new()
            .encode(&families, &mut out)
            .expect("text encoding does not fail");
        HttpResponse::Ok()
            .content_type("text/plain; version=0.0.4")
            .body(out)
    }
}

/// The process's figures, unprefixed (`process_*`), read now.
fn process_families() -> Vec<prometheus::proto::MetricFamily> {
    #[cfg(target_os = "linux")]
    {
        use prometheus::core::Collector;
        prometheus::process_collector::ProcessCollector::for_self().collect()
    }
    #[cfg(not(target_os = "linux"))]
    Vec::new()
}

/// A label value from a fixed set: any method outside the standard ones is
/// `other` (a client chooses the method, and each new label value is a new
/// series kept for the life of the process).
pub fn method_label(method: &actix_web::http::Method) -> &'static str {
    use actix_web::http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

/// Wrap every request: count it, time it, and watch client-inconsistency errors.
pub fn record<B: MessageBody>(
    metrics: &Metrics,
    alerts: &crate::alerts::Alerts,
    started: Instant,
    res: &ServiceResponse<B>,
) {
    metrics.observe(started, res);
    if let Some(code) = res.response().extensions().get::<ErrorCode>()
        && matches!(
            code,
            ErrorCode::SceneMismatch | ErrorCode::AlreadyAnswered | ErrorCode::InvalidAnswer
        )
    {
        alerts.client_error();
    }
}
