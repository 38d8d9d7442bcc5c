//! Group commit: writes of answers that arrive together go to the database
//! in one transaction, one commit for all (docs/src/configuration.md "Configuration",
//! `SCENEFLOW_GROUP_COMMIT_US`). Each answer is acknowledged only after the
//! commit that holds it. The group is written in one statement on
//! PostgreSQL, a constant number on SQLite ([`save::commit_group`]); a write
//! that meets a moved run is left out alone (nothing of it is written); any
//! database error rolls the group back and each write is tried again in a
//! transaction of its own, so one bad answer never fails the others.
//!
//! A group waits for more writes only while a start or an answer is on its
//! way ([`Coming`]) and at most the configured bound: when every request
//! in flight has handed its write over, nobody else can join in time, and
//! the group commits at once. The next group gathers while it commits.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use diesel::Connection;
use tokio_util::sync::CancellationToken;

use super::Result;
use super::save::{self, MAX_GROUP, Write};
use crate::background::Background;
use crate::store::{Db, StoreError};

struct Pending {
    write: Box<Write>,
    done: tokio::sync::oneshot::Sender<Result<()>>,
}

enum Message {
    Write(Pending),
    /// The last request on its way ended without a write: stop waiting.
    Nudge,
}

/// The handle answers hand their writes to; the committer thread stops
/// when the last handle is dropped or the instance stops.
pub struct GroupCommit {
    queue: mpsc::Sender<Message>,
    /// Starts and answers that may still hand a write over.
    coming: Arc<AtomicUsize>,
}

/// A start or an answer on its way to the committer, counted from its
/// first step until it hands its write over or ends without one.
pub struct Coming<'a> {
    commits: Option<&'a GroupCommit>,
    counted: AtomicBool,
}

impl Coming<'_> {
    /// Nothing to count: group commit is off.
    pub fn none() -> Coming<'static> {
        Coming {
            commits: None,
            counted: AtomicBool::new(false),
        }
    }

    /// No longer on its way; true if it was the last.
    fn arrived(&self) -> bool {
        match self.commits {
            Some(c) if self.counted.swap(false, Ordering::AcqRel) => {
                c.coming.fetch_sub(1, Ordering::AcqRel) == 1
            }
            _ => false,
        }
    }
}

impl Drop for Coming<'_> {
    fn drop(&mut self) {
        if self.arrived()
            && let Some(c) = self.commits
        {
            let _ = c.queue.send(Message::Nudge);
        }
    }
}

impl GroupCommit {
    /// Start the committer: after the first write arrives it waits for
    /// others while a request is on its way ([`Coming`]), at most `wait`,
    /// then commits them together.
    /// The committer is `background` work: at shutdown (after the server
    /// has stopped, so no request is on its way) it commits what it holds
    /// and returns.
    pub fn start(db: Db, wait: Duration, background: &Background) -> GroupCommit {
        let (tx, rx) = mpsc::channel();
        let coming = Arc::new(AtomicUsize::new(0));
        let on_the_way = coming.clone();
        background.spawn_blocking(move |stop| committer(db, rx, wait, &on_the_way, &stop));
        GroupCommit { queue: tx, coming }
    }

    /// Count a request on its way until its write is handed over
    /// ([`GroupCommit::save`]) or the guard is dropped.
    pub fn coming(&self) -> Coming<'_> {
        self.coming.fetch_add(1, Ordering::AcqRel);
        Coming {
            commits: Some(self),
            counted: AtomicBool::new(true),
        }
    }

    /// Write `write` in the next group; returns once it is committed.
    /// `coming` is the request's count, ended here.
    pub async fn save(&self, write: Box<Write>, coming: &Coming<'_>) -> Result<()> {
        let (done, committed) = tokio::sync::oneshot::channel();
        // Queued before it stops counting: a committer that sees nobody on
        // the way has this write in its queue already.
        let sent = self.queue.send(Message::Write(Pending { write, done }));
        if sent.is_err() {
            return Err(StoreError::Unavailable("the committer stopped".into()).into());
        }
        if coming.arrived() {
            let _ = self.queue.send(Message::Nudge);
        }
        committed
            .await
            .unwrap_or_else(|_| Err(StoreError::Unavailable("the committer stopped".into()).into()))
    }
}

/// How often an idle committer looks whether the instance is stopping.
const IDLE_CHECK: Duration = Duration::from_millis(100);

fn committer(
    db: Db,
    rx: mpsc::Receiver<Message>,
    wait: Duration,
    coming: &AtomicUsize,
    stop: &CancellationToken,
) {
    loop {
        let first = match rx.recv_timeout(IDLE_CHECK) {
            Ok(Message::Write(first)) => first,
            Ok(Message::Nudge) => continue,
            Err(mpsc::RecvTimeoutError::Timeout) if stop.is_cancelled() => return,
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        };
        let mut group = vec![first];
        let until = Instant::now() + wait;
        while group.len() < MAX_GROUP {
            let left = until.saturating_duration_since(Instant::now());
            // Waiting is for writes on their way; those already sent are
            // taken either way.
            let next = if left.is_zero() || coming.load(Ordering::Acquire) == 0 {
                rx.try_recv().ok()
            } else {
                rx.recv_timeout(left).ok()
            };
            match next {
                Some(Message::Write(p)) => group.push(p),
                Some(Message::Nudge) => {}
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
    let together = save::commit_group(&mut conn, &writes);
    match together {
        Ok(results) => results,
        Err(_) if group.len() > 1 => group
            .iter()
            .map(|p| conn.transaction(|c| save::save(c, &p.write)))
            .collect(),
        Err(e) => vec![Err(e)],
    }
}
