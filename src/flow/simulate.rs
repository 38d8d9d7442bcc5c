//! "Preview as": the path a user with given attributes and answers would
//! take, scene by scene, with why each scene was chosen; the answer script
//! may go back and answer again (docs/src/qa.md). Pure: the caller
//! supplies stored assignments, nothing is written.

use std::collections::BTreeMap;

use chrono::{NaiveDate, NaiveTime};
use serde::Serialize;
use serde_json::Value;

use super::back::Given;
use super::decision::Assignments;
use super::engine::{Assignment, CompiledFlow, Reached};
use super::run::{Begin, Refusal, Run};
use super::{Attributes, model::InputKind};
use crate::words::AssignmentSource;

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
    /// The script went back from this scene (to the previous answered one).
    pub went_back: bool,
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
    /// The script goes back past a scene whose `back` is `no`.
    BackNotAllowed,
    /// The script goes back before any scene with an input was answered.
    NothingToGoBackTo,
}

/// What a simulation answers (docs/src/qa.md).
#[derive(Debug, Clone, PartialEq)]
pub enum Script {
    /// `{"step": answer}`: each step's answer, whenever the path reaches it.
    ByStep(BTreeMap<String, Value>),
    /// `[{"step": "goal", "answer": "lose_weight"}, {"back": true}, …]`: what
    /// the phone does, in order. A back goes back from the scene the path is
    /// at; scenes without input the script does not name go on by themselves.
    InOrder(Vec<Action>),
}

/// One move of an ordered answer script.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Answer {
        step: String,
        answer: Value,
    },
    /// `POST /v1/onboarding/back` from the scene the path is at.
    Back,
}

impl Script {
    /// Read a script from its JSON: an object by step, or an array of
    /// `{"step", "answer"}` and `{"back": true}`; the error names the item.
    pub fn from_json(value: Value) -> Result<Script, String> {
        let items = match value {
            Value::Null => return Ok(Script::ByStep(BTreeMap::new())),
            Value::Object(map) => return Ok(Script::ByStep(map.into_iter().collect())),
            Value::Array(items) => items,
            _ => return Err("answers is an object by step or an array of script steps".into()),
        };
        let action = |(i, item): (usize, Value)| {
            let wrong = || {
                format!(
                    "answers[{i}] is neither {{\"step\": KEY, \"answer\": VALUE}} nor {{\"back\": true}}"
                )
            };
            let Value::Object(mut fields) = item else {
                return Err(wrong());
            };
            match (fields.remove("back"), fields.remove("step")) {
                (Some(Value::Bool(true)), None) if fields.is_empty() => Ok(Action::Back),
                (None, Some(Value::String(step))) => {
                    let answer = fields.remove("answer").unwrap_or(Value::Null);
                    if fields.is_empty() {
                        Ok(Action::Answer { step, answer })
                    } else {
                        Err(wrong())
                    }
                }
                _ => Err(wrong()),
            }
        };
        items
            .into_iter()
            .enumerate()
            .map(action)
            .collect::<Result<_, _>>()
            .map(Script::InOrder)
    }
}

