//! Rescue (docs/src/rollouts.md): the in-progress runs of a
//! channel pinned to one version move onto another, at the same step. Each
//! run moves as any run does: load → the engine's [`Run::rescue`] → the
//! one door ([`save`]), guarded by its revision, so an answer arriving at
//! the same moment either lands first (and the rescue moves the run from
//! where it got to) or finds the run moved and is decided again on it.
//! Idempotent: a second rescue finds no run left on the version.

use std::collections::BTreeMap;

use diesel::Connection;
use serde::Serialize;

use super::save::{self, RescueWrite, RunWrite, Write};
use super::{OnboardingError, Result, load};
use crate::flow::CompiledFlow;
use crate::flow::run::{Refusal, Run};
use crate::store::channels::{self, Channel};
use crate::store::rollouts::{self, NewIncident};
use crate::store::rows::NewEvent;
use crate::store::runs::{self, RunRow};
use crate::store::{AnyConnection, FlowCache, audit, backs, now, offline};
use crate::words::{AuditAction, IncidentKind};

/// Runs moved per transaction page.
const PAGE: i64 = 200;

/// What a rescue did, or would do (`dry_run`). Serialised as `{"dry_run",
/// "from", "to", "channel", "moved", "by_step": {"goal": 12}, "stayed":
/// [{"step", "runs"}]}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rescue {
    pub dry_run: bool,
    pub from: String,
    pub to: String,
    pub channel: Channel,
    /// Runs moved (or that would move).
    pub moved: u64,
    /// Runs moved (or that would move) per step.
    pub by_step: BTreeMap<String, u64>,
    /// Runs that stay, per step: their step is not in `to`.
    pub stayed: Vec<Stayed>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stayed {
    pub step: String,
    pub runs: u64,
}

/// Why a rescue is refused.
#[derive(Debug, thiserror::Error)]
pub enum RescueError {
    #[error("there is no version '{0}'")]
    UnknownVersion(String),
    #[error(
        "version {to} cannot take the runs of {channel}: it must be what {channel} serves now, or a version it served that QA approved"
    )]
    NotApproved { to: String, channel: Channel },
    #[error("a rescue moves runs onto another version: from and to are both {0}")]
    SameVersion(String),
    #[error(transparent)]
    Onboarding(#[from] OnboardingError),
}

impl From<diesel::result::Error> for RescueError {
    fn from(e: diesel::result::Error) -> Self {
        RescueError::Onboarding(e.into())
    }
}

impl From<crate::store::StoreError> for RescueError {
    fn from(e: crate::store::StoreError) -> Self {
        RescueError::Onboarding(e.into())
    }
}

impl super::Onboarding {
    /// Rescue the in-progress runs of `channel` pinned to `from` onto `to`;
    /// with `dry_run`, only count them. Audited, with an incident record,
    /// when runs moved.
    pub async fn rescue(
        &self,
        from: String,
        to: String,
        channel: Channel,
        dry_run: bool,
        actor: String,
    ) -> Result<Rescue, RescueError> {
        let flows = self.flows().clone();
        let (plan, moved_users) = self
            .db
            .run_with(move |c| -> Result<_, RescueError> {
                let (from_flow, to_flow) = check(c, &flows, &from, &to, channel)?;
                let mut plan = count(c, &from_flow, &to_flow, channel)?;
                plan.dry_run = dry_run;
                if dry_run {
                    return Ok((plan, Vec::new()));
                }
                let (moved, users) = move_all(c, &from_flow, &to_flow, channel)?;
                let mut by_step = BTreeMap::new();
                for (step, n) in moved {
                    *by_step.entry(step).or_default() += n;
                }
                plan.moved = by_step.values().sum();
                plan.by_step = by_step;
                if plan.moved > 0 {
                    let note = format!("{} runs of {channel}", plan.moved);
                    c.transaction(|c| -> Result<(), RescueError> {
                        audit::record(
                            c,
                            &actor,
                            AuditAction::Rescue,
                            Some(&from),
                            Some(&to),
                            Some(&note),
                        )?;
                        rollouts::record_incident(
                            c,
                            NewIncident {
                                kind: IncidentKind::Rescued,
                                at: now(),
                                actor: &actor,
                                channel,
                                version: &from,
                                to_version: &to,
                                guardrail: None,
                                details: serde_json::to_value(&plan).unwrap_or_default(),
                            },
                        )?;
                        Ok(())
                    })?;
                }
                Ok((plan, users))
            })
            .await?;
        for user in moved_users {
            self.forget(&user);
        }
        Ok(plan)
    }
}

/// Tell the on-call channel what a rescue moved (both faces, the JSON API
/// and the dashboard, call this).
pub fn announce(alerts: &crate::alerts::Alerts, actor: &str, done: &Rescue) {
    if done.dry_run || done.moved == 0 {
        return;
    }
    alerts.send(
        crate::alerts::Severity::Warning,
        crate::words::AlertKind::Rescued,
        format!(
            "{actor} rescued {} in-progress runs of {} from {} onto {} ({} stayed: their step is not in {})",
            done.moved,
            done.channel,
            done.from,
            done.to,
            done.stayed.iter().map(|s| s.runs).sum::<u64>(),
            done.to
        ),
    );
}

