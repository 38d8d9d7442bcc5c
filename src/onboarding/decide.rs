//! Decide: what a start or an answer does to a run, from loaded data and
//! the engine's [`Decision`]; no database here. The result is the state the
//! app gets and the rows to [`save`](super::save).

use serde_json::Value;

use super::load::Loaded;
use super::save::{AssignmentWrite, RunWrite, Write};
use super::{OnboardingError, Result, Who, effective_attributes, render_in};
use crate::flow::RunStatus;
use crate::flow::answer::accept;
use crate::flow::decision::AssignmentChange;
use crate::flow::locale::Wanted;
use crate::flow::view::State;
use crate::flow::{
    Assignments, Attributes, CompiledFlow, Context, Decision, Event, EventKind, Next, Reached,
};
use crate::store::StoreError;
use crate::store::column::Json;
use crate::store::runs::{AnswerRow, AssignmentRow, NewEvent, RunRow};

/// A new run of `user_id` on `version`, moved to its first scene.
#[allow(clippy::too_many_arguments)]
pub fn start(
    flow: &CompiledFlow,
    user_id: &str,
    who: &Who,
    version: String,
    attributes: &Attributes,
    assignments: &Assignments,
    now: chrono::NaiveDateTime,
    accept: &Wanted,
) -> Result<(State, Write)> {
    let mut run = RunRow {
        id: crate::auth::random_hex(12),
        user_id: user_id.to_owned(),
        channel: who.channel,
        version_id: version,
        status: RunStatus::InProgress,
        step_key: None,
        scene_key: None,
        scene_id: None,
        shown: 0,
        answered: 0,
        attributes: Json(attributes.clone()),
        answers: Json::default(),
        revision: 0,
        started_at: now,
        updated_at: now,
        completed_at: None,
        previous_answer: None,
    };
    let mut write = Write::default();
    let attrs = effective_attributes(&run, &who.overrides)?;
    advance(
        flow,
        &mut run,
        Next::Step(0),
        &attrs,
        assignments,
        &mut write,
    );
    let state = render_in(flow, &run, &attrs, accept)?;
    write.run = Some(RunWrite::Insert(run));
    Ok((state, write))
}

/// What an answer does.
#[derive(Debug)]
pub enum Answered {
    /// The same answer again: the state it returned the first time.
    Replay(State),
    /// The run moved: the new state, what to write, and the version and
    /// step answered (for the metrics).
    Moved {
        state: State,
        write: Box<Write>,
        counted: (String, String),
    },
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
    let (Some(run), Some(who)) = (&loaded.run, &loaded.who) else {
        return Err(OnboardingError::NotStarted);
    };
    if let Some(earlier) = &loaded.earlier {
        if earlier.answer.0 != *answer {
            return Err(OnboardingError::AlreadyAnswered);
        }
        return Ok(Answered::Replay(earlier.response.0.clone()));
    }
    if run.status == RunStatus::Completed {
        return Err(OnboardingError::AlreadyCompleted);
    }
    if run.scene_id.as_deref() != Some(scene_id) {
        return Err(OnboardingError::SceneMismatch {
            current: run.scene_id.clone(),
        });
    }
    let mut run = run.clone();
    let (step_key, scene_key) = (
        run.step_key.clone().unwrap_or_default(),
        run.scene_key.clone().unwrap_or_default(),
    );
    let scene = flow.scene_position(&scene_key).ok_or_else(|| {
        StoreError::Corrupt(format!("run {} is on unknown scene {scene_key}", run.id))
    })?;
    let accepted = accept(flow, scene, answer)?;

    if let Some(key) = &flow.scene(scene).save_as {
        run.answers.insert(key.clone(), accepted.value);
    }
    run.answered += 1;
    let expected = run.revision;
    run.revision += 1;
    run.updated_at = now;

    let mut write = Write {
        events: vec![new_event(
            &run,
            Event::at_scene(flow, EventKind::Answered, scene),
        )],
        ..Write::default()
    };
    let attrs = effective_attributes(&run, &who.overrides)?;
    advance(
        flow,
        &mut run,
        accepted.next,
        &attrs,
        &loaded.assignments,
        &mut write,
    );
    // Advancing stores no answer, so these attributes are still the run's.
    let state = render_in(flow, &run, &attrs, language)?;
    write.answer = Some(AnswerRow {
        run_id: run.id.clone(),
        scene_id: scene_id.to_owned(),
        step_key: step_key.clone(),
        scene_key,
        answer: Json(answer.clone()),
        response: Json(state.clone()),
        created_at: now,
    });
    let counted = (run.version_id.clone(), step_key);
    write.run = Some(RunWrite::Update { run, expected });
    Ok(Answered::Moved {
        state,
        write: Box::new(write),
        counted,
    })
}

/// Move `run` to the scene reached from `from` (or complete it), adding the
/// assignment and events of the engine's decision to `write`.
pub fn advance(
    flow: &CompiledFlow,
    run: &mut RunRow,
    from: Next,
    attributes: &Attributes,
    assignments: &Assignments,
    write: &mut Write,
) -> Decision {
    let now = run.updated_at;
    let ctx = Context {
        user_id: &run.user_id,
        attributes,
        today: now.date(),
    };
    let decision = flow.reach(from, &ctx, assignments);
    // An answer offered after going back is for that scene only.
    run.previous_answer = None;
    match &decision.reached {
        Reached::End { .. } => {
            run.status = RunStatus::Completed;
            run.step_key = None;
            run.scene_key = None;
            run.scene_id = None;
            run.completed_at = Some(now);
        }
        Reached::Scene(selection) => {
            let scene = flow.scene(selection.scene);
            run.shown += 1;
            run.scene_id = Some(format!("{}-{}", run.id, run.shown));
            run.step_key = Some(flow.step_key(selection.step).to_owned());
            run.scene_key = Some(scene.key.clone());
        }
    }
    write.assignment = decision.assignment.as_ref().map(|change| match change {
        AssignmentChange::Bucketed { experiment, scene } => AssignmentWrite::Put(AssignmentRow {
            user_id: run.user_id.clone(),
            step_key: experiment.step.clone(),
            condition_name: experiment.condition.clone(),
            scene_key: scene.clone(),
            source: "bucket".into(),
            assigned_at: now,
            exposed_at: Some(now),
        }),
        AssignmentChange::Exposed { experiment } => AssignmentWrite::Expose {
            user_id: run.user_id.clone(),
            step_key: experiment.step.clone(),
            condition_name: experiment.condition.clone(),
            at: now,
        },
    });
    write
        .events
        .extend(decision.events.iter().map(|e| new_event(run, e.clone())));
    decision
}

/// An engine event as stored: who, which run, when.
fn new_event(run: &RunRow, e: Event) -> NewEvent {
    NewEvent {
        kind: e.kind,
        occurred_at: run.updated_at,
        user_id: run.user_id.clone(),
        run_id: run.id.clone(),
        version_id: run.version_id.clone(),
        channel: run.channel,
        step_key: e.step,
        scene_key: e.scene,
        experiment_id: e.experiment.map(|x| x.to_string()),
        variation_id: e.variation,
    }
}
