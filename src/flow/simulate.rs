//! "Preview as": the path a user with given attributes and answers would
//! take, scene by scene, with why each scene was chosen. Pure: the caller
//! supplies stored assignments, nothing is written.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::Serialize;
use serde_json::Value;

use super::answer::accept;
use super::decision::Assignments;
use super::engine::{Assignment, CompiledFlow, Context, Next, Reached};
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

/// What settled the scene [`explain`] explains.
#[derive(Debug, Clone, Copy)]
pub enum Basis<'a> {
    /// A selection just made (simulate).
    Selected(&'a Assignment),
    /// A scene a run was served, with the source of the stored assignment
    /// (`bucket`, `forced`) if there is one (QA pages).
    Served(Option<&'a str>),
}

/// Why `scene` is served, in words for QA: its condition, and for an A/B
/// group how the variant was settled. The one wording of simulate, `/debug`
/// and the preview page.
pub fn explain(flow: &CompiledFlow, scene: usize, basis: Basis) -> String {
    let s = flow.scene(scene);
    let matched = if s.condition == super::conditions::PASS_THROUGH {
        "no earlier row's condition matched; pass_through always does".to_owned()
    } else {
        format!("condition {} matched first", s.condition)
    };
    let group = flow.group_of(scene);
    match (group, basis) {
        (Some(g), Basis::Selected(Assignment::Bucketed { bucket })) => {
            let weights: Vec<String> = g
                .variants
                .iter()
                .map(|(k, w)| format!("{k} {}", super::model::format_number(*w)))
                .collect();
            format!(
                "{matched}; A/B group {} ({}): bucket {bucket} of 10000 gives {}",
                g.experiment_id,
                weights.join(", "),
                s.key
            )
        }
        (Some(g), Basis::Selected(_)) => format!(
            "{matched}; A/B group {}: stored assignment {}",
            g.experiment_id, s.key
        ),
        (None, Basis::Selected(_)) => {
            format!("{matched}; the only scene of step {} for it", s.step)
        }
        (Some(g), Basis::Served(source)) => {
            let how = match source {
                Some("forced") => "forced by QA",
                Some(_) => "assigned by bucket",
                None => "not yet assigned",
            };
            format!(
                "{matched}; A/B group {} ({} scenes), {how}",
                g.experiment_id,
                g.variants.len()
            )
        }
        (None, Basis::Served(_)) => matched,
    }
}

/// Longest simulated path: past this a flow is looping.
const MAX_STEPS: usize = 500;

/// Walk the flow from the first step. `answers` are by step key; scenes
/// without input go on by themselves; `stored` are the user's assignments.
pub fn simulate(
    flow: &CompiledFlow,
    user_id: &str,
    start: &Attributes,
    answers: &BTreeMap<String, Value>,
    today: NaiveDate,
    stored: &Assignments,
) -> Simulation {
    let mut attributes = start.clone();
    let mut path = Vec::new();
    let mut at = Next::Step(0);
    let mut assigned = stored.clone();
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
        let decision = flow.reach(at, &ctx, &assigned);
        if let Some(change) = &decision.assignment {
            assigned.apply(change);
        }
        let selection = match decision.reached {
            Reached::End { .. } => return finish(path, Outcome::Completed, None, attributes),
            Reached::Scene(s) => s,
        };
        let scene = flow.scene(selection.scene);
        let step_key = flow.step_key(selection.step).to_owned();
        let mut entry = Step {
            step: step_key.clone(),
            scene: scene.key.clone(),
            condition: selection.condition.clone(),
            experiment_id: selection
                .group
                .as_ref()
                .map(|g| g.experiment_id.to_string()),
            why: explain(
                flow,
                selection.scene,
                Basis::Selected(&selection.assignment),
            ),
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
