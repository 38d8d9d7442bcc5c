//! The rows of a run as diesel reads and writes them: the run, its answers,
//! its A/B assignments and its events. Kept apart from the queries
//! (runs.rs, testers.rs) and the prepared multi-row statements (batch.rs),
//! which all use them.

use diesel::prelude::*;

use super::channels::Channel;
use super::column::Json;
use super::schema::{assignments, events, run_answers, runs};
use crate::flow::view::State;
use crate::flow::{Attributes, EventKind, RunStatus};
use serde_json::Value;

/// `None` is NULL, not DEFAULT (no column has another default): SQLite
/// then takes several rows in one INSERT too.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = runs, treat_none_as_default_value = false)]
pub struct RunRow {
    pub id: String,
    pub user_id: String,
    pub channel: Channel,
    pub version_id: String,
    pub status: RunStatus,
    pub step_key: Option<String>,
    pub scene_key: Option<String>,
    pub scene_id: Option<String>,
    /// Scenes shown so far; numbers the scene ids.
    pub shown: i32,
    pub answered: i32,
    /// Start attributes, a JSON object.
    pub attributes: Json<Attributes>,
    /// Answers by `save_as`, a JSON object.
    pub answers: Json<Attributes>,
    pub revision: i64,
    pub started_at: chrono::NaiveDateTime,
    pub updated_at: chrono::NaiveDateTime,
    pub completed_at: Option<chrono::NaiveDateTime>,
    /// The answer withdrawn by going back to the current scene, as the app
    /// sent it (JSON); offered as `input.previous` (README "Going back").
    pub previous_answer: Option<Json<Value>>,
}

/// Several in one INSERT on SQLite too (see [`RunRow`]).
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = run_answers, treat_none_as_default_value = false)]
pub struct AnswerRow {
    pub run_id: String,
    pub scene_id: String,
    pub step_key: String,
    pub scene_key: String,
    /// The answer as the app sent it.
    pub answer: Json<Value>,
    /// The state the answer returned, replayed when it is sent again.
    pub response: Json<State>,
    pub created_at: chrono::NaiveDateTime,
}

/// Several in one upsert on SQLite too (see [`RunRow`]).
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = assignments, treat_none_as_default_value = false)]
pub struct AssignmentRow {
    pub user_id: String,
    pub step_key: String,
    pub condition_name: String,
    pub scene_key: String,
    pub source: String,
    pub assigned_at: chrono::NaiveDateTime,
    pub exposed_at: Option<chrono::NaiveDateTime>,
}

/// `None` is NULL, not DEFAULT: SQLite then takes the rows in one
/// multi-row INSERT too (with DEFAULT diesel sends one INSERT per row).
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = events, treat_none_as_default_value = false)]
pub struct NewEvent {
    pub kind: EventKind,
    pub occurred_at: chrono::NaiveDateTime,
    pub user_id: String,
    pub run_id: String,
    pub version_id: String,
    pub channel: Channel,
    pub step_key: Option<String>,
    pub scene_key: Option<String>,
    pub experiment_id: Option<String>,
    pub variation_id: Option<String>,
}
