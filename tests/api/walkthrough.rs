//! The book's release walkthrough (`docs/src/release.md`), run as written:
//! its `sh` blocks are joined into one bash script and run against a real
//! `sceneflow serve` (with the sample flow, in a fresh directory, as on a
//! first run), with the `sceneflow` binary of this build first on `PATH`;
//! then the audit log must hold what each person did. (`book.rs` runs the
//! whole book and compares the replies; this checks the server's record.)

use std::process::{Command, Stdio};

use serde_json::Value;

use crate::support::ChildGuard;

const PAGE: &str = include_str!("../../docs/src/release.md");
const SECTION: &str = "## Release walkthrough";

/// Every ```sh block of the walkthrough section, in order.
fn walkthrough_script() -> String {
    let start = PAGE
        .find(SECTION)
        .expect("the book has a release walkthrough");
    let section = &PAGE[start + SECTION.len()..];
    let section = &section[..section.find("\n## ").unwrap_or(section.len())];
    let mut script = String::new();
    let mut lines = section.lines();
    while let Some(line) = lines.next() {
        if line.trim() == "```sh" {
            for code in lines.by_ref() {
                if code.trim() == "```" {
                    break;
                }
                script.push_str(code);
                script.push('\n');
            }
        }
    }
    assert!(script.contains("sceneflow"), "{script}");
    script
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_release_walkthrough_runs_as_written() {
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_sceneflow"));
    if Command::new("jq").arg("--version").output().is_err() {
        panic!("the walkthrough uses jq (apt-get install jq)");
    }
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    // The first command of the book, in an empty directory: default
    // database and store, sample flow loaded.
    let server = Command::new(bin)
        .arg("serve")
        .current_dir(dir.path())
        .env_remove("DATABASE_URL")
        .env_remove("SCENEFLOW_STORE")
        .env_remove("SCENEFLOW_CONFIG")
        .env("SCENEFLOW_BIND", format!("127.0.0.1:{port}"))
        .env("SCENEFLOW_WORKERS", "1")
        .env("RUST_LOG", "warn")
        .spawn()
        .unwrap();
    let _server = ChildGuard::new(server);
    let client = reqwest::Client::new();
    let mut ready = false;
    for _ in 0..200 {
        if let Ok(res) = client.get(format!("{base}/readyz")).send().await
            && res.status().is_success()
        {
            ready = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(ready, "the server starts");

    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let script = walkthrough_script();
    let out = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .current_dir(dir.path())
        .env_remove("DATABASE_URL")
        .env_remove("SCENEFLOW_STORE")
        .env_remove("SCENEFLOW_CONFIG")
        .env_remove("SCENEFLOW_PASSWORD")
        .env_remove("RUST_LOG")
        .env("PATH", path)
        .env("SF", &base)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the walkthrough failed\n--- script\n{script}\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    assert!(!stdout.contains("\"error\""), "{stdout}\n{stderr}");

    // What it did, from the server's own record.
    let token = String::from_utf8(
        Command::new(bin)
            .args(["admin-token", "--role", "admin", "--name", "test-check"])
            .current_dir(dir.path())
            .env_remove("DATABASE_URL")
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let audit: Value = client
        .get(format!("{base}/admin/api/audit"))
        .bearer_auth(token.trim())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let done: Vec<(String, String)> = audit["entries"]
        .as_array()
        .expect("audit entries")
        .iter()
        .map(|e| {
            (
                e["actor"].as_str().unwrap_or("").to_owned(),
                e["action"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    for (actor, action) in [
        ("olive", "upload"),
        ("olive", "deploy"),
        ("quinn", "approve"),
        ("ada", "publish"),
        ("ada", "rollback"),
    ] {
        assert!(
            done.iter().any(|(a, x)| a == actor && x == action),
            "{actor} {action} in {done:?}\n{stdout}"
        );
    }
}
