//! The aggregate tables the analytics endpoints read, and the queries the
//! aggregator uses to keep them (docs/src/analytics.md "Analytics at scale").

use crate::words::AggregateKind;
use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::analytics::EventRow;
use super::schema::{events, runs};
use super::{AnyConnection, StoreError};

diesel::table! {
    analytics_cursors (name) {
        name -> Text,
        last_id -> BigInt,
        until_id -> Nullable<BigInt>,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    analytics_members (user_id, version_id, channel, kind, step_key, variant) {
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

mod write;
pub use write::{Changes, clear, forget_gone_runs, write};

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

/// The members of these users of one kind (every version).
pub fn members_by_kind(
    conn: &mut AnyConnection,
    users: &[&str],
    kind: &str,
) -> Result<Vec<MemberRow>, StoreError> {
    let mut rows = Vec::new();
    for chunk in users.chunks(super::CHUNK) {
        rows.extend(
            analytics_members::table
                .filter(analytics_members::user_id.eq_any(chunk))
                .filter(analytics_members::kind.eq(kind))
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
        .filter(analytics_counts::kind.eq_any([
            AggregateKind::Exposure.as_str(),
            AggregateKind::Conversion.as_str(),
        ]))
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
/// instance that gets it aggregates; the others skip (docs/src/analytics.md "Analytics at
/// scale"). SQLite has one writer at a time anyway.
/// Wait for the transaction-scoped lock `key` (PostgreSQL; SQLite's one
/// writer is lock enough).
pub fn lock(conn: &mut AnyConnection, key: i64) -> Result<(), StoreError> {
    if let AnyConnection::Postgresql(c) = conn {
        diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
            .bind::<diesel::sql_types::BigInt, _>(key)
            .execute(c)?;
    }
    Ok(())
}

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
