//! `sceneflow analytics generate --users N`: write N users' worth of
//! realistic runs and events straight into the database, to reproduce the
//! figures of README "Analytics at scale". Each user walks the version's
//! steps in order: a `scene_shown` per step, an `exposure` on steps with an
//! A/B group, an `answered` 2–60 s later, and drops off at each step with a
//! small chance, so about three in four complete.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use crate::flow::model::FlowDef;
use crate::flow::{EventKind, RunStatus};
use crate::insert_chunks;
use crate::store::channels::Channel;
use crate::store::column::Json;
use crate::store::runs::{NewEvent, RunRow};
use crate::store::schema::{events, runs};
use crate::store::{AnyConnection, StoreError};

/// A tiny deterministic generator (SplitMix64): the same seed, the same log.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct Plan {
    pub version: String,
    pub channel: Channel,
    pub users: u64,
    /// Users are numbered from here, so runs can be appended.
    pub first_user: u64,
    /// Runs start spread over this many days before `end`.
    pub days: i64,
    pub end: NaiveDateTime,
    pub seed: u64,
}

/// Write the plan's users, `batch` users per transaction; calls `progress`
/// with the number of users written so far. Returns the events written.
pub fn generate(
    conn: &mut AnyConnection,
    flow: &FlowDef,
    plan: &Plan,
    batch: u64,
    mut progress: impl FnMut(u64),
) -> Result<u64, StoreError> {
    let steps = &flow.steps;
    // Per step: the A/B group served to everybody (pass_through), if any.
    let groups: Vec<Vec<&str>> = steps
        .iter()
        .map(|step| {
            let group: Vec<&str> = flow
                .scenes
                .iter()
                .filter(|s| &s.step == step && s.condition == "pass_through")
                .map(|s| s.key.as_str())
                .collect();
            if group.len() > 1 { group } else { Vec::new() }
        })
        .collect();
    // Drop-off per step so that about 75 % complete.
    let stay = 0.75f64.powf(1.0 / steps.len().max(1) as f64);
    let mut rng = Rng::new(plan.seed ^ plan.first_user);
    let mut written = 0;
    let mut done = 0;
    while done < plan.users {
        let n = batch.min(plan.users - done);
        let mut run_rows = Vec::with_capacity(n as usize);
        let mut event_rows = Vec::new();
        for i in 0..n {
            let user = format!("gen-{}", plan.first_user + done + i);
            let run_id = format!("run-{user}");
            let offset = (rng.unit() * (plan.days * 86_400) as f64) as i64;
            let mut at = plan.end - Duration::seconds(offset);
            let started_at = at;
            let event =
                |kind: EventKind, at, step: Option<&str>, ab: Option<(&str, &str)>| NewEvent {
                    kind,
                    occurred_at: at,
                    user_id: user.clone(),
                    run_id: run_id.clone(),
                    version_id: plan.version.clone(),
                    channel: plan.channel,
                    step_key: step.map(str::to_owned),
                    scene_key: None,
                    experiment_id: ab.map(|(e, _)| e.to_owned()),
                    variation_id: ab.map(|(_, v)| v.to_owned()),
                    offline: false,
                };
            let mut stopped_at = None;
            for (position, step) in steps.iter().enumerate() {
                event_rows.push(event(EventKind::SceneShown, at, Some(step), None));
                let group = &groups[position];
                if !group.is_empty() {
                    let variant = group[(rng.next_u64() % group.len() as u64) as usize];
                    let experiment = format!("{step}:pass_through");
                    event_rows.push(event(
                        EventKind::Exposure,
                        at,
                        Some(step),
                        Some((&experiment, variant)),
                    ));
                }
                if rng.unit() > stay {
                    stopped_at = Some(step.clone());
                    break;
                }
                at += Duration::milliseconds(2_000 + (rng.unit() * 58_000.0) as i64);
                event_rows.push(event(EventKind::Answered, at, Some(step), None));
                at += Duration::milliseconds(100);
            }
            if stopped_at.is_none() {
                event_rows.push(event(EventKind::Completed, at, None, None));
            }
            run_rows.push(RunRow {
                id: run_id.clone(),
                user_id: user.clone(),
                channel: plan.channel,
                version_id: plan.version.clone(),
                status: if stopped_at.is_some() {
                    RunStatus::InProgress
                } else {
                    RunStatus::Completed
                },
                scene_id: stopped_at.as_ref().map(|_| format!("{run_id}-s")),
                scene_key: None,
                step_key: stopped_at.clone(),
                shown: 1,
                answered: 0,
                attributes: Json::default(),
                answers: Json::default(),
                revision: 1,
                started_at,
                updated_at: at,
                completed_at: stopped_at.is_none().then_some(at),
                previous_answer: None,
            });
        }
        diesel::Connection::transaction(conn, |c| -> Result<(), StoreError> {
            insert_chunks!(c, runs::table, run_rows);
            insert_chunks!(c, events::table, event_rows);
            Ok(())
        })?;
        written += event_rows.len() as u64;
        done += n;
        progress(done);
    }
    Ok(written)
}
