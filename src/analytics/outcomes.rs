//! Metrics over outcome events, kept per exposed user and per variant by
//! the aggregator (docs/src/analytics.md "Outcomes and experiment results").
//!
//! A user's value of a metric, for one exposure, is over the outcome events
//! of the metric's name in `[first exposure, first exposure + window)`:
//! `binomial` 1 if there is one, `mean` the sum of their values, `count`
//! how many. The aggregator folds outcome events (cursor `outcomes`) into
//! those values and into per-variant sums of the values and their squares;
//! a new exposure (or one whose first time moved earlier) takes the user's
//! events folded so far. Both run under the aggregator's lock, one after
//! the other, so each pair of an event and an exposure counts once.

use std::collections::HashMap;

use chrono::{Duration, NaiveDateTime};

use crate::store::aggregates::MemberRow;
use crate::store::outcomes::{self as store, MetricRow, OutcomeRow, StatKey, ValueKey};
use crate::store::{AnyConnection, StoreError};
use crate::words::{AggregateKind, Direction, MetricKind};

/// The outcome cursor of the aggregator.
pub const OUTCOMES: &str = "outcomes";
/// The built-in metric: the run completed (from the experiments' conversions).
pub const COMPLETED: &str = "completed";

/// A metric definition.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Metric {
    /// `[a-z0-9_]{1,64}`.
    pub name: String,
    /// The outcome event's name it reads.
    pub event: String,
    pub kind: MetricKind,
    /// The window from the first exposure, in hours.
    pub window_hours: u32,
    pub direction: Direction,
    /// Must not get worse.
    pub guardrail: bool,
    pub description: String,
}

impl Metric {
    /// The built-in `completed`.
    pub fn completed() -> Metric {
        Metric {
            name: COMPLETED.into(),
            event: COMPLETED.into(),
            kind: MetricKind::Binomial,
            window_hours: 0,
            direction: Direction::Increase,
            guardrail: false,
            description: "the run completed (built in)".into(),
        }
    }

    pub fn from_row(row: &MetricRow) -> Option<Metric> {
        Some(Metric {
            name: row.name.clone(),
            event: row.event.clone(),
            kind: MetricKind::parse(&row.kind)?,
            window_hours: u32::try_from(row.window_hours).ok()?,
            direction: Direction::parse(&row.direction)?,
            guardrail: row.guardrail,
            description: row.description.clone(),
        })
    }

    /// Whether an event at `at` falls in the window of an exposure first
    /// seen at `first`.
    pub fn covers(&self, first: NaiveDateTime, at: NaiveDateTime) -> bool {
        first <= at && at < first + Duration::hours(i64::from(self.window_hours))
    }

    /// A user's value after one more event of value `value`.
    pub fn next(&self, old: f64, value: f64) -> f64 {
        match self.kind {
            MetricKind::Binomial => 1.0,
            MetricKind::Count => old + 1.0,
            MetricKind::Mean => old + value,
        }
    }
}

/// The metrics stored, by event name.
fn by_event(
    conn: &mut AnyConnection,
    only: Option<&str>,
) -> Result<HashMap<String, Vec<Metric>>, StoreError> {
    let mut out: HashMap<String, Vec<Metric>> = HashMap::new();
    for row in store::metrics_list(conn)? {
        if only.is_some_and(|name| name != row.name) {
            continue;
        }
        if let Some(m) = Metric::from_row(&row) {
            out.entry(m.event.clone()).or_default().push(m);
        }
    }
    Ok(out)
}

/// Values being changed in a batch: the stored one and the new one.
#[derive(Default)]
struct Changes {
    values: HashMap<ValueKey, (f64, f64)>,
}

impl Changes {
    fn current(&self, key: &ValueKey, stored: &HashMap<ValueKey, f64>) -> f64 {
        self.values
            .get(key)
            .map(|v| v.1)
            .unwrap_or_else(|| stored.get(key).copied().unwrap_or(0.0))
    }

    fn set(&mut self, key: ValueKey, new: f64, stored: &HashMap<ValueKey, f64>) {
        let old = stored.get(&key).copied().unwrap_or(0.0);
        self.values.entry(key).or_insert((old, old)).1 = new;
    }

