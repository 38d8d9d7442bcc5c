//! The release pipeline: deploy to staging, approve, publish, rollback,
//! roles, audit, the store mirror, and several instances on one database.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use sceneflow::auth::Role;
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::{Backend, TestApp, book, spawn_app_with};

on_both_backends!(
    a_version_goes_from_upload_to_production,
    publishing_needs_approval_of_that_exact_version,
    the_uploader_cannot_approve_their_own_version,
    every_admin_route_checks_the_role,
    rollback_goes_back_one_publish_at_a_time,
    a_second_instance_serves_a_publish_at_once,
);

/// An app with the sample on both channels, and a second valid version uploaded.
async fn with_two_versions(backend: Backend) -> (TestApp, String, String) {
    let app = spawn_app_with(backend, |s| s.sample = true).await;
    let operator = app.token(Role::Operator).await;
    let body: Value = app
        .upload(&operator, book::valid().bytes())
        .await
        .json()
        .await
        .unwrap();
    let sample =
        sceneflow::auth::sha256_hex(sceneflow::master_data::SAMPLE_WORKBOOK)[..12].to_owned();
    (
        app,
        sample,
        body["version"]["id"].as_str().unwrap().to_owned(),
    )
}

pub(crate) async fn served_version(app: &TestApp, base: &str, user: &str) -> String {
    let token = sceneflow::auth::mint_user_token(&app.settings.jwt_secret, user, 1);
    let state: Value = app
        .client
        .post(format!("{base}/v1/onboarding/start"))
        .bearer_auth(token)
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    state["version"].as_str().unwrap_or_default().to_owned()
}

