//! What QA does to a tester's run: look at it whole, force an A/B variant,
//! jump to a step, reset; and simulate a path without writing anything.

use chrono::NaiveDateTime;
use serde::Serialize;
use serde_json::Value;

use super::save::{self, RunWrite, Write};
use super::{Onboarding, OnboardingError, Result, Who, decide, load, render_in, transact, who};
use crate::flow::locale::Wanted;
use crate::flow::simulate::{self, Simulation};
use crate::flow::view::State;
use crate::flow::{Attributes, RunStatus};
use crate::store::channels::{self, Channel};
use crate::store::runs::{self, AssignmentRow, RunRow};
use crate::store::{AnyConnection, testers};
use crate::words::{AssignmentSource, AuditAction};

/// Everything QA needs to see about one tester: the body of
/// `GET /debug/users/{id}` and what the dashboard's tester pages show.
#[derive(Debug, Serialize)]
pub struct DebugState {
    pub user_id: String,
    pub channel: &'static str,
    pub attributes: AttributeSources,
    /// Every condition of the catalogue with its result for this user.
    pub conditions: Vec<ConditionResult>,
    pub variants: Vec<Variant>,
    pub run: Option<RunSummary>,
    /// The state the app gets now.
    pub state: Option<State>,
    /// Answers of the run, oldest first.
    pub history: Vec<HistoryEntry>,
    /// The run's backs, oldest first (docs/src/mobile-api.md "Going back").
    pub backs: Vec<BackEntry>,
}

/// One `POST /v1/onboarding/back` that moved the run.
#[derive(Debug, Serialize)]
pub struct BackEntry {
    /// The scene left by going back.
    pub scene_id: String,
    pub from_step: String,
    pub to_step: String,
    pub to_scene: String,
    pub at: NaiveDateTime,
}

/// Attributes by source, and the effective values conditions see
/// (overrides over answers over start attributes).
#[derive(Debug, Serialize)]
pub struct AttributeSources {
    pub start: Attributes,
    pub answers: Attributes,
    pub overrides: Attributes,
    pub effective: Attributes,
}

#[derive(Debug, Serialize)]
pub struct ConditionResult {
    pub name: &'static str,
    pub description: &'static str,
    pub attributes: Vec<&'static str>,
    pub matches: bool,
}

/// A stored A/B assignment: `source` is `bucket` or `forced`.
#[derive(Debug, Serialize)]
pub struct Variant {
    pub step: String,
    pub condition: String,
    pub scene: String,
    pub source: AssignmentSource,
    pub assigned_at: NaiveDateTime,
    pub exposed_at: Option<NaiveDateTime>,
}

#[derive(Debug, Serialize)]
pub struct RunSummary {
    pub id: String,
    pub version: String,
    pub status: RunStatus,
    pub step: Option<String>,
    pub scene: Option<String>,
    pub scene_id: Option<String>,
    pub answered: i32,
    pub started_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Serialize)]
pub struct HistoryEntry {
    pub scene_id: String,
    pub step: String,
    pub scene: String,
    /// The answer as sent (`null` for a scene without input).
    pub answer: Value,
    pub at: NaiveDateTime,
}

/// Why a scene of `flow` is served, in words for QA: its condition, and for
/// an A/B group how the variant was assigned (`bucket` or `forced`).
pub fn reason(
    flow: &crate::flow::CompiledFlow,
    scene: usize,
    source: Option<AssignmentSource>,
) -> String {
    simulate::explain(flow, scene, simulate::Basis::Served(source))
}

/// Every QA change is audited in the transaction that makes it.
fn audited(c: &mut AnyConnection, actor: &str, action: AuditAction, note: String) -> Result<()> {
    crate::store::audit::record(c, actor, action, None, None, Some(&note))?;
    Ok(())
}

fn require_tester(c: &mut AnyConnection, user_id: &str) -> Result<Who> {
    if !testers::is_tester(c, user_id)? {
        return Err(OnboardingError::NotATester(user_id.to_owned()));
    }
    who(c, user_id)
}

