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
    let res = start(&app).await.unwrap();
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "served again once the database is back"
    );
    let state: Value = res.json().await.unwrap();
    assert_eq!(state["progress"]["answered"], 0);
}
