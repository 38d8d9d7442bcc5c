//! What a new user notices in the first hour: log levels, plurals, empty
//! statistics, buttons offered only to those who may press them, and JSON
//! calls made with plain `curl -d`.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use reqwest::StatusCode;
use sceneflow::auth::Role;
use serde_json::{Value, json};

use crate::dashboard::{add_user, no_redirects, sign_in};
use crate::on_both_backends;
use crate::support::{Backend, ChildGuard, TestApp, book, spawn_app_with};

on_both_backends!(
    counts_read_as_words_and_empty_variants_show_no_data,
    buttons_are_offered_only_to_roles_that_may_use_them,
    json_calls_accept_a_body_sent_as_a_form,
);

async fn page(app: &TestApp, cookie: &str, path: &str) -> String {
    let res = no_redirects()
        .get(app.url(path))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK, "{path}");
    res.text().await.unwrap()
}

fn sample_id() -> String {
    sceneflow::auth::sha256_hex(sceneflow::master_data::SAMPLE_WORKBOOK)[..12].to_owned()
}

/// libpq and OpenSSL are compiled in: nothing to install to build or run.
#[test]
fn the_binary_links_no_system_libpq_or_openssl() {
    let out = Command::new("ldd")
        .arg(env!("CARGO_BIN_EXE_sceneflow"))
        .output()
        .expect("ldd runs (glibc's libc-bin)");
    let libraries = String::from_utf8_lossy(&out.stdout);
    assert!(libraries.contains("libc.so"), "{libraries}");
    for system in ["libpq", "libssl", "libcrypto"] {
        assert!(!libraries.contains(system), "{system} in\n{libraries}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visitor_who_is_not_signed_in_is_not_an_error_in_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_sceneflow"))
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
        .env("SCENEFLOW_WORKERS", "1")
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut child = ChildGuard::new(child);
    let reader = std::thread::spawn(move || {
        BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<_>>()
    });
    let base = format!("http://127.0.0.1:{port}");
    let client = no_redirects();
    let mut ready = false;
    for _ in 0..200 {
        if client.get(format!("{base}/readyz")).send().await.is_ok() {
            ready = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(ready, "the server starts");
    for path in ["/admin", "/admin/qa", "/admin/people"] {
        let res = client.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert_eq!(res.headers()["location"], "/admin/login");
    }
    // A real failure is still logged: a 404 as a warning.
    let res = client.get(format!("{base}/nowhere")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    child.stop();
    let lines = reader.join().unwrap();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("WARN") && l.contains("nowhere")),
        "{lines:#?}"
    );
    let errors: Vec<_> = lines.iter().filter(|l| l.contains("ERROR")).collect();
    assert!(errors.is_empty(), "{errors:#?}");
}

async fn counts_read_as_words_and_empty_variants_show_no_data(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.sample = true).await;
    // One user, through `welcome` to the intro A/B test: one variant is
    // exposed once, the other never.
    let state = app
        .mobile("u-1", "/v1/onboarding/start", json!({"attributes": {}}))
        .await;
    app.mobile(
        "u-1",
        "/v1/onboarding/answers",
        json!({"scene_id": state["scene"]["id"], "answer": null}),
    )
    .await;
    add_user(&app, "ada", Role::Admin).await;
    let (cookie, _) = sign_in(&app, "ada").await;

    // The figures come from the aggregator: wait until it has folded the log.
    let path = format!("/admin/versions/{}/funnel", sample_id());
    let mut funnel = page(&app, &cookie, &path).await;
    for _ in 0..200 {
        if !funnel.contains("not counted yet") && !funnel.contains("has not run yet") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        funnel = page(&app, &cookie, &path).await;
    }
    assert!(funnel.contains("1 user started, 0 completed"), "{funnel}");

    let experiments = page(&app, &cookie, "/admin/experiments").await;
    assert!(experiments.contains("no data"), "{experiments}");
    assert!(!experiments.contains("0.0–0.0"), "{experiments}");
}

async fn buttons_are_offered_only_to_roles_that_may_use_them(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.sample = true).await;
    let operator = app.token(Role::Operator).await;
    let body: Value = app
        .upload(&operator, book::valid().bytes())
        .await
        .json()
        .await
        .unwrap();
    let v2 = body["version"]["id"].as_str().unwrap().to_owned();
    app.release(&v2).await; // production can now roll back to the sample
    let v3 = {
        let body: Value = app
            .upload(
                &operator,
                book::valid()
                    .set("scenes", 2, "message_1", "another version")
                    .bytes(),
            )
            .await
            .json()
            .await
            .unwrap();
        body["version"]["id"].as_str().unwrap().to_owned()
    };
    let (status, _) = app
        .call(
            reqwest::Method::PUT,
            "/admin/api/channels/staging",
            &operator,
            json!({"version": v3}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    add_user(&app, "olive", Role::Operator).await;
    add_user(&app, "quinn", Role::Qa).await;
    add_user(&app, "ada", Role::Admin).await;

    let rollback = "href=\"/admin/rollback\"";
    let approve = format!("/admin/versions/{v3}/confirm/approve");
    for (name, may_roll_back, may_approve) in [
        ("olive", false, false),
        ("quinn", false, true),
        ("ada", true, true),
    ] {
        let (cookie, _) = sign_in(&app, name).await;
        let overview = page(&app, &cookie, "/admin").await;
        assert_eq!(overview.contains(rollback), may_roll_back, "{name}");
        let version = page(&app, &cookie, &format!("/admin/versions/{v3}")).await;
        assert_eq!(version.contains(&approve), may_approve, "{name}");
    }
    // Approved and not on production: only an admin is offered Publish.
    let qa = app.token(Role::Qa).await;
    let (status, _) = app
        .call(
            reqwest::Method::POST,
            &format!("/admin/api/versions/{v3}/approve"),
            &qa,
            Value::Null,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let publish = format!("/admin/versions/{v3}/confirm/publish");
    for (name, may_publish) in [("quinn", false), ("ada", true)] {
        let (cookie, _) = sign_in(&app, name).await;
        let version = page(&app, &cookie, &format!("/admin/versions/{v3}")).await;
        assert_eq!(version.contains(&publish), may_publish, "{name}");
    }
}

async fn json_calls_accept_a_body_sent_as_a_form(backend: Backend) {
    let app = spawn_app_with(backend, |_| {}).await;
    let operator = app.token(Role::Operator).await;
    let body: Value = app
        .upload(&operator, book::valid().bytes())
        .await
        .json()
        .await
        .unwrap();
    let v = body["version"]["id"].as_str().unwrap().to_owned();
    let deploy = |content_type: Option<&'static str>, body: String| {
        let mut req = app
            .client
            .put(app.url("/admin/api/channels/staging"))
            .bearer_auth(&operator)
            .body(body);
        if let Some(t) = content_type {
            req = req.header("content-type", t);
        }
        req.send()
    };
    let json_body = format!("{{\"version\": \"{v}\"}}");
    // What `curl -d` sends, and no content type at all: both read as JSON.
    for content_type in [Some("application/x-www-form-urlencoded"), None] {
        let res = deploy(content_type, json_body.clone()).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{content_type:?}");
    }
    // A body that is not JSON is still a clear 400.
    let res = deploy(
        Some("application/x-www-form-urlencoded"),
        format!("version={v}"),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_request");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("JSON"),
        "{body}"
    );
}
