//! Group commit: writes of answers that arrive together go to the database
//! in one transaction, one commit for all (README "Configuration",
//! `SCENEFLOW_GROUP_COMMIT_US`). Each answer is acknowledged only after the
//! commit that holds it. The group is written in a constant number of
//! statements ([`save::save_group`]); a write that meets a moved run is left
//! out alone (the guarded updates come first and nothing else of it is
//! written); any database
//! error rolls the group back and each write is tried again in a
//! transaction of its own, so one bad answer never fails the others.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use diesel::Connection;

use super::Result;
use super::save::{self, MAX_GROUP, Write};
use crate::store::{Db, StoreError};

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
    let writes: Vec<&Write> = group.iter().map(|p| &*p.write).collect();
    let together = conn.transaction(|c| save::save_group(c, &writes));
    match together {
        Ok(results) => results,
        Err(_) if group.len() > 1 => group
            .iter()
            .map(|p| conn.transaction(|c| save::save(c, &p.write)))
            .collect(),
        Err(e) => vec![Err(e)],
    }
}
