//! Recently used runs in memory, so an answer needs no read (docs/src/configuration.md
//! "Configuration", `SCENEFLOW_RUN_CACHE_SIZE`, `SCENEFLOW_RUN_CACHE_BYTES`).
//!
//! Correct across instances because nothing is trusted from here but a
//! decision to move a run, and that write is guarded by the run's
//! `revision`: if another instance (or a QA change, which bumps the
//! revisions of the user's runs) moved it, the write touches no row and the
//! answer runs again on a fresh read. Refusals and replays are only ever
//! decided on a fresh read.
//!
//! Bounded in bytes, not only in runs: one run's attributes may be tens of
//! kilobytes, so a count alone does not bound memory. `quick_cache` keeps
//! the entries (weighed by [`footprint`], evicted by its scan-resistant
//! policy) instead of a map of our own.

use quick_cache::Weighter;
use quick_cache::sync::Cache;
use serde_json::Value;

use super::load::Loaded;
use super::save::{AssignmentWrite, RunWrite, Write};
use crate::flow::ExperimentId;
use crate::flow::decision::Stored;

/// A kept user with its weight, computed once.
#[derive(Clone)]
struct Kept {
    loaded: Loaded,
    bytes: u64,
}

#[derive(Clone)]
struct ByBytes;

impl Weighter<String, Kept> for ByBytes {
    fn weight(&self, user: &String, kept: &Kept) -> u64 {
        user.len() as u64 + kept.bytes
    }
}

pub struct RunCache {
    /// `None`: the cache is off.
    runs: Option<Cache<String, Kept, ByBytes>>,
}

impl RunCache {
    /// At most `runs` users and `bytes` bytes (estimated by [`footprint`]);
    /// either 0 turns the cache off.
    pub fn new(runs: usize, bytes: u64) -> RunCache {
        RunCache {
            runs: (runs > 0 && bytes > 0).then(|| Cache::with_weighter(runs, bytes, ByBytes)),
        }
    }

    pub fn get(&self, user_id: &str) -> Option<Loaded> {
        self.runs.as_ref()?.get(user_id).map(|k| k.loaded)
    }

    /// Keep `loaded` (read fresh, or as a write left it); the earlier answer
    /// is never kept.
    pub fn put(&self, user_id: &str, mut loaded: Loaded) {
        let Some(runs) = &self.runs else { return };
        if loaded.run.is_none() || loaded.who.is_none() {
            return;
        }
        loaded.earlier = None;
        let bytes = footprint(&loaded);
        runs.insert(user_id.to_owned(), Kept { loaded, bytes });
    }

    pub fn forget(&self, user_id: &str) {
        if let Some(runs) = &self.runs {
            runs.remove(user_id);
        }
    }

    /// Bytes kept now, by [`footprint`].
    pub fn weight(&self) -> u64 {
        self.runs.as_ref().map_or(0, |r| r.weight())
    }
}

/// Bytes a kept user takes in memory, estimated: the structures' own size
/// plus every string and JSON value they hold (a JSON value's heap as
/// serde_json lays it out, roughly: its text, plus a few words a node).
pub fn footprint(loaded: &Loaded) -> u64 {
    let mut bytes = std::mem::size_of::<Loaded>() as u64;
    if let Some(run) = &loaded.run {
        bytes += std::mem::size_of_val(run) as u64;
        let texts = [
            Some(&run.id),
            Some(&run.user_id),
            Some(&run.version_id),
            run.step_key.as_ref(),
            run.scene_key.as_ref(),
            run.scene_id.as_ref(),
        ];
        bytes += texts.iter().flatten().map(|t| t.len() as u64).sum::<u64>();
        bytes += object_bytes(&run.attributes.0) + object_bytes(&run.answers.0);
        bytes += run
            .previous_answer
            .as_ref()
            .map_or(0, |v| value_bytes(&v.0));
    }
    if let Some(who) = &loaded.who {
        bytes += object_bytes(&who.overrides);
    }
    for (x, stored) in loaded.assignments.sorted() {
        bytes += 96 + (x.step.len() + x.condition.len() + stored.scene.len()) as u64;
    }
    bytes
}

fn object_bytes(attributes: &crate::flow::Attributes) -> u64 {
    attributes
        .iter()
        .map(|(k, v)| 48 + k.len() as u64 + value_bytes(v))
        .sum()
}

fn value_bytes(v: &Value) -> u64 {
    const NODE: u64 = 32;
    NODE + match v {
        Value::String(s) => s.len() as u64,
        Value::Array(items) => items.iter().map(value_bytes).sum(),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| 48 + k.len() as u64 + value_bytes(v))
            .sum(),
        _ => 0,
    }
}

/// The user as `loaded` and the committed `write` leave it.
pub fn after(loaded: &Loaded, write: &Write) -> Loaded {
    let mut next = loaded.clone();
    match &write.run {
        Some(RunWrite::Insert(run)) | Some(RunWrite::Update { run, .. }) => {
            next.run = Some(run.clone());
        }
        None => {}
    }
    for change in &write.assignments {
        match change {
            AssignmentWrite::Put(row) => next.assignments.insert(
                ExperimentId::new(row.step_key.clone(), row.condition_name.clone()),
                Stored {
                    scene: row.scene_key.clone(),
                    exposed: row.exposed_at.is_some(),
                },
            ),
            AssignmentWrite::Expose {
                step_key,
                condition_name,
                ..
            } => next
                .assignments
                .expose(&ExperimentId::new(step_key.clone(), condition_name.clone())),
        }
    }
    next.earlier = None;
    next
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::run::RunData;
    use crate::flow::{Attributes, RunStatus};
    use crate::store::runs::RunRow;

    fn user(id: &str, text_bytes: usize) -> Loaded {
        let at = chrono::NaiveDate::from_ymd_opt(2026, 12, 7)
            .unwrap()
            .and_hms_opt(9, 0, 0)
            .unwrap();
        let mut start = Attributes::new();
        start.insert("nickname".into(), Value::String("x".repeat(text_bytes)));
        let data = RunData {
            id: format!("run-{id}"),
            user_id: id.into(),
            version: "v1".into(),
            status: RunStatus::InProgress,
            step: Some("welcome".into()),
            scene: Some("welcome".into()),
            shown: 1,
            answered: 0,
            start,
            answers: Attributes::new(),
            previous: None,
            started_at: at,
            updated_at: at,
            completed_at: None,
        };
        Loaded {
            who: Some(super::super::Who {
                channel: crate::words::Channel::Production,
                overrides: Attributes::new(),
            }),
            run: Some(RunRow::of(data, crate::words::Channel::Production, 0)),
            assignments: Default::default(),
            earlier: None,
        }
    }

    #[test]
    fn a_footprint_counts_what_a_run_holds() {
        let small = footprint(&user("a", 10));
        let large = footprint(&user("a", 30_000));
        assert!(large - small >= 29_990, "{small} → {large}");
    }

    #[test]
    fn the_cache_holds_to_its_bytes_not_only_its_count() {
        // Room for 1,000 runs by count, but 1 MB: thirty-kilobyte runs
        // cannot all stay.
        let cache = RunCache::new(1_000, 1 << 20);
        for i in 0..200 {
            cache.put(&format!("user-{i}"), user(&i.to_string(), 30_000));
        }
        assert!(cache.weight() <= 1 << 20, "{} bytes kept", cache.weight());
        let kept = (0..200)
            .filter(|i| cache.get(&format!("user-{i}")).is_some())
            .count();
        assert!(kept > 0 && kept < 40, "{kept} kept");
        assert!(RunCache::new(1_000, 0).get("user-1").is_none());
    }
}
