//! `POST /v1/onboarding/sync`: a run played offline, replayed through the
//! engine on its version and stored as if it had happened online (README,
//! "Offline onboarding", "Sync"). One transaction: everything or nothing.

use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDateTime;
use diesel::Connection;
use serde_json::{Value, json};

use super::OfflineError;
use crate::flow::locale::Wanted;
use crate::flow::replay::{Replay, ReplayError, StoredAssignment};
use crate::flow::{Attributes, RunStatus, values};
use crate::onboarding;
use crate::store::channels::Channel;
use crate::store::column::Json;
use crate::store::offline::{self, OfflineEvent, SyncRow};
use crate::store::runs::{self, AnswerRow, AssignmentRow, RunRow};
use crate::store::{AnyConnection, Db, FlowCache, StoreError, versions};

/// One answer of the offline run.
pub struct SyncAnswer {
    pub scene_key: String,
    pub answer: Value,
    pub answered_at: NaiveDateTime,
}

/// A checked sync request.
pub struct SyncRequest {
    pub sync_id: String,
    pub version: String,
    pub started_at: NaiveDateTime,
    pub attributes: Attributes,
    /// The languages the app played with (or the request's `Accept-Language`).
    pub languages: Wanted,
    pub answers: Vec<SyncAnswer>,
    /// SHA-256 of the request as sent: a retry has the same.
    pub digest: String,
}

/// What a sync did: `accepted`, `online_kept` or `replayed` (a retry), and
/// the body to send: `{"outcome", "state"}`.
pub struct Synced {
    pub outcome: &'static str,
    pub body: Value,
}

const ATTEMPTS: u32 = 20;

pub async fn sync(
    db: &Db,
    flows: &Arc<FlowCache>,
    user_id: String,
    request: SyncRequest,
) -> Result<Synced, OfflineError> {
    let flows = flows.clone();
    db.run_with(move |c| {
        let mut attempt = 0;
        loop {
            let now = crate::store::now();
            match c.transaction(|c| sync_once(c, &flows, &user_id, &request, now)) {
                Err(OfflineError::Store(e)) if e.is_retryable() && attempt < ATTEMPTS => {
                    attempt += 1;
                    std::thread::sleep(Duration::from_millis(u64::from(attempt) * 5));
                }
                other => return other,
            }
        }
    })
    .await
}

fn refused(index: usize, scene_key: &str, reason: &str, more: Value) -> OfflineError {
    let mut details = json!({"index": index, "scene_key": scene_key, "reason": reason});
    if let (Some(d), Value::Object(more)) = (details.as_object_mut(), more) {
        d.extend(more);
    }
    OfflineError::Refused(details)
}

fn stored_assignments(
    c: &mut AnyConnection,
    user_id: &str,
) -> Result<Vec<StoredAssignment>, StoreError> {
    Ok(offline::assignments_of(c, user_id)?
        .into_iter()
        .map(|a| StoredAssignment {
            step: a.step_key,
            condition: a.condition_name,
            scene: a.scene_key,
            exposed: a.exposed_at.is_some(),
        })
        .collect())
}

