//! The background aggregator: tails `events` by id and folds each batch into
//! the aggregate tables, moving its cursor in the same transaction, so every
//! event counts exactly once even across crashes (docs/src/analytics.md "Analytics at
//! scale"). On PostgreSQL one instance at a time holds the advisory lock and
//! does the work; the others find it taken and wait for the next tick.

use crate::words::AggregateKind;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::NaiveDateTime;
use diesel::Connection;

use super::{outcomes, sketch};
use crate::flow::EventKind;
use crate::store::aggregates::{
    self as agg, AGGREGATES, Changes, CountKey, CountRow, LeftKey, MemberRow, RunLinkRow,
    RunStepRow,
};
use crate::store::analytics::EventRow;
use crate::store::{AnyConnection, Db, StoreError};

/// The advisory-lock key of the aggregator ("sceneflow" in ASCII, cut to 63 bits).
pub const LOCK_KEY: i64 = 0x0073_6365_6e65_666c;

/// Events folded per transaction.
pub const BATCH: i64 = 2000;

/// Settings of the aggregator.
#[derive(Debug, Clone, PartialEq)]
pub struct AnalyticsSettings {
    /// How often the aggregator looks for new events; zero: never (this
    /// instance leaves the aggregating to others).
    pub interval: Duration,
    /// Write closed hours of events to the object store as Parquet.
    pub sink: bool,
    /// With the sink: delete written events older than this many days.
    pub retention_days: Option<u64>,
}

impl Default for AnalyticsSettings {
    fn default() -> Self {
        AnalyticsSettings {
            interval: Duration::from_secs(1),
            sink: false,
            retention_days: None,
        }
    }
}

/// The highest id below which every event is committed. On PostgreSQL ids
/// are handed out before commit, so a later id can be visible while an
/// earlier one is not yet: a SHARE lock waits for the inserts in flight
/// (microseconds) and then `max(id)` is a safe horizon.
pub fn horizon(conn: &mut AnyConnection) -> Result<i64, StoreError> {
    conn.transaction(|c| {
        if let AnyConnection::Postgresql(pg) = c {
            use diesel::RunQueryDsl;
            diesel::sql_query("LOCK TABLE events IN SHARE MODE").execute(pg)?;
        }
        agg::last_event_id(c)
    })
}

/// What a pass did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    /// Another instance holds the lock.
    Busy,
    /// Folded this many events; the cursor is at `last_id`.
    Folded { events: usize, last_id: i64 },
}

/// Fold the next batch of at most `batch` events up to `horizon`.
pub fn step(conn: &mut AnyConnection, horizon: i64, batch: i64) -> Result<Pass, StoreError> {
    conn.transaction(|c| {
        if !agg::try_lock(c, LOCK_KEY)? {
            return Ok(Pass::Busy);
        }
        agg::touch_cursor(c, AGGREGATES)?;
        let last_id = agg::cursor(c, AGGREGATES)?.map_or(0, |r| r.0);
        let events = agg::events_after(c, last_id, Some(horizon), None, batch)?;
        let last_id = events.last().map_or(last_id, |e| e.0);
        fold(c, &events)?;
        agg::set_cursor(c, AGGREGATES, last_id, None)?;
        Ok(Pass::Folded {
            events: events.len(),
            last_id,
        })
    })
}

/// Fold everything committed so far; the number of events folded, or `None`
/// when another instance is at it.
pub fn catch_up(conn: &mut AnyConnection, batch: i64) -> Result<Option<usize>, StoreError> {
    let horizon = horizon(conn)?;
    let outcomes_horizon = crate::store::outcomes::horizon(conn)?;
    let mut total = 0;
    for (step, horizon) in [
        (
            step as fn(&mut AnyConnection, i64, i64) -> Result<Pass, StoreError>,
            horizon,
        ),
        (step_outcomes, outcomes_horizon),
    ] {
        loop {
            match step(conn, horizon, batch)? {
                Pass::Busy => return Ok(None),
                Pass::Folded { events, last_id } => {
                    total += events;
                    if events == 0 || last_id >= horizon {
                        break;
                    }
                }
            }
        }
    }
    outcomes::keep_today(conn, crate::store::now())?;
    Ok(Some(total))
}

