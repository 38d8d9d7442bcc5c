//! The database: one connection type over SQLite and PostgreSQL, a pool,
//! embedded migrations, and the queries, one file per table group.
//!
//! diesel is synchronous; [`Db::run`] moves each unit of work to the blocking
//! thread pool so request handlers never block the async workers.

pub mod aggregates;
pub mod analytics;
pub mod audit;
pub mod backs;
pub mod batch;
pub mod channels;
pub mod column;
pub mod flows;
pub mod group;
pub mod offline;
pub mod outcomes;
pub mod rollouts;
pub mod rows;
pub mod runs;
pub mod schema;
pub mod statistics;
pub mod testers;
pub mod tokens;
pub mod users;
pub mod versions;

pub use flows::FlowCache;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use diesel::connection::{InstrumentationEvent, SimpleConnection};
use diesel::prelude::*;
use diesel::r2d2::{self, ManageConnection, Pool, PooledConnection, R2D2Connection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// Rows per INSERT: well under both backends' limits on bound parameters.
pub const CHUNK: usize = 500;

/// Insert rows in multi-row statements of [`CHUNK`] rows. The derived
/// multi-backend cannot express SQLite's batch insert, so this goes to the
/// inner connection, inside the same transaction.
#[macro_export]
macro_rules! insert_chunks {
    ($conn:expr, $table:expr, $rows:expr) => {
        for chunk in $rows.chunks($crate::store::CHUNK) {
            match &mut *$conn {
                $crate::store::AnyConnection::Postgresql(c) => {
                    diesel::insert_into($table).values(chunk).execute(c)?
                }
                $crate::store::AnyConnection::Sqlite(c) => {
                    diesel::insert_into($table).values(chunk).execute(c)?
                }
            };
        }
    };
}

#[derive(diesel::MultiConnection)]
pub enum AnyConnection {
    Postgresql(diesel::PgConnection),
    Sqlite(diesel::SqliteConnection),
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the database cannot be reached: {0}")]
    Unavailable(String),
    #[error("'{0}' is not a database URL: use sqlite://PATH or postgres://…")]
    InvalidUrl(String),
    #[error("database query failed: {0}")]
    Query(diesel::result::Error),
    #[error("migrations failed: {0}")]
    Migration(String),
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
    /// A bug: the unit of work panicked. Not an outage, so never 503.
    #[error("a database task panicked: {0}")]
    Panicked(String),
}

/// A row that does not read as its type (an unknown status or event kind,
/// JSON that does not parse: see [`column`]) is stored data gone wrong,
/// raised once here rather than checked by each service.
impl From<diesel::result::Error> for StoreError {
    fn from(e: diesel::result::Error) -> Self {
        match e {
            diesel::result::Error::DeserializationError(cause) => {
                // diesel names the field; its source says what was wrong.
                let mut message = cause.to_string();
                let mut source = cause.source();
                while let Some(s) = source {
                    message = format!("{message}: {s}");
                    source = s.source();
                }
                StoreError::Corrupt(message)
            }
            // Not the client's doing, and it passes when space is freed:
            // 503 with Retry-After, like an unreachable database.
            diesel::result::Error::DatabaseError(_, ref info) if is_disk_full(info.message()) => {
                StoreError::Unavailable(format!("the database's disk is full: {}", info.message()))
            }
            e => StoreError::Query(e),
        }
    }
}

/// A write refused for lack of disk space: SQLite's `SQLITE_FULL`,
/// PostgreSQL's `disk_full` (53100: "could not extend file …: No space left
/// on device").
fn is_disk_full(message: &str) -> bool {
    [
        "database or disk is full",
        "No space left on device",
        "could not extend file",
    ]
    .iter()
    .any(|m| message.contains(m))
}

impl StoreError {
    pub fn is_unique_violation(&self) -> bool {
        matches!(
            self,
            StoreError::Query(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _
            ))
        )
    }

    /// Whether running the same transaction again may succeed: a lost race
    /// (unique key, serialisation) or SQLite's lock held by another writer.
    pub fn is_retryable(&self) -> bool {
        use diesel::result::{DatabaseErrorKind, Error};
        match self {
            StoreError::Query(Error::DatabaseError(kind, info)) => match kind {
                DatabaseErrorKind::UniqueViolation | DatabaseErrorKind::SerializationFailure => {
                    true
                }
                DatabaseErrorKind::Unknown => {
                    let m = info.message();
                    m.contains("locked") || m.contains("busy")
                }
                _ => false,
            },
            _ => false,
        }
    }

    /// Whether another writer held the database (SQLite's lock, a
    /// serialisation failure): the client may retry, it did nothing wrong.
    pub fn is_contention(&self) -> bool {
        use diesel::result::{DatabaseErrorKind, Error};
        match self {
            StoreError::Query(Error::DatabaseError(kind, info)) => match kind {
                DatabaseErrorKind::SerializationFailure => true,
                DatabaseErrorKind::Unknown => {
                    let m = info.message();
                    m.contains("locked") || m.contains("busy")
                }
                _ => false,
            },
            _ => false,
        }
    }

    /// Whether the failure is the database being away, as opposed to a bad query.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Unavailable(_) => true,
            StoreError::Query(diesel::result::Error::DatabaseError(kind, _)) => matches!(
                kind,
                diesel::result::DatabaseErrorKind::ClosedConnection
                    | diesel::result::DatabaseErrorKind::UnableToSendCommand
            ),
            StoreError::Query(diesel::result::Error::BrokenTransactionManager) => true,
            _ => false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

#[derive(Debug, Clone)]
pub struct DbUrl {
    pub backend: Backend,
    /// What the driver takes: the URL for PostgreSQL, the path for SQLite.
    target: String,
}

impl DbUrl {
    pub fn parse(url: &str) -> Result<DbUrl, StoreError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(DbUrl {
                backend: Backend::Postgres,
                target: url.to_owned(),
            });
        }
        match url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            Some(path) if !path.is_empty() => Ok(DbUrl {
                backend: Backend::Sqlite,
                target: path.to_owned(),
            }),
            _ => Err(StoreError::InvalidUrl(url.to_owned())),
        }
    }
}

