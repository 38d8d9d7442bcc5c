//! Aggregates over the event log, for funnels, experiments and impact.

use chrono::NaiveDateTime;
use diesel::dsl::{count, max, min};
use diesel::prelude::*;

use super::schema::{events, runs};
use super::{AnyConnection, StoreError};
use crate::flow::{EventKind, RunStatus};

diesel::alias!(events as completions: Completions);

/// Distinct users per step and kind (`scene_shown`, `answered`, `went_back`).
pub fn users_by_step(
    conn: &mut AnyConnection,
    version: &str,
    channel: &str,
) -> Result<Vec<(Option<String>, EventKind, i64)>, StoreError> {
    Ok(events::table
        .filter(events::version_id.eq(version))
        .filter(events::channel.eq(channel))
        .filter(events::kind.eq_any([
            EventKind::SceneShown,
            EventKind::Answered,
            EventKind::WentBack,
            EventKind::Rescued,
        ]))
        .group_by((events::step_key, events::kind))
        .select((
            events::step_key,
            events::kind,
            count(events::user_id).aggregate_distinct(),
        ))
        .load(conn)?)
}

/// Distinct users with any event (but a reset), and with a `completed` event.
pub fn started_and_completed(
    conn: &mut AnyConnection,
    version: &str,
    channel: &str,
) -> Result<(i64, i64), StoreError> {
    let base = || {
        events::table
            .filter(events::version_id.eq(version))
            .filter(events::channel.eq(channel))
            .filter(events::kind.ne(EventKind::RunReset))
    };
    let started = base()
        .select(count(events::user_id).aggregate_distinct())
        .first(conn)?;
    let completed = base()
        .filter(events::kind.eq(EventKind::Completed))
        .select(count(events::user_id).aggregate_distinct())
        .first(conn)?;
    Ok((started, completed))
}

/// Runs in progress per current step: the users who left there (so far).
/// A user has one run per channel (a unique key), so runs are users here.
/// The funnel reads the same from the aggregates; this is what they equal.
pub fn waiting_by_step(
    conn: &mut AnyConnection,
    version: &str,
    channel: &str,
) -> Result<Vec<(Option<String>, i64)>, StoreError> {
    Ok(runs::table
        .filter(runs::version_id.eq(version))
        .filter(runs::channel.eq(channel))
        .filter(runs::status.eq(RunStatus::InProgress))
        .group_by(runs::step_key)
        .select((runs::step_key, diesel::dsl::count_star()))
        .load(conn)?)
}

/// First time each user saw and answered each step.
pub type StepTime = (String, Option<String>, EventKind, Option<NaiveDateTime>);

pub fn step_times(
    conn: &mut AnyConnection,
    version: &str,
    channel: &str,
) -> Result<Vec<StepTime>, StoreError> {
    Ok(events::table
        .filter(events::version_id.eq(version))
        .filter(events::channel.eq(channel))
        .filter(events::kind.eq_any([EventKind::SceneShown, EventKind::Answered]))
        .group_by((events::user_id, events::step_key, events::kind))
        .select((
            events::user_id,
            events::step_key,
            events::kind,
            min(events::occurred_at),
        ))
        .load(conn)?)
}

/// Exposed users per version, experiment and variant.
pub type VariantCount = (String, Option<String>, Option<String>, i64);

pub fn exposures(conn: &mut AnyConnection) -> Result<Vec<VariantCount>, StoreError> {
    Ok(events::table
        .filter(events::kind.eq(EventKind::Exposure))
        .group_by((
            events::version_id,
            events::experiment_id,
            events::variation_id,
        ))
        .select((
            events::version_id,
            events::experiment_id,
            events::variation_id,
            count(events::user_id).aggregate_distinct(),
        ))
        .load(conn)?)
}