    fn write(self, conn: &mut AnyConnection) -> Result<(), StoreError> {
        let mut sums: HashMap<StatKey, (f64, f64)> = HashMap::new();
        let mut values = Vec::new();
        for (key, (old, new)) in self.values {
            if old == new {
                continue;
            }
            let (_, metric, version, experiment, variant) = &key;
            let sum = sums
                .entry((
                    metric.clone(),
                    version.clone(),
                    experiment.clone(),
                    variant.clone(),
                ))
                .or_default();
            sum.0 += new - old;
            sum.1 += new * new - old * old;
            values.push((key, new));
        }
        let sums: Vec<(StatKey, f64, f64)> =
            sums.into_iter().map(|(k, (a, b))| (k, a, b)).collect();
        store::apply(conn, &values, &sums)
    }
}

fn value_key(metric: &Metric, x: &MemberRow) -> ValueKey {
    (
        x.user_id.clone(),
        metric.name.clone(),
        x.version_id.clone(),
        x.step_key.clone(),
        x.variant.clone(),
    )
}

fn exposures_of(
    conn: &mut AnyConnection,
    users: &[&str],
) -> Result<HashMap<String, Vec<MemberRow>>, StoreError> {
    let mut out: HashMap<String, Vec<MemberRow>> = HashMap::new();
    for m in
        crate::store::aggregates::members_by_kind(conn, users, AggregateKind::Exposure.as_str())?
    {
        out.entry(m.user_id.clone()).or_default().push(m);
    }
    Ok(out)
}

/// Fold outcome events (in id order) into the values of every exposure of
/// their users whose window holds them; `only` limits it to one metric (a
/// metric being built).
pub fn fold(
    conn: &mut AnyConnection,
    events: &[OutcomeRow],
    only: Option<&str>,
) -> Result<(), StoreError> {
    let metrics = by_event(conn, only)?;
    let relevant: Vec<&OutcomeRow> = events
        .iter()
        .filter(|e| metrics.contains_key(&e.name))
        .collect();
    if relevant.is_empty() {
        return Ok(());
    }
    let mut users: Vec<&str> = relevant.iter().map(|e| e.user_id.as_str()).collect();
    users.sort_unstable();
    users.dedup();
    let exposures = exposures_of(conn, &users)?;
    let stored: HashMap<ValueKey, f64> = store::values_of(conn, &users)?.into_iter().collect();
    let mut changes = Changes::default();
    for e in relevant {
        let Some(seen) = exposures.get(&e.user_id) else {
            continue;
        };
        for metric in &metrics[&e.name] {
            for x in seen
                .iter()
                .filter(|x| metric.covers(x.first_at, e.occurred_at))
            {
                let key = value_key(metric, x);
                let new = metric.next(changes.current(&key, &stored), e.value);
                changes.set(key, new, &stored);
            }
        }
    }
    changes.write(conn)
}

/// Recompute the values of the exposures among these members (new ones,
/// or ones whose first time moved earlier) from their users' outcome
/// events folded so far (up to the cursor `outcomes`).
pub fn refresh(conn: &mut AnyConnection, members: &[&MemberRow]) -> Result<(), StoreError> {
    let exposures: Vec<&MemberRow> = members
        .iter()
        .copied()
        .filter(|m| m.kind == AggregateKind::Exposure.as_str())
        .collect();
    if exposures.is_empty() {
        return Ok(());
    }
    let until = crate::store::aggregates::cursor(conn, OUTCOMES)?.map_or(0, |c| c.0);
    if until == 0 {
        return Ok(());
    }
    let metrics = by_event(conn, None)?;
    if metrics.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = metrics.keys().map(String::as_str).collect();
    let mut users: Vec<&str> = exposures.iter().map(|x| x.user_id.as_str()).collect();
    users.sort_unstable();
    users.dedup();
    let stored: HashMap<ValueKey, f64> = store::values_of(conn, &users)?.into_iter().collect();
    let mut changes = Changes::default();
    let mut events_of: HashMap<String, Vec<OutcomeRow>> = HashMap::new();
    for e in store::of_users(conn, &users, &names, until)? {
        events_of.entry(e.user_id.clone()).or_default().push(e);
    }
    let none = Vec::new();
    for x in exposures {
        for (name, list) in &metrics {
            for metric in list {
                let value = events_of
                    .get(&x.user_id)
                    .unwrap_or(&none)
                    .iter()
                    .filter(|e| &e.name == name && metric.covers(x.first_at, e.occurred_at))
                    .fold(0.0, |v, e| metric.next(v, e.value));
                changes.set(value_key(metric, x), value, &stored);
            }
        }
    }
    changes.write(conn)
}

