use reqwest::StatusCode;
use sceneflow::auth::Role;
use serde_json::Value;

use crate::on_both_backends;
use crate::support::{Backend, spawn_app, spawn_app_with};

on_both_backends!(
    ready_only_with_a_published_flow,
    sample_is_loaded_once_on_both_channels
);

async fn ready_only_with_a_published_flow(backend: Backend) {
    let app = spawn_app(backend).await;
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["database"], "ok");
    assert_eq!(body["status"], "not_ready");
}

async fn sample_is_loaded_once_on_both_channels(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.sample = true).await;
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    let token = app.token(Role::Operator).await;
    let channels: Value = app
        .get(&token, "/admin/api/channels")
        .await
        .json()
        .await
        .unwrap();
    let sample_id = &sceneflow::auth::sha256_hex(sceneflow::master_data::SAMPLE_WORKBOOK)[..12];
    let list = channels["channels"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert!(list.iter().all(|c| c["version_id"] == sample_id));

    // A second instance on the same database does not import it again.
    let state = crate::support::state_for(app.settings.clone()).await;
    state.load_sample_if_empty().await.unwrap();
    assert_eq!(app.count("versions").await, 1);
    assert_eq!(app.count("channels").await, 2);
}
