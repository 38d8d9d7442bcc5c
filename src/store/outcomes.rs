//! Outcome events, metric definitions, and the metric aggregates the
//! experiment results read (docs/src/analytics.md "Outcomes and experiment results").

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::{AnyConnection, StoreError};

diesel::table! {
    outcomes (id) {
        id -> BigInt,
        user_id -> Text,
        event_id -> Text,
        name -> Text,
        value -> Double,
        occurred_at -> Timestamp,
        received_at -> Timestamp,
        source -> Text,
    }
}

diesel::table! {
    metrics (name) {
        name -> Text,
        event -> Text,
        kind -> Text,
        window_hours -> Integer,
        direction -> Text,
        guardrail -> Bool,
        description -> Text,
        updated_at -> Timestamp,
        updated_by -> Text,
    }
}

diesel::table! {
    analytics_metric_values (user_id, metric, version_id, experiment_id, variant) {
        user_id -> Text,
        metric -> Text,
        version_id -> Text,
        experiment_id -> Text,
        variant -> Text,
        value -> Double,
    }
}

diesel::table! {
    analytics_metric_stats (metric, version_id, experiment_id, variant) {
        metric -> Text,
        version_id -> Text,
        experiment_id -> Text,
        variant -> Text,
        sum -> Double,
        sum_squares -> Double,
    }
}

/// An outcome event to store.
#[derive(Debug, Clone, PartialEq, Insertable)]
#[diesel(table_name = outcomes)]
pub struct NewOutcome {
    pub user_id: String,
    pub event_id: String,
    pub name: String,
    pub value: f64,
    pub occurred_at: NaiveDateTime,
    pub received_at: NaiveDateTime,
    pub source: String,
}

/// A stored outcome event.
#[derive(Debug, Clone, PartialEq, Queryable)]
pub struct OutcomeRow {
    pub id: i64,
    pub user_id: String,
    pub event_id: String,
    pub name: String,
    pub value: f64,
    pub occurred_at: NaiveDateTime,
    pub received_at: NaiveDateTime,
    pub source: String,
}

/// Store a batch in one statement per 500 (on SQLite one per event), all or
/// nothing in the caller's transaction; an event whose user and id are
/// stored already is skipped. How many were stored.
pub fn insert(conn: &mut AnyConnection, rows: &[NewOutcome]) -> Result<usize, StoreError> {
    let mut stored = 0;
    match conn {
        AnyConnection::Postgresql(c) => {
            for chunk in rows.chunks(super::CHUNK) {
                stored += diesel::insert_into(outcomes::table)
                    .values(chunk)
                    .on_conflict((outcomes::user_id, outcomes::event_id))
                    .do_nothing()
                    .execute(c)?;
            }
        }
        AnyConnection::Sqlite(c) => {
            for row in rows {
                stored += diesel::insert_into(outcomes::table)
                    .values(row)
                    .on_conflict((outcomes::user_id, outcomes::event_id))
                    .do_nothing()
                    .execute(c)?;
            }
        }
    }
    Ok(stored)
}

/// The outcome events after `after`, up to `until`, in id order, at most `limit`.
pub fn after(
    conn: &mut AnyConnection,
    after: i64,
    until: i64,
    limit: i64,
) -> Result<Vec<OutcomeRow>, StoreError> {
    Ok(outcomes::table
        .filter(outcomes::id.gt(after))
        .filter(outcomes::id.le(until))
        .order(outcomes::id)
        .limit(limit)
        .load(conn)?)
}

/// A page of the outcome log for the export: after `after` in id order,
/// `occurred_at` in `[since, until)`.
pub fn page(
    conn: &mut AnyConnection,
    after: i64,
    since: Option<NaiveDateTime>,
    until: Option<NaiveDateTime>,
    limit: i64,
) -> Result<Vec<OutcomeRow>, StoreError> {
    let mut query = outcomes::table
        .filter(outcomes::id.gt(after))
        .order(outcomes::id)
        .limit(limit)
        .into_boxed();
    if let Some(t) = since {
        query = query.filter(outcomes::occurred_at.ge(t));
    }
    if let Some(t) = until {
        query = query.filter(outcomes::occurred_at.lt(t));
    }
    Ok(query.load(conn)?)
}

/// The highest outcome id below which every event is committed (as
/// [`crate::analytics::aggregator::horizon`] for the scene events).
pub fn horizon(conn: &mut AnyConnection) -> Result<i64, StoreError> {
    conn.transaction(|c| {
        if let AnyConnection::Postgresql(pg) = c {
            diesel::sql_query("LOCK TABLE outcomes IN SHARE MODE").execute(pg)?;
        }
        let last: Option<i64> = outcomes::table
            .select(diesel::dsl::max(outcomes::id))
            .first(c)?;
        Ok(last.unwrap_or(0))
    })
}