/// Opens connections for the pool, picking the backend from the URL scheme
/// (the derive's own `establish` would hide the real error).
///
/// Connections are tested on error, not on every checkout: a connection a
/// query found broken (closed by the server, a transaction left in error) is
/// dropped when it goes back to the pool, and that failure makes every other
/// pooled connection run one `SELECT 1` before its next use, so after a
/// database restart no stale connection serves a request. Otherwise a
/// checkout costs no statement.
#[derive(Debug, Clone)]
pub struct Manager {
    url: DbUrl,
    /// Bumped whenever a connection is found broken.
    failures: Arc<AtomicU64>,
    log: Option<StatementLog>,
}

/// A pooled connection: the connection, and the failure count it was last
/// known good at. Dereferences to the connection.
pub struct PoolConnection {
    conn: AnyConnection,
    checked_at: u64,
}

impl std::ops::Deref for PoolConnection {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        &self.conn
    }
}

impl std::ops::DerefMut for PoolConnection {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.conn
    }
}

impl ManageConnection for Manager {
    type Connection = PoolConnection;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<PoolConnection, r2d2::Error> {
        let mut conn = match self.url.backend {
            Backend::Postgres => diesel::PgConnection::establish(&self.url.target)
                .map(AnyConnection::Postgresql)
                .map_err(r2d2::Error::ConnectionError)?,
            Backend::Sqlite => {
                let mut conn = diesel::SqliteConnection::establish(&self.url.target)
                    .map_err(r2d2::Error::ConnectionError)?;
                conn.batch_execute("PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;")
                    .map_err(r2d2::Error::QueryError)?;
                AnyConnection::Sqlite(conn)
            }
        };
        if let Some(log) = &self.log {
            let log = log.clone();
            conn.set_instrumentation(move |event: InstrumentationEvent<'_>| {
                if let InstrumentationEvent::StartQuery { query, .. } = event {
                    log.push(query.to_string());
                }
            });
        }
        Ok(PoolConnection {
            conn,
            checked_at: self.failures.load(Ordering::Acquire),
        })
    }

    /// Free unless a connection failed since this one was last known good.
    fn is_valid(&self, conn: &mut PoolConnection) -> Result<(), r2d2::Error> {
        let failures = self.failures.load(Ordering::Acquire);
        if conn.checked_at == failures {
            return Ok(());
        }
        conn.conn
            .batch_execute("SELECT 1")
            .map_err(r2d2::Error::QueryError)?;
        conn.checked_at = failures;
        Ok(())
    }

    fn has_broken(&self, conn: &mut PoolConnection) -> bool {
        let broken = std::thread::panicking() || conn.conn.is_broken();
        if broken {
            self.failures.fetch_add(1, Ordering::AcqRel);
        }
        broken
    }
}

