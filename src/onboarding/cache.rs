//! Recently used runs in memory, so an answer needs no read (README
//! "Configuration", `SCENEFLOW_RUN_CACHE_SIZE`).
//!
//! Correct across instances because nothing is trusted from here but a
//! decision to move a run, and that write is guarded by the run's
//! `revision`: if another instance (or a QA change, which bumps the
//! revisions of the user's runs) moved it, the write touches no row and the
//! answer runs again on a fresh read. Refusals and replays are only ever
//! decided on a fresh read.

use std::collections::HashMap;
use std::sync::Mutex;

use super::load::Loaded;
use super::save::{AssignmentWrite, RunWrite, Write};
use crate::flow::ExperimentId;
use crate::flow::decision::Stored;

pub struct RunCache {
    capacity: usize,
    runs: Mutex<HashMap<String, Loaded>>,
}

impl RunCache {
    pub fn new(capacity: usize) -> RunCache {
        RunCache {
            capacity,
            runs: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Loaded>> {
        self.runs.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn get(&self, user_id: &str) -> Option<Loaded> {
        if self.capacity == 0 {
            return None;
        }
        self.lock().get(user_id).cloned()
    }

    /// Keep `loaded` (read fresh, or as a write left it); the earlier answer
    /// is never kept.
    pub fn put(&self, user_id: &str, mut loaded: Loaded) {
        if self.capacity == 0 || loaded.run.is_none() || loaded.who.is_none() {
            return;
        }
        loaded.earlier = None;
        let mut runs = self.lock();
        if runs.len() >= self.capacity && !runs.contains_key(user_id) {
            // Bounded: drop some entry; a miss costs one read.
            if let Some(k) = runs.keys().next().cloned() {
                runs.remove(&k);
            }
        }
        runs.insert(user_id.to_owned(), loaded);
    }

    pub fn forget(&self, user_id: &str) {
        if self.capacity > 0 {
            self.lock().remove(user_id);
        }
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
