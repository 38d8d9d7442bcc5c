//! A group commit held in the middle of its transaction, so a test can
//! kill the server there (README "Mobile API"): a lock on PostgreSQL, a
//! trigger that never ends on SQLite.

use std::time::Duration;

use super::{Backend, TestApp};

/// Holds the group commit's transaction in the middle of the group: after
/// the runs' guarded update and the answers' insert, at the events' insert.
pub enum Stall {
    /// A lock on `events` that its insert waits for.
    Postgres(diesel::PgConnection),
    /// A trigger on `events` that never ends.
    Sqlite(diesel::SqliteConnection),
}

/// Backends of the test database waiting for a lock in an insert into `events`.
const WAITING_INSERT: &str = "SELECT COUNT(*) AS n FROM pg_stat_activity \
     WHERE datname = current_database() AND wait_event_type = 'Lock' \
     AND query ILIKE '%insert%into%events%'";
/// Backends of the test database whose last statement inserted into `events`
/// and that are not idle (a transaction still open); not the one asking.
const OPEN_INSERT: &str = "SELECT COUNT(*) AS n FROM pg_stat_activity \
     WHERE datname = current_database() AND pid <> pg_backend_pid() AND state <> 'idle' \
     AND query ILIKE '%insert%into%events%'";

impl Stall {
    pub async fn install(app: &TestApp) -> Stall {
        use diesel::Connection;
        use diesel::connection::SimpleConnection;
        let url = app.settings.database_url.clone();
        match app.backend {
            Backend::Postgres(_) => {
                let mut c = diesel::PgConnection::establish(&url).unwrap();
                c.batch_execute("BEGIN; LOCK TABLE events IN SHARE ROW EXCLUSIVE MODE")
                    .unwrap();
                Stall::Postgres(c)
            }
            Backend::Sqlite => {
                app.exec(
                    "CREATE TABLE crash_spin (x INTEGER);
                     WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 1000)
                     INSERT INTO crash_spin SELECT x FROM n;
                     CREATE TRIGGER crash_stall BEFORE INSERT ON events BEGIN
                       SELECT count(*) FROM crash_spin a, crash_spin b, crash_spin c, crash_spin d;
                     END;",
                )
                .await;
                let path = url.trim_start_matches("sqlite://");
                let mut c = diesel::SqliteConnection::establish(path).unwrap();
                c.batch_execute("PRAGMA busy_timeout = 0").unwrap();
                Stall::Sqlite(c)
            }
        }
    }

    /// Whether a group's transaction is held at the stall.
    pub async fn holds_a_group(&mut self, app: &TestApp) -> bool {
        use diesel::connection::SimpleConnection;
        match self {
            // Asked on another connection: a transaction sees
            // pg_stat_activity as it was at its start.
            Stall::Postgres(_) => app.count_sql(WAITING_INSERT).await > 0,
            // Only the committer writes: the write lock held is its group.
            Stall::Sqlite(c) => match c.batch_execute("BEGIN IMMEDIATE") {
                Ok(()) => {
                    c.batch_execute("ROLLBACK").unwrap();
                    false
                }
                Err(_) => true,
            },
        }
    }

    /// Let the database go on (the process holding the group is dead).
    pub async fn release(self, app: &TestApp) {
        use diesel::connection::SimpleConnection;
        match self {
            Stall::Postgres(mut c) => {
                c.batch_execute("ROLLBACK").unwrap();
                // The dead client's backend finds its socket closed and
                // rolls back; wait until it is gone.
                for _ in 0..500 {
                    if app.count_sql(OPEN_INSERT).await == 0 {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                panic!("the killed server's transaction is still open");
            }
            Stall::Sqlite(c) => {
                drop(c);
                app.exec("DROP TRIGGER crash_stall; DROP TABLE crash_spin;")
                    .await;
            }
        }
    }
}
