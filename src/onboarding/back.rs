//! `POST /v1/onboarding/back` as load → decide → save (docs/src/mobile-api.md "Going
//! back"): the engine's [`Run::back_from`] moves the run; this module reads
//! the run's answers and hands the move to the one door ([`save`]).

use diesel::Connection;

use super::load::{self, Loaded};
use super::save::{self, RunWrite, Write};
use super::{OnboardingError, Result, decide, retrying};
use crate::flow::CompiledFlow;
use crate::flow::back::Given;
use crate::flow::locale::Wanted;
use crate::flow::view::State;
use crate::store::backs::{self, BackRow};
use crate::store::column::Json;
use crate::store::runs::{self, AnswerRow, RunRow};
use crate::store::{AnyConnection, FlowCache, StoreError};

impl super::Onboarding {
    /// Go back from the current scene `scene_id`; a repeat returns the same state.
    pub async fn back(&self, user_id: String, scene_id: String, accept: Wanted) -> Result<State> {
        let flows = self.flows().clone();
        let user = user_id.clone();
        let state = self
            .db
            .run_with(move |c| retrying(|| go_back(c, &flows, &user, &scene_id, &accept)))
            .await?;
        // The run moved under this instance's cached copy (docs/src/mobile-api.md "Going back").
        self.forget(&user_id);
        Ok(state)
    }
}

fn go_back(
    c: &mut AnyConnection,
    flows: &FlowCache,
    user_id: &str,
    scene_id: &str,
    accept: &Wanted,
) -> Result<State> {
    let loaded = load::load(c, user_id, "")?;
    let run = loaded.run.as_ref().ok_or(OnboardingError::NotStarted)?;
    if let Some(earlier) = backs::find(c, &run.id, scene_id)? {
        return Ok(earlier.response.0);
    }
    let answers = backs::answers_in_order(c, &run.id)?;
    let flow = flows.get(c, &run.version_id)?;
    let now = crate::store::now();
    let (state, write) = match decide(&flow, &loaded, &answers, scene_id, now, accept) {
        Err(e @ (OnboardingError::NothingToGoBackTo | OnboardingError::BackNotAllowed(_))) => {
            // The reads above are separate statements: a concurrent back may
            // have moved the run between them. Refuse only a run that stayed
            // put; otherwise read again (the repeat then replays).
            let still = runs::find(c, &run.user_id, run.channel)?;
            if still.map(|r| r.revision) != Some(run.revision) {
                return Err(OnboardingError::Conflict);
            }
            return Err(e);
        }
        other => other?,
    };
    c.transaction(|c| save::save(c, &write))?;
    Ok(state)
}

/// Judge a back, in the order of docs/src/mobile-api.md "Going back": `already_completed`,
/// `scene_mismatch`, then the workbook's `back` column.
fn decide(
    flow: &CompiledFlow,
    loaded: &Loaded,
    answers: &[AnswerRow],
    scene_id: &str,
    now: chrono::NaiveDateTime,
    accept: &Wanted,
) -> Result<(State, Write)> {
    let (Some(row), Some(who)) = (&loaded.run, &loaded.who) else {
        return Err(OnboardingError::NotStarted);
    };
    let mut run = decide::resume(flow, row, who, &loaded.assignments)?;
    let given = answers
        .iter()
        .map(|a| {
            Ok(Given {
                scene: flow.scene_position(&a.scene_key).ok_or_else(|| {
                    StoreError::Corrupt(format!("run {}: unknown scene {}", row.id, a.scene_key))
                })?,
                answer: a.answer.0.clone(),
            })
        })
        .collect::<Result<Vec<Given>, StoreError>>()?;
    let moved = run.back_from(scene_id, &given, now)?;
    let state = run.state(accept);
    let went = moved.back.clone().expect("a back records itself");
    let mut write = Write::default();
    write.record(run.data(), row.channel, &moved, false);
    write.back = Some((
        BackRow {
            run_id: row.id.clone(),
            scene_id: went.scene_id,
            from_step: went.from_step,
            to_step: went.to_step,
            to_scene: went.to_scene,
            response: Json(state.clone()),
            created_at: now,
        },
        answers[went.withdrawn_from..]
            .iter()
            .map(|a| a.scene_id.clone())
            .collect(),
    ));
    write.run = Some(RunWrite::Update {
        run: RunRow::of(run.into_data(), row.channel, row.revision + 1),
        expected: row.revision,
    });
    Ok((state, write))
}
