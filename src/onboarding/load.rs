//! Load: everything a decision about one user needs, read at once
//! (docs/src/benchmarks.md "Mobile API under load" counts the statements).

use super::{OnboardingError, Result, Who};
use crate::flow::decision::Stored;
use crate::flow::{Assignments, Attributes, ExperimentId, rollout};
use crate::store::AnyConnection;
use crate::store::channels::{Channel, ChannelRow};
use crate::store::column::Json;
use crate::store::rollouts::Split;
use crate::store::runs::{self, AnswerRow, AssignmentRow, RunRow};

/// A user as the decision sees it.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// Who the user is; `None` when [`load`] found no run at all, so its
    /// one query could not say (only a new run needs to know).
    pub who: Option<Who>,
    /// The run on the user's channel.
    pub run: Option<RunRow>,
    pub assignments: Assignments,
    /// The earlier answer to the scene asked about, for idempotence.
    pub earlier: Option<AnswerRow>,
}

/// One query: the user's runs with tester flag, overrides, assignments and
/// the earlier answer to `scene_id` (`""` for none).
pub fn load(c: &mut AnyConnection, user_id: &str, scene_id: &str) -> Result<Loaded> {
    let rows = runs::load_user(c, user_id, scene_id)?;
    if rows.runs.is_empty() {
        return Ok(Loaded {
            who: None,
            run: None,
            assignments: assignments(&rows.assignments),
            earlier: None,
        });
    }
    loaded(rows)
}

/// For a start, one query: the user as [`load`] reads it, but known (`who`
/// is set) and with its assignments even with no run, and the version each
/// channel serves. `None` when no channel is stored.
pub fn for_start(c: &mut AnyConnection, user_id: &str) -> Result<Option<(Loaded, Vec<Pointer>)>> {
    let Some((rows, pointers)) = runs::load_for_start(c, user_id)? else {
        return Ok(None);
    };
    Ok(Some((loaded(rows)?, pointers)))
}

/// The user of `rows`: its run on its channel, and the earlier answer if it
/// belongs to that run.
fn loaded(rows: runs::UserRows) -> Result<Loaded> {
    let who = who_of(rows.tester)?;
    let run = rows.runs.into_iter().find(|r| r.channel == who.channel);
    let earlier = rows
        .earlier
        .filter(|a| run.as_ref().is_some_and(|r| r.id == a.run_id));
    Ok(Loaded {
        who: Some(who),
        run,
        assignments: assignments(&rows.assignments),
        earlier,
    })
}

/// Who is asking: testers are served staging and may have QA overrides;
/// everybody else is served production. One query.
pub fn who(c: &mut AnyConnection, user_id: &str) -> Result<Who> {
    who_of(runs::tester(c, user_id)?)
}

/// A channel's pointer and its running rollout, if any.
pub type Pointer = (ChannelRow, Option<Split>);

/// The version a new run of `user_id` (as `who`) starts on, from the
/// channels' pointers and rollouts: the channel's version, or the rolling
/// version for a user inside a running rollout ([`rollout::route`]).
pub fn served(who: &Who, user_id: &str, pointers: Vec<Pointer>) -> Result<String> {
    let (pointer, split) = pointers
        .into_iter()
        .find(|(p, _)| p.name == who.channel)
        .ok_or(OnboardingError::FlowUnavailable(who.channel))?;
    let rolling = split.as_ref().map(|s| (s.version_id.as_str(), s.percent));
    Ok(rollout::route(user_id, &pointer.version_id, rolling).to_owned())
}

/// The version a new run of `user_id` (as `who`) would start on, read.
pub fn new_run_version(c: &mut AnyConnection, who: &Who, user_id: &str) -> Result<String> {
    let pointer = crate::store::channels::get(c, who.channel)?
        .ok_or(OnboardingError::FlowUnavailable(who.channel))?;
    let split = crate::store::rollouts::running(c, who.channel)?.map(|r| Split {
        version_id: r.version_id,
        percent: r.percent,
    });
    served(who, user_id, vec![(pointer, split)])
}

fn who_of(tester: Option<Option<Json<Attributes>>>) -> Result<Who> {
    Ok(match tester {
        None => Who {
            channel: Channel::Production,
            overrides: Attributes::new(),
        },
        Some(overrides) => Who {
            channel: Channel::Staging,
            overrides: overrides.map(|o| o.0).unwrap_or_default(),
        },
    })
}

/// Stored assignments as the engine reads them.
pub fn assignments(rows: &[AssignmentRow]) -> Assignments {
    rows.iter()
        .map(|a| {
            (
                ExperimentId::new(a.step_key.clone(), a.condition_name.clone()),
                Stored {
                    scene: a.scene_key.clone(),
                    exposed: a.exposed_at.is_some(),
                },
            )
        })
        .collect()
}
