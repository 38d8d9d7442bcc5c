//! The object store over the S3 protocol: aws-sdk-s3 against s3s on loopback.

use aws_sdk_s3::primitives::ByteStream;
use reqwest::StatusCode;
use sceneflow::auth::Role;
use sceneflow::storage::{S3Settings, Storage};
use serde_json::Value;

use crate::support::s3::{S3Server, settings_for};
use crate::support::{Backend, book, spawn_app_with};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_round_trips_on_s3() {
    let server = S3Server::start(&["flows"]).await;
    let storage = Storage::from_url("s3://flows/onboarding/prod", &server.settings())
        .await
        .unwrap();
    storage
        .put(
            "inbox/オンボーディング 1.xlsx",
            b"one".to_vec(),
            "application/octet-stream",
        )
        .await
        .unwrap();
    for i in 0..1005 {
        storage
            .put(&format!("many/{i:04}"), vec![b'x'], "text/plain")
            .await
            .unwrap();
    }
    assert_eq!(
        storage.get("inbox/オンボーディング 1.xlsx").await.unwrap(),
        Some(b"one".to_vec())
    );
    assert_eq!(storage.get("inbox/missing.xlsx").await.unwrap(), None);
    assert_eq!(
        storage.list("inbox/").await.unwrap(),
        vec!["inbox/オンボーディング 1.xlsx".to_owned()]
    );
    let many = storage.list("many/").await.unwrap();
    assert_eq!(many.len(), 1005, "listing follows pagination");

    // The prefix is honoured: the object sits under onboarding/prod/.
    let client = server.client().await;
    let object = client
        .get_object()
        .bucket("flows")
        .key("onboarding/prod/inbox/オンボーディング 1.xlsx")
        .send()
        .await
        .unwrap();
    assert_eq!(
        object.body.collect().await.unwrap().into_bytes().as_ref(),
        b"one"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_are_an_error_not_a_missing_object() {
    let server = S3Server::start(&["flows"]).await;
    let settings = S3Settings {
        secret_access_key: Some("wrong".into()),
        ..server.settings()
    };
    let storage = Storage::from_url("s3://flows", &settings).await.unwrap();
    assert!(storage.get("inbox/x.xlsx").await.is_err());
    assert!(storage.put("inbox/x.xlsx", vec![1], "x").await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_keeps_workbooks_in_s3() {
    let server = S3Server::start(&["flows"]).await;
    let s3 = server.settings();
    let app = spawn_app_with(Backend::Sqlite, move |s| {
        s.store = "s3://flows/sceneflow".into();
        s.s3 = s3;
    })
    .await;
    let token = app.token(Role::Operator).await;
    let bytes = book::valid().bytes();
    let response = app.upload(&token, bytes.clone()).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    let id = body["version"]["id"].as_str().unwrap().to_owned();

    let client = server.client().await;
    let key = format!(
        "sceneflow/versions/{}.xlsx",
        sceneflow::auth::sha256_hex(&bytes)
    );
    let object = client
        .get_object()
        .bucket("flows")
        .key(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(
        object.body.collect().await.unwrap().into_bytes().to_vec(),
        bytes
    );

    let file = app
        .get(&token, &format!("/admin/api/versions/{id}/workbook"))
        .await;
    assert_eq!(file.bytes().await.unwrap().to_vec(), bytes);

    // An operator drops a workbook into the bucket's inbox; the app imports it.
    let other = book::valid()
        .set("scenes", 2, "message_1", "いらっしゃいませ!")
        .bytes();
    client
        .put_object()
        .bucket("flows")
        .key("sceneflow/inbox/新しいフロー.xlsx")
        .body(ByteStream::from(other))
        .send()
        .await
        .unwrap();
    let response = app
        .client
        .post(app.url("/admin/api/versions/import"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"key": "inbox/新しいフロー.xlsx"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(app.count("versions").await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_object_store_is_503_and_stores_nothing() {
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let s3 = settings_for(&format!("http://{closed}"));
    let app = spawn_app_with(Backend::Sqlite, move |s| {
        s.store = "s3://flows".into();
        s.s3 = s3;
    })
    .await;
    let token = app.token(Role::Operator).await;
    let response = app.upload(&token, book::valid().bytes()).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key("retry-after"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "storage_unavailable");
    assert_eq!(app.count("versions").await, 0);
}