/// Run the aggregator until the process stops.
pub async fn run(db: Db, settings: AnalyticsSettings) {
    let mut failing = false;
    loop {
        let pass = db.clone();
        let result = tokio::task::spawn_blocking(move || {
            let mut conn = pass.conn()?;
            catch_up(&mut conn, BATCH)
        })
        .await
        .unwrap_or_else(|e| Err(StoreError::Unavailable(format!("aggregator task: {e}"))));
        match result {
            Ok(_) => failing = false,
            // Logged once per outage, not every tick.
            Err(e) if !failing => {
                failing = true;
                tracing::error!(error = %e, "the analytics aggregator failed; retrying");
            }
            Err(_) => {}
        }
        tokio::time::sleep(settings.interval).await;
    }
}

type MemberKey = (CountKey, String);

/// One batch's view of the aggregates: what was stored, and what changed.
#[derive(Default)]
struct Fold {
    /// First time per member: as stored before the batch, and now.
    members: HashMap<MemberKey, (Option<NaiveDateTime>, NaiveDateTime)>,
    links: HashMap<String, Vec<RunLinkRow>>,
    new_links: Vec<RunLinkRow>,
    counts: HashMap<CountKey, CountRow>,
    touched: HashSet<CountKey>,
    /// `(version, channel, step, user)` whose time to answer may have moved.
    pairs: HashSet<(String, String, String, String)>,
    /// Per run of the batch: where it was in progress before the batch, its
    /// folded state now, and whether the batch changed it.
    run_steps: HashMap<String, (Option<LeftKey>, RunStepRow, bool)>,
}

impl Fold {
    /// Count `user` in `key` at `at`; whether the user's first time moved.
    fn touch(&mut self, key: CountKey, user: &str, at: NaiveDateTime) -> bool {
        let count = self.counts.entry(key.clone()).or_insert_with(|| CountRow {
            version_id: key.0.clone(),
            channel: key.1.clone(),
            kind: key.2.clone(),
            step_key: key.3.clone(),
            variant: key.4.clone(),
            users: 0,
            first_at: at,
            last_at: at,
        });
        count.first_at = count.first_at.min(at);
        count.last_at = count.last_at.max(at);
        self.touched.insert(key.clone());
        match self.members.get_mut(&(key.clone(), user.to_owned())) {
            Some(member) if member.1 <= at => false,
            Some(member) => {
                member.1 = at;
                true
            }
            None => {
                count.users += 1;
                self.members.insert((key, user.to_owned()), (None, at));
                true
            }
        }
    }

