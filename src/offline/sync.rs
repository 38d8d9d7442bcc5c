//! `POST /v1/onboarding/sync`: a run played offline, replayed through the
//! engine on its version and stored as if it had happened online
//! (docs/src/offline.md, "Sync"). One transaction: everything or nothing.

use std::sync::Arc;

use chrono::NaiveDateTime;
use diesel::Connection;
use serde_json::{Value, json};

use super::OfflineError;
use crate::flow::locale::Wanted;
use crate::flow::run::{Begin, Refusal, Run};
use crate::flow::{Attributes, RunStatus};
use crate::onboarding;
use crate::onboarding::retry::retrying_any;
use crate::onboarding::save::{self, RunWrite, Write};
use crate::store::column::Json;
use crate::store::offline::{self, SyncRow};
use crate::store::runs::{self, AnswerRow, RunRow};
use crate::store::{AnyConnection, Db, FlowCache, channels, versions};
use crate::words::SyncOutcome;

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
    /// SHA-256 of the request's values (docs/src/offline.md "Sync": a retry is the same
    /// request by value): a retry has the same.
    pub digest: String,
    /// SHA-256 of the request as spelled: what syncs stored before kept.
    pub legacy_digest: String,
}

/// What a sync did, and the body to send: `{"outcome", "state"}`.
pub struct Synced {
    pub outcome: SyncOutcome,
    pub body: Value,
}

/// One transaction, again on a lost race or a busy database (the run
/// service's one retry policy).
pub async fn sync(
    db: &Db,
    flows: &Arc<FlowCache>,
    user_id: String,
    request: SyncRequest,
) -> Result<Synced, OfflineError> {
    let flows = flows.clone();
    db.run_with(move |c| {
        retrying_any(|| {
            let now = crate::store::now();
            c.transaction(|c| sync_once(c, &flows, &user_id, &request, now))
        })
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

fn sync_once(
    c: &mut AnyConnection,
    flows: &FlowCache,
    user_id: &str,
    req: &SyncRequest,
    now: NaiveDateTime,
) -> Result<Synced, OfflineError> {
    if let Some(done) = offline::find_sync(c, user_id, &req.sync_id)? {
        if done.request_sha256 != req.digest && done.request_sha256 != req.legacy_digest {
            return Err(OfflineError::SyncIdReused);
        }
        return Ok(Synced {
            outcome: SyncOutcome::Replayed,
            body: done.response.0,
        });
    }
    let who = onboarding::who(c, user_id)?;
    // A version the user's channel serves or served (runs are pinned, so one
    // no longer served still syncs); never one it did not release.
    let Some(version) = versions::find(c, &req.version)? else {
        return Err(OfflineError::UnknownVersion(req.version.clone()));
    };
    // A run cannot start before its version existed (a phone's clock may be
    // a day behind; a year-0 date is not a clock, and no warehouse holds it).
    if req.started_at < version.created_at - chrono::Duration::days(1) {
        return Err(OfflineError::BeforeVersion {
            started_at: req.started_at,
            version: version.id,
            created_at: version.created_at,
        });
    }
    if !channels::has_served(c, who.channel, &req.version)? {
        return Err(OfflineError::NotServed {
            version: req.version.clone(),
            channel: who.channel,
        });
    }
    let flow = flows.get(c, &req.version)?;
    let run_id = crate::auth::random_hex(12);
    let assignments = onboarding::load::assignments(&offline::assignments_of(c, user_id)?);
    let begin = Begin {
        user_id,
        run_id: &run_id,
        start: &req.attributes,
        at: req.started_at,
    };
    let (mut run, moved) = Run::start(&flow, begin, &who.overrides, assignments);
    let mut write = Write::default();
    write.record(run.data(), who.channel, &moved, true);
    for (i, a) in req.answers.iter().enumerate() {
        let current = run.data().scene.clone();
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
        let moved = run.answer(&a.answer, a.answered_at).map_err(|e| match e {
            Refusal::Invalid(e) => refused(
                i,
                &a.scene_key,
                "invalid_answer",
                json!({"message": e.to_string(), "answer_details": e.details()}),
            ),
            _ => refused(i, &a.scene_key, "already_completed", json!({})),
        })?;
        write.record(run.data(), who.channel, &moved, true);
        let record = moved.answer.expect("an answer records its scene");
        write.answers.push(AnswerRow {
            run_id: run_id.clone(),
            scene_id: record.scene_id,
            step_key: record.step,
            scene_key: record.scene,
            answer: Json(record.answer),
            response: Json(run.state(&req.languages)),
            created_at: a.answered_at,
        });
    }
    let state = run.state(&req.languages);
    let answered = run.data().answered;

    // The user also has a run on this channel: the one that got further
    // stays. Replacing it goes through the one door, guarded by the revision
    // read here: an answer committed since is never deleted (the sync is
    // decided again on a fresh read).
    let online = runs::find(c, user_id, who.channel)?;
    let offline_wins = online.as_ref().is_none_or(|o| {
        (run.is_completed(), answered as i32) > (o.status == RunStatus::Completed, o.answered)
    });
    let (outcome, body_state, replaced) = if offline_wins {
        let replaced = online.as_ref().map(|o| o.id.clone());
        write.ends = online.map(|o| {
            let expected = o.revision;
            (o, expected)
        });
        write.run = Some(RunWrite::Insert(RunRow::of(
            run.into_data(),
            who.channel,
            0,
        )));
        save::save(c, &write)?;
        (SyncOutcome::Accepted, state, replaced)
    } else {
        let kept = online.expect("an online run that got further");
        let kept_flow = flows.get(c, &kept.version_id)?;
        let state = onboarding::render_in(&kept_flow, &kept, &who, &req.languages)?;
        (SyncOutcome::OnlineKept, state, None)
    };
    let body = json!({"outcome": outcome, "state": body_state});
    offline::insert_sync(
        c,
        &SyncRow {
            user_id: user_id.to_owned(),
            sync_id: req.sync_id.clone(),
            request_sha256: req.digest.clone(),
            outcome,
            run_id,
            replaced_run: replaced,
            version_id: flow.version.clone(),
            channel: who.channel,
            answered: answered as i32,
            started_at: req.started_at,
            synced_at: now,
            response: Json(body.clone()),
        },
    )?;
    Ok(Synced { outcome, body })
}
