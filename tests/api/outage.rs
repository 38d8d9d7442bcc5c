//! The database going away and coming back, through a proxy the test cuts.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::proxy::Proxy;
use crate::support::{Backend, spawn_app_with};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_down_is_503_with_retry_after_then_recovers() {
    let Some(backend) = Backend::postgres() else {
        return;
    };
    let Backend::Postgres(base) = backend.clone() else {
        unreachable!()
    };
    let host: String = base
        .split('@')
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .expect("host:port in the test database URL")
        .to_owned();
    let target = tokio::net::lookup_host(host.as_str())
        .await
        .unwrap()
        .next()
        .unwrap();
    let proxy = Proxy::start(target).await;
    let through = proxy.addr.to_string();
    let app = spawn_app_with(backend, move |s| {
        s.sample = true;
        s.database_url = s.database_url.replacen(&host, &through, 1);
    })
    .await;

    let token = sceneflow::auth::mint_user_token(&app.settings.jwt_secret, "user-outage", 1);
    let start = |app: &crate::support::TestApp| {
        app.client
            .post(app.url("/v1/onboarding/start"))
            .bearer_auth(&token)
            .json(&json!({}))
            .send()
    };
    assert_eq!(start(&app).await.unwrap().status(), StatusCode::OK);

    proxy.cut();
    let asked = Instant::now();
    let res = start(&app).await.unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(res.headers().contains_key("retry-after"));
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "storage_unavailable");
    assert!(
        !body["error"]["message"].as_str().unwrap().contains("5432"),
        "no cause text reaches the client"
    );
    // Bounded by the pool's connection timeout, not a hang.
    assert!(asked.elapsed() < Duration::from_secs(30));
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);

    let _proxy = proxy.restore().await;
    // Served again once the database is back: at once, or after the
    // connection attempts made during the outage have given up (the pool's
    // 5 s timeout; background tasks also wait on the pool meanwhile).
    let restored = Instant::now();
    let mut res = start(&app).await.unwrap();
    while res.status() == StatusCode::SERVICE_UNAVAILABLE
        && restored.elapsed() < Duration::from_secs(15)
    {
        tokio::time::sleep(Duration::from_millis(200)).await;
        res = start(&app).await.unwrap();
    }
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "served again once the database is back"
    );
    let state: Value = res.json().await.unwrap();
    assert_eq!(state["progress"]["answered"], 0);
}

/// A small filesystem for the SQLite file, unmounted when dropped; `None`
/// where mounting is not allowed (not root).
struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    fn mount(megabytes: u32) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().ok()?.keep();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m"), "tmpfs"])
            .arg(&dir)
            .status()
            .ok()?
            .success();
        mounted.then_some(SmallDisk(dir))
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

/// SQLite on a full disk: writes answer 503 `storage_unavailable` with
/// `Retry-After` (never 500 `internal`) and `/readyz` is 503 while the disk
/// is full; both recover once space is freed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_is_503_and_not_ready_then_recovers() {
    let Some(disk) = SmallDisk::mount(24) else {
        eprintln!("skipped: mounting a small filesystem needs root");
        return;
    };
    let url = format!("sqlite://{}/db.sqlite", disk.0.display());
    let app = spawn_app_with(Backend::Sqlite, move |s| {
        s.sample = true;
        s.database_url = url;
    })
    .await;
    let ready = |app: &crate::support::TestApp| app.client.get(app.url("/readyz")).send();
    assert_eq!(ready(&app).await.unwrap().status(), StatusCode::OK);

    // Fill the disk to the last byte.
    let filler = disk.0.join("filler");
    let mut file = std::fs::File::create(&filler).unwrap();
    let chunk = vec![7u8; 64 * 1024];
    while std::io::Write::write_all(&mut file, &chunk).is_ok() {}
    let small = [7u8; 512];
    while std::io::Write::write_all(&mut file, &small).is_ok() {}
    drop(file);

    let not_ready = ready(&app).await.unwrap();
    assert_eq!(not_ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(not_ready.headers().contains_key("retry-after"));
    let body: Value = not_ready.json().await.unwrap();
    assert_eq!(body["database"], "disk_full");

    // Starts with large attributes until the database needs space it
    // cannot have: refused as unavailable, never as an internal error.
    let big: serde_json::Map<String, Value> = (0..30)
        .map(|i| (format!("note_{i}"), json!("x".repeat(1000))))
        .collect();
    let mut refused = 0;
    for i in 0..400 {
        let token = sceneflow::auth::mint_user_token(&app.settings.jwt_secret, &format!("u{i}"), 1);
        let res = app
            .client
            .post(app.url("/v1/onboarding/start"))
            .bearer_auth(token)
            .json(&json!({"attributes": big}))
            .send()
            .await
            .unwrap();
        match res.status() {
            StatusCode::OK => {}
            StatusCode::SERVICE_UNAVAILABLE => {
                assert!(res.headers().contains_key("retry-after"));
                let body: Value = res.json().await.unwrap();
                assert_eq!(body["error"]["code"], "storage_unavailable");
                refused += 1;
                break;
            }
            other => panic!(
                "a full disk answered {other}: {}",
                res.text().await.unwrap()
            ),
        }
    }
    assert_eq!(refused, 1, "the disk never filled up");

    std::fs::remove_file(&filler).unwrap();
    assert_eq!(ready(&app).await.unwrap().status(), StatusCode::OK);
    let token = sceneflow::auth::mint_user_token(&app.settings.jwt_secret, "after", 1);
    let res = app
        .client
        .post(app.url("/v1/onboarding/start"))
        .bearer_auth(token)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "writes again once space is freed"
    );
    drop(app);
    drop(disk);
}

/// On a new PostgreSQL deployment the tables of runs grow from nothing: an
/// instance analyses those that outgrew their statistics (so plans follow
/// the data within seconds, not at autovacuum's next turn), and only those.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_that_outgrew_their_statistics_are_analysed() {
    let Some(backend) = Backend::postgres() else {
        return;
    };
    let app = spawn_app_with(backend, |s| s.sample = true).await;
    app.exec(
        "INSERT INTO runs (id, user_id, channel, version_id, status, step_key, scene_key, scene_id,
           shown, answered, attributes, answers, revision, started_at, updated_at, completed_at,
           previous_answer)
         SELECT 'burst-' || g, 'burst-' || g, 'production', c.version_id, 'completed', NULL, NULL,
           NULL, 1, 1, '{}', '{}', 1, now(), now(), now(), NULL
         FROM generate_series(1, 2000) g, channels c WHERE c.name = 'production'",
    )
    .await;
    let analyse = || app.db.run(sceneflow::store::statistics::analyse_grown);
    let analysed_runs = "SELECT COUNT(*) AS n FROM pg_stat_user_tables \
                         WHERE relname = 'runs' AND last_analyze IS NOT NULL";
    // By this call or by the instance's own keeper, whichever comes first;
    // the statistics of a write reach pg_stat_user_tables within a second.
    let mut seen = Vec::new();
    for _ in 0..100 {
        seen.extend(analyse().await.unwrap());
        if app.count_sql(analysed_runs).await == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(app.count_sql(analysed_runs).await, 1, "runs analysed");
    assert!(
        !seen.contains(&"assignments".to_owned()),
        "unchanged tables are left alone"
    );
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(
        !analyse().await.unwrap().contains(&"runs".to_owned()),
        "analysed once"
    );
}