/// These users' events of the given names up to id `until`, in id order,
/// for the windows of their new exposures: one query per 500 users.
pub fn of_users(
    conn: &mut AnyConnection,
    users: &[&str],
    names: &[&str],
    until: i64,
) -> Result<Vec<OutcomeRow>, StoreError> {
    let mut rows = Vec::new();
    for chunk in users.chunks(super::CHUNK) {
        rows.extend(
            outcomes::table
                .filter(outcomes::user_id.eq_any(chunk))
                .filter(outcomes::name.eq_any(names))
                .filter(outcomes::id.le(until))
                .order(outcomes::id)
                .load::<OutcomeRow>(conn)?,
        );
    }
    Ok(rows)
}

/// A stored metric definition.
#[derive(Debug, Clone, PartialEq, Queryable, Insertable)]
#[diesel(table_name = metrics)]
pub struct MetricRow {
    pub name: String,
    pub event: String,
    pub kind: String,
    pub window_hours: i32,
    pub direction: String,
    pub guardrail: bool,
    pub description: String,
    pub updated_at: NaiveDateTime,
    pub updated_by: String,
}

pub fn metrics_list(conn: &mut AnyConnection) -> Result<Vec<MetricRow>, StoreError> {
    Ok(metrics::table.order(metrics::name).load(conn)?)
}

pub fn metric(conn: &mut AnyConnection, name: &str) -> Result<Option<MetricRow>, StoreError> {
    Ok(metrics::table.find(name).first(conn).optional()?)
}

