//! Decide: what a start or an answer does to a run, from loaded data and
//! the engine's [`Run`]; no database here. The result is the state the app
//! gets and the rows to [`save`](super::save).

use serde_json::Value;

use super::load::Loaded;
use super::save::{RunWrite, Write};
use super::{OnboardingError, Result, Who};
use crate::flow::locale::Wanted;
use crate::flow::run::{Begin, Refusal, Run};
use crate::flow::view::State;
use crate::flow::{Assignments, Attributes, CompiledFlow, values};
use crate::store::StoreError;
use crate::store::column::Json;
use crate::store::runs::{AnswerRow, RunRow};

impl From<Refusal> for OnboardingError {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::AlreadyCompleted => OnboardingError::AlreadyCompleted,
            Refusal::SceneMismatch { current } => OnboardingError::SceneMismatch { current },
            Refusal::Invalid(e) => OnboardingError::InvalidAnswer(e),
            Refusal::NothingToGoBackTo => OnboardingError::NothingToGoBackTo,
            Refusal::BackNotAllowed(scene) => OnboardingError::BackNotAllowed(scene),
            Refusal::UnknownStep { .. } => OnboardingError::UnknownKey(r.to_string()),
            Refusal::Corrupt { .. } => StoreError::Corrupt(r.to_string()).into(),
        }
    }
}

/// The stored run of a user, ready to move.
pub fn resume<'f>(
    flow: &'f CompiledFlow,
    run: &RunRow,
    who: &Who,
    assignments: &Assignments,
) -> Result<Run<'f>> {
    Ok(Run::resume(
        flow,
        run.data(),
        &who.overrides,
        assignments.clone(),
    )?)
}

/// A new run of `user_id` on `flow`, moved to its first scene.
#[allow(clippy::too_many_arguments)]
pub fn start(
    flow: &CompiledFlow,
    user_id: &str,
    who: &Who,
    attributes: &Attributes,
    assignments: &Assignments,
    now: chrono::NaiveDateTime,
    accept: &Wanted,
) -> Result<(State, Write)> {
    let run_id = crate::auth::random_hex(12);
    let begin = Begin {
        user_id,
        run_id: &run_id,
        start: attributes,
        at: now,
    };
    let (run, moved) = Run::start(flow, begin, &who.overrides, assignments.clone());
    let state = run.state(accept);
    let mut write = Write::default();
    write.record(run.data(), who.channel, &moved, false);
    write.run = Some(RunWrite::Insert(RunRow::of(
        run.into_data(),
        who.channel,
        0,
    )));
    Ok((state, write))
}

/// What an answer does.
#[derive(Debug)]
pub enum Answered {
    /// The same answer again: the state it returned the first time.
    Replay(State),
    /// The run moved: the new state, and what to write.
    Moved { state: State, write: Box<Write> },
}

/// Decide an answer to `scene_id` of the loaded run.
pub fn answer(
    flow: &CompiledFlow,
    loaded: &Loaded,
    scene_id: &str,
    answer: &Value,
    now: chrono::NaiveDateTime,
    language: &Wanted,
) -> Result<Answered> {
    let (Some(row), Some(who)) = (&loaded.run, &loaded.who) else {
        return Err(OnboardingError::NotStarted);
    };
    if let Some(earlier) = &loaded.earlier {
        if !values::same_answer(&earlier.answer.0, answer) {
            return Err(OnboardingError::AlreadyAnswered);
        }
        // A retry gets the reply the answer got, unless a rescue moved the
        // run to another version since (docs/src/rollouts.md "Rescue"): then
        // the run as it is now, so the app follows it.
        if earlier.response.0.version != row.version_id {
            let run = resume(flow, row, who, &loaded.assignments)?;
            return Ok(Answered::Replay(run.state(language)));
        }
        return Ok(Answered::Replay(earlier.response.0.clone()));
    }
    let mut run = resume(flow, row, who, &loaded.assignments)?;
    let moved = run.answer_scene(scene_id, answer, now)?;
    let state = run.state(language);
    let mut write = Write::default();
    write.record(run.data(), row.channel, &moved, false);
    let record = moved.answer.expect("an answer records its scene");
    write.answers.push(AnswerRow {
        run_id: row.id.clone(),
        scene_id: record.scene_id,
        step_key: record.step,
        scene_key: record.scene,
        answer: Json(record.answer),
        response: Json(state.clone()),
        created_at: now,
    });
    write.run = Some(RunWrite::Update {
        run: RunRow::of(run.into_data(), row.channel, row.revision + 1),
        expected: row.revision,
    });
    Ok(Answered::Moved {
        state,
        write: Box::new(write),
    })
}
