//! Writing the aggregates: one batch of the aggregator's changes, the
//! runs gone since, and clearing for a rebuild (docs/src/analytics.md "Analytics at scale").

use std::collections::HashMap;

use diesel::prelude::*;

use super::{
    CountRow, DurationRow, LeftKey, MemberRow, RunLinkRow, RunStepRow, analytics_counts,
    analytics_durations, analytics_left, analytics_members, analytics_run_steps, analytics_runs,
};
use crate::insert_chunks;
use crate::store::schema::runs;
use crate::store::{AnyConnection, StoreError};

/// Write the changes of one batch: new and earlier members, new run links,
/// counters and histogram buckets (inserted, updated, or deleted at zero).
pub struct Changes {
    pub new_members: Vec<MemberRow>,
    pub earlier_members: Vec<MemberRow>,
    pub new_links: Vec<RunLinkRow>,
    pub counts: Vec<CountRow>,
    /// `(version, channel, step, bucket)` and the change of its count.
    pub durations: HashMap<(String, String, String, i32), i64>,
    /// Runs whose folded step changed: their old rows go, the new ones come.
    pub gone_run_steps: Vec<String>,
    pub new_run_steps: Vec<RunStepRow>,
    /// The change of each "left" counter.
    pub left: HashMap<LeftKey, i64>,
}

pub fn write(conn: &mut AnyConnection, changes: &Changes) -> Result<(), StoreError> {
    insert_members(conn, &changes.new_members)?;
    for m in &changes.earlier_members {
        diesel::update(analytics_members::table.find((
            &m.user_id,
            &m.version_id,
            &m.channel,
            &m.kind,
            &m.step_key,
            &m.variant,
        )))
        .set(analytics_members::first_at.eq(m.first_at))
        .execute(conn)?;
    }
    insert_chunks!(conn, analytics_runs::table, changes.new_links);
    store_counts(conn, &changes.counts)?;
    for chunk in changes.gone_run_steps.chunks(crate::store::CHUNK) {
        diesel::delete(
            analytics_run_steps::table.filter(analytics_run_steps::run_id.eq_any(chunk)),
        )
        .execute(conn)?;
    }
    insert_chunks!(conn, analytics_run_steps::table, changes.new_run_steps);
    add_left(conn, &changes.left)?;
    let durations: Vec<DurationRow> = changes
        .durations
        .iter()
        .filter(|(_, delta)| **delta != 0)
        .map(|((version, channel, step, bucket), delta)| DurationRow {
            version_id: version.clone(),
            channel: channel.clone(),
            step_key: step.clone(),
            bucket: *bucket,
            users: *delta,
        })
        .collect();
    add_durations(conn, &durations)?;
    Ok(())
}

/// Insert new members. On PostgreSQL each column is one array parameter and
/// `unnest` turns them back into rows (PostgreSQL manual, "Array Functions
/// and Operators"): one short statement of seven parameters for any number
/// of rows, where a multi-row `VALUES` binds seven parameters a row (3,500
/// for a chunk of 500) that PostgreSQL parses and plans. (diesel does not
/// keep a `sql_query` prepared, so this one is parsed every batch too; it
/// is short.) Members are about one row per event, the aggregator's largest
/// write.
fn insert_members(conn: &mut AnyConnection, rows: &[MemberRow]) -> Result<(), StoreError> {
    use diesel::sql_types::{Array, Text, Timestamp};
    if rows.is_empty() {
        return Ok(());
    }
    if let AnyConnection::Postgresql(c) = conn {
        let text = |field: fn(&MemberRow) -> &String| rows.iter().map(field).collect::<Vec<_>>();
        diesel::sql_query(
            "INSERT INTO analytics_members \
             (user_id, version_id, channel, kind, step_key, variant, first_at) \
             SELECT * FROM unnest($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind::<Array<Text>, _>(text(|m| &m.user_id))
        .bind::<Array<Text>, _>(text(|m| &m.version_id))
        .bind::<Array<Text>, _>(text(|m| &m.channel))
        .bind::<Array<Text>, _>(text(|m| &m.kind))
        .bind::<Array<Text>, _>(text(|m| &m.step_key))
        .bind::<Array<Text>, _>(text(|m| &m.variant))
        .bind::<Array<Timestamp>, _>(rows.iter().map(|m| m.first_at).collect::<Vec<_>>())
        .execute(c)?;
        return Ok(());
    }
    insert_chunks!(conn, analytics_members::table, rows);
    Ok(())
}

/// Run an upsert of `$rows` on whichever backend `$conn` is: PostgreSQL
/// takes 500 rows a statement; diesel upserts one row at a time on SQLite
/// (which has one process and smaller logs).
macro_rules! upsert {
    ($conn:expr, $rows:expr, |$c:ident, $values:ident| $body:expr) => {
        match &mut *$conn {
            AnyConnection::Postgresql($c) => {
                for $values in $rows.chunks(crate::store::CHUNK) {
                    $body;
                }
            }
            AnyConnection::Sqlite($c) => {
                for $values in $rows {
                    $body;
                }
            }
        }
    };
}

/// Store a batch's counters, new or not, in multi-row upserts (on
/// PostgreSQL one statement per 500 counters; a batch touches a few dozen).
fn store_counts(conn: &mut AnyConnection, rows: &[CountRow]) -> Result<(), StoreError> {
    use analytics_counts::dsl as n;
    use diesel::upsert::excluded;
    upsert!(conn, rows, |c, values| diesel::insert_into(
        n::analytics_counts
    )
    .values(values)
    .on_conflict((n::version_id, n::channel, n::kind, n::step_key, n::variant))
    .do_update()
    .set((
        n::users.eq(excluded(n::users)),
        n::first_at.eq(excluded(n::first_at)),
        n::last_at.eq(excluded(n::last_at)),
    ))
    .execute(c)?);
    Ok(())
}

/// Add each row's `users` to its histogram bucket in multi-row upserts (on
/// PostgreSQL one statement per 500 buckets, not a read and a write each); buckets down to
/// zero are deleted.
fn add_durations(conn: &mut AnyConnection, rows: &[DurationRow]) -> Result<(), StoreError> {
    use analytics_durations::dsl as d;
    use diesel::upsert::excluded;
    upsert!(conn, rows, |c, values| diesel::insert_into(
        d::analytics_durations
    )
    .values(values)
    .on_conflict((d::version_id, d::channel, d::step_key, d::bucket))
    .do_update()
    .set(d::users.eq(d::users + excluded(d::users)))
    .execute(c)?);
    let versions: Vec<&str> = distinct(rows.iter().map(|r| r.version_id.as_str()));
    if !versions.is_empty() {
        diesel::delete(
            d::analytics_durations
                .filter(d::version_id.eq_any(versions))
                .filter(d::users.eq(0)),
        )
        .execute(conn)?;
    }
    Ok(())
}

fn distinct<'a>(values: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut seen = std::collections::HashSet::new();
    values.filter(|v| seen.insert(*v)).collect()
}

