//! The rows of a run as diesel reads and writes them: the run, its answers,
//! its A/B assignments and its events. Kept apart from the queries
//! (runs.rs, testers.rs) and the prepared multi-row statements (batch.rs),
//! which all use them.

use diesel::prelude::*;

use super::channels::Channel;
use super::column::Json;
use super::schema::{assignments, events, run_answers, runs};
use crate::flow::run::{self, RunData};
use crate::flow::view::State;
use crate::flow::{Attributes, Event, EventKind, RunStatus};
use chrono::NaiveDateTime;
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
    /// sent it (JSON); offered as `input.previous` (docs/src/mobile-api.md "Going back").
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
    pub source: crate::words::AssignmentSource,
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
    /// Played offline and synced, at its original time.
    pub offline: bool,
}

impl NewEvent {
    /// An engine event of `run` as stored: who, which run, when.
    pub fn of(
        run: &RunData,
        channel: Channel,
        e: Event,
        at: NaiveDateTime,
        offline: bool,
    ) -> NewEvent {
        NewEvent {
            kind: e.kind,
            occurred_at: at,
            user_id: run.user_id.clone(),
            run_id: run.id.clone(),
            version_id: run.version.clone(),
            channel,
            step_key: e.step,
            scene_key: e.scene,
            experiment_id: e.experiment.map(|x| x.to_string()),
            variation_id: e.variation,
            offline,
        }
    }
}

impl RunRow {
    /// The run as the engine moves it.
    pub fn data(&self) -> RunData {
        RunData {
            id: self.id.clone(),
            user_id: self.user_id.clone(),
            version: self.version_id.clone(),
            status: self.status,
            step: self.step_key.clone(),
            scene: self.scene_key.clone(),
            shown: u32::try_from(self.shown).unwrap_or(0),
            answered: u32::try_from(self.answered).unwrap_or(0),
            start: self.attributes.0.clone(),
            answers: self.answers.0.clone(),
            previous: self.previous_answer.as_ref().map(|a| a.0.clone()),
            started_at: self.started_at,
            updated_at: self.updated_at,
            completed_at: self.completed_at,
        }
    }

    /// The row of a run the engine moved, on `channel`, at `revision`.
    pub fn of(data: RunData, channel: Channel, revision: i64) -> RunRow {
        let scene_id = data
            .scene
            .as_ref()
            .map(|_| run::scene_id(&data.id, data.shown));
        RunRow {
            scene_id,
            id: data.id,
            user_id: data.user_id,
            channel,
            version_id: data.version,
            status: data.status,
            step_key: data.step,
            scene_key: data.scene,
            shown: i32::try_from(data.shown).unwrap_or(i32::MAX),
            answered: i32::try_from(data.answered).unwrap_or(i32::MAX),
            attributes: Json(data.start),
            answers: Json(data.answers),
            revision,
            started_at: data.started_at,
            updated_at: data.updated_at,
            completed_at: data.completed_at,
            previous_answer: data.previous.map(Json),
        }
    }
}
