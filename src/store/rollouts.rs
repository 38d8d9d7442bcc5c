//! Staged rollouts and the incident record (docs/src/rollouts.md). The
//! release pipeline (`crate::release`) is the only writer of
//! rollouts, so a rollout moves by the same rules as a publish.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use super::column::Json;
use super::schema::{incidents, rollouts};
use super::{AnyConnection, StoreError};
use crate::words::{Channel, IncidentKind, RolloutState};

/// One rollout, as stored. `guardrails` is the last judgement, a JSON list.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = rollouts)]
pub struct RolloutRow {
    pub id: i64,
    pub channel: Channel,
    pub version_id: String,
    pub previous_id: String,
    pub percent: f64,
    pub state: RolloutState,
    pub started_at: NaiveDateTime,
    pub started_by: String,
    pub updated_at: NaiveDateTime,
    pub updated_by: String,
    pub ended_at: Option<NaiveDateTime>,
    pub guardrails: Json<serde_json::Value>,
    pub checked_at: Option<NaiveDateTime>,
}

/// What the start of a run needs of a running rollout: which version the
/// users inside go to, and how many are inside.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = rollouts)]
pub struct Split {
    pub version_id: String,
    pub percent: f64,
}

/// The rollout running on `channel`, if any.
pub fn running(
    conn: &mut AnyConnection,
    channel: Channel,
) -> Result<Option<RolloutRow>, StoreError> {
    Ok(rollouts::table
        .filter(rollouts::channel.eq(channel))
        .filter(rollouts::state.eq(RolloutState::Running))
        .select(RolloutRow::as_select())
        .first(conn)
        .optional()?)
}

/// The newest rollout of `channel`, running or ended.
pub fn latest(
    conn: &mut AnyConnection,
    channel: Channel,
) -> Result<Option<RolloutRow>, StoreError> {
    Ok(rollouts::table
        .filter(rollouts::channel.eq(channel))
        .order(rollouts::id.desc())
        .select(RolloutRow::as_select())
        .first(conn)
        .optional()?)
}

/// Every running rollout (at most one per channel).
pub fn all_running(conn: &mut AnyConnection) -> Result<Vec<RolloutRow>, StoreError> {
    Ok(rollouts::table
        .filter(rollouts::state.eq(RolloutState::Running))
        .select(RolloutRow::as_select())
        .load(conn)?)
}

/// Begin a rollout of `version` over `previous`; a second running rollout
/// of the channel is a unique violation.
pub fn begin(
    conn: &mut AnyConnection,
    channel: Channel,
    version: &str,
    previous: &str,
    percent: f64,
    actor: &str,
    at: NaiveDateTime,
) -> Result<(), StoreError> {
    diesel::insert_into(rollouts::table)
        .values((
            rollouts::channel.eq(channel),
            rollouts::version_id.eq(version),
            rollouts::previous_id.eq(previous),
            rollouts::percent.eq(percent),
            rollouts::state.eq(RolloutState::Running),
            rollouts::started_at.eq(at),
            rollouts::started_by.eq(actor),
            rollouts::updated_at.eq(at),
            rollouts::updated_by.eq(actor),
            rollouts::guardrails.eq(Json(serde_json::Value::Array(Vec::new()))),
        ))
        .execute(conn)?;
    Ok(())
}

/// Widen rollout `id` to `percent` while it runs; whether it did.
pub fn widen(
    conn: &mut AnyConnection,
    id: i64,
    percent: f64,
    actor: &str,
    at: NaiveDateTime,
) -> Result<bool, StoreError> {
    let n = diesel::update(rollouts::table.find(id))
        .filter(rollouts::state.eq(RolloutState::Running))
        .set((
            rollouts::percent.eq(percent),
            rollouts::updated_at.eq(at),
            rollouts::updated_by.eq(actor),
        ))
        .execute(conn)?;
    Ok(n == 1)
}

/// End rollout `id` in `state` if it still runs; whether this call ended it
/// (a second instance ending it at the same moment finds it ended).
pub fn end(
    conn: &mut AnyConnection,
    id: i64,
    state: RolloutState,
    actor: &str,
    at: NaiveDateTime,
) -> Result<bool, StoreError> {
    let n = diesel::update(rollouts::table.find(id))
        .filter(rollouts::state.eq(RolloutState::Running))
        .set((
            rollouts::state.eq(state),
            rollouts::updated_at.eq(at),
            rollouts::updated_by.eq(actor),
            rollouts::ended_at.eq(Some(at)),
        ))
        .execute(conn)?;
    Ok(n == 1)
}

/// Keep the last judgement of rollout `id`'s guardrails.
pub fn judged(
    conn: &mut AnyConnection,
    id: i64,
    guardrails: &serde_json::Value,
    at: NaiveDateTime,
) -> Result<(), StoreError> {
    diesel::update(rollouts::table.find(id))
        .set((
            rollouts::guardrails.eq(Json(guardrails.clone())),
            rollouts::checked_at.eq(Some(at)),
        ))
        .execute(conn)?;
    Ok(())
}

