//! Alerts reach a webhook and PagerDuty, and a receiver that hangs holds
//! nothing up.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use sceneflow::auth::{Role, mint_user_token};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::support::{Backend, TestApp, book, spawn_app_with};

/// A receiver that takes half a second before it reads a request (its raw
/// text recorded) and answers 200: an alert is delivered only if whoever
/// sent it waits that long.
async fn slow_receiver() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let bodies = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let bodies = bodies.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(500)).await;
                let mut buf = vec![0u8; 65536];
                let n = socket.read(&mut buf).await.unwrap_or(0);
                bodies
                    .lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&buf[..n]).into_owned());
                let _ = socket
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                    )
                    .await;
            });
        }
    });
    (url, seen)
}

/// A minimal HTTP receiver: records each request body; answers 200 unless
/// `hang`, in which case it reads the request and never answers.
pub(crate) async fn receiver(hang: bool) -> (String, Arc<Mutex<Vec<Value>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let seen: Arc<Mutex<Vec<Value>>> = Arc::default();
    let bodies = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let bodies = bodies.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let n = socket.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).to_string();
                    let Some((head, body)) = text.split_once("\r\n\r\n") else {
                        continue;
                    };
                    let length = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if body.len() < length {
                        continue;
                    }
                    bodies
                        .lock()
                        .unwrap()
                        .push(serde_json::from_str(body).unwrap_or(Value::Null));
                    if hang {
                        tokio::time::sleep(Duration::from_secs(3600)).await;
                    }
                    let _ = socket
                        .write_all(
                            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                        )
                        .await;
                    return;
                }
            });
        }
    });
    (url, seen)
}

