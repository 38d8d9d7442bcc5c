//! Runs, their answers, A/B assignments, testers and events.

use diesel::prelude::*;

use super::schema::{assignments, events, run_answers, runs, testers};
use super::{AnyConnection, StoreError};
use crate::insert_chunks;

pub const IN_PROGRESS: &str = "in_progress";
pub const COMPLETED: &str = "completed";

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = runs)]
pub struct RunRow {
    pub id: String,
    pub user_id: String,
    pub channel: String,
    pub version_id: String,
    pub status: String,
    pub step_key: Option<String>,
    pub scene_key: Option<String>,
    pub scene_id: Option<String>,
    /// Scenes shown so far; numbers the scene ids.
    pub shown: i32,
    pub answered: i32,
    /// Start attributes, a JSON object.
    pub attributes: String,
    /// Answers by `save_as`, a JSON object.
    pub answers: String,
    pub revision: i64,
    pub started_at: chrono::NaiveDateTime,
    pub updated_at: chrono::NaiveDateTime,
    pub completed_at: Option<chrono::NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = run_answers)]
pub struct AnswerRow {
    pub run_id: String,
    pub scene_id: String,
    pub step_key: String,
    pub scene_key: String,
    pub answer: String,
    pub response: String,
    pub created_at: chrono::NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = assignments)]
pub struct AssignmentRow {
    pub user_id: String,
    pub step_key: String,
    pub condition_name: String,
    pub scene_key: String,
    pub source: String,
    pub assigned_at: chrono::NaiveDateTime,
    pub exposed_at: Option<chrono::NaiveDateTime>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = events)]
pub struct NewEvent {
    pub kind: &'static str,
    pub occurred_at: chrono::NaiveDateTime,
    pub user_id: String,
    pub run_id: String,
    pub version_id: String,
    pub channel: String,
    pub step_key: Option<String>,
    pub scene_key: Option<String>,
    pub experiment_id: Option<String>,
    pub variation_id: Option<String>,
}

pub fn is_tester(conn: &mut AnyConnection, user_id: &str) -> Result<bool, StoreError> {
    Ok(diesel::select(diesel::dsl::exists(testers::table.find(user_id))).get_result(conn)?)
}

pub fn find(
    conn: &mut AnyConnection,
    user_id: &str,
    channel: &str,
) -> Result<Option<RunRow>, StoreError> {
    Ok(runs::table
        .filter(runs::user_id.eq(user_id))
        .filter(runs::channel.eq(channel))
        .select(RunRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn insert(conn: &mut AnyConnection, run: &RunRow) -> Result<(), StoreError> {
    diesel::insert_into(runs::table).values(run).execute(conn)?;
    Ok(())
}

/// Write `run` if nobody changed it since revision `expected`; `false` when
/// somebody did (the caller retries on fresh data).
pub fn update(conn: &mut AnyConnection, run: &RunRow, expected: i64) -> Result<bool, StoreError> {
    let n = diesel::update(
        runs::table
            .filter(runs::id.eq(&run.id))
            .filter(runs::revision.eq(expected)),
    )
    .set((
        runs::status.eq(&run.status),
        runs::step_key.eq(&run.step_key),
        runs::scene_key.eq(&run.scene_key),
        runs::scene_id.eq(&run.scene_id),
        runs::shown.eq(run.shown),
        runs::answered.eq(run.answered),
        runs::answers.eq(&run.answers),
        runs::revision.eq(run.revision),
        runs::updated_at.eq(run.updated_at),
        runs::completed_at.eq(run.completed_at),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

pub fn find_answer(
    conn: &mut AnyConnection,
    run_id: &str,
    scene_id: &str,
) -> Result<Option<AnswerRow>, StoreError> {
    Ok(run_answers::table
        .find((run_id, scene_id))
        .select(AnswerRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn insert_answer(conn: &mut AnyConnection, row: &AnswerRow) -> Result<(), StoreError> {
    diesel::insert_into(run_answers::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

pub fn assignment(
    conn: &mut AnyConnection,
    user_id: &str,
    step: &str,
    condition: &str,
) -> Result<Option<AssignmentRow>, StoreError> {
    Ok(assignments::table
        .find((user_id, step, condition))
        .select(AssignmentRow::as_select())
        .first(conn)
        .optional()?)
}

/// Store (or replace) an assignment.
pub fn put_assignment(conn: &mut AnyConnection, row: &AssignmentRow) -> Result<(), StoreError> {
    diesel::delete(assignments::table.find((&row.user_id, &row.step_key, &row.condition_name)))
        .execute(conn)?;
    diesel::insert_into(assignments::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// Mark an assignment exposed; `true` only the first time.
pub fn mark_exposed(
    conn: &mut AnyConnection,
    user_id: &str,
    step: &str,
    condition: &str,
    at: chrono::NaiveDateTime,
) -> Result<bool, StoreError> {
    let n = diesel::update(
        assignments::table
            .find((user_id, step, condition))
            .filter(assignments::exposed_at.is_null()),
    )
    .set(assignments::exposed_at.eq(at))
    .execute(conn)?;
    Ok(n == 1)
}

pub fn record_events(conn: &mut AnyConnection, rows: &[NewEvent]) -> Result<(), StoreError> {
    insert_chunks!(conn, events::table, rows);
    Ok(())
}
