//! Test support shared by the test binaries: backends, the app on a random
//! port, throwaway PostgreSQL databases, workbooks written by
//! rust_xlsxwriter, and an S3-compatible server on loopback.
#![allow(dead_code)]

pub mod bombs;
pub mod book;
pub mod proxy;
pub mod s3;
pub mod stall;
pub mod stored;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use diesel::Connection;
use diesel::connection::SimpleConnection;
use sceneflow::auth::Role;
use sceneflow::config::Settings;
use sceneflow::startup::{AppState, Application};
use sceneflow::store::Db;

#[derive(Debug, Clone)]
pub enum Backend {
    Sqlite,
    Postgres(String),
}

impl Backend {
    /// PostgreSQL from `SCENEFLOW_TEST_PG_URL` (the test command sets it).
    /// Without it the test is skipped, except under CI where it fails.
    pub fn postgres() -> Option<Backend> {
        match std::env::var("SCENEFLOW_TEST_PG_URL") {
            Ok(url) if !url.is_empty() => Some(Backend::Postgres(url)),
            _ if std::env::var("CI").as_deref() == Ok("true") => {
                panic!(
                    "SCENEFLOW_TEST_PG_URL is not set: run the tests with scripts/test.sh, which starts PostgreSQL"
                )
            }
            _ => {
                eprintln!("skipped: PostgreSQL not configured (run scripts/test.sh)");
                None
            }
        }
    }
}

/// Generate `sqlite` and `postgres` tests for each async fn taking a `Backend`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::support::Backend::Sqlite).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    if let Some(backend) = $crate::support::Backend::postgres() {
                        super::$name(backend).await
                    }
                }
            }
        )*
    };
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A database of its own for one test.
pub struct TestDb {
    pub url: String,
    admin_url: Option<String>,
    name: String,
}

