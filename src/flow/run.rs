//! One run moving through a flow: the one state machine behind every way a
//! run moves (docs/src/architecture.md). The online answer, going back, offline
//! sync, QA's jump, the simulation and the conformance vectors all drive a
//! [`Run`]; none of them moves a run by hand.
//!
//! A move takes its time as an argument and returns what it changed as data
//! ([`Moved`]: events, the A/B assignment to store, the answer or back to
//! record) or a typed [`Refusal`]; on a refusal the run is unchanged. The run
//! service loads a run, moves it and saves the effects; nothing here reads or
//! writes a store.

use chrono::NaiveDateTime;
use serde_json::Value;

use super::answer::{self, AnswerError};
use super::back::{self, BackError, Given};
use super::decision::{AssignmentChange, Assignments, Event, EventKind};
use super::engine::{CompiledFlow, Context, Next, Reached};
use super::locale::{self, Wanted};
use super::selection::ExperimentId;
use super::view::{self, Progress, RunStatus, State, Status};
use super::{Attributes, values};

/// The id of the `shown`-th scene shown in run `run_id`: `RUNID-N`
/// (docs/src/mobile-api.md). A scene shown again (after going back) gets a new
/// one.
pub fn scene_id(run_id: &str, shown: u32) -> String {
    format!("{run_id}-{shown}")
}

/// Attributes as conditions and templates see them: QA overrides, then
/// answers (`save_as`), then start attributes, every value in its one
/// normalised form (docs/src/mobile-api.md "Runs").
pub fn merged(start: &Attributes, answers: &Attributes, overrides: &Attributes) -> Attributes {
    let mut attrs = start.clone();
    attrs.extend(answers.clone());
    attrs.extend(overrides.clone());
    values::normalise_all(&attrs)
}

/// Where a run is: everything a store keeps of it, and nothing else.
#[derive(Debug, Clone, PartialEq)]
pub struct RunData {
    pub id: String,
    pub user_id: String,
    pub version: String,
    pub status: RunStatus,
    /// The step and scene (keys) on screen; `None` once completed.
    pub step: Option<String>,
    pub scene: Option<String>,
    /// Scenes shown so far (the `N` of the current scene id).
    pub shown: u32,
    /// Answers that stand (going back withdraws some).
    pub answered: u32,
    /// Start attributes, normalised.
    pub start: Attributes,
    /// Answers by `save_as`, as accepted.
    pub answers: Attributes,
    /// The earlier answer of a scene shown again after going back.
    pub previous: Option<Value>,
    pub started_at: NaiveDateTime,
    /// Time of the last move.
    pub updated_at: NaiveDateTime,
    pub completed_at: Option<NaiveDateTime>,
}

/// A new run: who, with what, and when.
pub struct Begin<'a> {
    pub user_id: &'a str,
    pub run_id: &'a str,
    pub start: &'a Attributes,
    pub at: NaiveDateTime,
}

/// An answer a move recorded: the scene answered, as the run had it.
#[derive(Debug, Clone, PartialEq)]
pub struct AnswerRecord {
    pub scene_id: String,
    pub step: String,
    pub scene: String,
    /// The answer as sent.
    pub answer: Value,
}

/// A back a move recorded (docs/src/mobile-api.md "Going back").
#[derive(Debug, Clone, PartialEq)]
pub struct BackRecord {
    /// The scene left.
    pub scene_id: String,
    pub from_step: String,
    pub to_step: String,
    pub to_scene: String,
    /// Index into the answers given of the first one withdrawn: it and every
    /// later one.
    pub withdrawn_from: usize,
}

/// What one move changed, all at one time.
#[derive(Debug, Clone, PartialEq)]
pub struct Moved {
    pub at: NaiveDateTime,
    /// Events in the order they happened.
    pub events: Vec<Event>,
    /// The A/B assignment to store or expose, if the selection made one.
    pub assignment: Option<AssignmentChange>,
    pub answer: Option<AnswerRecord>,
    pub back: Option<BackRecord>,
    /// What the selection reached (none for a back, which shows a scene
    /// again without selecting).
    pub reached: Option<Reached>,
}

impl Moved {
    fn at(at: NaiveDateTime) -> Moved {
        Moved {
            at,
            events: Vec::new(),
            assignment: None,
            answer: None,
            back: None,
            reached: None,
        }
    }
}

