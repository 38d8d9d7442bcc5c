//! "Preview as": the path a user with given attributes and answers would
//! take, scene by scene, with why each scene was chosen. Pure: the caller
//! supplies stored assignments, nothing is written.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::Serialize;
use serde_json::Value;

use super::answer::accept;
use super::engine::{Assignment, CompiledFlow, Context, Next, Reached, Selection};
use super::{Attributes, model::InputKind};

/// One scene on the simulated path.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    pub step: String,
    pub scene: String,
    pub condition: String,
    /// `step:condition` when the group has several scenes.
    pub experiment_id: Option<String>,
    pub why: String,
    /// Steps passed over just before this one, because no row matched.
    pub skipped: Vec<String>,
    /// The answer used, when the path went on.
    pub answer: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Completed,
    /// The path stops at a scene the given answers do not answer.
    WaitingForAnswer,
    /// An answer does not fit its scene.
    InvalidAnswer,
    /// The path went on longer than any real run would (a loop).
    TooLong,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Simulation {
    pub version: String,
    pub path: Vec<Step>,
    pub outcome: Outcome,
    /// What went wrong with the last answer, for `invalid_answer`.
    pub problem: Option<String>,
    /// Attributes at the end: start attributes with the answers' `save_as` values.
    pub attributes: Attributes,
}

/// Why a selection chose its scene, in words for QA.
pub fn explain(flow: &CompiledFlow, s: &Selection) -> String {
    let scene = flow.scene(s.scene);
    let step = flow.step_key(s.step);
    let matched = if s.condition == super::conditions::PASS_THROUGH {
        "no earlier row's condition matched; pass_through always does".to_owned()
    } else {
        format!("condition {} matched first", s.condition)
    };
    match (&s.group, &s.assignment) {
        (Some(g), Assignment::Bucketed { bucket }) => {
            let weights: Vec<String> = g
                .variants
                .iter()
                .map(|(k, w)| format!("{k} {}", super::model::format_number(*w)))
                .collect();
            format!(
                "{matched}; A/B group {} ({}): bucket {bucket} of 10000 gives {}",
                g.experiment_id,
                weights.join(", "),
                scene.key
            )
        }
        (Some(g), _) => format!(
            "{matched}; A/B group {}: stored assignment {}",
            g.experiment_id, scene.key
        ),
        (None, _) => format!("{matched}; the only scene of step {step} for it"),
    }
}

/// Longest simulated path: past this a flow is looping.
const MAX_STEPS: usize = 500;

/// Walk the flow from the first step. `answers` are by step key; scenes
/// without input go on by themselves.
pub fn simulate(
    flow: &CompiledFlow,
    user_id: &str,
    start: &Attributes,
    answers: &BTreeMap<String, Value>,
    today: NaiveDate,
    stored: &mut dyn FnMut(&str, &str) -> Option<String>,
) -> Simulation {
    let mut attributes = start.clone();
    let mut path = Vec::new();
    let mut at = Next::Step(0);
    let mut assigned: BTreeMap<(String, String), String> = BTreeMap::new();
    let finish = |path, outcome, problem, attributes| Simulation {
        version: flow.version.clone(),
        path,
        outcome,
        problem,
        attributes,
    };
    while path.len() < MAX_STEPS {
        let ctx = Context {
            user_id,
            attributes: &attributes,
            today,
        };
        let reached = flow.reach(at, &ctx, &mut |step, condition| {
            assigned
                .get(&(step.to_owned(), condition.to_owned()))
                .cloned()
                .or_else(|| stored(step, condition))
        });
        let selection = match reached {
            Reached::End { .. } => return finish(path, Outcome::Completed, None, attributes),
            Reached::Scene(s) => s,
        };
        let scene = flow.scene(selection.scene);
        let step_key = flow.step_key(selection.step).to_owned();
        if selection.group.is_some() {
            assigned.insert(
                (step_key.clone(), selection.condition.clone()),
                scene.key.clone(),
            );
        }
        let mut entry = Step {
            step: step_key.clone(),
            scene: scene.key.clone(),
            condition: selection.condition.clone(),
            experiment_id: selection.group.as_ref().map(|g| g.experiment_id.clone()),
            why: explain(flow, &selection),
            skipped: selection.skipped.clone(),
            answer: None,
        };
        let answer = match answers.get(&step_key) {
            Some(a) => a.clone(),
            None if scene.input == InputKind::None => Value::Null,
            None => {
                path.push(entry);
                return finish(path, Outcome::WaitingForAnswer, None, attributes);
            }
        };
        match accept(flow, selection.scene, &answer) {
            Ok(accepted) => {
                if let Some(key) = &scene.save_as {
                    attributes.insert(key.clone(), accepted.value);
                }
                entry.answer = Some(answer);
                path.push(entry);
                at = accepted.next;
            }
            Err(e) => {
                entry.answer = Some(answer);
                path.push(entry);
                return finish(
                    path,
                    Outcome::InvalidAnswer,
                    Some(e.to_string()),
                    attributes,
                );
            }
        }
    }
    finish(path, Outcome::TooLong, None, attributes)
}