/// The SQL of every statement the pool's connections send, in order: for
/// the test that counts statements per answer and for `scripts/load.sh`,
/// which replays them with pgbench (docs/src/benchmarks.md "Mobile API under load").
#[derive(Debug, Clone, Default)]
pub struct StatementLog(Arc<std::sync::Mutex<Vec<String>>>);

impl StatementLog {
    fn push(&self, sql: String) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(sql);
    }

    /// The statements logged since the last call.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

pub type Conn = PooledConnection<Manager>;

#[derive(Clone)]
pub struct Db {
    pool: Pool<Manager>,
    pub backend: Backend,
    /// The SQLite file, whose disk `/readyz` watches.
    sqlite_file: Option<std::path::PathBuf>,
}

impl Db {
    /// Build the pool without connecting; the first use reports an unreachable database.
    pub fn new(url: &str, max_size: u32) -> Result<Db, StoreError> {
        Db::build(url, max_size, None)
    }

    /// [`Db::new`] logging every statement its connections send.
    pub fn with_statement_log(
        url: &str,
        max_size: u32,
        log: StatementLog,
    ) -> Result<Db, StoreError> {
        Db::build(url, max_size, Some(log))
    }

    fn build(url: &str, max_size: u32, log: Option<StatementLog>) -> Result<Db, StoreError> {
        let url = DbUrl::parse(url)?;
        let backend = url.backend;
        let sqlite_file =
            (backend == Backend::Sqlite).then(|| std::path::PathBuf::from(&url.target));
        let pool = Pool::builder()
            .max_size(max_size)
            .min_idle(Some(0))
            .connection_timeout(Duration::from_secs(5))
            // Cheap: see `Manager::is_valid`.
            .test_on_check_out(true)
            .build_unchecked(Manager {
                url,
                failures: Arc::new(AtomicU64::new(0)),
                log,
            });
        Ok(Db {
            pool,
            backend,
            sqlite_file,
        })
    }