/// Build one metric's aggregates from the outcome events folded so far (ids
/// up to `until`), in batches; the caller holds the aggregator's lock.
pub fn build(conn: &mut AnyConnection, metric: &str, until: i64) -> Result<(), StoreError> {
    store::forget_metric(conn, metric)?;
    let mut after = 0;
    loop {
        let batch = store::after(conn, after, until, super::aggregator::BATCH)?;
        let Some(last) = batch.last().map(|e| e.id) else {
            return Ok(());
        };
        fold(conn, &batch, Some(metric))?;
        after = last;
    }
}

/// Outcome events recorded but not folded yet (they count in the results'
/// `pending_events`).
pub fn pending(conn: &mut AnyConnection) -> Result<i64, StoreError> {
    use crate::store::outcomes::outcomes as o;
    use diesel::prelude::*;
    let newest: Option<i64> = o::table.select(diesel::dsl::max(o::id)).first(conn)?;
    let folded = crate::store::aggregates::cursor(conn, OUTCOMES)?.map_or(0, |c| c.0);
    Ok((newest.unwrap_or(0) - folded).max(0))
}

/// Keep today's figures of every experiment and metric, once a day (the
/// first pass after midnight UTC), under the aggregator's lock: the points
/// of the dashboard's cumulative lift.
pub fn keep_today(conn: &mut AnyConnection, now: NaiveDateTime) -> Result<(), StoreError> {
    use diesel::Connection;
    let day = now.date().format("%Y-%m-%d").to_string();
    // The common case, checked without a transaction or the lock.
    if store::has_day(conn, &day)? {
        return Ok(());
    }
    conn.transaction(|c| {
        if !crate::store::aggregates::try_lock(c, super::aggregator::LOCK_KEY)?
            || store::has_day(c, &day)?
        {
            return Ok(());
        }
        let counts = crate::store::aggregates::experiment_counts(c, None)?;
        let metrics: Vec<String> = store::metrics_list(c)?
            .into_iter()
            .map(|m| m.name)
            .collect();
        let stats = store::all_stats(c)?;
        let mut rows = Vec::new();
        for exposed in counts
            .iter()
            .filter(|r| r.kind == AggregateKind::Exposure.as_str())
        {
            let key = |r: &&crate::store::aggregates::CountRow| {
                r.version_id == exposed.version_id
                    && r.step_key == exposed.step_key
                    && r.variant == exposed.variant
            };
            let converted = counts
                .iter()
                .filter(|r| r.kind == AggregateKind::Conversion.as_str())
                .find(key)
                .map_or(0, |r| r.users) as f64;
            let row = |metric: &str, sum: f64, squares: f64| {
                (
                    metric.to_owned(),
                    exposed.version_id.clone(),
                    exposed.step_key.clone(),
                    exposed.variant.clone(),
                    exposed.users,
                    sum,
                    squares,
                )
            };
            rows.push(row(COMPLETED, converted, converted));
            for metric in &metrics {
                let (sum, squares) = stats
                    .iter()
                    .find(|s| {
                        &s.0 == metric
                            && s.1 == exposed.version_id
                            && s.2 == exposed.step_key
                            && s.3 == exposed.variant
                    })
                    .map_or((0.0, 0.0), |s| (s.4, s.5));
                rows.push(row(metric, sum, squares));
            }
        }
        store::keep_day(c, &day, &rows)
    })
}
