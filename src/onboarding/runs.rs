//! The runs port of the answer path: the run cache in front of the read,
//! the commit behind the decision (docs/src/benchmarks.md "Mobile API under load"). Whether
//! writes go to the group committer or each in a transaction of its own is
//! chosen once, when the port is built (`SCENEFLOW_GROUP_COMMIT_US=0`: alone);
//! the service calls the same three methods either way.

use diesel::Connection;

use super::cache::{self, RunCache};
use super::commit::{Coming, GroupCommit};
use super::load::Loaded;
use super::save::{self, Write};
use super::{AnswerSettings, Result};
use crate::background::Background;
use crate::store::Db;

/// How a write reaches the database.
enum Commit {
    /// With the writes that arrive together, one commit for all.
    Grouped(GroupCommit),
    /// In a transaction of its own.
    Alone,
}

pub struct Runs {
    db: Db,
    cache: RunCache,
    commit: Commit,
}

impl Runs {
    /// The port over `db`; the group committer, if on, runs as background work.
    pub fn new(db: Db, settings: AnswerSettings, background: &Background) -> Runs {
        let commit = if settings.group_commit.is_zero() {
            Commit::Alone
        } else {
            Commit::Grouped(GroupCommit::start(
                db.clone(),
                settings.group_commit,
                background,
            ))
        };
        Runs {
            cache: RunCache::new(settings.run_cache, settings.run_cache_bytes),
            db,
            commit,
        }
    }

    /// The user as this instance last read or wrote it, if it is kept.
    pub fn cached(&self, user_id: &str) -> Option<Loaded> {
        self.cache.get(user_id)
    }

    /// Keep the user as read (or as a write left it).
    pub fn keep(&self, user_id: &str, loaded: Loaded) {
        self.cache.put(user_id, loaded);
    }

    /// Forget what this instance keeps of a user changed elsewhere.
    pub fn forget(&self, user_id: &str) {
        self.cache.forget(user_id);
    }

    /// This request, counted as on its way to a commit (a group waits for
    /// requests on their way).
    pub fn coming(&self) -> Coming<'_> {
        match &self.commit {
            Commit::Grouped(g) => g.coming(),
            Commit::Alone => Coming::none(),
        }
    }

    /// Commit `write`, decided on `loaded`; returns once it is committed.
    /// The user is kept as the write leaves it, or forgotten if the write
    /// failed (a moved run is [`super::OnboardingError::Conflict`]).
    pub async fn commit(
        &self,
        user_id: &str,
        loaded: &Loaded,
        write: Box<Write>,
        coming: &Coming<'_>,
    ) -> Result<()> {
        let next = cache::after(loaded, &write);
        let written = match &self.commit {
            Commit::Grouped(g) if write.is_plain() => g.save(write, coming).await,
            _ => {
                self.db
                    .run_with(move |c| c.transaction(|c| save::save(c, &write)))
                    .await
            }
        };
        match written {
            Ok(()) => {
                self.keep(user_id, next);
                Ok(())
            }
            Err(e) => {
                self.forget(user_id);
                Err(e)
            }
        }
    }
}