impl Onboarding {
    pub async fn debug_state(&self, user_id: String) -> Result<DebugState> {
        let flows = self.flows.clone();
        self.db
            .run_with(move |c| {
                let who = require_tester(c, &user_id)?;
                let Who {
                    channel,
                    ref overrides,
                } = who;
                let run = runs::find(c, &user_id, channel)?;
                let (start, answers) = match &run {
                    Some(r) => (r.attributes.0.clone(), r.answers.0.clone()),
                    None => (Attributes::new(), Attributes::new()),
                };
                let effective = crate::flow::run::merged(&start, &answers, overrides);
                let today = crate::store::now().date();
                let conditions = crate::flow::catalogue()
                    .iter()
                    .map(|cond| ConditionResult {
                        name: cond.name,
                        description: cond.description,
                        attributes: cond.attributes(),
                        matches: cond.matches(&effective, today),
                    })
                    .collect();
                let variants = testers::assignments_of(c, &user_id)?
                    .into_iter()
                    .map(|a| Variant {
                        step: a.step_key,
                        condition: a.condition_name,
                        scene: a.scene_key,
                        source: a.source,
                        assigned_at: a.assigned_at,
                        exposed_at: a.exposed_at,
                    })
                    .collect();
                let (state, history, backs, summary) = match &run {
                    Some(r) => {
                        let flow = flows.get(c, &r.version_id)?;
                        let history = testers::answers_of(c, &r.id)?
                            .into_iter()
                            .map(|a| HistoryEntry {
                                answer: a.answer.0,
                                scene_id: a.scene_id,
                                step: a.step_key,
                                scene: a.scene_key,
                                at: a.created_at,
                            })
                            .collect();
                        let backs = crate::store::backs::of_run(c, &r.id)?
                            .into_iter()
                            .map(|b| BackEntry {
                                scene_id: b.scene_id,
                                from_step: b.from_step,
                                to_step: b.to_step,
                                to_scene: b.to_scene,
                                at: b.created_at,
                            })
                            .collect();
                        let summary = RunSummary {
                            id: r.id.clone(),
                            version: r.version_id.clone(),
                            status: r.status,
                            step: r.step_key.clone(),
                            scene: r.scene_key.clone(),
                            scene_id: r.scene_id.clone(),
                            answered: r.answered,
                            started_at: r.started_at,
                            updated_at: r.updated_at,
                        };
                        let state = render_in(&flow, r, &who, &Wanted::default())?;
                        (Some(state), history, backs, Some(summary))
                    }
                    None => (None, Vec::new(), Vec::new(), None),
                };
                Ok(DebugState {
                    user_id,
                    channel: channel.as_str(),
                    attributes: AttributeSources {
                        start,
                        answers,
                        overrides: who.overrides.clone(),
                        effective,
                    },
                    conditions,
                    variants,
                    run: summary,
                    state,
                    history,
                    backs,
                })
            })
            .await
    }

    /// Register a tester (served the staging channel); `false` if it was one.
    pub async fn add_tester(&self, user_id: String, actor: String) -> Result<bool> {
        let forget = user_id.clone();
        self.db
            .run_with(move |c| {
                transact(c, |c| {
                    let added = testers::add(c, &user_id, &actor)?;
                    runs::touch(c, &user_id)?;
                    audited(
                        c,
                        &actor,
                        AuditAction::DebugAddTester,
                        format!("tester {user_id}"),
                    )?;
                    Ok(added)
                })
            })
            .await
            .inspect(|_| self.forget(&forget))
    }

    pub async fn remove_tester(&self, user_id: String, actor: String) -> Result<()> {
        let forget = user_id.clone();
        self.db
            .run_with(move |c| {
                transact(c, |c| {
                    if !testers::remove(c, &user_id)? {
                        return Err(OnboardingError::NotATester(user_id.clone()));
                    }
                    runs::touch(c, &user_id)?;
                    audited(
                        c,
                        &actor,
                        AuditAction::DebugRemoveTester,
                        format!("tester {user_id}"),
                    )
                })
            })
            .await
            .inspect(|_| self.forget(&forget))
    }

    /// Replace the tester's faked attributes (`{}` clears them).
    pub async fn set_overrides(
        &self,
        user_id: String,
        attributes: Attributes,
        actor: String,
    ) -> Result<()> {
        let forget = user_id.clone();
        self.db
            .run_with(move |c| {
                transact(c, |c| {
                    require_tester(c, &user_id)?;
                    let text = serde_json::to_string(&attributes).expect("JSON serialises");
                    testers::set_overrides(c, &user_id, attributes.clone(), &actor)?;
                    runs::touch(c, &user_id)?;
                    audited(
                        c,
                        &actor,
                        AuditAction::DebugOverrides,
                        format!("tester {user_id}: {text}"),
                    )
                })
            })
            .await
            .inspect(|_| self.forget(&forget))
    }