/// What a rescue kept of a run and what it let go (docs/src/rollouts.md).
#[derive(Debug, Clone, PartialEq)]
pub struct Transplant {
    /// The `rescued` event, on the version the run leaves, at its step.
    pub left: Event,
    /// Indices into the answers given to [`Run::rescue`] that stand on the
    /// new version (their scene is there, in the same step, and accepts
    /// the answer); the others are withdrawn.
    pub kept: Vec<usize>,
    /// Assignments whose A/B group differs between the two versions (other
    /// scenes or weights): forgotten, so the new version buckets anew.
    pub forgotten: Vec<ExperimentId>,
}

/// Why a move was refused; the run is unchanged.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Refusal {
    #[error("the run is already completed")]
    AlreadyCompleted,
    #[error("scene_id is not the scene this run is on")]
    SceneMismatch { current: Option<String> },
    #[error(transparent)]
    Invalid(#[from] AnswerError),
    #[error("there is no earlier answered scene to go back to")]
    NothingToGoBackTo,
    #[error("scene '{0}' does not allow going back past it")]
    BackNotAllowed(String),
    #[error("version {version} has no step '{step}'")]
    UnknownStep { version: String, step: String },
    /// What the run holds does not fit its flow (a stored run read back).
    #[error("run {run}: {what}")]
    Corrupt { run: String, what: String },
}

/// One run on its flow, with the user's QA overrides and A/B assignments.
pub struct Run<'f> {
    flow: &'f CompiledFlow,
    data: RunData,
    overrides: Attributes,
    assignments: Assignments,
    /// Index of the current scene; `None` once completed.
    scene: Option<usize>,
}

impl<'f> Run<'f> {
    /// Start a run: the first scene is chosen (or the run completes at once).
    pub fn start(
        flow: &'f CompiledFlow,
        begin: Begin,
        overrides: &Attributes,
        assignments: Assignments,
    ) -> (Run<'f>, Moved) {
        let mut run = Run {
            flow,
            data: RunData {
                id: begin.run_id.to_owned(),
                user_id: begin.user_id.to_owned(),
                version: flow.version.clone(),
                status: Status::InProgress,
                step: None,
                scene: None,
                shown: 0,
                answered: 0,
                start: values::normalise_all(begin.start),
                answers: Attributes::new(),
                previous: None,
                started_at: begin.at,
                updated_at: begin.at,
                completed_at: None,
            },
            overrides: overrides.clone(),
            assignments,
            scene: None,
        };
        let mut moved = Moved::at(begin.at);
        run.advance(Next::Step(0), &mut moved);
        (run, moved)
    }

