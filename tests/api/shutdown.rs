//! SIGTERM lets an upload in flight finish.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::book;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_the_upload_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/db.sqlite", dir.path().display());
    let store = format!("file://{}/store", dir.path().display());
    let bin = env!("CARGO_BIN_EXE_sceneflow");
    // Only `serve` and `migrate` create a database.
    let migrated = Command::new(bin)
        .arg("migrate")
        .env("DATABASE_URL", &db)
        .env("SCENEFLOW_STORE", &store)
        .output()
        .unwrap();
    assert!(migrated.status.success());
    let token = Command::new(bin)
        .args(["admin-token", "--role", "operator", "--name", "op"])
        .env("DATABASE_URL", &db)
        .env("SCENEFLOW_STORE", &store)
        .output()
        .unwrap();
    let token = String::from_utf8(token.stdout).unwrap().trim().to_owned();

    let mut child = Command::new(bin)
        .arg("serve")
        .env("DATABASE_URL", &db)
        .env("SCENEFLOW_STORE", &store)
        .env("SCENEFLOW_BIND", "127.0.0.1:0")
        .env("SCENEFLOW_SAMPLE", "false")
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let base = loop {
        let line = lines.next().expect("the server logs its address").unwrap();
        if let Some(rest) = line.split("serving on ").nth(1) {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});

    // Send half the workbook, signal, then the rest.
    let bytes = book::valid().bytes();
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let body = reqwest::Body::wrap_stream(tokio_stream_from(rx));
    let request = reqwest::Client::new()
        .post(format!("{base}/admin/api/versions"))
        .bearer_auth(&token)
        .body(body)
        .send();
    let upload = tokio::spawn(request);
    let half = bytes.len() / 2;
    tx.send(Ok(bytes[..half].to_vec())).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    tx.send(Ok(bytes[half..].to_vec())).await.unwrap();
    drop(tx);

    let response = upload.await.unwrap().expect("the upload completes");
    assert_eq!(response.status(), reqwest::StatusCode::CREATED);
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "the server exits cleanly: {status:?}");
}

fn tokio_stream_from<T: Send + 'static>(
    mut rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures_util::Stream<Item = T> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}