/// Create or replace a metric; its aggregates are the caller's to rebuild.
pub fn put_metric(conn: &mut AnyConnection, row: &MetricRow) -> Result<(), StoreError> {
    diesel::delete(metrics::table.find(&row.name)).execute(conn)?;
    diesel::insert_into(metrics::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// Remove a metric and its aggregates; whether it existed.
pub fn delete_metric(conn: &mut AnyConnection, name: &str) -> Result<bool, StoreError> {
    forget_metric(conn, name)?;
    Ok(diesel::delete(metrics::table.find(name)).execute(conn)? > 0)
}

/// Delete a metric's aggregates (before a rebuild, or with it).
pub fn forget_metric(conn: &mut AnyConnection, name: &str) -> Result<(), StoreError> {
    diesel::delete(analytics_metric_values::table.filter(analytics_metric_values::metric.eq(name)))
        .execute(conn)?;
    diesel::delete(analytics_metric_stats::table.filter(analytics_metric_stats::metric.eq(name)))
        .execute(conn)?;
    Ok(())
}

/// Delete every metric aggregate (a full rebuild).
pub fn forget_all(conn: &mut AnyConnection) -> Result<(), StoreError> {
    diesel::delete(analytics_metric_values::table).execute(conn)?;
    diesel::delete(analytics_metric_stats::table).execute(conn)?;
    Ok(())
}

/// Where a user's value of a metric is kept: `(user, metric, version,
/// experiment, variant)`.
pub type ValueKey = (String, String, String, String, String);

/// The stored values of these users (every metric).
pub fn values_of(
    conn: &mut AnyConnection,
    users: &[&str],
) -> Result<Vec<(ValueKey, f64)>, StoreError> {
    use analytics_metric_values::dsl as v;
    let mut out = Vec::new();
    for chunk in users.chunks(super::CHUNK) {
        let rows: Vec<(String, String, String, String, String, f64)> = v::analytics_metric_values
            .filter(v::user_id.eq_any(chunk))
            .load(conn)?;
        out.extend(
            rows.into_iter()
                .map(|(u, m, ver, e, var, value)| ((u, m, ver, e, var), value)),
        );
    }
    Ok(out)
}

/// Per-variant sums: `(metric, version, experiment, variant)`.
pub type StatKey = (String, String, String, String);

/// Write values (a value of 0 is deleted) and add to the sums.
pub fn apply(
    conn: &mut AnyConnection,
    values: &[(ValueKey, f64)],
    sums: &[(StatKey, f64, f64)],
) -> Result<(), StoreError> {
    use analytics_metric_stats::dsl as s;
    use analytics_metric_values::dsl as v;
    use diesel::upsert::excluded;
    // One statement per 500 rows on PostgreSQL; one per row on SQLite,
    // whose diesel upserts a row at a time.
    macro_rules! upsert {
        ($rows:expr, |$c:ident, $chunk:ident| $body:expr) => {
            match &mut *conn {
                AnyConnection::Postgresql($c) => {
                    for $chunk in $rows.chunks(super::CHUNK) {
                        $body;
                    }
                }
                AnyConnection::Sqlite($c) => {
                    for $chunk in &$rows {
                        $body;
                    }
                }
            }
        };
    }
    let mut kept = Vec::new();
    for ((user, metric, version, experiment, variant), value) in values {
        if *value == 0.0 {
            diesel::delete(
                v::analytics_metric_values.find((user, metric, version, experiment, variant)),
            )
            .execute(conn)?;
        } else {
            kept.push((
                v::user_id.eq(user),
                v::metric.eq(metric),
                v::version_id.eq(version),
                v::experiment_id.eq(experiment),
                v::variant.eq(variant),
                v::value.eq(value),
            ));
        }
    }
    upsert!(kept, |c, chunk| diesel::insert_into(
        v::analytics_metric_values
    )
    .values(chunk)
    .on_conflict((
        v::user_id,
        v::metric,
        v::version_id,
        v::experiment_id,
        v::variant
    ))
    .do_update()
    .set(v::value.eq(excluded(v::value)))
    .execute(c)?);
    let sums: Vec<_> = sums
        .iter()
        .map(|((metric, version, experiment, variant), sum, squares)| {
            (
                s::metric.eq(metric),
                s::version_id.eq(version),
                s::experiment_id.eq(experiment),
                s::variant.eq(variant),
                s::sum.eq(sum),
                s::sum_squares.eq(squares),
            )
        })
        .collect();
    upsert!(sums, |c, chunk| diesel::insert_into(
        s::analytics_metric_stats
    )
    .values(chunk)
    .on_conflict((s::metric, s::version_id, s::experiment_id, s::variant))
    .do_update()
    .set((
        s::sum.eq(s::sum + excluded(s::sum)),
        s::sum_squares.eq(s::sum_squares + excluded(s::sum_squares)),
    ))
    .execute(c)?);
    Ok(())
}

/// The sums of one metric in one experiment: `(variant, sum, sum_squares)`.
pub fn stats(
    conn: &mut AnyConnection,
    metric: &str,
    version: &str,
    experiment: &str,
) -> Result<Vec<(String, f64, f64)>, StoreError> {
    use analytics_metric_stats::dsl as s;
    Ok(s::analytics_metric_stats
        .filter(s::metric.eq(metric))
        .filter(s::version_id.eq(version))
        .filter(s::experiment_id.eq(experiment))
        .select((s::variant, s::sum, s::sum_squares))
        .load(conn)?)
}

diesel::table! {
    analytics_metric_daily (metric, version_id, experiment_id, day, variant) {
        day -> Text,
        metric -> Text,
        version_id -> Text,
        experiment_id -> Text,
        variant -> Text,
        users -> BigInt,
        sum -> Double,
        sum_squares -> Double,
    }
}

/// One day's figures of one variant: `(day, variant, users, sum, sum_squares)`.
pub type DailyRow = (String, String, i64, f64, f64);

/// Whether the figures of `day` (`YYYY-MM-DD`) are kept already.
pub fn has_day(conn: &mut AnyConnection, day: &str) -> Result<bool, StoreError> {
    use analytics_metric_daily::dsl as d;
    Ok(d::analytics_metric_daily
        .filter(d::day.eq(day))
        .select(d::day)
        .first::<String>(conn)
        .optional()?
        .is_some())
}

/// Keep the figures of `day`: rows `(metric, version, experiment, variant,
/// users, sum, sum_squares)`.
pub fn keep_day(
    conn: &mut AnyConnection,
    day: &str,
    rows: &[(String, String, String, String, i64, f64, f64)],
) -> Result<(), StoreError> {
    use analytics_metric_daily::dsl as d;
    let values: Vec<_> = rows
        .iter()
        .map(
            |(metric, version, experiment, variant, users, sum, squares)| {
                (
                    d::day.eq(day),
                    d::metric.eq(metric),
                    d::version_id.eq(version),
                    d::experiment_id.eq(experiment),
                    d::variant.eq(variant),
                    d::users.eq(users),
                    d::sum.eq(sum),
                    d::sum_squares.eq(squares),
                )
            },
        )
        .collect();
    crate::insert_chunks!(conn, d::analytics_metric_daily, values);
    Ok(())
}

/// Every kept day of one experiment and metric, oldest first.
pub fn days(
    conn: &mut AnyConnection,
    metric: &str,
    version: &str,
    experiment: &str,
) -> Result<Vec<DailyRow>, StoreError> {
    use analytics_metric_daily::dsl as d;
    Ok(d::analytics_metric_daily
        .filter(d::metric.eq(metric))
        .filter(d::version_id.eq(version))
        .filter(d::experiment_id.eq(experiment))
        .order((d::day, d::variant))
        .select((d::day, d::variant, d::users, d::sum, d::sum_squares))
        .load(conn)?)
}

/// A metric's sums in one variant: `(metric, version, experiment, variant,
/// sum, sum_squares)`.
pub type StatRow = (String, String, String, String, f64, f64);

/// Every metric's sums (all experiments).
pub fn all_stats(conn: &mut AnyConnection) -> Result<Vec<StatRow>, StoreError> {
    Ok(analytics_metric_stats::table.load(conn)?)
}