    /// A run as stored; refused as corrupt when its scene is not in `flow`.
    pub fn resume(
        flow: &'f CompiledFlow,
        data: RunData,
        overrides: &Attributes,
        assignments: Assignments,
    ) -> Result<Run<'f>, Refusal> {
        let scene = match &data.scene {
            None => None,
            Some(key) => Some(flow.scene_position(key).ok_or_else(|| Refusal::Corrupt {
                run: data.id.clone(),
                what: format!("on unknown scene {key}"),
            })?),
        };
        Ok(Run {
            flow,
            data,
            overrides: overrides.clone(),
            assignments,
            scene,
        })
    }

    pub fn data(&self) -> &RunData {
        &self.data
    }

    pub fn into_data(self) -> RunData {
        self.data
    }

    pub fn flow(&self) -> &'f CompiledFlow {
        self.flow
    }

    /// Index of the current scene; `None` once completed.
    pub fn scene(&self) -> Option<usize> {
        self.scene
    }

    /// The id of the scene on screen; `None` once completed.
    pub fn scene_id(&self) -> Option<String> {
        self.scene.map(|_| scene_id(&self.data.id, self.data.shown))
    }

    pub fn is_completed(&self) -> bool {
        self.scene.is_none()
    }

    /// The user's assignments as this run leaves them.
    pub fn assignments(&self) -> &Assignments {
        &self.assignments
    }

    /// Attributes as conditions and templates see them ([`merged`]).
    pub fn attributes(&self) -> Attributes {
        merged(&self.data.start, &self.data.answers, &self.overrides)
    }

    /// Answer the scene `scene_id`, in the order of docs/src/mobile-api.md: completed,
    /// then the scene on screen, then the answer itself.
    pub fn answer_scene(
        &mut self,
        scene_id: &str,
        answer: &Value,
        at: NaiveDateTime,
    ) -> Result<Moved, Refusal> {
        self.on_screen(scene_id)?;
        self.answer(answer, at)
    }

    /// The order of docs/src/mobile-api.md for a move on a scene: a completed run first,
    /// then a scene that is not the one on screen.
    fn on_screen(&self, scene_id: &str) -> Result<(), Refusal> {
        if self.scene.is_none() {
            return Err(Refusal::AlreadyCompleted);
        }
        let current = self.scene_id();
        if current.as_deref() != Some(scene_id) {
            return Err(Refusal::SceneMismatch { current });
        }
        Ok(())
    }

    /// Answer the scene on screen.
    pub fn answer(&mut self, answer: &Value, at: NaiveDateTime) -> Result<Moved, Refusal> {
        let scene = self.scene.ok_or(Refusal::AlreadyCompleted)?;
        let accepted = answer::accept(self.flow, scene, answer)?;
        let s = self.flow.scene(scene);
        let record = AnswerRecord {
            scene_id: scene_id(&self.data.id, self.data.shown),
            step: s.step.clone(),
            scene: s.key.clone(),
            answer: answer.clone(),
        };
        if let Some(key) = &s.save_as {
            self.data.answers.insert(key.clone(), accepted.value);
        }
        self.data.answered += 1;
        let mut moved = Moved::at(at);
        moved.answer = Some(record);
        moved
            .events
            .push(Event::at_scene(self.flow, EventKind::Answered, scene));
        self.advance(accepted.next, &mut moved);
        Ok(moved)
    }

    /// Go back from the scene `scene_id` over `given` (the run's answers
    /// that stand, in order): the scene gone back to is shown again with
    /// its earlier answer as `previous`.
    pub fn back_from(
        &mut self,
        scene_id: &str,
        given: &[Given],
        at: NaiveDateTime,
    ) -> Result<Moved, Refusal> {
        self.on_screen(scene_id)?;
        self.back(given, at)
    }

    /// Go back from the scene on screen (see [`Run::back_from`]).
    pub fn back(&mut self, given: &[Given], at: NaiveDateTime) -> Result<Moved, Refusal> {
        let left = self.scene.ok_or(Refusal::AlreadyCompleted)?;
        let plan = back::plan(self.flow, given).map_err(|e| match e {
            BackError::NothingToGoBackTo => Refusal::NothingToGoBackTo,
            BackError::NotAllowed(scene) => Refusal::BackNotAllowed(scene),
            BackError::Corrupt(scene) => Refusal::Corrupt {
                run: self.data.id.clone(),
                what: format!("stored answer to {scene}"),
            },
        })?;
        let to = self.flow.scene(plan.scene);
        let record = BackRecord {
            scene_id: scene_id(&self.data.id, self.data.shown),
            from_step: self.flow.scene(left).step.clone(),
            to_step: to.step.clone(),
            to_scene: to.key.clone(),
            withdrawn_from: plan.from,
        };
        let d = &mut self.data;
        d.answers = plan.answers;
        d.answered = plan.from as u32;
        d.previous = Some(plan.previous);
        d.shown += 1;
        d.step = Some(to.step.clone());
        d.scene = Some(to.key.clone());
        d.updated_at = at;
        self.scene = Some(plan.scene);
        let mut moved = Moved::at(at);
        moved.back = Some(record);
        moved.events = vec![
            Event::at_scene(self.flow, EventKind::WentBack, plan.scene),
            Event::at_scene(self.flow, EventKind::SceneShown, plan.scene),
        ];
        Ok(moved)
    }

    /// Move to `step` (QA's jump), completed or not; the scene is chosen
    /// as usual.
    pub fn jump(&mut self, step: &str, at: NaiveDateTime) -> Result<Moved, Refusal> {
        let position = self
            .flow
            .step_position(step)
            .ok_or_else(|| Refusal::UnknownStep {
                version: self.data.version.clone(),
                step: step.to_owned(),
            })?;
        self.data.status = Status::InProgress;
        self.data.completed_at = None;
        let mut moved = Moved::at(at);
        self.advance(Next::Step(position), &mut moved);
        Ok(moved)
    }

    /// Move a run of `from` onto `flow` at its step (docs/src/rollouts.md
    /// "Rescue"): the scene is chosen anew by `flow`'s rules;
    /// `given` (the run's answers that stand, in order, as scene key and
    /// answer) stand where their scene is in `flow`, in the same step, and
    /// accepts the answer; A/B assignments are kept where the group is the
    /// same in both. Refused when the run is completed, or its step is not
    /// in `flow` ([`Refusal::UnknownStep`]: the run stays).
    pub fn rescue(
        flow: &'f CompiledFlow,
        from: &CompiledFlow,
        data: RunData,
        given: &[(String, Value)],
        overrides: &Attributes,
        assignments: &Assignments,
        at: NaiveDateTime,
    ) -> Result<(Run<'f>, Moved, Transplant), Refusal> {
        let (Some(step), Some(scene)) = (data.step.clone(), data.scene.clone()) else {
            return Err(Refusal::AlreadyCompleted);
        };
        let position = flow
            .step_position(&step)
            .ok_or_else(|| Refusal::UnknownStep {
                version: flow.version.clone(),
                step: step.clone(),
            })?;
        let left = match from.scene_position(&scene) {
            Some(i) => Event::at_scene(from, EventKind::Rescued, i),
            None => Event {
                kind: EventKind::Rescued,
                step: Some(step.clone()),
                scene: Some(scene),
                experiment: None,
                variation: None,
            },
        };
        let same_step = |key: &str, i: usize| {
            from.scene_position(key)
                .is_some_and(|j| from.scene(j).step == flow.scene(i).step)
        };
        let mut kept = Vec::new();
        let mut answers = Attributes::new();
        for (n, (key, answer)) in given.iter().enumerate() {
            let Some(i) = flow.scene_position(key).filter(|&i| same_step(key, i)) else {
                continue;
            };
            let Ok(accepted) = answer::accept(flow, i, answer) else {
                continue;
            };
            if let Some(save_as) = &flow.scene(i).save_as {
                answers.insert(save_as.clone(), accepted.value);
            }
            kept.push(n);
        }
        let mut forgotten = Vec::new();
        let mut still = Assignments::default();
        for (x, stored) in assignments.sorted() {
            let group = |f: &CompiledFlow| f.group(x).map(|g| g.variants.clone());
            if group(from) == group(flow) {
                still.insert(x.clone(), stored.clone());
            } else {
                forgotten.push(x.clone());
            }
        }
        let mut data = data;
        data.version = flow.version.clone();
        data.answers = answers;
        data.answered = kept.len() as u32;
        let mut run = Run {
            flow,
            data,
            overrides: overrides.clone(),
            assignments: still,
            scene: None,
        };
        let mut moved = Moved::at(at);
        run.advance(Next::Step(position), &mut moved);
        Ok((
            run,
            moved,
            Transplant {
                left,
                kept,
                forgotten,
            },
        ))
    }

    /// The state as the app sees it, in the language negotiated from the
    /// attribute `locale`, else `wanted` (docs/src/mobile-api.md "Languages").
    pub fn state(&self, wanted: &Wanted) -> State {
        let attributes = self.attributes();
        let served = locale::served(self.flow.languages(), &attributes, wanted);
        let answered = self.data.answered;
        let version = self.data.version.clone();
        let Some(scene) = self.scene else {
            return State {
                status: Status::Completed,
                version,
                scene: None,
                progress: Progress {
                    answered,
                    remaining_estimate: 0,
                },
                locale: served,
            };
        };
        let step = self
            .flow
            .step_position(&self.flow.scene(scene).step)
            .unwrap_or_default();
        let mut shown = view::scene_view(
            self.flow,
            scene,
            scene_id(&self.data.id, self.data.shown),
            &attributes,
            &locale::chain(self.flow.locales(), served.as_deref()),
        );
        shown.input.previous = self.data.previous.clone();
        State {
            status: Status::InProgress,
            version,
            scene: Some(shown),
            progress: Progress {
                answered,
                remaining_estimate: self.flow.remaining_from(step),
            },
            locale: served,
        }
    }

    /// Move to the scene reached from `from` (or complete), adding the
    /// engine's decision to `moved`.
    fn advance(&mut self, from: Next, moved: &mut Moved) {
        let at = moved.at;
        let attributes = self.attributes();
        let ctx = Context {
            user_id: &self.data.user_id,
            attributes: &attributes,
            today: at.date(),
        };
        let decision = self.flow.reach(from, &ctx, &self.assignments);
        let d = &mut self.data;
        d.updated_at = at;
        // An answer offered after going back is for that scene only.
        d.previous = None;
        match &decision.reached {
            Reached::End { .. } => {
                d.status = Status::Completed;
                d.step = None;
                d.scene = None;
                d.completed_at = Some(at);
            }
            Reached::Scene(selection) => {
                d.shown += 1;
                d.step = Some(self.flow.step_key(selection.step).to_owned());
                d.scene = Some(self.flow.scene(selection.scene).key.clone());
            }
        }
        self.scene = decision.scene();
        if let Some(change) = &decision.assignment {
            self.assignments.apply(change);
        }
        moved.events.extend(decision.events);
        moved.assignment = decision.assignment;
        moved.reached = Some(decision.reached);
    }
}

#[cfg(test)]
#[path = "run_tests.rs"]
mod tests;
