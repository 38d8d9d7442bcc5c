//! Planner statistics kept current while tables grow fast
//! (docs/src/operations.md): on a new deployment the tables of runs are empty,
//! and
//! PostgreSQL plans (and keeps, for prepared statements) sequential scans
//! until autovacuum next analyses them, a minute or more into the launch
//! burst. An instance looks every few seconds for the tables of the
//! answer path that changed by more than a fifth since their last
//! analysis (or were never analysed) and analyses them; an analysis
//! invalidates the plans built on the old figures. PostgreSQL only (SQLite
//! plans without table statistics unless asked).

use diesel::prelude::*;
use diesel::sql_types::Text;

use super::{AnyConnection, StoreError};

/// The tables the answer path reads by key, growing with every user.
pub const TABLES: [&str; 6] = [
    "runs",
    "run_answers",
    "assignments",
    "run_backs",
    "offline_syncs",
    "analytics_members",
];

/// Rows changed since the last analysis below which nothing is done.
const MIN_CHANGES: i64 = 500;

#[derive(QueryableByName)]
struct Grown {
    #[diesel(sql_type = Text)]
    relname: String,
}

/// Analyse the [`TABLES`] that grew past their statistics; their names.
pub fn analyse_grown(conn: &mut AnyConnection) -> Result<Vec<String>, StoreError> {
    let AnyConnection::Postgresql(pg) = conn else {
        return Ok(Vec::new());
    };
    let grown: Vec<Grown> = diesel::sql_query(
        "SELECT relname::text AS relname FROM pg_stat_user_tables \
         WHERE relname = ANY($1) AND n_mod_since_analyze > $2 \
         AND ((last_analyze IS NULL AND last_autoanalyze IS NULL) \
              OR n_mod_since_analyze > n_live_tup / 5)",
    )
    .bind::<diesel::sql_types::Array<Text>, _>(TABLES.to_vec())
    .bind::<diesel::sql_types::BigInt, _>(MIN_CHANGES)
    .load(pg)?;
    for table in &grown {
        // A name from the fixed list above, never from input.
        if TABLES.contains(&table.relname.as_str()) {
            diesel::sql_query(format!("ANALYZE {}", table.relname)).execute(pg)?;
        }
    }
    Ok(grown.into_iter().map(|g| g.relname).collect())
}
