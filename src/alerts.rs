//! Alerts to a Slack-compatible webhook (`{"text": …}`) and PagerDuty
//! Events v2. Sending never blocks a request: alerts go through a bounded
//! queue to one background task (dropped, with a log line, when the queue
//! is full), each delivery has a timeout, and a receiver that is down or
//! hangs only delays the alerts behind it.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::background::Background;
use crate::words::AlertKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Alert {
    pub severity: Severity,
    /// A stable name of what happened (`import_failed`, `published`, …).
    pub event: AlertKind,
    pub summary: String,
}

#[derive(Debug, Clone, Default)]
pub struct AlertSettings {
    pub webhook: Option<String>,
    pub pagerduty_routing_key: Option<String>,
    pub pagerduty_url: String,
    /// Client-inconsistency errors per minute above which to alert.
    pub client_errors_per_minute: usize,
}

const QUEUE: usize = 256;
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(5);

/// What the delivery task receives: an alert, or a request to report once
/// everything queued before it has been delivered.

#[derive(Clone)]
pub struct Alerts {
    tx: Option<mpsc::Sender<Alert>>,
    threshold: usize,
    recent: Arc<Mutex<(VecDeque<Instant>, Option<Instant>)>>,
}

impl Alerts {
    /// Alerts that go nowhere (no receiver configured).
    pub fn disabled() -> Alerts {
        Alerts {
            tx: None,
            threshold: usize::MAX,
            recent: Arc::default(),
        }
    }

    /// Start the delivery task when a receiver is configured; at shutdown
    /// it delivers what is queued before it returns.
    pub fn start(settings: &AlertSettings, background: &Background) -> Alerts {
        let threshold = settings.client_errors_per_minute.max(1);
        if settings.webhook.is_none() && settings.pagerduty_routing_key.is_none() {
            return Alerts {
                threshold,
                ..Alerts::disabled()
            };
        }
        let (tx, rx) = mpsc::channel(QUEUE);
        let settings = settings.clone();
        background.spawn_with(|token| deliver(settings, rx, token));
        Alerts {
            tx: Some(tx),
            threshold,
            recent: Arc::default(),
        }
    }

    pub fn send(&self, severity: Severity, event: AlertKind, summary: impl Into<String>) {
        let alert = Alert {
            severity,
            event,
            summary: summary.into(),
        };
        tracing::info!(event = event.as_str(), severity = severity.as_str(), summary = %alert.summary, "alert");
        if let Some(tx) = &self.tx
            && tx.try_send(alert).is_err()
        {
            tracing::warn!(
                event = event.as_str(),
                "alert queue full or closed; alert dropped"
            );
        }
    }

    /// Count one client-inconsistency error; alert once a minute while the
    /// rate is above the threshold.
    pub fn client_error(&self) {
        let now = Instant::now();
        let fire = {
            let mut guard = self.recent.lock().unwrap_or_else(|p| p.into_inner());
            let (window, last_alert) = &mut *guard;
            window.push_back(now);
            while window
                .front()
                .is_some_and(|t| now.duration_since(*t) > Duration::from_secs(60))
            {
                window.pop_front();
            }
            let quiet = last_alert.is_none_or(|t| now.duration_since(t) > Duration::from_secs(60));
            if window.len() > self.threshold && quiet {
                *last_alert = Some(now);
                Some(window.len())
            } else {
                None
            }
        };
        if let Some(n) = fire {
            self.send(
                Severity::Warning,
                AlertKind::ClientErrorsSpike,
                format!("{n} client-inconsistency errors (scene_mismatch, already_answered, invalid_answer) in the last minute; threshold {}", self.threshold),
            );
        }
    }
}

/// Slack reads `<…>` as links and mentions (`<!channel>` pings everyone) and
/// `&` as the start of an entity: every field of an alert carries user input
/// (file names, versions), so the whole text is escaped.
pub fn slack_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// Deliver alerts until shutdown; then the ones already queued, so an alert
/// raised just before SIGTERM is not lost (bounded by the shutdown's wait).
async fn deliver(settings: AlertSettings, mut rx: mpsc::Receiver<Alert>, token: CancellationToken) {
    let client = match reqwest::Client::builder().timeout(DELIVERY_TIMEOUT).build() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "alerts disabled: no HTTP client");
            return;
        }
    };
    let mut stopping = false;
    loop {
        let next = if stopping {
            rx.recv().await
        } else {
            tokio::select! {
                next = rx.recv() => next,
                () = token.cancelled() => {
                    // No new alerts; what is queued still goes out.
                    rx.close();
                    stopping = true;
                    continue;
                }
            }
        };
        let Some(alert) = next else { return };
        let text = format!(
            "[sceneflow] {}: {} ({})",
            alert.severity.as_str(),
            alert.summary,
            alert.event
        );
        if let Some(url) = &settings.webhook
            && let Err(e) = client
                .post(url)
                .json(&json!({"text": slack_escape(&text)}))
                .send()
                .await
        {
            tracing::warn!(error = %e, "alert webhook delivery failed");
        }
        if let Some(key) = &settings.pagerduty_routing_key {
            let severity = match alert.severity {
                Severity::Info => "info",
                Severity::Warning => "warning",
                Severity::Critical => "critical",
            };
            let body = json!({
                "routing_key": key,
                "event_action": "trigger",
                "dedup_key": format!("sceneflow-{}", alert.event),
                "payload": {"summary": text, "source": "sceneflow", "severity": severity, "component": alert.event},
            });
            if let Err(e) = client
                .post(&settings.pagerduty_url)
                .json(&body)
                .send()
                .await
            {
                tracing::warn!(error = %e, "PagerDuty delivery failed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn slack_control_sequences_are_escaped() {
        assert_eq!(
            super::slack_escape("<!channel> & <@U1|x> a>b"),
            "&lt;!channel&gt; &amp; &lt;@U1|x&gt; a&gt;b"
        );
    }
}
