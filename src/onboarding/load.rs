//! Load: everything a decision about one user needs, read at once
//! (README "Mobile API under load" counts the statements).

use super::{OnboardingError, Result, Who};
use crate::flow::decision::Stored;
use crate::flow::{Assignments, Attributes, ExperimentId};
use crate::store::AnyConnection;
use crate::store::channels::{self, Channel, ChannelRow};
use crate::store::column::Json;
use crate::store::runs::{self, AnswerRow, AssignmentRow, RunRow};

/// A user as the decision sees it.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// Who the user is; `None` when the user has no run at all, so the one
    /// query could not say (only a new run needs to know).
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
    let assignments = assignments(&rows.assignments);
    if rows.runs.is_empty() {
        return Ok(Loaded {
            who: None,
            run: None,
            assignments,
            earlier: None,
        });
    }
    let who = who_of(rows.tester)?;
    let run = rows.runs.into_iter().find(|r| r.channel == who.channel);
    let earlier = rows
        .earlier
        .filter(|a| run.as_ref().is_some_and(|r| r.id == a.run_id));
    Ok(Loaded {
        who: Some(who),
        run,
        assignments,
        earlier,
    })
}

/// For a start, one query: the user as [`load`] reads it, its tester row
/// and assignments even with no run, and the version each channel serves.
/// `None` when no channel is stored.
pub fn for_start(
    c: &mut AnyConnection,
    user_id: &str,
) -> Result<Option<(Loaded, Vec<ChannelRow>)>> {
    let Some((rows, pointers)) = runs::load_for_start(c, user_id)? else {
        return Ok(None);
    };
    let who = who_of(rows.tester)?;
    let run = rows.runs.into_iter().find(|r| r.channel == who.channel);
    let loaded = Loaded {
        who: Some(who),
        run,
        assignments: assignments(&rows.assignments),
        earlier: None,
    };
    Ok(Some((loaded, pointers)))
}

/// Who is asking: testers are served staging and may have QA overrides;
/// everybody else is served production. One query.
pub fn who(c: &mut AnyConnection, user_id: &str) -> Result<Who> {
    who_of(runs::tester(c, user_id)?)
}

/// For a new run: who the user is (`known` when the load could say: the
/// user has a run on the other channel) and the version its channel
/// serves. One query either way.
pub fn who_and_version(
    c: &mut AnyConnection,
    user_id: &str,
    known: Option<Who>,
) -> Result<(Who, String)> {
    let (who, pointers) = match known {
        Some(who) => {
            let pointer = channels::get(c, who.channel)?;
            (who, pointer.into_iter().collect())
        }
        None => {
            let (tester, pointers) = channels::with_tester(c, user_id)?;
            (who_of(tester)?, pointers)
        }
    };
    let version = served(&who, pointers)?;
    Ok((who, version))
}

/// The version `who`'s channel serves, from the channels' pointers.
pub fn served(who: &Who, pointers: Vec<ChannelRow>) -> Result<String> {
    Ok(pointers
        .into_iter()
        .find(|p| p.name == who.channel)
        .ok_or(OnboardingError::FlowUnavailable(who.channel))?
        .version_id)
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
