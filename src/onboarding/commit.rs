//! Group commit: writes of answers that arrive together go to the database
//! in one transaction, one commit for all (README "Configuration",
//! `SCENEFLOW_GROUP_COMMIT_US`). Each answer is acknowledged only after the
//! commit that holds it; a write that meets a moved run is left out alone
//! (the guarded update comes first and writes nothing else); any database
//! error rolls the group back and each write is tried again in a
//! transaction of its own, so one bad answer never fails the others.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use diesel::Connection;

use super::save::{self, Write};
use super::{OnboardingError, Result};
use crate::store::{Db, StoreError};

/// Writes in one group, at most.
const MAX_GROUP: usize = 64;

struct Pending {
    write: Box<Write>,
    done: tokio::sync::oneshot::Sender<Result<()>>,
}

/// The handle answers hand their writes to; the committer thread stops
/// when the last handle is dropped.
pub struct GroupCommit {
    queue: mpsc::Sender<Pending>,
}

impl GroupCommit {
    /// Start the committer: after the first write arrives it waits up to
    /// `wait` for others, then commits them together.
    pub fn start(db: Db, wait: Duration) -> GroupCommit {
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("group-commit".into())
            .spawn(move || committer(db, rx, wait))
            .expect("a thread for the committer");
        GroupCommit { queue: tx }
    }

    /// Write `write` in the next group; returns once it is committed.
    pub async fn save(&self, write: Box<Write>) -> Result<()> {
        let (done, committed) = tokio::sync::oneshot::channel();
        let sent = self.queue.send(Pending { write, done });
        if sent.is_err() {
            return Err(StoreError::Unavailable("the committer stopped".into()).into());
        }
        committed
            .await
            .unwrap_or_else(|_| Err(StoreError::Unavailable("the committer stopped".into()).into()))
    }
}

fn committer(db: Db, rx: mpsc::Receiver<Pending>, wait: Duration) {
    while let Ok(first) = rx.recv() {
        let mut group = vec![first];
        let until = Instant::now() + wait;
        while group.len() < MAX_GROUP {
            let left = until.saturating_duration_since(Instant::now());
            let next = if left.is_zero() {
                rx.try_recv().ok()
            } else {
                rx.recv_timeout(left).ok()
            };
            match next {
                Some(p) => group.push(p),
                None => break,
            }
        }
        let results = commit(&db, &group);
        for (p, r) in group.into_iter().zip(results) {
            let _ = p.done.send(r);
        }
    }
}

/// One transaction for the group; on a database error, one per write.
fn commit(db: &Db, group: &[Pending]) -> Vec<Result<()>> {
    let mut conn = match db.conn() {
        Ok(c) => c,
        Err(e) => {
            let message = e.to_string();
            return group
                .iter()
                .map(|_| Err(StoreError::Unavailable(message.clone()).into()))
                .collect();
        }
    };
    let mut results = Vec::with_capacity(group.len());
    let together = conn.transaction(|c| {
        for p in group {
            match save::save(c, &p.write) {
                Ok(()) => results.push(Ok(())),
                // Nothing of it was written: the others go on.
                Err(OnboardingError::Conflict) => results.push(Err(OnboardingError::Conflict)),
                Err(e) => return Err(e),
            }
        }
        Ok(())
    });
    match together {
        Ok(()) => results,
        Err(_) if group.len() > 1 => group
            .iter()
            .map(|p| conn.transaction(|c| save::save(c, &p.write)))
            .collect(),
        Err(e) => vec![Err(e)],
    }
}