    /// Store `scene` as the tester's assignment in its A/B group; the run
    /// shows it whenever it reaches that step (jump there to see it now).
    pub async fn force_variant(
        &self,
        user_id: String,
        step: String,
        scene: String,
        actor: String,
    ) -> Result<()> {
        let flows = self.flows.clone();
        let forget = user_id.clone();
        self.db
            .run_with(move |c| {
                let Who { channel, .. } = require_tester(c, &user_id)?;
                let version = match runs::find(c, &user_id, channel)? {
                    Some(r) => r.version_id,
                    None => {
                        channels::get(c, channel)?
                            .ok_or(OnboardingError::FlowUnavailable(channel))?
                            .version_id
                    }
                };
                let flow = flows.get(c, &version)?;
                let position = flow.step_position(&step).ok_or_else(|| {
                    OnboardingError::UnknownKey(format!("version {version} has no step '{step}'"))
                })?;
                let found = flow
                    .scenes_of(position)
                    .iter()
                    .copied()
                    .find(|&i| flow.scene(i).key == scene)
                    .ok_or_else(|| {
                        OnboardingError::UnknownKey(format!(
                            "step '{step}' of version {version} has no scene '{scene}'"
                        ))
                    })?;
                let Some(group) = flow.group_of(found) else {
                    let condition = &flow.scene(found).condition;
                    return Err(OnboardingError::Invalid(format!(
                        "scene '{scene}' is the only scene of step '{step}' for condition {condition}: it is not an A/B group"
                    )));
                };
                let condition = group.experiment_id.condition.clone();
                let note = format!("tester {user_id}: {step} → {scene}");
                transact(c, |c| {
                    runs::put_assignment(
                        c,
                        &AssignmentRow {
                            user_id: user_id.clone(),
                            step_key: step.clone(),
                            condition_name: condition.clone(),
                            scene_key: scene.clone(),
                            source: AssignmentSource::Forced,
                            assigned_at: crate::store::now(),
                            exposed_at: None,
                        },
                    )?;
                    runs::touch(c, &user_id)?;
                    audited(c, &actor, AuditAction::DebugVariant, note.clone())
                })
            })
            .await
            .inspect(|_| self.forget(&forget))
    }

    /// Move the tester's run to `step`; the scene is chosen as usual.
    pub async fn jump(&self, user_id: String, step: String, actor: String) -> Result<State> {
        let flows = self.flows.clone();
        let forget = user_id.clone();
        self.db
            .run_with(move |c| {
                transact(c, |c| {
                    let who = require_tester(c, &user_id)?;
                    let row =
                        runs::find(c, &user_id, who.channel)?.ok_or(OnboardingError::NotStarted)?;
                    let flow = flows.get(c, &row.version_id)?;
                    let assignments = load::assignments(&testers::assignments_of(c, &user_id)?);
                    let mut run = decide::resume(&flow, &row, &who, &assignments)?;
                    let moved = run.jump(&step, crate::store::now())?;
                    let state = run.state(&Wanted::default());
                    let mut write = Write::default();
                    write.record(run.data(), row.channel, &moved, false);
                    write.run = Some(RunWrite::Update {
                        run: RunRow::of(run.into_data(), row.channel, row.revision + 1),
                        expected: row.revision,
                    });
                    save::save(c, &write)?;
                    audited(
                        c,
                        &actor,
                        AuditAction::DebugJump,
                        format!("tester {user_id} → {step}"),
                    )?;
                    Ok(state)
                })
            })
            .await
            .inspect(|_| self.forget(&forget))
    }

    /// Forget the tester's run and answers; overrides and assignments stay.
    pub async fn reset(&self, user_id: String, actor: String) -> Result<bool> {
        let forget = user_id.clone();
        self.db
            .run_with(move |c| {
                transact(c, |c| {
                    let Who { channel, .. } = require_tester(c, &user_id)?;
                    let forgotten = match runs::find(c, &user_id, channel)? {
                        Some(run) => {
                            let expected = run.revision;
                            save::save(
                                c,
                                &Write {
                                    ends: Some((run, expected)),
                                    ..Write::default()
                                },
                            )?;
                            true
                        }
                        None => false,
                    };
                    audited(
                        c,
                        &actor,
                        AuditAction::DebugReset,
                        format!("tester {user_id}"),
                    )?;
                    Ok(forgotten)
                })
            })
            .await
            .inspect(|_| self.forget(&forget))
    }

    /// The path a user would take on `version` (default: staging), with why
    /// each scene was chosen. Reads stored assignments of `user_id`; writes nothing.
    pub async fn simulate(
        &self,
        version: Option<String>,
        user_id: String,
        attributes: Attributes,
        script: simulate::Script,
    ) -> Result<Simulation> {
        let flows = self.flows.clone();
        self.db
            .run_with(move |c| {
                let version = match version {
                    Some(v) => {
                        let lookup = v.clone();
                        crate::store::versions::find(c, &lookup)?.ok_or_else(|| {
                            OnboardingError::UnknownKey(format!("there is no version '{v}'"))
                        })?;
                        v
                    }
                    None => {
                        channels::get(c, Channel::Staging)?
                            .ok_or(OnboardingError::FlowUnavailable(Channel::Staging))?
                            .version_id
                    }
                };
                let flow = flows.get(c, &version)?;
                let stored = load::assignments(&testers::assignments_of(c, &user_id)?);
                let today = crate::store::now().date();
                Ok(simulate::simulate(
                    &flow,
                    &user_id,
                    &attributes,
                    &script,
                    today,
                    &stored,
                ))
            })
            .await
    }
}
