//! What a selection reached, as data: the scene chosen at a step (with its
//! A/B group and how it was assigned) or the end of the flow. The engine
//! produces these; a [`super::decision::Decision`] carries them.

use std::fmt;

use serde::Serialize;

/// An experiment: the A/B group of one step and condition. Written
/// `step:condition` (docs/src/mobile-api.md "A/B assignment, byte for byte"); keys and
/// condition names never contain `:`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ExperimentId {
    pub step: String,
    pub condition: String,
}

impl ExperimentId {
    pub fn new(step: impl Into<String>, condition: impl Into<String>) -> ExperimentId {
        ExperimentId {
            step: step.into(),
            condition: condition.into(),
        }
    }

    /// The id as stored in events and warehouse tables.
    pub fn parse(text: &str) -> Option<ExperimentId> {
        let (step, condition) = text.split_once(':')?;
        Some(ExperimentId::new(step, condition))
    }
}

impl fmt::Display for ExperimentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.step, self.condition)
    }
}

impl Serialize for ExperimentId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl PartialEq<&str> for ExperimentId {
    fn eq(&self, other: &&str) -> bool {
        ExperimentId::parse(other).as_ref() == Some(self)
    }
}

/// Where the flow goes next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Step(usize),
    End,
}

/// An A/B group: the scenes of one step that share the matching condition.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Group {
    /// `step:condition`, the experiment id of warehouse exposure tables.
    pub experiment_id: ExperimentId,
    pub condition: String,
    /// Scene keys and weights, in sheet order.
    pub variants: Vec<(String, f64)>,
}

/// How the scene of a group was decided.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum Assignment {
    /// The step had one scene for the matching condition.
    Only,
    /// A stored assignment (earlier bucketing, or forced by QA).
    Stored,
    /// Bucketed now; the caller stores it.
    Bucketed { bucket: u64 },
}

/// The scene chosen for a step, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Selection {
    pub step: usize,
    pub scene: usize,
    pub condition: String,
    pub group: Option<Group>,
    pub assignment: Assignment,
    /// Steps passed over because none of their rows matched.
    pub skipped: Vec<String>,
}

/// What a user reaches from a position: a scene, or the end of the flow.
#[derive(Debug, Clone, PartialEq)]
pub enum Reached {
    Scene(Selection),
    End { skipped: Vec<String> },
}