/// Exposed users whose run (the one they were exposed in) completed.
pub fn exposed_completions(conn: &mut AnyConnection) -> Result<Vec<VariantCount>, StoreError> {
    let completed_runs = completions
        .filter(completions.field(events::kind).eq(EventKind::Completed))
        .select(completions.field(events::run_id));
    Ok(events::table
        .filter(events::kind.eq(EventKind::Exposure))
        .filter(events::run_id.eq_any(completed_runs))
        .group_by((
            events::version_id,
            events::experiment_id,
            events::variation_id,
        ))
        .select((
            events::version_id,
            events::experiment_id,
            events::variation_id,
            count(events::user_id).aggregate_distinct(),
        ))
        .load(conn)?)
}

/// Per channel: users served a version, first and last time, completions.
pub type ImpactRow = (String, i64, Option<NaiveDateTime>, Option<NaiveDateTime>);
/// Users served per channel, and completions per channel.
pub type Impact = (Vec<ImpactRow>, Vec<(String, i64)>);

pub fn impact(conn: &mut AnyConnection, version: &str) -> Result<Impact, StoreError> {
    let served = events::table
        .filter(events::version_id.eq(version))
        .filter(events::kind.ne(EventKind::RunReset))
        .group_by(events::channel)
        .select((
            events::channel,
            count(events::user_id).aggregate_distinct(),
            min(events::occurred_at),
            max(events::occurred_at),
        ))
        .load(conn)?;
    let completed = events::table
        .filter(events::version_id.eq(version))
        .filter(events::kind.eq(EventKind::Completed))
        .group_by(events::channel)
        .select((events::channel, count(events::user_id).aggregate_distinct()))
        .load(conn)?;
    Ok((served, completed))
}

/// One page of events after `after_id`, for the streaming export.
pub type EventRow = (
    i64,
    EventKind,
    NaiveDateTime,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

pub fn events_page(
    conn: &mut AnyConnection,
    after_id: i64,
    since: Option<NaiveDateTime>,
    until: Option<NaiveDateTime>,
    limit: i64,
) -> Result<Vec<EventRow>, StoreError> {
    let filter = EventFilter {
        since,
        until,
        ..EventFilter::default()
    };
    events_matching(conn, after_id, &filter, limit)
}

/// Which events a page holds, beyond "id after the last one seen".
#[derive(Debug, Default, Clone, Copy)]
pub struct EventFilter<'a> {
    /// Ids up to this one (the aggregator's horizon).
    pub until_id: Option<i64>,
    /// One version's events only.
    pub version: Option<&'a str>,
    /// `occurred_at` ≥ this.
    pub since: Option<NaiveDateTime>,
    /// `occurred_at` < this.
    pub until: Option<NaiveDateTime>,
}

/// Up to `limit` events with ids after `after_id` that pass `filter`, in id
/// order: the one keyset page both the export and the aggregator read.
pub fn events_matching(
    conn: &mut AnyConnection,
    after_id: i64,
    filter: &EventFilter<'_>,
    limit: i64,
) -> Result<Vec<EventRow>, StoreError> {
    let mut query = events::table
        .filter(events::id.gt(after_id))
        .order(events::id)
        .limit(limit)
        .into_boxed();
    if let Some(until_id) = filter.until_id {
        query = query.filter(events::id.le(until_id));
    }
    if let Some(version) = filter.version {
        query = query.filter(events::version_id.eq(version.to_owned()));
    }
    if let Some(since) = filter.since {
        query = query.filter(events::occurred_at.ge(since));
    }
    if let Some(until) = filter.until {
        query = query.filter(events::occurred_at.lt(until));
    }
    Ok(query
        .select((
            events::id,
            events::kind,
            events::occurred_at,
            events::user_id,
            events::run_id,
            events::version_id,
            events::channel,
            events::step_key,
            events::scene_key,
            events::experiment_id,
            events::variation_id,
        ))
        .load(conn)?)
}

/// Per channel: distinct users a rescue moved off `version`.
pub fn rescued(conn: &mut AnyConnection, version: &str) -> Result<Vec<(String, i64)>, StoreError> {
    Ok(events::table
        .filter(events::version_id.eq(version))
        .filter(events::kind.eq(EventKind::Rescued))
        .group_by(events::channel)
        .select((events::channel, count(events::user_id).aggregate_distinct()))
        .load(conn)?)
}
