//! A group commit held in the middle of its transaction, so a test can
//! kill the server there (docs/src/mobile-api.md "Nothing acknowledged is
//! lost"): a trigger on `events` that
//! does not end in time (an hour's sleep on PostgreSQL, a long join on
//! SQLite). On PostgreSQL the group is one statement, held inside it.

use std::time::Duration;

use super::{Backend, TestApp};

/// Holds the group commit's transaction at the events' insert: on SQLite
/// after the runs' guarded update and the answers' insert, on PostgreSQL
/// inside the group's one statement.
pub enum Stall {
    /// A trigger on `events` that sleeps for an hour.
    Postgres,
    /// A trigger on `events` that does not end in time.
    Sqlite(diesel::SqliteConnection),
}

/// Backends of the test database asleep in the trigger.
const HELD: &str = "SELECT COUNT(*) AS n FROM pg_stat_activity \
     WHERE datname = current_database() AND wait_event = 'PgSleep'";
/// End them (their client is dead): the statement rolls back.
const END_HELD: &str = "SELECT COUNT(*) AS n FROM (SELECT pg_terminate_backend(pid) \
     FROM pg_stat_activity WHERE datname = current_database() AND wait_event = 'PgSleep') t";

impl Stall {
    pub async fn install(app: &TestApp) -> Stall {
        use diesel::Connection;
        use diesel::connection::SimpleConnection;
        let url = app.settings.database_url.clone();
        match app.backend {
            Backend::Postgres(_) => {
                app.exec(
                    "CREATE FUNCTION crash_stall() RETURNS trigger LANGUAGE plpgsql AS $$
                     BEGIN PERFORM pg_sleep(3600); RETURN NEW; END $$;
                     CREATE TRIGGER crash_stall BEFORE INSERT ON events
                     FOR EACH ROW EXECUTE FUNCTION crash_stall();",
                )
                .await;
                Stall::Postgres
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
            Stall::Postgres => app.count_sql(HELD).await > 0,
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
        match self {
            Stall::Postgres => {
                app.count_sql(END_HELD).await;
                for _ in 0..500 {
                    if app.count_sql(HELD).await == 0 {
                        app.exec(
                            "DROP TRIGGER crash_stall ON events; DROP FUNCTION crash_stall();",
                        )
                        .await;
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
