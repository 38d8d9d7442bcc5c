//! `sceneflow analytics generate --users N`: write N users' worth of
//! realistic runs and events straight into the database, to reproduce the
//! figures of docs/src/analytics.md "Analytics at scale". Each user is a run of the engine
//! with start attributes as apps send them: the scenes their conditions
//! pick, their A/B variants and exposures, a valid answer 2–60 s after
//! each scene, and a small chance to leave at each, so about three in four
//! complete; every path is one the flow can produce.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use serde_json::Value;

use crate::flow::run::{Begin, Moved, Run};
use crate::flow::{Assignments, Attributes, Bound, CompiledFlow, InputKind};
use crate::insert_chunks;
use crate::store::channels::Channel;
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
    /// Also write outcome events (about 3.3 a user; see [`outcomes_of`]).
    pub outcomes: bool,
}

/// Write the plan's users, `batch` users per transaction; calls `progress`
/// with the number of users written so far. Returns the events written.
/// Each user is a real run of the engine ([`Run`]): the scenes a user with
/// their start attributes is shown, their A/B variants by bucket, and a
/// valid answer to each scene, so every path is one the flow can produce.
pub fn generate(
    conn: &mut AnyConnection,
    flow: &CompiledFlow,
    plan: &Plan,
    batch: u64,
    mut progress: impl FnMut(u64),
) -> Result<u64, StoreError> {
    // Drop-off per scene so that about 75 % complete.
    let stay = 0.75f64.powf(1.0 / flow.def.steps.len().max(1) as f64);
    let mut rng = Rng::new(plan.seed ^ plan.first_user);
    let none = Attributes::new();
    let mut written = 0;
    let mut done = 0;
    while done < plan.users {
        let n = batch.min(plan.users - done);
        let mut run_rows = Vec::with_capacity(n as usize);
        let mut event_rows = Vec::new();
        let mut outcome_rows = Vec::new();
        for i in 0..n {
            let user = format!("gen-{}", plan.first_user + done + i);
            let run_id = format!("run-{user}");
            let offset = (rng.unit() * (plan.days * 86_400) as f64) as i64;
            let mut at = plan.end - Duration::seconds(offset);
            let start = attributes(&mut rng);
            let begin = Begin {
                user_id: &user,
                run_id: &run_id,
                start: &start,
                at,
            };
            let (mut run, moved) = Run::start(flow, begin, &none, Assignments::default());
            let mut record =
                |run: &Run, moved: &Moved| {
                    event_rows.extend(moved.events.iter().map(|e| {
                        NewEvent::of(run.data(), plan.channel, e.clone(), moved.at, false)
                    }));
                };
            record(&run, &moved);
            // Guard against a flow that loops: a real user leaves too.
            for _ in 0..100 {
                let Some(scene) = run.scene() else { break };
                if rng.unit() > stay {
                    break;
                }
                at += Duration::milliseconds(2_000 + (rng.unit() * 58_000.0) as i64);
                let Ok(moved) = run.answer(&answer_for(&mut rng, flow, scene), at) else {
                    break;
                };
                record(&run, &moved);
            }
            if plan.outcomes {
                let exposed_to_second = event_rows.iter().any(|e| {
                    e.user_id == user
                        && e.variation_id
                            .as_deref()
                            .is_some_and(|v| second_variants(flow).contains(&v))
                });
                let completed = run.scene().is_none();
                let started = plan.end - Duration::seconds(offset);
                outcome_rows.extend(outcomes_of(
                    &mut rng,
                    &user,
                    started,
                    plan.end,
                    completed,
                    exposed_to_second,
                ));
            }
            run_rows.push(RunRow::of(run.into_data(), plan.channel, 1));
        }
        diesel::Connection::transaction(conn, |c| -> Result<(), StoreError> {
            insert_chunks!(c, runs::table, run_rows);
            insert_chunks!(c, events::table, event_rows);
            insert_chunks!(c, crate::store::outcomes::outcomes::table, outcome_rows);
            Ok(())
        })?;
        written += (event_rows.len() + outcome_rows.len()) as u64;
        done += n;
        progress(done);
    }
    Ok(written)
}

