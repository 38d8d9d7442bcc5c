//! The aggregate tables the analytics endpoints read, and the queries the
//! aggregator uses to keep them (README "Analytics at scale").

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::analytics::EventRow;
use super::schema::{events, runs};
use super::{AnyConnection, StoreError};
use crate::insert_chunks;

diesel::table! {
    analytics_cursors (name) {
        name -> Text,
        last_id -> BigInt,
        until_id -> Nullable<BigInt>,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    analytics_members (version_id, channel, kind, step_key, variant, user_id) {
        version_id -> Text,
        channel -> Text,
        kind -> Text,
        step_key -> Text,
        variant -> Text,
        user_id -> Text,
        first_at -> Timestamp,
    }
}

diesel::table! {
    analytics_counts (version_id, channel, kind, step_key, variant) {
        version_id -> Text,
        channel -> Text,
        kind -> Text,
        step_key -> Text,
        variant -> Text,
        users -> BigInt,
        first_at -> Timestamp,
        last_at -> Timestamp,
    }
}

diesel::table! {
    analytics_runs (run_id, experiment_id, variation_id) {
        run_id -> Text,
        experiment_id -> Text,
        variation_id -> Text,
        version_id -> Text,
        user_id -> Text,
    }
}

diesel::table! {
    analytics_durations (version_id, channel, step_key, bucket) {
        version_id -> Text,
        channel -> Text,
        step_key -> Text,
        bucket -> Integer,
        users -> BigInt,
    }
}

diesel::table! {
    analytics_run_steps (run_id) {
        run_id -> Text,
        version_id -> Text,
        channel -> Text,
        step_key -> Nullable<Text>,
        last_id -> BigInt,
    }
}

diesel::table! {
    analytics_left (version_id, channel, step_key) {
        version_id -> Text,
        channel -> Text,
        step_key -> Text,
        runs -> BigInt,
    }
}

diesel::allow_tables_to_appear_in_same_query!(analytics_run_steps, runs);

/// The aggregator's cursor.
pub const AGGREGATES: &str = "aggregates";

/// What a counter or a member counts: `(version, channel, kind, step, variant)`.
pub type CountKey = (String, String, String, String, String);

#[derive(Debug, Clone, PartialEq, Queryable, Insertable)]
#[diesel(table_name = analytics_members)]
pub struct MemberRow {
    pub version_id: String,
    pub channel: String,
    pub kind: String,
    pub step_key: String,
    pub variant: String,
    pub user_id: String,
    pub first_at: NaiveDateTime,
}

#[derive(Debug, Clone, PartialEq, Queryable, Insertable)]
#[diesel(table_name = analytics_counts)]
pub struct CountRow {
    pub version_id: String,
    pub channel: String,
    pub kind: String,
    pub step_key: String,
    pub variant: String,
    pub users: i64,
    pub first_at: NaiveDateTime,
    pub last_at: NaiveDateTime,
}

#[derive(Debug, Clone, PartialEq, Queryable, Insertable)]
#[diesel(table_name = analytics_runs)]
pub struct RunLinkRow {
    pub run_id: String,
    /// '' marks the run completed.
    pub experiment_id: String,
    pub variation_id: String,
    pub version_id: String,
    pub user_id: String,
}

#[derive(Debug, Clone, PartialEq, Queryable, Insertable)]
#[diesel(table_name = analytics_durations)]
pub struct DurationRow {
    pub version_id: String,
    pub channel: String,
    pub step_key: String,
    pub bucket: i32,
    pub users: i64,
}

/// A run's current step as folded from the log (`None` once ended), and
/// the id of the event that put it there.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Queryable, Insertable)]
#[diesel(table_name = analytics_run_steps)]
pub struct RunStepRow {
    pub run_id: String,
    pub version_id: String,
    pub channel: String,
    pub step_key: Option<String>,
    pub last_id: i64,
}

impl RunStepRow {
    /// Where "left" counts this run, if it is in progress.
    pub fn left_key(&self) -> Option<LeftKey> {
        let step = self.step_key.clone()?;
        Some((self.version_id.clone(), self.channel.clone(), step))
    }
}

/// Where "left" counts a run: `(version, channel, step)`.
pub type LeftKey = (String, String, String);

/// A cursor: last id read, the bound of a rebuild, when it last moved or checked.
pub type Cursor = (i64, Option<i64>, NaiveDateTime);

pub fn cursor(conn: &mut AnyConnection, name: &str) -> Result<Option<Cursor>, StoreError> {
    Ok(analytics_cursors::table
        .find(name)
        .select((
            analytics_cursors::last_id,
            analytics_cursors::until_id,
            analytics_cursors::updated_at,
        ))
        .first(conn)
        .optional()?)
}

/// Move (or create) a cursor. Run first in a transaction on SQLite, it takes
/// the write lock before anything is read, so two writers queue instead of
/// one failing on a stale snapshot.
pub fn set_cursor(
    conn: &mut AnyConnection,
    name: &str,
    last_id: i64,
    until_id: Option<i64>,
) -> Result<(), StoreError> {
    let now = super::now();
    let n = diesel::update(analytics_cursors::table.find(name))
        .set((
            analytics_cursors::last_id.eq(last_id),
            analytics_cursors::until_id.eq(until_id),
            analytics_cursors::updated_at.eq(now),
        ))
        .execute(conn)?;
    if n == 0 {
        diesel::insert_into(analytics_cursors::table)
            .values((
                analytics_cursors::name.eq(name),
                analytics_cursors::last_id.eq(last_id),
                analytics_cursors::until_id.eq(until_id),
                analytics_cursors::updated_at.eq(now),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Take the write lock for this transaction without changing anything.
pub fn touch_cursor(conn: &mut AnyConnection, name: &str) -> Result<(), StoreError> {
    diesel::update(analytics_cursors::table.find(name))
        .set(analytics_cursors::last_id.eq(analytics_cursors::last_id))
        .execute(conn)?;
    Ok(())
}

pub fn delete_cursor(conn: &mut AnyConnection, name: &str) -> Result<(), StoreError> {
    diesel::delete(analytics_cursors::table.find(name)).execute(conn)?;
    Ok(())
}

/// The highest event id, 0 for an empty log.
pub fn last_event_id(conn: &mut AnyConnection) -> Result<i64, StoreError> {
    Ok(events::table
        .select(diesel::dsl::max(events::id))
        .first::<Option<i64>>(conn)?
        .unwrap_or(0))
}

/// Events after `after_id` (up to `until_id`), of one version or all, in id order.
pub fn events_after(
    conn: &mut AnyConnection,
    after_id: i64,
    until_id: Option<i64>,
    version: Option<&str>,
    limit: i64,
) -> Result<Vec<EventRow>, StoreError> {
    let filter = super::analytics::EventFilter {
        until_id,
        version,
        ..Default::default()
    };
    super::analytics::events_matching(conn, after_id, &filter, limit)
}

/// Members of these users in these versions.
pub fn members_of(
    conn: &mut AnyConnection,
    users: &[&str],
    versions: &[&str],
) -> Result<Vec<MemberRow>, StoreError> {
    let mut rows = Vec::new();
    for chunk in users.chunks(super::CHUNK) {
        rows.extend(
            analytics_members::table
                .filter(analytics_members::user_id.eq_any(chunk))
                .filter(analytics_members::version_id.eq_any(versions))
                .load::<MemberRow>(conn)?,
        );
    }
    Ok(rows)
}

pub fn links_of(conn: &mut AnyConnection, runs: &[&str]) -> Result<Vec<RunLinkRow>, StoreError> {
    let mut rows = Vec::new();
    for chunk in runs.chunks(super::CHUNK) {
        rows.extend(
            analytics_runs::table
                .filter(analytics_runs::run_id.eq_any(chunk))
                .load::<RunLinkRow>(conn)?,
        );
    }
    Ok(rows)
}

/// The folded current step of these runs.
pub fn run_steps_of(
    conn: &mut AnyConnection,
    runs: &[&str],
) -> Result<Vec<RunStepRow>, StoreError> {
    let mut rows = Vec::new();
    for chunk in runs.chunks(super::CHUNK) {
        rows.extend(
            analytics_run_steps::table
                .filter(analytics_run_steps::run_id.eq_any(chunk))
                .load::<RunStepRow>(conn)?,
        );
    }
    Ok(rows)
}

pub fn counts_of(
    conn: &mut AnyConnection,
    versions: &[&str],
) -> Result<HashMap<CountKey, CountRow>, StoreError> {
    Ok(analytics_counts::table
        .filter(analytics_counts::version_id.eq_any(versions))
        .load::<CountRow>(conn)?
        .into_iter()
        .map(|r| (count_key(&r), r))
        .collect())
}

pub fn count_key(r: &CountRow) -> CountKey {
    (
        r.version_id.clone(),
        r.channel.clone(),
        r.kind.clone(),
        r.step_key.clone(),
        r.variant.clone(),
    )
}

/// Write the changes of one batch: new and earlier members, new run links,
/// counters and histogram buckets (inserted, updated, or deleted at zero).
pub struct Changes {
    pub new_members: Vec<MemberRow>,
    pub earlier_members: Vec<MemberRow>,
    pub new_links: Vec<RunLinkRow>,
    /// `(row, existed)`.
    pub counts: Vec<(CountRow, bool)>,
    /// `(version, channel, step, bucket)` and the change of its count.
    pub durations: HashMap<(String, String, String, i32), i64>,
    /// Runs whose folded step changed: their old rows go, the new ones come.
    pub gone_run_steps: Vec<String>,
    pub new_run_steps: Vec<RunStepRow>,
    /// The change of each "left" counter.
    pub left: HashMap<LeftKey, i64>,
}

pub fn write(conn: &mut AnyConnection, changes: &Changes) -> Result<(), StoreError> {
    insert_chunks!(conn, analytics_members::table, changes.new_members);
    for m in &changes.earlier_members {
        diesel::update(analytics_members::table.find((
            &m.version_id,
            &m.channel,
            &m.kind,
            &m.step_key,
            &m.variant,
            &m.user_id,
        )))
        .set(analytics_members::first_at.eq(m.first_at))
        .execute(conn)?;
    }
    insert_chunks!(conn, analytics_runs::table, changes.new_links);
    let mut new_counts = Vec::new();
    for (row, existed) in &changes.counts {
        if *existed {
            diesel::update(analytics_counts::table.find((
                &row.version_id,
                &row.channel,
                &row.kind,
                &row.step_key,
                &row.variant,
            )))
            .set((
                analytics_counts::users.eq(row.users),
                analytics_counts::first_at.eq(row.first_at),
                analytics_counts::last_at.eq(row.last_at),
            ))
            .execute(conn)?;
        } else {
            new_counts.push(row.clone());
        }
    }
    insert_chunks!(conn, analytics_counts::table, new_counts);
    for chunk in changes.gone_run_steps.chunks(super::CHUNK) {
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

/// Run an upsert of `$rows` on whichever backend `$conn` is: PostgreSQL
/// takes 500 rows a statement; diesel upserts one row at a time on SQLite
/// (which has one process and smaller logs).
macro_rules! upsert {
    ($conn:expr, $rows:expr, |$c:ident, $values:ident| $body:expr) => {
        match &mut *$conn {
            AnyConnection::Postgresql($c) => {
                for $values in $rows.chunks(super::CHUNK) {
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
    for chunk in ids.chunks(super::CHUNK) {
        diesel::delete(
            analytics_run_steps::table.filter(analytics_run_steps::run_id.eq_any(chunk)),
        )
        .execute(conn)?;
    }
    add_left(conn, &left)?;
    Ok(gone.len())
}

/// In-progress runs per current step of one version and channel: `(step, runs)`.
pub fn left(
    conn: &mut AnyConnection,
    version: &str,
    channel: &str,
) -> Result<Vec<(Option<String>, i64)>, StoreError> {
    Ok(analytics_left::table
        .filter(analytics_left::version_id.eq(version))
        .filter(analytics_left::channel.eq(channel))
        .select((analytics_left::step_key.nullable(), analytics_left::runs))
        .load(conn)?)
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

/// Counters of one version (all channels, experiments included).
pub fn counts(
    conn: &mut AnyConnection,
    version: Option<&str>,
) -> Result<Vec<CountRow>, StoreError> {
    let mut query = analytics_counts::table.into_boxed();
    if let Some(v) = version {
        query = query.filter(analytics_counts::version_id.eq(v));
    }
    Ok(query.load(conn)?)
}

/// Counters of experiments (channel ''), of one version or all.
pub fn experiment_counts(
    conn: &mut AnyConnection,
    version: Option<&str>,
) -> Result<Vec<CountRow>, StoreError> {
    let mut query = analytics_counts::table
        .filter(analytics_counts::kind.eq_any(["exposure", "conversion"]))
        .into_boxed();
    if let Some(v) = version {
        query = query.filter(analytics_counts::version_id.eq(v));
    }
    Ok(query.load(conn)?)
}

/// The time-to-answer histogram of one version and channel: `(step, bucket, users)`.
pub fn durations(
    conn: &mut AnyConnection,
    version: &str,
    channel: &str,
) -> Result<Vec<(String, i32, i64)>, StoreError> {
    Ok(analytics_durations::table
        .filter(analytics_durations::version_id.eq(version))
        .filter(analytics_durations::channel.eq(channel))
        .select((
            analytics_durations::step_key,
            analytics_durations::bucket,
            analytics_durations::users,
        ))
        .load(conn)?)
}

/// Take PostgreSQL's advisory lock for this transaction, if free: the one
/// instance that gets it aggregates; the others skip (README "Analytics at
/// scale"). SQLite has one writer at a time anyway.
pub fn try_lock(conn: &mut AnyConnection, key: i64) -> Result<bool, StoreError> {
    match conn {
        AnyConnection::Postgresql(c) => {
            #[derive(QueryableByName)]
            struct Locked {
                #[diesel(sql_type = diesel::sql_types::Bool)]
                locked: bool,
            }
            let row: Locked = diesel::sql_query("SELECT pg_try_advisory_xact_lock($1) AS locked")
                .bind::<diesel::sql_types::BigInt, _>(key)
                .get_result(c)?;
            Ok(row.locked)
        }
        AnyConnection::Sqlite(_) => Ok(true),
    }
}
