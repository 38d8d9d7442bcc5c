//! A run played from start to end in memory: the engine's rules applied to a
//! start, then one answer after another, with the states, events and A/B
//! assignments an online run would have produced. No store is read: the
//! stored assignments come in at the start.
//!
//! Offline sync replays an app's run through it (README, "Offline
//! onboarding"), and the conformance vectors are written by it.

use chrono::NaiveDateTime;
use serde::Serialize;
use serde_json::Value;

use super::answer::{self, AnswerError};
use super::decision::{AssignmentChange, Assignments, Event, EventKind, Stored};
use super::engine::{CompiledFlow, Context, ExperimentId, Next};
use super::locale::{self, Wanted};
use super::view::{self, Progress, State, Status};
use super::{Attributes, values};

/// A stored A/B assignment of a user: `(step, condition)` → scene.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredAssignment {
    pub step: String,
    pub condition: String,
    pub scene: String,
    /// An exposure event was already recorded for it.
    #[serde(skip)]
    pub exposed: bool,
}

/// An event as the online path records it (README, "Events").
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReplayEvent {
    pub kind: EventKind,
    pub occurred_at: NaiveDateTime,
    pub step_key: Option<String>,
    pub scene_key: Option<String>,
    pub experiment_id: Option<String>,
    pub variation_id: Option<String>,
}

impl ReplayEvent {
    fn of(e: &Event, at: NaiveDateTime) -> ReplayEvent {
        ReplayEvent {
            kind: e.kind,
            occurred_at: at,
            step_key: e.step.clone(),
            scene_key: e.scene.clone(),
            experiment_id: e.experiment.as_ref().map(ToString::to_string),
            variation_id: e.variation.clone(),
        }
    }
}

/// An assignment to store: bucketed by this run (`created`), or a stored one
/// this run showed first.
#[derive(Debug, Clone, PartialEq)]
pub struct Exposure {
    /// Index into [`Replay::assignments`].
    pub index: usize,
    pub created: bool,
    pub at: NaiveDateTime,
}

/// Why an answer was not taken.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReplayError {
    #[error("the run is already completed")]
    AlreadyCompleted,
    #[error(transparent)]
    Invalid(#[from] AnswerError),
}

/// One run, in memory.
pub struct Replay<'a> {
    flow: &'a CompiledFlow,
    user_id: String,
    run_id: String,
    start: Attributes,
    started_at: NaiveDateTime,
    overrides: Attributes,
    /// The languages the app asked for (README "Languages").
    language: Wanted,
    /// Answers by `save_as`, as stored.
    pub answers: Attributes,
    /// Every assignment of the user, stored ones first.
    pub assignments: Vec<StoredAssignment>,
    /// Assignments this run created (bucketed) or exposed for the first time.
    pub exposures: Vec<Exposure>,
    pub events: Vec<ReplayEvent>,
    /// Index of the current scene; `None` once completed.
    pub scene: Option<usize>,
    pub shown: u32,
    pub answered: u32,
}