    fn event(&mut self, e: &EventRow) {
        let (id, kind, at, user, run, version, channel, step, _, experiment, variation) = e;
        // A run is where its last event (by id) put it: showing a step's
        // scene moves it there; completing or a QA reset ends it ("left").
        let moved = match (kind, step) {
            (EventKind::SceneShown, Some(step)) => Some(Some(step.clone())),
            // A rescue takes the run off this version; its next scene_shown
            // puts it on the other (docs/src/rollouts.md).
            (EventKind::Completed | EventKind::RunReset | EventKind::Rescued, _) => Some(None),
            _ => None,
        };
        if let Some(step_key) = moved {
            let (_, now, changed) = self.run_steps.entry(run.clone()).or_insert_with(|| {
                let row = RunStepRow {
                    run_id: run.clone(),
                    version_id: version.clone(),
                    channel: channel.clone(),
                    step_key: None,
                    last_id: 0,
                };
                (None, row, false)
            });
            // A rebuild of one version may fold an event older than one the
            // aggregator already folded: it changes nothing.
            if *id > now.last_id {
                now.step_key = step_key;
                now.last_id = *id;
                // A rescued run goes on on another version.
                now.version_id = version.clone();
                now.channel = channel.clone();
                *changed = true;
            }
        }
        if *kind == EventKind::RunReset {
            // Not a visit: the user's figures stay as they were.
            return;
        }
        let key = |kind: &str, step: &str, variant: &str| {
            (
                version.clone(),
                channel.clone(),
                kind.to_owned(),
                step.to_owned(),
                variant.to_owned(),
            )
        };
        self.touch(key(AggregateKind::Started.as_str(), "", ""), user, *at);
        match (kind, step, experiment, variation) {
            (EventKind::SceneShown | EventKind::Answered, Some(step), _, _) => {
                // A new or earlier first time may move the user's time to answer.
                let moved = self.touch(key(kind.as_str(), step, ""), user, *at);
                if moved {
                    self.pairs.insert((
                        version.clone(),
                        channel.clone(),
                        step.clone(),
                        user.clone(),
                    ));
                }
            }
            (EventKind::WentBack, Some(step), _, _) => {
                // Counted at the step gone back to: who came back to change it.
                self.touch(key(kind.as_str(), step, ""), user, *at);
            }
            (EventKind::Rescued, Some(step), _, _) => {
                self.touch(key(AggregateKind::Rescued.as_str(), step, ""), user, *at);
            }
            (EventKind::Completed, ..) => {
                self.touch(key(AggregateKind::Completed.as_str(), "", ""), user, *at);
                let links = self.links.entry(run.clone()).or_default();
                if !links.iter().any(|l| l.experiment_id.is_empty()) {
                    let marker = RunLinkRow {
                        run_id: run.clone(),
                        experiment_id: String::new(),
                        variation_id: String::new(),
                        version_id: version.clone(),
                        user_id: user.clone(),
                    };
                    links.push(marker.clone());
                    self.new_links.push(marker);
                    let exposed: Vec<RunLinkRow> = links
                        .iter()
                        .filter(|l| !l.experiment_id.is_empty())
                        .cloned()
                        .collect();
                    for l in exposed {
                        self.convert(&l, *at);
                    }
                }
            }
            (EventKind::Exposure, _, Some(experiment), Some(variation)) => {
                let exposure = (
                    version.clone(),
                    String::new(),
                    AggregateKind::Exposure.to_string(),
                    experiment.clone(),
                    variation.clone(),
                );
                self.touch(exposure, user, *at);
                let links = self.links.entry(run.clone()).or_default();
                let completed = links.iter().any(|l| l.experiment_id.is_empty());
                let link = RunLinkRow {
                    run_id: run.clone(),
                    experiment_id: experiment.clone(),
                    variation_id: variation.clone(),
                    version_id: version.clone(),
                    user_id: user.clone(),
                };
                if !links.contains(&link) {
                    links.push(link.clone());
                    self.new_links.push(link.clone());
                }
                if completed {
                    self.convert(&link, *at);
                }
            }
            _ => {}
        }
    }

    fn convert(&mut self, link: &RunLinkRow, at: NaiveDateTime) {
        let key = (
            link.version_id.clone(),
            String::new(),
            AggregateKind::Conversion.to_string(),
            link.experiment_id.clone(),
            link.variation_id.clone(),
        );
        self.touch(key, &link.user_id, at);
    }

    /// The time-to-answer bucket of a user at a step, before or after the batch.
    fn bucket(&self, pair: &(String, String, String, String), before: bool) -> Option<i32> {
        let first = |kind: &str| {
            let key = (
                (
                    pair.0.clone(),
                    pair.1.clone(),
                    kind.to_owned(),
                    pair.2.clone(),
                    String::new(),
                ),
                pair.3.clone(),
            );
            self.members
                .get(&key)
                .and_then(|m| if before { m.0 } else { Some(m.1) })
        };
        let (shown, answered) = (
            first(AggregateKind::SceneShown.as_str())?,
            first(AggregateKind::Answered.as_str())?,
        );
        Some(sketch::bucket_of((answered - shown).num_milliseconds()))
    }