/// One entry of the incident record. `details` holds the figures and the
/// impact scope as JSON.
#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = incidents)]
pub struct IncidentRow {
    pub id: i64,
    pub kind: IncidentKind,
    pub occurred_at: NaiveDateTime,
    pub actor: String,
    pub channel: Channel,
    pub version_id: String,
    pub to_version: String,
    pub guardrail: Option<String>,
    pub details: Json<serde_json::Value>,
}

/// What an incident records.
pub struct NewIncident<'a> {
    pub kind: IncidentKind,
    pub at: NaiveDateTime,
    pub actor: &'a str,
    pub channel: Channel,
    pub version: &'a str,
    pub to_version: &'a str,
    pub guardrail: Option<&'a str>,
    pub details: serde_json::Value,
}

pub fn record_incident(conn: &mut AnyConnection, i: NewIncident) -> Result<(), StoreError> {
    diesel::insert_into(incidents::table)
        .values((
            incidents::kind.eq(i.kind),
            incidents::occurred_at.eq(i.at),
            incidents::actor.eq(i.actor),
            incidents::channel.eq(i.channel),
            incidents::version_id.eq(i.version),
            incidents::to_version.eq(i.to_version),
            incidents::guardrail.eq(i.guardrail),
            incidents::details.eq(Json(i.details)),
        ))
        .execute(conn)?;
    Ok(())
}

/// The newest `limit` incidents, newest first.
pub fn incidents(conn: &mut AnyConnection, limit: i64) -> Result<Vec<IncidentRow>, StoreError> {
    Ok(incidents::table
        .order(incidents::id.desc())
        .limit(limit)
        .select(IncidentRow::as_select())
        .load(conn)?)
}

/// Version, run status, current step, runs.
pub type RunFigure = (String, crate::flow::RunStatus, Option<String>, i64);

/// Where the runs a rollout compares stand: per version, run status and
/// current step (`None` once completed), how many runs started on
/// `channel` at or after `since`. One grouped scan of the channel's runs
/// since the rollout began (index `runs_channel_started`).
pub fn run_figures(
    conn: &mut AnyConnection,
    channel: Channel,
    versions: &[&str],
    since: NaiveDateTime,
) -> Result<Vec<RunFigure>, StoreError> {
    use super::schema::runs;
    use diesel::dsl::count_star;
    Ok(runs::table
        .filter(runs::channel.eq(channel))
        .filter(runs::started_at.ge(since))
        .filter(runs::version_id.eq_any(versions))
        .group_by((runs::version_id, runs::status, runs::step_key))
        .select((runs::version_id, runs::status, runs::step_key, count_star()))
        .load(conn)?)
}

/// Per version and step, the runs of [`run_figures`] that answered a scene
/// of the step (an answer withdrawn by going back still counts: the run
/// got past the step once).
pub fn answered_steps(
    conn: &mut AnyConnection,
    channel: Channel,
    versions: &[&str],
    since: NaiveDateTime,
) -> Result<Vec<(String, String, i64)>, StoreError> {
    use super::schema::{run_answers, runs};
    use diesel::dsl::count;
    Ok(runs::table
        .inner_join(run_answers::table.on(run_answers::run_id.eq(runs::id)))
        .filter(runs::channel.eq(channel))
        .filter(runs::started_at.ge(since))
        .filter(runs::version_id.eq_any(versions))
        .group_by((runs::version_id, run_answers::step_key))
        .select((
            runs::version_id,
            run_answers::step_key,
            count(runs::id).aggregate_distinct(),
        ))
        .load(conn)?)
}

/// The runs of [`run_figures`] one by one: version, user, start. Read only
/// when a guardrail metric needs each run's window.
pub fn started(
    conn: &mut AnyConnection,
    channel: Channel,
    versions: &[&str],
    since: NaiveDateTime,
) -> Result<Vec<(String, String, NaiveDateTime)>, StoreError> {
    use super::schema::runs;
    Ok(runs::table
        .filter(runs::channel.eq(channel))
        .filter(runs::started_at.ge(since))
        .filter(runs::version_id.eq_any(versions))
        .select((runs::version_id, runs::user_id, runs::started_at))
        .load(conn)?)
}

/// The step keys both versions have.
pub fn shared_steps(conn: &mut AnyConnection, a: &str, b: &str) -> Result<Vec<String>, StoreError> {
    use super::schema::steps;
    let of = |conn: &mut AnyConnection, v: &str| -> Result<Vec<(String, i32)>, StoreError> {
        Ok(steps::table
            .filter(steps::version_id.eq(v))
            .order(steps::position)
            .select((steps::key, steps::position))
            .load(conn)?)
    };
    let theirs = of(conn, b)?;
    Ok(of(conn, a)?
        .into_iter()
        .map(|(k, _)| k)
        .filter(|k| theirs.iter().any(|(t, _)| t == k))
        .collect())
}