pub(crate) async fn wait_for(seen: &Arc<Mutex<Vec<Value>>>, needle: &str) -> Value {
    let started = Instant::now();
    loop {
        if let Some(v) = seen
            .lock()
            .unwrap()
            .iter()
            .find(|v| v.to_string().contains(needle))
        {
            return v.clone();
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no alert containing {needle}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn publish(app: &TestApp) -> Duration {
    let token = app.token(Role::Operator).await;
    let body: Value = app
        .upload(&token, book::valid().bytes())
        .await
        .json()
        .await
        .unwrap();
    let started = Instant::now();
    app.release(body["version"]["id"].as_str().unwrap()).await;
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_reach_the_webhook() {
    let (url, seen) = receiver(false).await;
    let app = spawn_app_with(Backend::Sqlite, move |s| {
        s.sample = true;
        s.alerts.webhook = Some(url);
        s.alerts.client_errors_per_minute = 3;
    })
    .await;
    let token = app.token(Role::Operator).await;
    let refused = book::valid().set("choices", 2, "scene", "welcom").bytes();
    assert_eq!(
        app.upload(&token, refused).await.status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let alert = wait_for(&seen, "import_refused").await;
    assert!(
        alert["text"]
            .as_str()
            .unwrap()
            .starts_with("[sceneflow] info:")
    );

    publish(&app).await;
    let alert = wait_for(&seen, "published").await;
    assert!(
        alert["text"]
            .as_str()
            .unwrap()
            .contains("admin-user published")
    );

    // A burst of client-inconsistency errors above the threshold.
    let user = mint_user_token(&app.settings.jwt_secret, "burst", 1);
    app.client
        .post(app.url("/v1/onboarding/start"))
        .bearer_auth(&user)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    for _ in 0..5 {
        app.client
            .post(app.url("/v1/onboarding/answers"))
            .bearer_auth(&user)
            .json(&json!({"scene_id": "stale", "answer": null}))
            .send()
            .await
            .unwrap();
    }
    let alert = wait_for(&seen, "client_errors_spike").await;
    assert!(alert["text"].as_str().unwrap().contains("threshold 3"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_receiver_blocks_nothing_and_pagerduty_gets_the_event() {
    let (hanging, _) = receiver(true).await;
    let (pagerduty, seen) = receiver(false).await;
    let app = spawn_app_with(Backend::Sqlite, move |s| {
        s.sample = true;
        s.alerts.webhook = Some(hanging);
        s.alerts.pagerduty_routing_key = Some("routing-key-1".into());
        s.alerts.pagerduty_url = pagerduty;
    })
    .await;
    let took = publish(&app).await;
    // The webhook hangs for up to the 5 s delivery timeout per alert; the
    // request never waits for it.
    assert!(
        took < Duration::from_secs(4),
        "publishing waited for the alert receiver: {took:?}"
    );
    let event = wait_for(&seen, "published").await;
    assert_eq!(event["routing_key"], "routing-key-1");
    assert_eq!(event["event_action"], "trigger");
    assert_eq!(event["payload"]["source"], "sceneflow");
    assert_eq!(event["payload"]["severity"], "info");
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_readiness_raises_an_alert() {
    let (url, seen) = receiver(false).await;
    let app = spawn_app_with(Backend::Sqlite, move |s| {
        s.sample = true;
        s.alerts.webhook = Some(url);
    })
    .await;
    // Production loses its flow; the watcher notices within its interval.
    app.exec("DELETE FROM channels WHERE name = 'production'")
        .await;
    let alert = wait_for(&seen, "readiness_lost").await;
    let text = alert["text"].as_str().unwrap();
    assert!(text.starts_with("[sceneflow] critical:"), "{text}");
    assert!(
        text.contains("no version is published on production"),
        "{text}"
    );
}

/// A file name is user input: Slack's control sequences in it reach the
/// webhook escaped, so `<!channel>` pings nobody.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_text_escapes_slack_control_sequences() {
    let (url, seen) = receiver(false).await;
    let app = spawn_app_with(Backend::Sqlite, move |s| {
        s.alerts.webhook = Some(url);
    })
    .await;
    let token = app.token(Role::Operator).await;
    let refused = book::valid().set("choices", 2, "scene", "welcom").bytes();
    let res = app
        .client
        .post(app.url("/admin/api/versions?file_name=%3C!channel%3E%20%26%20%3C%40U1%3E.xlsx"))
        .bearer_auth(&token)
        .body(refused)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let alert = wait_for(&seen, "import_refused").await;
    let text = alert["text"].as_str().unwrap();
    assert!(
        text.contains("&lt;!channel&gt; &amp; &lt;@U1&gt;.xlsx"),
        "{text}"
    );
    assert!(!text.contains('<') && !text.contains('>'), "{text}");
}

/// An alert queued just before the server stops is still delivered: stopping
/// waits for the queue, even when the receiver is slow to accept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_delivers_the_alerts_already_queued() {
    let (url, seen) = slow_receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let (mut settings, _db) = crate::support::test_settings(&Backend::Sqlite, dir.path());
    settings.alerts.webhook = Some(url);
    // No flow on production: the readiness watcher alerts at once.
    let app = sceneflow::startup::Application::build(settings)
        .await
        .unwrap();
    let handle = app.server_handle();
    let running = tokio::spawn(app.run_until_stopped());
    tokio::time::sleep(Duration::from_millis(100)).await;
    handle.stop(true).await;
    running.await.unwrap().unwrap();
    let seen = seen.lock().unwrap().clone();
    assert!(
        seen.iter().any(|b| b.contains("readiness_lost")),
        "the queued alert was delivered before the server returned: {seen:?}"
    );
}

/// The process owns SIGTERM: an alert queued just before it (to a receiver
/// that takes half a second) is delivered before the process exits, and
/// the exit is clean.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_delivers_the_alert_already_queued() {
    let (url, seen) = slow_receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    // No flow on production: the readiness watcher alerts at once.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_sceneflow"))
        .arg("serve")
        .env(
            "DATABASE_URL",
            format!("sqlite://{}/db.sqlite", dir.path().display()),
        )
        .env(
            "SCENEFLOW_STORE",
            format!("file://{}/store", dir.path().display()),
        )
        .env("SCENEFLOW_BIND", format!("127.0.0.1:{port}"))
        .env("SCENEFLOW_SAMPLE", "false")
        .env("SCENEFLOW_ALERT_WEBHOOK", &url)
        .env("RUST_LOG", "warn")
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let mut up = false;
    for _ in 0..200 {
        let health = client
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .send()
            .await;
        if health.is_ok_and(|r| r.status().is_success()) {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(up, "the server started");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(seen.lock().unwrap().is_empty(), "still on its way");
    let signalled = Instant::now();
    std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "a clean exit: {status:?}");
    assert!(signalled.elapsed() < Duration::from_secs(15));
    let seen = seen.lock().unwrap().clone();
    assert!(
        seen.iter().any(|b| b.contains("readiness_lost")),
        "the queued alert was delivered before the process exited: {seen:?}"
    );
}