async fn a_version_goes_from_upload_to_production(backend: Backend) {
    let (app, sample, v2) = with_two_versions(backend).await;
    let (operator, qa, admin) = (
        app.token(Role::Operator).await,
        app.token(Role::Qa).await,
        app.token(Role::Admin).await,
    );
    let (status, body) = app
        .call(
            Method::PUT,
            "/admin/api/channels/staging",
            &operator,
            json!({"version": v2}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["change"]["from"], sample.as_str());
    let (status, body) = app
        .call(
            Method::POST,
            &format!("/admin/api/versions/{v2}/approve"),
            &qa,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["approval"]["approved_by"], "qa-user");
    let (status, _) = app
        .call(
            Method::PUT,
            "/admin/api/channels/production",
            &admin,
            json!({"version": v2}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(served_version(&app, &app.base, "after-publish").await, v2);

    let (_, channels) = app
        .call(Method::GET, "/admin/api/channels", &operator, Value::Null)
        .await;
    let production = channels["channels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "production")
        .unwrap()
        .clone();
    assert_eq!(production["version_id"], v2.as_str());
    assert_eq!(production["updated_by"], "admin-user");
    assert_eq!(production["approval"]["approved_by"], "qa-user");
    assert_eq!(channels["production_rollback_to"], sample.as_str());

    let (_, audit) = app
        .call(Method::GET, "/admin/api/audit", &operator, Value::Null)
        .await;
    let actions: Vec<(String, String)> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["actor"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for expected in [
        ("publish", "admin-user"),
        ("approve", "qa-user"),
        ("deploy", "operator-user"),
        ("upload", "operator-user"),
    ] {
        assert!(
            actions
                .iter()
                .any(|(a, w)| (a.as_str(), w.as_str()) == expected),
            "{expected:?} in {actions:?}"
        );
    }
    let publish = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "publish")
        .unwrap();
    assert_eq!(publish["version_from"], sample.as_str());
    assert_eq!(publish["version_to"], v2.as_str());

    // The store mirrors the pointer for deployments that follow it.
    let pointer: Value = serde_json::from_slice(
        &std::fs::read(app.store_dir.join("channels/production.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(pointer["version"], v2.as_str());
    assert_eq!(pointer["approved_by"], "qa-user");
    assert_eq!(pointer["published_by"], "admin-user");
    assert_eq!(pointer["sha256"].as_str().unwrap()[..12], v2);
}

async fn publishing_needs_approval_of_that_exact_version(backend: Backend) {
    let (app, _sample, v2) = with_two_versions(backend).await;
    let (qa, admin) = (app.token(Role::Qa).await, app.token(Role::Admin).await);
    let (status, body) = app
        .call(
            Method::PUT,
            "/admin/api/channels/production",
            &admin,
            json!({"version": v2}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (StatusCode::CONFLICT, json!("not_approved"))
    );
    // Approval is only for the version on staging.
    let (status, body) = app
        .call(
            Method::POST,
            &format!("/admin/api/versions/{v2}/approve"),
            &qa,
            json!({}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (StatusCode::CONFLICT, json!("not_on_staging"))
    );
    let (status, body) = app
        .call(
            Method::PUT,
            "/admin/api/channels/production",
            &admin,
            json!({"version": "000000000000"}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (StatusCode::NOT_FOUND, json!("not_found"))
    );
    assert_eq!(
        app.count_sql("SELECT COUNT(*) AS n FROM audit_log WHERE action = 'publish'")
            .await,
        0
    );
}

async fn the_uploader_cannot_approve_their_own_version(backend: Backend) {
    let app = spawn_app_with(backend.clone(), |s| s.sample = true).await;
    let admin = app.token(Role::Admin).await;
    let body: Value = app
        .upload(&admin, book::valid().bytes())
        .await
        .json()
        .await
        .unwrap();
    let v2 = body["version"]["id"].as_str().unwrap().to_owned();
    app.call(
        Method::PUT,
        "/admin/api/channels/staging",
        &admin,
        json!({"version": v2}),
    )
    .await;
    let (status, body) = app
        .call(
            Method::POST,
            &format!("/admin/api/versions/{v2}/approve"),
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (StatusCode::FORBIDDEN, json!("self_approval"))
    );

    // Single-person teams may allow it.
    let solo = spawn_app_with(backend, |s| {
        s.sample = true;
        s.allow_self_approval = true;
    })
    .await;
    let admin = solo.token(Role::Admin).await;
    let body: Value = solo
        .upload(&admin, book::valid().bytes())
        .await
        .json()
        .await
        .unwrap();
    let v2 = body["version"]["id"].as_str().unwrap().to_owned();
    solo.call(
        Method::PUT,
        "/admin/api/channels/staging",
        &admin,
        json!({"version": v2}),
    )
    .await;
    let (status, _) = solo
        .call(
            Method::POST,
            &format!("/admin/api/versions/{v2}/approve"),
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}

async fn every_admin_route_checks_the_role(backend: Backend) {
    let (app, _sample, v2) = with_two_versions(backend).await;
    let routes: Vec<(Method, String, Role)> = vec![
        (Method::GET, "/admin/api/versions".into(), Role::Operator),
        (Method::POST, "/admin/api/versions".into(), Role::Operator),
        (
            Method::POST,
            "/admin/api/versions/import".into(),
            Role::Operator,
        ),
        (
            Method::GET,
            format!("/admin/api/versions/{v2}"),
            Role::Operator,
        ),
        (
            Method::GET,
            format!("/admin/api/versions/{v2}/workbook"),
            Role::Operator,
        ),
        (
            Method::POST,
            format!("/admin/api/versions/{v2}/approve"),
            Role::Qa,
        ),
        (Method::GET, "/admin/api/channels".into(), Role::Operator),
        (
            Method::PUT,
            "/admin/api/channels/staging".into(),
            Role::Operator,
        ),
        (
            Method::PUT,
            "/admin/api/channels/production".into(),
            Role::Admin,
        ),
        (
            Method::POST,
            "/admin/api/channels/production/rollback".into(),
            Role::Admin,
        ),
        (Method::GET, "/admin/api/audit".into(), Role::Operator),
        (Method::GET, "/admin/api/conditions".into(), Role::Operator),
        (
            Method::GET,
            format!("/admin/api/versions/{v2}/funnel"),
            Role::Operator,
        ),
        (
            Method::GET,
            format!("/admin/api/versions/{v2}/impact"),
            Role::Operator,
        ),
        (Method::GET, "/admin/api/experiments".into(), Role::Operator),
        (Method::GET, "/admin/api/events".into(), Role::Operator),
    ];
    let tokens = [
        (Role::Operator, app.token(Role::Operator).await),
        (Role::Qa, app.token(Role::Qa).await),
        (Role::Admin, app.token(Role::Admin).await),
    ];
    for (method, path, needed) in &routes {
        let res = app
            .client
            .request(method.clone(), app.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(
            res.status(),
            StatusCode::UNAUTHORIZED,
            "{method} {path} without a token"
        );
        for (role, token) in &tokens {
            // A harmless body: a version that does not exist where one is read.
            let (status, body) = app
                .call(
                    method.clone(),
                    path,
                    token,
                    json!({"version": "000000000000", "key": "inbox/none.xlsx"}),
                )
                .await;
            if role < needed {
                assert_eq!(
                    status,
                    StatusCode::FORBIDDEN,
                    "{method} {path} as {role}: {body}"
                );
                assert_eq!(body["error"]["code"], "forbidden");
            } else {
                assert!(
                    status != StatusCode::FORBIDDEN && status != StatusCode::UNAUTHORIZED,
                    "{method} {path} as {role}: {status} {body}"
                );
            }
        }
    }
}

async fn rollback_goes_back_one_publish_at_a_time(backend: Backend) {
    let (app, sample, v2) = with_two_versions(backend).await;
    let (operator, qa, admin) = (
        app.token(Role::Operator).await,
        app.token(Role::Qa).await,
        app.token(Role::Admin).await,
    );
    let (status, body) = app
        .call(
            Method::POST,
            "/admin/api/channels/production/rollback",
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (StatusCode::CONFLICT, json!("nothing_to_roll_back"))
    );

    app.call(
        Method::PUT,
        "/admin/api/channels/staging",
        &operator,
        json!({"version": v2}),
    )
    .await;
    app.call(
        Method::POST,
        &format!("/admin/api/versions/{v2}/approve"),
        &qa,
        json!({}),
    )
    .await;
    app.call(
        Method::PUT,
        "/admin/api/channels/production",
        &admin,
        json!({"version": v2}),
    )
    .await;
    assert_eq!(served_version(&app, &app.base, "before-rollback").await, v2);

    let (status, body) = app
        .call(
            Method::POST,
            "/admin/api/channels/production/rollback",
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["change"]["from"], v2.as_str());
    assert_eq!(body["change"]["to"], sample.as_str());
    assert_eq!(
        served_version(&app, &app.base, "after-rollback").await,
        sample
    );
    // The rolled-back version stays approved and can be published again.
    let (status, _) = app
        .call(
            Method::PUT,
            "/admin/api/channels/production",
            &admin,
            json!({"version": v2}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, audit) = app
        .call(Method::GET, "/admin/api/audit", &operator, Value::Null)
        .await;
    assert!(
        audit["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "rollback" && e["version_to"] == sample.as_str())
    );
    let pointer: Value = serde_json::from_slice(
        &std::fs::read(app.store_dir.join("channels/production.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(pointer["version"], v2.as_str());
}

async fn a_second_instance_serves_a_publish_at_once(backend: Backend) {
    let (app, sample, v2) = with_two_versions(backend).await;
    // A second server process on the same database.
    let (other, _process) = app.spawn_process().await;
    assert_eq!(served_version(&app, &other, "before").await, sample);
    app.release(&v2).await;
    let published = Instant::now();
    let mut n = 0;
    while served_version(&app, &other, &format!("after-{n}")).await != v2 {
        n += 1;
        assert!(
            published.elapsed() < Duration::from_secs(5),
            "the other instance never served {v2}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!(
        "propagation to the second process: {:?}",
        published.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_serves_what_the_store_pointer_names() {
    let (leader, _sample, v2) = with_two_versions(Backend::Sqlite).await;
    // A separate deployment with its own database, sharing the store.
    let store = leader.settings.store.clone();
    let follower = spawn_app_with(Backend::Sqlite, move |s| {
        s.store = store;
        s.follow_store = true;
    })
    .await;
    leader.release(&v2).await;
    let started = Instant::now();
    loop {
        if served_version(
            &follower,
            &follower.base,
            &format!("f-{}", started.elapsed().as_millis()),
        )
        .await
            == v2
        {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the follower never served {v2}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, audit) = follower
        .call(
            Method::GET,
            "/admin/api/audit",
            &follower.token(Role::Operator).await,
            Value::Null,
        )
        .await;
    assert!(
        audit["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "upload" && e["actor"] == "follow:store")
    );
}

/// `sceneflow import --deploy staging` goes through the release pipeline, so a
/// deployment following the shared store sees the new staging pointer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_sees_a_cli_deploy() {
    let follower = spawn_app_with(Backend::Sqlite, |s| {
        s.sample = true;
        s.follow_store = true;
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("flow.xlsx");
    std::fs::write(&file, book::valid().bytes()).unwrap();
    let database_url = format!("sqlite://{}/cli.db", dir.path().display());
    // Only `serve` and `migrate` create a database.
    let migrated = std::process::Command::new(env!("CARGO_BIN_EXE_sceneflow"))
        .arg("migrate")
        .env("DATABASE_URL", &database_url)
        .output()
        .unwrap();
    assert!(migrated.status.success());
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sceneflow"))
        .args(["import", file.to_str().unwrap(), "--deploy", "staging"])
        .env_remove("RUST_LOG")
        .env(
            "DATABASE_URL",
            format!("sqlite://{}/cli.db", dir.path().display()),
        )
        .env("SCENEFLOW_STORE", &follower.settings.store)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let version = stdout
        .split_whitespace()
        .skip_while(|w| *w != "version")
        .nth(1)
        .expect("the CLI names the version")
        .to_owned();
    let operator = follower.token(Role::Operator).await;
    let started = Instant::now();
    loop {
        let (_, body) = follower
            .call(Method::GET, "/admin/api/channels", &operator, Value::Null)
            .await;
        let staging = body["channels"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "staging")
            .map(|c| c["version_id"].clone());
        if staging == Some(json!(version)) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the follower never moved staging to {version}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The follower reads the store through the checked reader: a FIFO as one
/// channel's pointer neither hangs it nor stops the other channel, and a
/// pointer linked out of the store's root is refused, not followed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_refuses_what_is_not_a_file_of_the_store_and_follows_the_other_channel() {
    let (leader, _sample, v2) = with_two_versions(Backend::Sqlite).await;
    leader.release(&v2).await;
    let root = leader.store_dir.clone();
    let staging = root.join("channels/staging.json");
    std::fs::remove_file(&staging).unwrap();
    let made = std::process::Command::new("mkfifo")
        .arg(&staging)
        .status()
        .unwrap();
    assert!(made.success());

    let store = leader.settings.store.clone();
    let follower = spawn_app_with(Backend::Sqlite, move |s| {
        s.store = store;
        s.follow_store = true;
    })
    .await;
    let started = Instant::now();
    while served_version(&follower, &follower.base, "f-1").await != v2 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "production was not followed while staging's pointer is a FIFO"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Production's pointer a link to a copy outside the root: not followed.
    let outside = tempfile::tempdir().unwrap();
    let production = root.join("channels/production.json");
    let copy = outside.path().join("production.json");
    std::fs::copy(&production, &copy).unwrap();
    std::fs::remove_file(&production).unwrap();
    std::os::unix::fs::symlink(&copy, &production).unwrap();
    let store = leader.settings.store.clone();
    let second = spawn_app_with(Backend::Sqlite, move |s| {
        s.store = store;
        s.follow_store = true;
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        served_version(&second, &second.base, "f-2").await,
        "",
        "a pointer out of the store's root is never followed"
    );
    assert_eq!(second.count("versions").await, 0);
}

/// A pointer whose workbook is not in the store yet (written after the
/// pointer, or a store hiccup) is tried again, not given up: the follower
/// serves it once the file arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_retries_a_pointer_whose_workbook_arrives_later() {
    let (leader, _sample, v2) = with_two_versions(Backend::Sqlite).await;
    leader.release(&v2).await;
    let root = leader.store_dir.clone();
    let production = root.join("channels/production.json");
    let mut pointer: Value = serde_json::from_slice(&std::fs::read(&production).unwrap()).unwrap();
    let original = root.join(pointer["store_key"].as_str().unwrap());
    pointer["store_key"] = json!("versions/later.xlsx");
    std::fs::write(&production, serde_json::to_vec(&pointer).unwrap()).unwrap();
    std::fs::remove_file(root.join("channels/staging.json")).unwrap();

    let store = leader.settings.store.clone();
    let follower = spawn_app_with(Backend::Sqlite, move |s| {
        s.store = store;
        s.follow_store = true;
    })
    .await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(served_version(&follower, &follower.base, "early").await, "");
    std::fs::copy(&original, root.join("versions/later.xlsx")).unwrap();
    let started = Instant::now();
    while served_version(&follower, &follower.base, "late").await != v2 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the follower gave the pointer up"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
