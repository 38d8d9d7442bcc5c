//! What a selection changes, as data: the engine decides, the run service
//! stores. A [`Decision`] carries the scene reached (or the end), the A/B
//! assignment to store and the events to record; [`Assignments`] are the
//! user's stored assignments the decision read.

use std::collections::HashMap;

use super::selection::{ExperimentId, Reached};

/// A stored assignment: the scene of an experiment, and whether the user
/// has been shown it (an exposure is recorded once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub scene: String,
    pub exposed: bool,
}

/// A user's stored A/B assignments, by experiment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Assignments(HashMap<ExperimentId, Stored>);

impl Assignments {
    pub fn get(&self, experiment: &ExperimentId) -> Option<&Stored> {
        self.0.get(experiment)
    }

    pub fn insert(&mut self, experiment: ExperimentId, stored: Stored) {
        self.0.insert(experiment, stored);
    }

    /// Apply what a decision stored, so a later decision sees it.
    pub fn apply(&mut self, change: &AssignmentChange) {
        match change {
            AssignmentChange::Bucketed { experiment, scene } => self.insert(
                experiment.clone(),
                Stored {
                    scene: scene.clone(),
                    exposed: true,
                },
            ),
            AssignmentChange::Exposed { experiment } => self.expose(experiment),
        }
    }

    /// Every assignment, by experiment id (step, then condition).
    pub fn sorted(&self) -> Vec<(&ExperimentId, &Stored)> {
        let mut all: Vec<_> = self.0.iter().collect();
        all.sort_by(|a, b| a.0.cmp(b.0));
        all
    }

    /// Mark a stored assignment exposed.
    pub fn expose(&mut self, experiment: &ExperimentId) {
        if let Some(s) = self.0.get_mut(experiment) {
            s.exposed = true;
        }
    }
}

impl FromIterator<(ExperimentId, Stored)> for Assignments {
    fn from_iter<I: IntoIterator<Item = (ExperimentId, Stored)>>(iter: I) -> Assignments {
        Assignments(iter.into_iter().collect())
    }
}

/// An assignment to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssignmentChange {
    /// Bucketed now, and shown now: store it exposed.
    Bucketed {
        experiment: ExperimentId,
        scene: String,
    },
    /// A stored assignment shown for the first time.
    Exposed { experiment: ExperimentId },
}

/// The kinds of events a run records (docs/src/analytics.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    SceneShown,
    Exposure,
    Answered,
    Completed,
    /// The user went back to change an earlier answer (docs/src/mobile-api.md "Going back").
    WentBack,
    /// Recorded by the run service when it ends a run without completing
    /// it (a QA reset, an offline run synced in its place): not a visit, so
    /// no figure counts it, but it ends the run's "left" (docs/src/analytics.md "Analytics
    /// at scale").
    RunReset,
    /// Recorded by the run service when a rescue moves a run off this
    /// version at its step (docs/src/rollouts.md): the run
    /// leaves the version's funnel there and goes on in the other.
    Rescued,
}

impl EventKind {
    pub const ALL: [EventKind; 7] = [
        EventKind::SceneShown,
        EventKind::Exposure,
        EventKind::Answered,
        EventKind::Completed,
        EventKind::WentBack,
        EventKind::RunReset,
        EventKind::Rescued,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::SceneShown => "scene_shown",
            EventKind::Exposure => "exposure",
            EventKind::Answered => "answered",
            EventKind::Completed => "completed",
            EventKind::WentBack => "went_back",
            EventKind::RunReset => "run_reset",
            EventKind::Rescued => "rescued",
        }
    }

    pub fn parse(raw: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.as_str() == raw)
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An event of a run, without who and when (the run service adds those).
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub kind: EventKind,
    pub step: Option<String>,
    pub scene: Option<String>,
    pub experiment: Option<ExperimentId>,
    pub variation: Option<String>,
}

/// What reaching a position decided.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub reached: Reached,
    /// The A/B assignment to store, if the selection made or first showed one.
    pub assignment: Option<AssignmentChange>,
    /// Events of showing the scene (or completing): an exposure first, if any.
    pub events: Vec<Event>,
}

impl Decision {
    /// The scene reached, if the flow did not end.
    pub fn scene(&self) -> Option<usize> {
        match &self.reached {
            Reached::Scene(s) => Some(s.scene),
            Reached::End { .. } => None,
        }
    }
}