    /// Bytes free on the SQLite file's disk (to an unprivileged writer);
    /// `None` on PostgreSQL, or when the disk cannot be asked.
    pub fn free_bytes(&self) -> Option<u64> {
        let file = self.sqlite_file.as_ref()?;
        let dir = match file.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => std::path::Path::new("."),
        };
        let path = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).ok()?;
        let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
        // SAFETY: `path` is a NUL-terminated string and `stat` a writable
        // statvfs; the call only fills `stat`.
        let done = unsafe { libc::statvfs(path.as_ptr(), &mut stat) };
        (done == 0).then(|| stat.f_bavail as u64 * stat.f_frsize as u64)
    }

    pub fn conn(&self) -> Result<Conn, StoreError> {
        self.pool
            .get()
            .map_err(|e| StoreError::Unavailable(e.to_string()))
    }

    pub fn migrate(&self) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        let result = match &mut **conn {
            AnyConnection::Postgresql(c) => {
                c.run_pending_migrations(POSTGRES_MIGRATIONS).map(|_| ())
            }
            AnyConnection::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map(|_| ()),
        };
        result.map_err(|e| StoreError::Migration(e.to_string()))
    }

    /// Run a unit of work on a pooled connection, off the async workers.
    pub async fn run<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut AnyConnection) -> Result<T, StoreError> + Send + 'static,
    {
        self.run_with(work).await
    }

    /// [`Db::run`] for work that fails with a service's own error type.
    pub async fn run_with<T, E, F>(&self, work: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&mut AnyConnection) -> Result<T, E> + Send + 'static,
    {
        let db = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = db.conn()?;
            work(&mut conn)
        })
        .await
        .map_err(|e| {
            if e.is_panic() {
                let payload = e.into_panic();
                let message = payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                StoreError::Panicked(message)
            } else {
                StoreError::Unavailable(format!("database task failed: {e}"))
            }
        })?
    }

    pub fn pool_state(&self) -> (u32, u32) {
        let state = self.pool.state();
        (state.connections, state.idle_connections)
    }
}

/// Timestamps as both backends store them (PostgreSQL keeps microseconds).
pub fn now() -> chrono::NaiveDateTime {
    let now = chrono::Utc::now().naive_utc();
    let micros = now.and_utc().timestamp_micros();
    chrono::DateTime::from_timestamp_micros(micros)
        .map(|d| d.naive_utc())
        .unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A panic inside a unit of work is a bug (500 `internal`), not an
    /// outage (503 `storage_unavailable` with Retry-After).
    #[tokio::test]
    async fn a_panic_in_a_unit_of_work_is_not_an_outage() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::new(&format!("sqlite://{}/t.db", dir.path().display()), 1).unwrap();
        let err = db
            .run(|_| -> Result<(), StoreError> { panic!("boom") })
            .await
            .unwrap_err();
        assert!(
            matches!(&err, StoreError::Panicked(m) if m == "boom"),
            "{err}"
        );
        assert!(!err.is_unavailable());
        let api: crate::error::ApiError = err.into();
        assert_eq!(api.code(), "internal");
        // The pool still works afterwards.
        assert_eq!(db.run(|_| Ok(1)).await.unwrap(), 1);
    }
}

/// A database error with `message`, as a driver reports one, for tests of
/// how errors are classified.
#[cfg(test)]
pub(crate) fn database_error(message: &'static str) -> diesel::result::Error {
    struct Info(&'static str);

    impl diesel::result::DatabaseErrorInformation for Info {
        fn message(&self) -> &str {
            self.0
        }
        fn details(&self) -> Option<&str> {
            None
        }
        fn hint(&self) -> Option<&str> {
            None
        }
        fn table_name(&self) -> Option<&str> {
            None
        }
        fn column_name(&self) -> Option<&str> {
            None
        }
        fn constraint_name(&self) -> Option<&str> {
            None
        }
        fn statement_position(&self) -> Option<i32> {
            None
        }
    }

    diesel::result::Error::DatabaseError(
        diesel::result::DatabaseErrorKind::Unknown,
        Box::new(Info(message)),
    )
}

#[cfg(test)]
mod disk_full_tests {
    use super::{StoreError, database_error};

    fn error(message: &'static str) -> StoreError {
        database_error(message).into()
    }

    #[test]
    fn a_full_disk_is_unavailable_on_both_backends_not_a_failed_query() {
        for full in [
            "database or disk is full",
            "could not extend file \"base/16384/2619\": No space left on device",
        ] {
            assert!(matches!(error(full), StoreError::Unavailable(_)), "{full}");
        }
        assert!(matches!(error("syntax error"), StoreError::Query(_)));
    }
}