impl TestDb {
    pub fn create(backend: &Backend, dir: &std::path::Path) -> TestDb {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        match backend {
            Backend::Sqlite => TestDb {
                url: format!("sqlite://{}/test-{n}.db", dir.display()),
                admin_url: None,
                name: String::new(),
            },
            Backend::Postgres(base) => {
                let name = format!(
                    "sceneflow_test_{}_{n}_{}",
                    std::process::id(),
                    sceneflow::auth::random_hex(4)
                );
                let mut conn = diesel::PgConnection::establish(base)
                    .expect("connect to the PostgreSQL test server");
                conn.batch_execute(&format!("CREATE DATABASE {name}"))
                    .expect("create a test database");
                let (prefix, _) = base.rsplit_once('/').expect("a database URL with a path");
                TestDb {
                    url: format!("{prefix}/{name}"),
                    admin_url: Some(base.clone()),
                    name,
                }
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(admin) = &self.admin_url
            && let Ok(mut conn) = diesel::PgConnection::establish(admin)
        {
            let _ = conn.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub settings: Settings,
    pub store_dir: PathBuf,
    pub db: Db,
    pub handle: actix_web::dev::ServerHandle,
    pub backend: Backend,
    // Dropped last: the database, then the directory.
    pub test_db: TestDb,
    pub dir: tempfile::TempDir,
}

pub fn test_settings(backend: &Backend, dir: &std::path::Path) -> (Settings, TestDb) {
    let test_db = TestDb::create(backend, dir);
    let mut settings = Settings::from_sources(None, |_| None).expect("default settings");
    settings.database_url = test_db.url.clone();
    settings.bind = "127.0.0.1:0".into();
    settings.store = format!("file://{}/store", dir.display());
    settings.sample = false;
    settings.workers = Some(1);
    settings.db_pool_size = 4;
    (settings, test_db)
}

/// Start the real server on a random port.
pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

/// `TEST_LOG=1` shows the server's logs (at `RUST_LOG`, default `info`).
fn init_test_log() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if std::env::var("TEST_LOG").is_ok_and(|v| !v.is_empty() && v != "0") {
            sceneflow::telemetry::init(sceneflow::config::LogFormat::Text, "info");
        }
    });
}

pub async fn spawn_app_with(backend: Backend, configure: impl FnOnce(&mut Settings)) -> TestApp {
    init_test_log();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (mut settings, test_db) = test_settings(&backend, dir.path());
    configure(&mut settings);
    let app = Application::build(settings.clone())
        .await
        .expect("the application starts");
    let base = format!("http://127.0.0.1:{}", app.port());
    let handle = app.server_handle();
    tokio::spawn(app.run_until_stopped());
    let db = Db::new(&settings.database_url, 2).expect("a pool");
    let store_dir = dir.path().join("store");
    TestApp {
        base,
        client: reqwest::Client::new(),
        settings,
        store_dir,
        db,
        handle,
        backend,
        test_db,
        dir,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn token(&self, role: Role) -> String {
        let name = format!("{role}-user");
        self.db
            .run(move |c| sceneflow::auth::mint_admin_token(c, &name, role, 1))
            .await
            .expect("mint a token")
    }

    pub async fn upload(&self, token: &str, bytes: Vec<u8>) -> reqwest::Response {
        self.client
            .post(self.url("/admin/api/versions"))
            .bearer_auth(token)
            .body(bytes)
            .send()
            .await
            .expect("the request is sent")
    }

    pub async fn get(&self, token: &str, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("the request is sent")
    }

    /// Rows in a table, straight from the database.
    pub async fn count(&self, table: &str) -> i64 {
        self.count_sql(format!("SELECT COUNT(*) AS n FROM {table}"))
            .await
    }

    /// The value of a `SELECT COUNT(*) AS n …` query.
    pub async fn count_sql(&self, sql: impl Into<String>) -> i64 {
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let sql = sql.into();
        self.db
            .run(move |c| {
                use diesel::RunQueryDsl;
                Ok(diesel::sql_query(sql).get_result::<Count>(c)?.n)
            })
            .await
            .expect("count rows")
    }

    /// Another `sceneflow serve` process on the same database and store; its
    /// base URL. The process is killed when the guard drops.
    pub async fn spawn_process(&self) -> (String, ChildGuard) {
        self.spawn_process_with(&[]).await
    }

    /// [`TestApp::spawn_process`] with extra environment variables.
    pub async fn spawn_process_with(&self, env: &[(&str, &str)]) -> (String, ChildGuard) {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_sceneflow"))
            .arg("serve")
            .env("DATABASE_URL", &self.settings.database_url)
            .env("SCENEFLOW_STORE", &self.settings.store)
            .env("SCENEFLOW_BIND", format!("127.0.0.1:{port}"))
            .env("SCENEFLOW_SAMPLE", "false")
            .env("SCENEFLOW_WORKERS", "1")
            .env("SCENEFLOW_JWT_SECRET", &self.settings.jwt_secret)
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied())
            .spawn()
            .expect("the binary starts");
        let guard = ChildGuard(child);
        let base = format!("http://127.0.0.1:{port}");
        for _ in 0..200 {
            if let Ok(res) = self.client.get(format!("{base}/healthz")).send().await
                && res.status().is_success()
            {
                return (base, guard);
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("the second process did not start");
    }

    /// Point the production channel at a version, through the release
    /// pipeline (the only way to move a pointer).
    pub async fn publish(&self, version: &str) {
        self.release(version).await;
    }

    pub async fn exec(&self, sql: &'static str) {
        self.db
            .run(move |c| Ok(c.batch_execute(sql)?))
            .await
            .expect("run SQL");
    }

    /// Files under the local store, relative to its root.
    pub fn stored_files(&self) -> Vec<String> {
        fn walk(root: &std::path::Path, dir: &std::path::Path, out: &mut Vec<String>) {
            if let Ok(entries) = std::fs::read_dir(dir) {
                for e in entries.flatten() {
                    let p = e.path();
                    if p.is_dir() {
                        walk(root, &p, out)
                    } else {
                        out.push(p.strip_prefix(root).unwrap().to_string_lossy().into_owned());
                    }
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.store_dir, &self.store_dir, &mut out);
        out.sort();
        out
    }
}

/// Kills a child process when dropped.
pub struct ChildGuard(std::process::Child);

impl ChildGuard {
    pub fn new(child: std::process::Child) -> ChildGuard {
        ChildGuard(child)
    }

    /// Kill the process now and wait for it.
    pub fn stop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }

    pub fn id(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// An answer any scene of the sample accepts: the first choice, the lower
/// bound, a name.
pub fn valid_answer(scene: &serde_json::Value) -> serde_json::Value {
    use serde_json::{Value, json};
    let input = &scene["input"];
    let first = || input["choices"][0]["key"].clone();
    match input["kind"].as_str().unwrap_or("none") {
        "choice" => first(),
        "multi_choice" => json!([first()]),
        "text" => json!("ゆき"),
        "number" | "date" => input["min"].clone(),
        _ => Value::Null,
    }
}

impl TestApp {
    /// An admin API call with a JSON body (none for GET and DELETE).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: serde_json::Value,
    ) -> (reqwest::StatusCode, serde_json::Value) {
        let mut req = self
            .client
            .request(method.clone(), self.url(path))
            .bearer_auth(token);
        if method != reqwest::Method::GET && method != reqwest::Method::DELETE {
            req = req.json(&body);
        }
        let res = req.send().await.expect("the request is sent");
        let status = res.status();
        (status, res.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// A mobile API call as `user`: GET for `/current`, else POST `body`.
    pub async fn mobile(
        &self,
        user: &str,
        path: &str,
        body: serde_json::Value,
    ) -> serde_json::Value {
        let token = sceneflow::auth::mint_user_token(&self.settings.jwt_secret, user, 1);
        let req = if path.ends_with("current") {
            self.client.get(self.url(path))
        } else {
            self.client.post(self.url(path)).json(&body)
        };
        req.bearer_auth(token)
            .send()
            .await
            .expect("the request is sent")
            .json()
            .await
            .unwrap_or(serde_json::Value::Null)
    }

    /// Deploy `version` to staging, approve it and publish it, as three people.
    pub async fn release(&self, version: &str) {
        use reqwest::{Method, StatusCode};
        let body = serde_json::json!({"version": version});
        let steps = [
            (
                Method::PUT,
                "/admin/api/channels/staging".to_owned(),
                Role::Operator,
            ),
            (
                Method::POST,
                format!("/admin/api/versions/{version}/approve"),
                Role::Qa,
            ),
            (
                Method::PUT,
                "/admin/api/channels/production".to_owned(),
                Role::Admin,
            ),
        ];
        for (method, path, role) in steps {
            let token = self.token(role).await;
            let (status, answer) = self.call(method, &path, &token, body.clone()).await;
            assert_eq!(status, StatusCode::OK, "{path}: {answer}");
        }
    }
}

/// An app state without a server, for tests of the import service itself.
pub async fn state_for(settings: Settings) -> AppState {
    AppState::connect(settings).await.expect("connect")
}

/// An hour ago, in RFC 3339 to the second (`…Z`): a run's start that is
/// plausible on any day the tests run (a sync may not start before its
/// version existed).
pub fn an_hour_ago() -> String {
    (chrono::Utc::now() - chrono::Duration::hours(1))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}
