//! Going back (docs/src/mobile-api.md "Going back"): the answers of a run in the order they
//! were given, withdrawing them, and the backs already made, so a repeated
//! back returns the same state.

use diesel::prelude::*;

use super::column::Json;
use super::runs::AnswerRow;
use super::schema::{run_answers, run_backs};
use super::{AnyConnection, StoreError};
use crate::flow::view::State;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = run_backs)]
pub struct BackRow {
    pub run_id: String,
    /// The scene left by going back.
    pub scene_id: String,
    pub from_step: String,
    pub to_step: String,
    pub to_scene: String,
    /// The state the back returned.
    pub response: Json<State>,
    pub created_at: chrono::NaiveDateTime,
}

/// The number a scene id ends with (`RUN-7`): the order scenes were shown.
pub fn shown_number(scene_id: &str) -> u64 {
    scene_id
        .rsplit_once('-')
        .and_then(|(_, n)| n.parse().ok())
        .unwrap_or(0)
}

/// A run's current answers, in the order they were given.
pub fn answers_in_order(
    conn: &mut AnyConnection,
    run_id: &str,
) -> Result<Vec<AnswerRow>, StoreError> {
    let mut rows: Vec<AnswerRow> = run_answers::table
        .filter(run_answers::run_id.eq(run_id))
        .select(AnswerRow::as_select())
        .load(conn)?;
    rows.sort_by_key(|a| shown_number(&a.scene_id));
    Ok(rows)
}

pub fn find(
    conn: &mut AnyConnection,
    run_id: &str,
    scene_id: &str,
) -> Result<Option<BackRow>, StoreError> {
    Ok(run_backs::table
        .find((run_id, scene_id))
        .select(BackRow::as_select())
        .first(conn)
        .optional()?)
}

/// The backs of a run, in order.
pub fn of_run(conn: &mut AnyConnection, run_id: &str) -> Result<Vec<BackRow>, StoreError> {
    let mut rows: Vec<BackRow> = run_backs::table
        .filter(run_backs::run_id.eq(run_id))
        .select(BackRow::as_select())
        .load(conn)?;
    rows.sort_by_key(|b| shown_number(&b.scene_id));
    Ok(rows)
}

/// Record a back and withdraw the answers it took back; the caller holds
/// the transaction (with the guarded run update).
pub fn save(
    conn: &mut AnyConnection,
    back: &BackRow,
    withdrawn: &[String],
) -> Result<(), StoreError> {
    diesel::delete(
        run_answers::table
            .filter(run_answers::run_id.eq(&back.run_id))
            .filter(run_answers::scene_id.eq_any(withdrawn)),
    )
    .execute(conn)?;
    diesel::insert_into(run_backs::table)
        .values(back)
        .execute(conn)?;
    Ok(())
}