/// Add to the "left" counters; a counter at zero is deleted.
fn add_left(conn: &mut AnyConnection, deltas: &HashMap<LeftKey, i64>) -> Result<(), StoreError> {
    use analytics_left::dsl as l;
    use diesel::upsert::excluded;
    let rows: Vec<_> = deltas
        .iter()
        .filter(|(_, delta)| **delta != 0)
        .map(|((version, channel, step), delta)| {
            (
                l::version_id.eq(version),
                l::channel.eq(channel),
                l::step_key.eq(step),
                l::runs.eq(*delta),
            )
        })
        .collect();
    upsert!(conn, rows, |c, values| diesel::insert_into(
        l::analytics_left
    )
    .values(values)
    .on_conflict((l::version_id, l::channel, l::step_key))
    .do_update()
    .set(l::runs.eq(l::runs + excluded(l::runs)))
    .execute(c)?);
    let versions: Vec<&str> = distinct(deltas.keys().map(|k| k.0.as_str()));
    if !versions.is_empty() {
        diesel::delete(
            l::analytics_left
                .filter(l::version_id.eq_any(versions))
                .filter(l::runs.eq(0)),
        )
        .execute(conn)?;
    }
    Ok(())
}

/// Forget the folded steps of runs that no longer exist (of one version,
/// or of all): runs reset before resets were recorded as events left
/// nothing in the log to say so. Returns how many were forgotten.
pub fn forget_gone_runs(
    conn: &mut AnyConnection,
    version: Option<&str>,
) -> Result<usize, StoreError> {
    let mut query = analytics_run_steps::table
        .filter(diesel::dsl::not(diesel::dsl::exists(
            runs::table.filter(runs::id.eq(analytics_run_steps::run_id)),
        )))
        .into_boxed();
    if let Some(v) = version {
        query = query.filter(analytics_run_steps::version_id.eq(v.to_owned()));
    }
    let gone: Vec<RunStepRow> = query.load(conn)?;
    let mut left: HashMap<LeftKey, i64> = HashMap::new();
    for key in gone.iter().filter_map(RunStepRow::left_key) {
        *left.entry(key).or_default() -= 1;
    }
    let ids: Vec<&str> = gone.iter().map(|r| r.run_id.as_str()).collect();
    for chunk in ids.chunks(crate::store::CHUNK) {
        diesel::delete(
            analytics_run_steps::table.filter(analytics_run_steps::run_id.eq_any(chunk)),
        )
        .execute(conn)?;
    }
    add_left(conn, &left)?;
    Ok(gone.len())
}

/// Forget the aggregates of one version, or of all.
pub fn clear(conn: &mut AnyConnection, version: Option<&str>) -> Result<(), StoreError> {
    match version {
        Some(v) => {
            diesel::delete(analytics_members::table.filter(analytics_members::version_id.eq(v)))
                .execute(conn)?;
            diesel::delete(analytics_counts::table.filter(analytics_counts::version_id.eq(v)))
                .execute(conn)?;
            diesel::delete(analytics_runs::table.filter(analytics_runs::version_id.eq(v)))
                .execute(conn)?;
            diesel::delete(
                analytics_durations::table.filter(analytics_durations::version_id.eq(v)),
            )
            .execute(conn)?;
            diesel::delete(
                analytics_run_steps::table.filter(analytics_run_steps::version_id.eq(v)),
            )
            .execute(conn)?;
            diesel::delete(analytics_left::table.filter(analytics_left::version_id.eq(v)))
                .execute(conn)?;
        }
        None => {
            diesel::delete(analytics_members::table).execute(conn)?;
            diesel::delete(analytics_counts::table).execute(conn)?;
            diesel::delete(analytics_runs::table).execute(conn)?;
            diesel::delete(analytics_durations::table).execute(conn)?;
            diesel::delete(analytics_run_steps::table).execute(conn)?;
            diesel::delete(analytics_left::table).execute(conn)?;
        }
    }
    Ok(())
}