/// The two flows, once `to` may take the channel's runs.
fn check(
    c: &mut AnyConnection,
    flows: &FlowCache,
    from: &str,
    to: &str,
    channel: Channel,
) -> Result<(std::sync::Arc<CompiledFlow>, std::sync::Arc<CompiledFlow>), RescueError> {
    for v in [from, to] {
        if crate::store::versions::find(c, v)?.is_none() {
            return Err(RescueError::UnknownVersion(v.to_owned()));
        }
    }
    if from == to {
        return Err(RescueError::SameVersion(to.to_owned()));
    }
    // QA approved and served on the channel; or what the channel serves to
    // every new run now (the built-in sample, seeded without an approval).
    let current = channels::get(c, channel)?.is_some_and(|p| p.version_id == to);
    let approved = channels::has_served(c, channel, to)? && channels::approval(c, to)?.is_some();
    if !(current || approved) {
        return Err(RescueError::NotApproved {
            to: to.to_owned(),
            channel,
        });
    }
    Ok((flows.get(c, from)?, flows.get(c, to)?))
}

/// The dry run: in-progress runs per step, moving where `to` has the step.
fn count(
    c: &mut AnyConnection,
    from: &CompiledFlow,
    to: &CompiledFlow,
    channel: Channel,
) -> Result<Rescue, RescueError> {
    let mut plan = Rescue {
        dry_run: true,
        from: from.version.clone(),
        to: to.version.clone(),
        channel,
        moved: 0,
        by_step: BTreeMap::new(),
        stayed: Vec::new(),
    };
    for (step, n) in runs::in_progress_by_step(c, &from.version, channel)? {
        let (Some(step), Ok(n)) = (step, u64::try_from(n)) else {
            continue;
        };
        if to.step_position(&step).is_some() {
            plan.moved += n;
            plan.by_step.insert(step, n);
        } else {
            plan.stayed.push(Stayed { step, runs: n });
        }
    }
    Ok(plan)
}

/// The steps the moved runs were at (one entry a run), and their users.
type Moved = (Vec<(String, u64)>, Vec<String>);

/// Move every in-progress run whose step `to` has, a page at a time.
fn move_all(
    c: &mut AnyConnection,
    from: &CompiledFlow,
    to: &CompiledFlow,
    channel: Channel,
) -> Result<Moved, RescueError> {
    let (mut moved, mut users) = (Vec::new(), Vec::new());
    let mut after = String::new();
    loop {
        // Every in-progress run, read fresh one by one: a run an answer
        // moved to another step since the count moves (or stays) by that step.
        let page = runs::in_progress_page(c, &from.version, channel, &after, PAGE)?;
        let Some(last) = page.last() else { break };
        after = last.id.clone();
        for row in page {
            let id = row.id.clone();
            if let Some(step) = super::retry::retrying_any(|| move_one(c, from, to, &id))? {
                moved.push((step, 1));
                users.push(row.user_id);
            }
        }
    }
    Ok((moved, users))
}

/// Move one run, read fresh; the step it was at, or `None` when it is no
/// longer on `from` in progress (an answer completed it, a rescue moved it).
fn move_one(
    c: &mut AnyConnection,
    from: &CompiledFlow,
    to: &CompiledFlow,
    run_id: &str,
) -> Result<Option<String>> {
    let Some(row) = runs::by_id(c, run_id)? else {
        return Ok(None);
    };
    if row.version_id != from.version || row.status != crate::flow::RunStatus::InProgress {
        return Ok(None);
    }
    // A run whose step `to` lacks stays: nothing more to read for it.
    if row
        .step_key
        .as_deref()
        .is_none_or(|s| to.step_position(s).is_none())
    {
        return Ok(None);
    }
    let who = load::who(c, &row.user_id)?;
    let assignments = load::assignments(&offline::assignments_of(c, &row.user_id)?);
    let answers = backs::answers_in_order(c, &row.id)?;
    let given: Vec<(String, serde_json::Value)> = answers
        .iter()
        .map(|a| (a.scene_key.clone(), a.answer.0.clone()))
        .collect();
    let before = row.data();
    let at = now();
    let (run, moved, transplant) = match Run::rescue(
        to,
        from,
        row.data(),
        &given,
        &who.overrides,
        &assignments,
        at,
    ) {
        Ok(done) => done,
        Err(Refusal::UnknownStep { .. } | Refusal::AlreadyCompleted) => return Ok(None),
        Err(e) => {
            return Err(OnboardingError::Store(crate::store::StoreError::Corrupt(
                e.to_string(),
            )));
        }
    };
    let step = before.step.clone().unwrap_or_default();
    let mut write = Write::default();
    write.events.push(NewEvent::of(
        &before,
        row.channel,
        transplant.left.clone(),
        at,
        false,
    ));
    write.record(run.data(), row.channel, &moved, false);
    write.rescue = Some(RescueWrite {
        withdrawn: answers
            .iter()
            .enumerate()
            .filter(|(i, _)| !transplant.kept.contains(i))
            .map(|(_, a)| a.scene_id.clone())
            .collect(),
        forgotten: transplant
            .forgotten
            .iter()
            .map(|x| (x.step.clone(), x.condition.clone()))
            .collect(),
    });
    write.run = Some(RunWrite::Update {
        run: RunRow::of(run.into_data(), row.channel, row.revision + 1),
        expected: row.revision,
    });
    c.transaction(|c| save::save(c, &write))?;
    Ok(Some(step))
}