fn sync_once(
    c: &mut AnyConnection,
    flows: &FlowCache,
    user_id: &str,
    req: &SyncRequest,
    now: NaiveDateTime,
) -> Result<Synced, OfflineError> {
    if let Some(done) = offline::find_sync(c, user_id, &req.sync_id)? {
        if done.request_sha256 != req.digest {
            return Err(OfflineError::SyncIdReused);
        }
        return Ok(Synced {
            outcome: "replayed",
            body: done.response.0,
        });
    }
    let who = onboarding::who(c, user_id)?;
    // Any stored version: runs are pinned, so one no longer served still syncs.
    if versions::find(c, &req.version)?.is_none() {
        return Err(OfflineError::UnknownVersion(req.version.clone()));
    }
    let flow = flows.get(c, &req.version)?;
    let run_id = crate::auth::random_hex(12);
    let start = values::normalise_all(&req.attributes);
    let mut replay = Replay::start(
        &flow,
        user_id,
        &run_id,
        &start,
        &who.overrides,
        stored_assignments(c, user_id)?,
        req.started_at,
    )
    .in_language(req.languages.clone());
    let mut answer_rows = Vec::with_capacity(req.answers.len());
    for (i, a) in req.answers.iter().enumerate() {
        let current = replay.scene_key().map(str::to_owned);
        if current.as_deref() != Some(a.scene_key.as_str()) {
            let reason = if current.is_some() {
                "scene_mismatch"
            } else {
                "already_completed"
            };
            return Err(refused(
                i,
                &a.scene_key,
                reason,
                json!({"expected_scene_key": current}),
            ));
        }
        let scene_id = format!("{run_id}-{}", replay.shown);
        let step_key = flow
            .def
            .scene(&a.scene_key)
            .map(|s| s.step.clone())
            .unwrap_or_default();
        let state = replay
            .answer(&a.answer, a.answered_at)
            .map_err(|e| match e {
                ReplayError::Invalid(e) => refused(
                    i,
                    &a.scene_key,
                    "invalid_answer",
                    json!({"message": e.to_string(), "answer_details": e.details()}),
                ),
                ReplayError::AlreadyCompleted => {
                    refused(i, &a.scene_key, "already_completed", json!({}))
                }
            })?;
        answer_rows.push(AnswerRow {
            run_id: run_id.clone(),
            scene_id,
            step_key,
            scene_key: a.scene_key.clone(),
            answer: Json(a.answer.clone()),
            response: Json(state.clone()),
            created_at: a.answered_at,
        });
    }
    let last = req.answers.last().map_or(req.started_at, |a| a.answered_at);
    let completed = replay.scene.is_none();
    let state = replay.state();

    // The user also has a run on this channel: the one that got further stays.
    let online = runs::find(c, user_id, who.channel)?;
    let offline_wins = online.as_ref().is_none_or(|o| {
        (completed, replay.answered as i32) > (o.status == RunStatus::Completed, o.answered)
    });
    let (outcome, body_state, replaced) = if offline_wins {
        let replaced = online.as_ref().map(|o| o.id.clone());
        if let Some(o) = online {
            runs::end(c, o)?;
        }
        store_run(
            c,
            &flow.version,
            who.channel,
            user_id,
            &start,
            &replay,
            last,
        )?;
        for row in &answer_rows {
            runs::insert_answer(c, row)?;
        }
        store_exposures(c, user_id, &replay)?;
        let events: Vec<OfflineEvent> = replay
            .events
            .iter()
            .map(|e| OfflineEvent {
                kind: e.kind,
                occurred_at: e.occurred_at,
                user_id: user_id.to_owned(),
                run_id: run_id.clone(),
                version_id: flow.version.clone(),
                channel: who.channel,
                step_key: e.step_key.clone(),
                scene_key: e.scene_key.clone(),
                experiment_id: e.experiment_id.clone(),
                variation_id: e.variation_id.clone(),
                offline: true,
            })
            .collect();
        offline::record_events(c, &events)?;
        ("accepted", state, replaced)
    } else {
        let kept = online.expect("an online run that got further");
        let kept_flow = flows.get(c, &kept.version_id)?;
        let attrs = onboarding::effective_attributes(&kept, &who.overrides)?;
        let state = onboarding::render_in(&kept_flow, &kept, &attrs, &req.languages)?;
        ("online_kept", state, None)
    };
    let body = json!({"outcome": outcome, "state": body_state});
    offline::insert_sync(
        c,
        &SyncRow {
            user_id: user_id.to_owned(),
            sync_id: req.sync_id.clone(),
            request_sha256: req.digest.clone(),
            outcome: outcome.to_owned(),
            run_id,
            replaced_run: replaced,
            version_id: flow.version.clone(),
            channel: who.channel.to_owned(),
            answered: replay.answered as i32,
            started_at: req.started_at,
            synced_at: now,
            response: Json(body.clone()),
        },
    )?;
    Ok(Synced { outcome, body })
}

fn store_run(
    c: &mut AnyConnection,
    version: &str,
    channel: Channel,
    user_id: &str,
    start: &Attributes,
    replay: &Replay,
    last: NaiveDateTime,
) -> Result<(), StoreError> {
    let run_id = replay.state().scene.map(|s| s.id);
    let completed = replay.scene.is_none();
    let step = replay
        .scene_key()
        .map(|_| replay.state().scene.map(|s| s.step).unwrap_or_default());
    runs::insert(
        c,
        &RunRow {
            id: replay.run_id().to_owned(),
            user_id: user_id.to_owned(),
            channel,
            version_id: version.to_owned(),
            status: if completed {
                RunStatus::Completed
            } else {
                RunStatus::InProgress
            },
            step_key: step,
            scene_key: replay.scene_key().map(str::to_owned),
            scene_id: run_id,
            shown: replay.shown as i32,
            answered: replay.answered as i32,
            attributes: Json(start.clone()),
            answers: Json(replay.answers.clone()),
            revision: 0,
            previous_answer: None,
            started_at: replay.started_at(),
            updated_at: last,
            completed_at: completed.then_some(last),
        },
    )
}

fn store_exposures(
    c: &mut AnyConnection,
    user_id: &str,
    replay: &Replay,
) -> Result<(), StoreError> {
    for e in &replay.exposures {
        let a = &replay.assignments[e.index];
        if e.created {
            runs::put_assignment(
                c,
                &AssignmentRow {
                    user_id: user_id.to_owned(),
                    step_key: a.step.clone(),
                    condition_name: a.condition.clone(),
                    scene_key: a.scene.clone(),
                    source: "bucket".into(),
                    assigned_at: e.at,
                    exposed_at: Some(e.at),
                },
            )?;
        } else {
            runs::mark_exposed(c, user_id, &a.step, &a.condition, e.at)?;
        }
    }
    Ok(())
}
