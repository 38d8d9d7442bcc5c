//! Going back (docs/src/mobile-api.md "Going back"): which earlier scene a run returns to,
//! whether the workbook allows it, and the answers that remain. No I/O.

use serde_json::Value;

use super::answer::accept;
use super::conditions::Attributes;
use super::engine::CompiledFlow;
use super::model::InputKind;

/// One accepted answer of a run: the scene (index) and the answer as sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Given {
    pub scene: usize,
    pub answer: Value,
}

/// Why a run cannot go back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackError {
    #[error("there is no earlier answered scene to go back to")]
    NothingToGoBackTo,
    /// Going back would undo the answer to a scene whose `back` is `no`.
    #[error("scene '{0}' does not allow going back past it")]
    NotAllowed(String),
    /// A stored answer no longer fits its scene (the version changed under it).
    #[error("the stored answer to scene '{0}' no longer fits it")]
    Corrupt(String),
}

/// Where going back leads.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Index into the answers of the one gone back to: it and every later
    /// answer are withdrawn.
    pub from: usize,
    /// The scene shown again.
    pub scene: usize,
    /// Its earlier answer, offered to prefill.
    pub previous: Value,
    /// The `save_as` values of the answers that remain.
    pub answers: Attributes,
}

/// Go back over `given` (a run's answers, in order): to the last answered
/// scene whose input is not `none`, unless it or a later answered scene has
/// `back` = `no`.
pub fn plan(flow: &CompiledFlow, given: &[Given]) -> Result<Plan, BackError> {
    let from = given
        .iter()
        .rposition(|g| flow.scene(g.scene).input != InputKind::None)
        .ok_or(BackError::NothingToGoBackTo)?;
    if let Some(fixed) = given[from..].iter().find(|g| !flow.scene(g.scene).back) {
        return Err(BackError::NotAllowed(flow.scene(fixed.scene).key.clone()));
    }
    let mut answers = Attributes::new();
    for g in &given[..from] {
        let key = &flow.scene(g.scene).key;
        let accepted =
            accept(flow, g.scene, &g.answer).map_err(|_| BackError::Corrupt(key.clone()))?;
        if let Some(save_as) = &flow.scene(g.scene).save_as {
            answers.insert(save_as.clone(), accepted.value);
        }
    }
    Ok(Plan {
        from,
        scene: given[from].scene,
        previous: given[from].answer.clone(),
        answers,
    })
}
