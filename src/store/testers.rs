//! What the QA tools read and change: testers, their attribute overrides,
//! and a run's history.

use diesel::prelude::*;

use super::column::Json;
use super::rows::{AnswerRow, AssignmentRow};
use super::schema::{assignments, overrides, run_answers, runs, testers};
use super::{AnyConnection, StoreError};
use crate::flow::Attributes;

pub fn is_tester(conn: &mut AnyConnection, user_id: &str) -> Result<bool, StoreError> {
    Ok(diesel::select(diesel::dsl::exists(testers::table.find(user_id))).get_result(conn)?)
}

pub fn add(conn: &mut AnyConnection, user_id: &str, by: &str) -> Result<bool, StoreError> {
    if is_tester(conn, user_id)? {
        return Ok(false);
    }
    diesel::insert_into(testers::table)
        .values((
            testers::user_id.eq(user_id),
            testers::added_by.eq(by),
            testers::added_at.eq(super::now()),
        ))
        .execute(conn)?;
    Ok(true)
}

pub fn remove(conn: &mut AnyConnection, user_id: &str) -> Result<bool, StoreError> {
    Ok(diesel::delete(testers::table.find(user_id)).execute(conn)? == 1)
}

pub fn list(conn: &mut AnyConnection) -> Result<Vec<(String, String)>, StoreError> {
    Ok(testers::table
        .order(testers::added_at.desc())
        .select((testers::user_id, testers::added_by))
        .load(conn)?)
}

/// The override attributes of a user.
pub fn overrides(
    conn: &mut AnyConnection,
    user_id: &str,
) -> Result<Option<Json<Attributes>>, StoreError> {
    Ok(overrides::table
        .find(user_id)
        .select(overrides::attributes)
        .first(conn)
        .optional()?)
}

pub fn set_overrides(
    conn: &mut AnyConnection,
    user_id: &str,
    attributes: Attributes,
    by: &str,
) -> Result<(), StoreError> {
    conn.transaction(|conn| {
        diesel::delete(overrides::table.find(user_id)).execute(conn)?;
        diesel::insert_into(overrides::table)
            .values((
                overrides::user_id.eq(user_id),
                overrides::attributes.eq(Json(attributes)),
                overrides::updated_by.eq(by),
                overrides::updated_at.eq(super::now()),
            ))
            .execute(conn)?;
        Ok(())
    })
}

pub fn assignments_of(
    conn: &mut AnyConnection,
    user_id: &str,
) -> Result<Vec<AssignmentRow>, StoreError> {
    Ok(assignments::table
        .filter(assignments::user_id.eq(user_id))
        .order((assignments::step_key, assignments::condition_name))
        .select(AssignmentRow::as_select())
        .load(conn)?)
}

pub fn answers_of(conn: &mut AnyConnection, run_id: &str) -> Result<Vec<AnswerRow>, StoreError> {
    Ok(run_answers::table
        .filter(run_answers::run_id.eq(run_id))
        .order(run_answers::created_at)
        .select(AnswerRow::as_select())
        .load(conn)?)
}

/// Forget a run and its answers (events stay).
pub fn delete_run(conn: &mut AnyConnection, run_id: &str) -> Result<(), StoreError> {
    conn.transaction(|conn| {
        diesel::delete(run_answers::table.filter(run_answers::run_id.eq(run_id))).execute(conn)?;
        diesel::delete(runs::table.find(run_id)).execute(conn)?;
        Ok(())
    })
}