/// What the script does at a scene.
enum Move {
    Answer(Value),
    Back,
    Wait,
    /// The next script step answers another step.
    Mismatch(String),
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
    Served(Option<AssignmentSource>),
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
                Some(AssignmentSource::Forced) => "forced by QA",
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

/// Walk the flow from the first step with `script`'s answers; scenes
/// without input go on by themselves; `stored` are the user's assignments.
/// The run moves as a phone's would: through [`Run`].
pub fn simulate(
    flow: &CompiledFlow,
    user_id: &str,
    start: &Attributes,
    script: &Script,
    today: NaiveDate,
    stored: &Assignments,
) -> Simulation {
    let at = today.and_time(NaiveTime::MIN);
    let begin = Begin {
        user_id,
        run_id: "simulate",
        start,
        at,
    };
    let (mut run, mut moved) = Run::start(flow, begin, &Attributes::new(), stored.clone());
    let mut path = Vec::new();
    // The accepted answers, in order, as a run keeps them for going back.
    let mut given: Vec<Given> = Vec::new();
    let mut next_move = 0;
    let finish = |path, outcome, problem, run: &Run| Simulation {
        version: flow.version.clone(),
        path,
        outcome,
        problem,
        attributes: run.attributes(),
    };
    while path.len() < MAX_STEPS {
        let Some(scene_index) = run.scene() else {
            return finish(path, Outcome::Completed, None, &run);
        };
        let mut entry = match &moved.reached {
            Some(Reached::Scene(selection)) => Step {
                step: flow.step_key(selection.step).to_owned(),
                scene: flow.scene(selection.scene).key.clone(),
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
                went_back: false,
            },
            // Shown again after going back: the same scene, not selected anew.
            _ => {
                let s = flow.scene(scene_index);
                let group = flow.group_of(scene_index);
                // Shown before, so a group's variant is stored by now.
                let how = match group {
                    Some(_) => Assignment::Stored,
                    None => Assignment::Only,
                };
                Step {
                    step: s.step.clone(),
                    scene: s.key.clone(),
                    condition: s.condition.clone(),
                    experiment_id: group.map(|g| g.experiment_id.to_string()),
                    why: format!(
                        "shown again after going back: {}",
                        explain(flow, scene_index, Basis::Selected(&how))
                    ),
                    skipped: Vec::new(),
                    answer: None,
                    went_back: false,
                }
            }
        };
        let silent = flow.scene(scene_index).input == InputKind::None;
        let action = match script {
            Script::ByStep(answers) => match answers.get(&entry.step) {
                Some(a) => Move::Answer(a.clone()),
                None if silent => Move::Answer(Value::Null),
                None => Move::Wait,
            },
            Script::InOrder(actions) => match actions.get(next_move) {
                Some(Action::Back) => {
                    next_move += 1;
                    Move::Back
                }
                Some(Action::Answer { step, answer }) if *step == entry.step => {
                    next_move += 1;
                    Move::Answer(answer.clone())
                }
                _ if silent => Move::Answer(Value::Null),
                None => Move::Wait,
                Some(Action::Answer { step, .. }) => Move::Mismatch(step.clone()),
            },
        };
        match action {
            Move::Wait => {
                path.push(entry);
                return finish(path, Outcome::WaitingForAnswer, None, &run);
            }
            Move::Mismatch(step) => {
                let problem = format!(
                    "the script answers step '{step}' next, but the path is at step '{}'",
                    entry.step
                );
                path.push(entry);
                return finish(path, Outcome::InvalidAnswer, Some(problem), &run);
            }
            Move::Back => {
                entry.went_back = true;
                path.push(entry);
                match run.back(&given, at) {
                    Ok(back) => {
                        // The answers from the scene gone back to on are withdrawn.
                        if let Some(record) = &back.back {
                            given.truncate(record.withdrawn_from);
                        }
                        moved = back;
                    }
                    Err(e) => {
                        let outcome = match e {
                            Refusal::BackNotAllowed(_) => Outcome::BackNotAllowed,
                            Refusal::NothingToGoBackTo => Outcome::NothingToGoBackTo,
                            _ => Outcome::InvalidAnswer,
                        };
                        return finish(path, outcome, Some(e.to_string()), &run);
                    }
                }
            }
            Move::Answer(answer) => {
                entry.answer = Some(answer.clone());
                path.push(entry);
                match run.answer(&answer, at) {
                    Ok(next) => {
                        given.push(Given {
                            scene: scene_index,
                            answer,
                        });
                        moved = next;
                    }
                    Err(e) => {
                        return finish(path, Outcome::InvalidAnswer, Some(e.to_string()), &run);
                    }
                }
            }
        }
    }
    finish(path, Outcome::TooLong, None, &run)
}

#[cfg(test)]
#[path = "simulate_tests.rs"]
mod tests;