/// The second variant (sheet order) of every A/B group of the flow: users
/// shown one get the outcomes' lift.
fn second_variants(flow: &CompiledFlow) -> Vec<&str> {
    flow.groups()
        .filter_map(|g| g.variants.get(1).map(|(scene, _)| scene.as_str()))
        .collect()
}

/// A user's outcome events after onboarding, about 3.3 a user: opened the
/// app on day 1 (70 %) and day 7 (45 %), subscribed (20 %, 30 % after a
/// completed run, × 1.2 for the second variant of an A/B group), and
/// purchases (about 1.9, 4.99–49.99 each), each at a time after the start
/// and not after `end`.
pub fn outcomes_of(
    rng: &mut Rng,
    user: &str,
    started: NaiveDateTime,
    end: NaiveDateTime,
    completed: bool,
    treated: bool,
) -> Vec<crate::store::outcomes::NewOutcome> {
    let mut out = Vec::new();
    let lift = if treated { 1.2 } else { 1.0 };
    let mut event = |rng: &mut Rng, name: &str, value: f64, hours: f64| {
        let at = started + Duration::seconds((hours * 3600.0 * (0.5 + rng.unit())) as i64);
        if at <= end {
            out.push(crate::store::outcomes::NewOutcome {
                user_id: user.to_owned(),
                event_id: format!("{name}-{}", out.len()),
                name: name.to_owned(),
                value,
                occurred_at: at,
                received_at: at,
                source: "app".into(),
            });
        }
    };
    if rng.unit() < 0.7 {
        event(rng, "opened_day_1", 1.0, 24.0);
    }
    if rng.unit() < 0.45 {
        event(rng, "opened_day_7", 1.0, 168.0);
    }
    if rng.unit() < if completed { 0.3 } else { 0.2 } * lift {
        event(rng, "subscribed", 1.0, 2.0);
    }
    while rng.unit() < 0.65 {
        let value = ((4.99 + rng.unit() * 45.0) * 100.0).round() / 100.0;
        event(rng, "purchase", value, 72.0);
    }
    out
}

/// Start attributes as apps send them, so conditions pick their rows.
fn attributes(rng: &mut Rng) -> Attributes {
    let mut pick =
        |options: &[&str]| options[(rng.next_u64() % options.len() as u64) as usize].to_owned();
    let mut attrs = Attributes::new();
    attrs.insert(
        "install_source".into(),
        Value::String(pick(&["organic", "diet_campaign", "sleep_campaign"])),
    );
    attrs.insert("platform".into(), Value::String(pick(&["ios", "android"])));
    attrs.insert(
        "gender".into(),
        Value::String(pick(&["female", "male", "other"])),
    );
    attrs.insert(
        "birth_year".into(),
        Value::from(1960 + (rng.next_u64() % 50) as i64),
    );
    attrs
}

/// A valid answer to `scene`: a choice among its keys, a number or a date
/// within its bounds, a short text.
fn answer_for(rng: &mut Rng, flow: &CompiledFlow, scene: usize) -> Value {
    let s = flow.scene(scene);
    let keys: Vec<&str> = flow.choices(scene).map(|c| c.key.as_str()).collect();
    let pick = |rng: &mut Rng| keys[(rng.next_u64() % keys.len().max(1) as u64) as usize];
    match s.input {
        InputKind::None => Value::Null,
        InputKind::Choice if !keys.is_empty() => Value::String(pick(rng).to_owned()),
        InputKind::MultiChoice if !keys.is_empty() => {
            Value::Array(vec![Value::String(pick(rng).to_owned())])
        }
        InputKind::Choice | InputKind::MultiChoice => Value::Null,
        InputKind::Text => Value::String("ok".into()),
        InputKind::Number => {
            let (low, high) = match (s.min, s.max) {
                (Some(Bound::Number(a)), Some(Bound::Number(b))) => (a, b),
                (Some(Bound::Number(a)), _) => (a, a + 100.0),
                (_, Some(Bound::Number(b))) => (b - 100.0, b),
                _ => (0.0, 100.0),
            };
            Value::from((low + rng.unit() * (high - low)).round().clamp(low, high))
        }
        InputKind::Date => match (s.min, s.max) {
            (Some(Bound::Date(d)), _) | (_, Some(Bound::Date(d))) => {
                Value::String(d.format("%Y-%m-%d").to_string())
            }
            _ => Value::String("2027-01-01".into()),
        },
    }
}
