//! The flow engine: the model of a flow, the condition catalogue, templates,
//! A/B bucketing, scene selection, transitions and answer checks.
//!
//! Nothing in here knows about HTTP or SQL, so it can be tested alone.

pub mod answer;
pub mod back;
pub mod bucket;
pub mod bundle;
pub mod conditions;
pub mod conformance;
pub mod decision;
pub mod diff;
pub mod engine;
pub mod key;
pub mod locale;
pub mod model;
pub mod rollout;
pub mod run;
pub mod schema;
pub mod selection;
pub mod simulate;
pub mod template;
pub mod values;
pub mod view;

#[cfg(test)]
mod property_tests;
#[cfg(test)]
pub(crate) mod tests;

pub use conditions::{Attributes, Condition, catalogue};
pub use decision::{Assignments, Decision, Event, EventKind};
pub use engine::{CompiledFlow, Context, ExperimentId, Next, Reached, Selection};
pub use key::Key;
pub use model::{Bound, BoundKind, ChoiceDef, FlowDef, InputKind, SceneDef, SceneText, Target};
pub use view::RunStatus;