    fn changes(self) -> Changes {
        let mut durations: HashMap<(String, String, String, i32), i64> = HashMap::new();
        for pair in &self.pairs {
            let (before, after) = (self.bucket(pair, true), self.bucket(pair, false));
            if before == after {
                continue;
            }
            let at = |b: i32| (pair.0.clone(), pair.1.clone(), pair.2.clone(), b);
            if let Some(b) = before {
                *durations.entry(at(b)).or_default() -= 1;
            }
            if let Some(b) = after {
                *durations.entry(at(b)).or_default() += 1;
            }
        }
        let member = |((version_id, channel, kind, step_key, variant), user_id): MemberKey,
                      first_at| MemberRow {
            version_id,
            channel,
            kind,
            step_key,
            variant,
            user_id,
            first_at,
        };
        let mut new_members = Vec::new();
        let mut earlier_members = Vec::new();
        for (key, (stored, now)) in self.members {
            match stored {
                None => new_members.push(member(key, now)),
                Some(stored) if now < stored => earlier_members.push(member(key, now)),
                Some(_) => {}
            }
        }
        let mut gone_run_steps = Vec::new();
        let mut new_run_steps = Vec::new();
        let mut left: HashMap<LeftKey, i64> = HashMap::new();
        for (run, (before, now, changed)) in self.run_steps {
            if !changed {
                continue;
            }
            if let Some(key) = before {
                *left.entry(key).or_default() -= 1;
            }
            if let Some(key) = now.left_key() {
                *left.entry(key).or_default() += 1;
            }
            gone_run_steps.push(run);
            new_run_steps.push(now);
        }
        let counts = self
            .counts
            .into_iter()
            .filter(|(k, _)| self.touched.contains(k))
            .map(|(_, v)| v)
            .collect();
        Changes {
            new_members,
            earlier_members,
            new_links: self.new_links,
            counts,
            durations,
            gone_run_steps,
            new_run_steps,
            left,
        }
    }
}

/// Fold a batch of events into the aggregates (inside the caller's transaction).
pub fn fold(conn: &mut AnyConnection, events: &[EventRow]) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    let runs: Vec<&str> = distinct(events.iter().map(|e| e.4.as_str()));
    let links = agg::links_of(conn, &runs)?;
    // A completion converts the exposures stored with its run: their users
    // and versions are part of the batch too.
    let users: Vec<&str> = distinct(
        events
            .iter()
            .map(|e| e.3.as_str())
            .chain(links.iter().map(|l| l.user_id.as_str())),
    );
    let versions: Vec<&str> = distinct(
        events
            .iter()
            .map(|e| e.5.as_str())
            .chain(links.iter().map(|l| l.version_id.as_str())),
    );
    let mut fold = Fold::default();
    for m in agg::members_of(conn, &users, &versions)? {
        let at = m.first_at;
        let key = (
            (m.version_id, m.channel, m.kind, m.step_key, m.variant),
            m.user_id,
        );
        fold.members.insert(key, (Some(at), at));
    }
    for r in agg::run_steps_of(conn, &runs)? {
        fold.run_steps
            .insert(r.run_id.clone(), (r.left_key(), r, false));
    }
    for link in &links {
        fold.links
            .entry(link.run_id.clone())
            .or_default()
            .push(link.clone());
    }
    fold.counts = agg::counts_of(conn, &versions)?;
    for e in events {
        fold.event(e);
    }
    let changes = fold.changes();
    agg::write(conn, &changes)?;
    // New exposures (or earlier first ones) take the outcome events folded
    // so far; later ones find them when they are folded.
    let touched: Vec<&MemberRow> = changes
        .new_members
        .iter()
        .chain(&changes.earlier_members)
        .collect();
    outcomes::refresh(conn, &touched)
}

/// Fold the next batch of at most `batch` outcome events up to `horizon`
/// (cursor `outcomes`).
pub fn step_outcomes(
    conn: &mut AnyConnection,
    horizon: i64,
    batch: i64,
) -> Result<Pass, StoreError> {
    conn.transaction(|c| {
        if !agg::try_lock(c, LOCK_KEY)? {
            return Ok(Pass::Busy);
        }
        let last_id = agg::cursor(c, outcomes::OUTCOMES)?.map_or(0, |r| r.0);
        let events = crate::store::outcomes::after(c, last_id, horizon, batch)?;
        let last_id = events.last().map_or(last_id, |e| e.id);
        outcomes::fold(c, &events, None)?;
        agg::set_cursor(c, outcomes::OUTCOMES, last_id, None)?;
        Ok(Pass::Folded {
            events: events.len(),
            last_id,
        })
    })
}

fn distinct<'a>(values: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut seen = HashSet::new();
    values.filter(|v| seen.insert(*v)).collect()
}