impl<'a> Replay<'a> {
    /// Start a run at `at`: the first scene is chosen (or the run completes).
    pub fn start(
        flow: &'a CompiledFlow,
        user_id: &str,
        run_id: &str,
        start: &Attributes,
        overrides: &Attributes,
        assignments: Vec<StoredAssignment>,
        at: NaiveDateTime,
    ) -> Replay<'a> {
        let mut run = Replay {
            flow,
            user_id: user_id.to_owned(),
            run_id: run_id.to_owned(),
            start: values::normalise_all(start),
            started_at: at,
            overrides: overrides.clone(),
            language: Wanted::default(),
            answers: Attributes::new(),
            assignments,
            exposures: Vec::new(),
            events: Vec::new(),
            scene: None,
            shown: 0,
            answered: 0,
        };
        run.advance(Next::Step(0), at);
        run
    }

    /// Attributes as conditions and templates see them: overrides, then
    /// answers, then start attributes.
    pub fn attributes(&self) -> Attributes {
        let mut attrs = self.start.clone();
        attrs.extend(self.answers.clone());
        attrs.extend(self.overrides.clone());
        values::normalise_all(&attrs)
    }

    /// States in the language negotiated from the attribute `locale`, else
    /// `wanted` (an app's preferred languages), as online.
    pub fn in_language(mut self, wanted: Wanted) -> Self {
        self.language = wanted;
        self
    }

    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    pub fn started_at(&self) -> NaiveDateTime {
        self.started_at
    }

    /// The key of the current scene, `None` once completed.
    pub fn scene_key(&self) -> Option<&str> {
        self.scene.map(|s| self.flow.scene(s).key.as_str())
    }

    /// Answer the current scene at `at`; the run is unchanged on an error.
    pub fn answer(&mut self, answer: &Value, at: NaiveDateTime) -> Result<State, ReplayError> {
        let scene = self.scene.ok_or(ReplayError::AlreadyCompleted)?;
        let accepted = answer::accept(self.flow, scene, answer)?;
        let s = self.flow.scene(scene);
        if let Some(key) = &s.save_as {
            self.answers.insert(key.clone(), accepted.value);
        }
        self.answered += 1;
        let answered = Event::at_scene(self.flow, EventKind::Answered, scene);
        self.events.push(ReplayEvent::of(&answered, at));
        self.advance(accepted.next, at);
        Ok(self.state())
    }

    /// The state as the app sees it.
    pub fn state(&self) -> State {
        let version = self.flow.version.clone();
        let answered = self.answered;
        let attributes = self.attributes();
        let served = locale::served(self.flow.locales(), &attributes, &self.language);
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
        State {
            status: Status::InProgress,
            version,
            scene: Some(view::scene_view(
                self.flow,
                scene,
                format!("{}-{}", self.run_id, self.shown),
                &attributes,
                &locale::chain(self.flow.locales(), served.as_deref()),
            )),
            progress: Progress {
                answered,
                remaining_estimate: self.flow.remaining_from(step),
            },
            locale: served,
        }
    }

    fn advance(&mut self, from: Next, at: NaiveDateTime) {
        let attributes = self.attributes();
        let ctx = Context {
            user_id: &self.user_id,
            attributes: &attributes,
            today: at.date(),
        };
        let stored: Assignments = self
            .assignments
            .iter()
            .map(|a| {
                (
                    ExperimentId::new(&a.step, &a.condition),
                    Stored {
                        scene: a.scene.clone(),
                        exposed: a.exposed,
                    },
                )
            })
            .collect();
        let decision = self.flow.reach(from, &ctx, &stored);
        match &decision.assignment {
            Some(AssignmentChange::Bucketed { experiment, scene }) => {
                let row = StoredAssignment {
                    step: experiment.step.clone(),
                    condition: experiment.condition.clone(),
                    scene: scene.clone(),
                    exposed: true,
                };
                let index = match self.position(experiment) {
                    Some(i) => {
                        self.assignments[i] = row;
                        i
                    }
                    None => {
                        self.assignments.push(row);
                        self.assignments.len() - 1
                    }
                };
                self.expose(index, true, at);
            }
            Some(AssignmentChange::Exposed { experiment }) => {
                if let Some(i) = self.position(experiment) {
                    self.assignments[i].exposed = true;
                    self.expose(i, false, at);
                }
            }
            None => {}
        }
        self.events
            .extend(decision.events.iter().map(|e| ReplayEvent::of(e, at)));
        self.scene = decision.scene();
        if self.scene.is_some() {
            self.shown += 1;
        }
    }

    fn position(&self, experiment: &ExperimentId) -> Option<usize> {
        self.assignments
            .iter()
            .position(|a| a.step == experiment.step && a.condition == experiment.condition)
    }

    fn expose(&mut self, index: usize, created: bool, at: NaiveDateTime) {
        match self.exposures.iter_mut().find(|e| e.index == index) {
            // Bucketed again (its scene left the group): still one row to write.
            Some(e) => e.created |= created,
            None => self.exposures.push(Exposure { index, created, at }),
        }
    }
}
