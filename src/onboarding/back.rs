//! `POST /v1/onboarding/back` as load → decide → save (README "Going
//! back"): the engine's [`plan`] picks the scene; this module reads the run's
//! answers, judges the request and writes the run, the withdrawal, the back
//! and its events in one transaction.

use diesel::Connection;

use super::load::{self, Loaded};
use super::{OnboardingError, Result, effective_attributes, render_in, retrying};
use crate::flow::back::{BackError, Given, plan};
use crate::flow::decision::{Event, EventKind};
use crate::flow::locale::Wanted;
use crate::flow::view::State;
use crate::flow::{CompiledFlow, RunStatus};
use crate::store::backs::{self, BackRow};
use crate::store::column::Json;
use crate::store::runs::{self, AnswerRow, NewEvent, RunRow};
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
        // The run moved under this instance's cached copy (README "Going back").
        self.forget(&user_id);
        Ok(state)
    }
}

/// What a back does.
#[allow(clippy::large_enum_variant)]
enum Backed {
    Replay(State),
    Moved {
        state: State,
        run: RunRow,
        expected: i64,
        back: BackRow,
        withdrawn: Vec<String>,
        events: Vec<NewEvent>,
    },
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
    let earlier = backs::find(c, &run.id, scene_id)?;
    let answers = match earlier {
        Some(_) => Vec::new(),
        None => backs::answers_in_order(c, &run.id)?,
    };
    let flow = flows.get(c, &run.version_id)?;
    let now = crate::store::now();
    let decided = match decide(&flow, &loaded, earlier, &answers, scene_id, now, accept) {
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
    match decided {
        Backed::Replay(state) => Ok(state),
        Backed::Moved {
            state,
            run,
            expected,
            back,
            withdrawn,
            events,
        } => {
            c.transaction(|c| {
                if !runs::update(c, &run, expected)? {
                    return Err(OnboardingError::Conflict);
                }
                backs::save(c, &back, &withdrawn)?;
                runs::record_events(c, &events)?;
                Ok(())
            })?;
            Ok(state)
        }
    }
}

/// Judge a back, in the order of the README: a back already made returns
/// its state; then `already_completed`, `scene_mismatch`, and the workbook's
/// `back` column.
#[allow(clippy::too_many_arguments)]
fn decide(
    flow: &CompiledFlow,
    loaded: &Loaded,
    earlier: Option<BackRow>,
    answers: &[AnswerRow],
    scene_id: &str,
    now: chrono::NaiveDateTime,
    accept: &Wanted,
) -> Result<Backed> {
    let (Some(run), Some(who)) = (&loaded.run, &loaded.who) else {
        return Err(OnboardingError::NotStarted);
    };
    if let Some(earlier) = earlier {
        return Ok(Backed::Replay(earlier.response.0.clone()));
    }
    if run.status == RunStatus::Completed {
        return Err(OnboardingError::AlreadyCompleted);
    }
    if run.scene_id.as_deref() != Some(scene_id) {
        return Err(OnboardingError::SceneMismatch {
            current: run.scene_id.clone(),
        });
    }
    let corrupt = |what: &str| StoreError::Corrupt(format!("run {}: {what}", run.id));
    let given = answers
        .iter()
        .map(|a| {
            Ok(Given {
                scene: flow
                    .scene_position(&a.scene_key)
                    .ok_or_else(|| corrupt(&format!("unknown scene {}", a.scene_key)))?,
                answer: a.answer.0.clone(),
            })
        })
        .collect::<Result<Vec<Given>, StoreError>>()?;
    let plan = plan(flow, &given).map_err(|e| match e {
        BackError::NothingToGoBackTo => OnboardingError::NothingToGoBackTo,
        BackError::NotAllowed(scene) => OnboardingError::BackNotAllowed(scene),
        BackError::Corrupt(scene) => corrupt(&format!("stored answer to {scene}")).into(),
    })?;

    let from_step = run.step_key.clone().unwrap_or_default();
    let mut run = run.clone();
    let expected = run.revision;
    let to = flow.scene(plan.scene);
    run.answers = Json(plan.answers);
    run.answered = plan.from as i32;
    run.previous_answer = Some(Json(plan.previous.clone()));
    run.shown += 1;
    run.scene_id = Some(format!("{}-{}", run.id, run.shown));
    run.step_key = Some(to.step.clone());
    run.scene_key = Some(to.key.clone());
    run.revision += 1;
    run.updated_at = now;

    let events = [
        Event::at_scene(flow, EventKind::WentBack, plan.scene),
        Event::at_scene(flow, EventKind::SceneShown, plan.scene),
    ]
    .into_iter()
    .map(|e| NewEvent {
        kind: e.kind,
        occurred_at: now,
        user_id: run.user_id.clone(),
        run_id: run.id.clone(),
        version_id: run.version_id.clone(),
        channel: run.channel,
        step_key: e.step,
        scene_key: e.scene,
        experiment_id: e.experiment.map(|x| x.to_string()),
        variation_id: e.variation,
    })
    .collect();
    let attrs = effective_attributes(&run, &who.overrides)?;
    let state = render_in(flow, &run, &attrs, accept)?;
    let back = BackRow {
        run_id: run.id.clone(),
        scene_id: scene_id.to_owned(),
        from_step,
        to_step: to.step.clone(),
        to_scene: to.key.clone(),
        response: Json(state.clone()),
        created_at: now,
    };
    Ok(Backed::Moved {
        state,
        withdrawn: answers[plan.from..]
            .iter()
            .map(|a| a.scene_id.clone())
            .collect(),
        run,
        expected,
        back,
        events,
    })
}
