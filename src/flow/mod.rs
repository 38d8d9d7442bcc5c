//! The flow engine: the model of a flow and the condition catalogue.
//!
//! Nothing in here knows about HTTP or SQL, so it can be tested alone.

pub mod conditions;
pub mod model;
pub mod template;

pub use conditions::{Attributes, Condition, catalogue};
pub use model::{Bound, BoundKind, ChoiceDef, FlowDef, InputKind, SceneDef, Target};
