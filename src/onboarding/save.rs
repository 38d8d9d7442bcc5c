//! Save: the one door every write of a run goes through
//! (docs/src/architecture.md): everything a move produced, in one transaction:
//! the run
//! (inserted, or updated if its `revision` is still the one read), a run it
//! ends in its place (deleted if its `revision` is still the one read), the
//! answers, a back, the A/B assignments and the events as one multi-row
//! insert. A write that finds a run moved is [`OnboardingError::Conflict`]
//! and writes nothing; its caller loads again and decides again.

use super::{OnboardingError, Result};
use crate::flow::decision::AssignmentChange;
use crate::flow::run::{Moved, RunData};
use crate::store::backs::{self, BackRow};
use crate::store::channels::Channel;
use crate::store::group::GroupStatement;
use crate::store::runs::{self, AnswerRow, AssignmentRow, NewEvent, RunRow};
use crate::store::{AnyConnection, batch};
use crate::words::AssignmentSource;
use diesel::{Connection, RunQueryDsl};

/// The rows a decision produced.
#[derive(Debug, Clone, Default)]
pub struct Write {
    pub run: Option<RunWrite>,
    /// A run ended in this one's place (an online run a synced offline run
    /// replaces, a QA reset), if its revision is still the one read.
    pub ends: Option<(RunRow, i64)>,
    pub answers: Vec<AnswerRow>,
    /// A back, with the scene ids of the answers it withdraws.
    pub back: Option<(BackRow, Vec<String>)>,
    pub assignments: Vec<AssignmentWrite>,
    pub events: Vec<NewEvent>,
    /// A rescue: what the run lets go on its new version.
    pub rescue: Option<RescueWrite>,
}

/// What a rescue withdraws: the answers whose scene is not on the new
/// version, and the assignments to groups that differ there.
#[derive(Debug, Clone, Default)]
pub struct RescueWrite {
    /// Scene ids of the run's answers withdrawn.
    pub withdrawn: Vec<String>,
    /// `(step, condition)` of the user's assignments forgotten.
    pub forgotten: Vec<(String, String)>,
}

impl Write {
    /// Add what a move of `run` (on `channel`) recorded: its events and its
    /// A/B assignment, at the move's time.
    pub fn record(&mut self, run: &RunData, channel: Channel, moved: &Moved, offline: bool) {
        let at = moved.at;
        self.events.extend(
            moved
                .events
                .iter()
                .map(|e| NewEvent::of(run, channel, e.clone(), at, offline)),
        );
        if let Some(change) = &moved.assignment {
            self.assignments.push(match change {
                AssignmentChange::Bucketed { experiment, scene } => {
                    AssignmentWrite::Put(AssignmentRow {
                        user_id: run.user_id.clone(),
                        step_key: experiment.step.clone(),
                        condition_name: experiment.condition.clone(),
                        scene_key: scene.clone(),
                        source: AssignmentSource::Bucket,
                        assigned_at: at,
                        exposed_at: Some(at),
                    })
                }
                AssignmentChange::Exposed { experiment } => AssignmentWrite::Expose {
                    user_id: run.user_id.clone(),
                    step_key: experiment.step.clone(),
                    condition_name: experiment.condition.clone(),
                    at,
                },
            });
        }
    }

    /// Whether this write can join a group: it neither ends a run nor goes
    /// back (those are written alone, [`save`]).
    pub fn is_plain(&self) -> bool {
        self.ends.is_none() && self.back.is_none() && self.rescue.is_none()
    }
}

#[derive(Debug, Clone)]
pub enum RunWrite {
    Insert(RunRow),
    /// Write the run if its revision is still `expected`.
    Update {
        run: RunRow,
        expected: i64,
    },
}

#[derive(Debug, Clone)]
pub enum AssignmentWrite {
    /// Store (or replace) an assignment.
    Put(AssignmentRow),
    /// Mark a stored assignment exposed.
    Expose {
        user_id: String,
        step_key: String,
        condition_name: String,
        at: chrono::NaiveDateTime,
    },
}

impl AssignmentWrite {
    /// The assignment it changes: user, step, condition.
    fn key(&self) -> (&str, &str, &str) {
        match self {
            AssignmentWrite::Put(row) => key(row),
            AssignmentWrite::Expose {
                user_id,
                step_key,
                condition_name,
                ..
            } => (user_id, step_key, condition_name),
        }
    }
}

fn key(row: &AssignmentRow) -> (&str, &str, &str) {
    (&row.user_id, &row.step_key, &row.condition_name)
}

/// Write `w`; the caller holds the transaction. A run moved by somebody
/// else is [`OnboardingError::Conflict`], and nothing else is written.
/// The same statements as a group of one.
pub fn save(c: &mut AnyConnection, w: &Write) -> Result<()> {
    statements(c, &[w], vec![true])?
        .pop()
        .expect("one result for one write")
}

/// Writes in one group, at most: [`runs::update_many`] binds
/// [`batch::UPDATE_PARAMS`] parameters a run, well under PostgreSQL's 65535
/// (and SQLite's 32766) bound parameters a statement.
pub const MAX_GROUP: usize = 64;
const _: () = assert!(MAX_GROUP * batch::UPDATE_PARAMS < 32766);

/// Write a group and commit it (docs/src/benchmarks.md "Mobile API under load"). On
/// PostgreSQL it is one statement, [`GroupStatement`], its own transaction:
/// one round trip and one commit. Where that statement cannot hold the
/// group (two of its writes store or expose one assignment, which
/// PostgreSQL refuses to touch twice in a statement), and on SQLite (in
/// process, no round trips), it is [`save_group`]'s statements in one
/// transaction. The results and errors are [`save_group`]'s.
pub fn commit_group(c: &mut AnyConnection, group: &[&Write]) -> Result<Vec<Result<()>>> {
    let written = first_of_each_run(group);
    if let AnyConnection::Postgresql(pg) = c
        && let Some(statement) = one_statement(group, &written)
    {
        let kept: Vec<i32> = statement.load(pg).map_err(crate::store::StoreError::from)?;
        return Ok(group
            .iter()
            .zip(written)
            .enumerate()
            .map(|(i, (w, first))| {
                let guarded = matches!(w.run, Some(RunWrite::Update { .. }));
                let updated = || kept.iter().any(|k| usize::try_from(*k) == Ok(i));
                if first && (!guarded || updated()) {
                    Ok(())
                } else {
                    Err(OnboardingError::Conflict)
                }
            })
            .collect());
    }
    c.transaction(|c| statements(c, group, written))
}

/// The group as one statement; `None` if two of its writes store or
/// expose one assignment.
fn one_statement<'a>(group: &[&'a Write], written: &[bool]) -> Option<GroupStatement<'a>> {
    let mut statement = GroupStatement::default();
    let mut keys: Vec<(&str, &str, &str)> = Vec::new();
    for (i, w) in group.iter().enumerate().filter(|(i, _)| written[*i]) {
        if !w.is_plain() {
            return None;
        }
        match &w.run {
            Some(RunWrite::Update { run, expected }) => statement.update(i, run, *expected),
            Some(RunWrite::Insert(run)) => {
                statement.unguarded(i);
                statement.new_run(i, run);
            }
            None => statement.unguarded(i),
        }
        for answer in &w.answers {
            statement.answer(i, answer);
        }
        for change in &w.assignments {
            let key = change.key();
            if keys.contains(&key) {
                return None;
            }
            keys.push(key);
            match change {
                AssignmentWrite::Put(row) => statement.assignment(i, row),
                AssignmentWrite::Expose { at, .. } => statement.exposure(i, key, *at),
            }
        }
        for event in &w.events {
            statement.event(i, event);
        }
    }
    Some(statement)
}

/// Which writes may be written: a second write of a run already written by
/// an earlier one of the group may not (it reads the run again).
fn first_of_each_run(group: &[&Write]) -> Vec<bool> {
    let mut seen: Vec<&str> = Vec::new();
    group
        .iter()
        .map(|w| match &w.run {
            Some(RunWrite::Update { run, .. }) if seen.contains(&&*run.id) => false,
            Some(RunWrite::Update { run, .. }) => {
                seen.push(&run.id);
                true
            }
            _ => true,
        })
        .collect()
}

/// Write a group in a constant number of statements, whatever its size
/// (docs/src/benchmarks.md "Mobile API under load"): the guarded run updates as one
/// statement, then, for the writes whose run was still the one read, the
/// new runs, answers, assignments and events as one multi-row insert each.
/// The caller holds the transaction. A write whose run moved (or whose run
/// an earlier write of the group moves) is [`OnboardingError::Conflict`]
/// alone and nothing of it is written; a database error is the group's,
/// the caller then writes each on its own.
pub fn save_group(c: &mut AnyConnection, group: &[&Write]) -> Result<Vec<Result<()>>> {
    statements(c, group, first_of_each_run(group))
}

/// [`save_group`], with `written` from [`first_of_each_run`].
/// The statements of a group whose writes are all plain, or of one write
/// (which may end a run or go back: its caller's transaction rolls all of
/// it back on a conflict, as a group's cannot for one of its writes).
fn statements(
    c: &mut AnyConnection,
    group: &[&Write],
    mut written: Vec<bool>,
) -> Result<Vec<Result<()>>> {
    debug_assert!(
        group.len() == 1 || group.iter().all(|w| w.is_plain()),
        "a write that ends a run or goes back is written alone"
    );
    assert!(
        group.len() <= MAX_GROUP,
        "a group of {} writes",
        group.len()
    );
    let updates: Vec<(&RunRow, i64)> = group
        .iter()
        .zip(&written)
        .filter(|(_, first)| **first)
        .filter_map(|(w, _)| match &w.run {
            Some(RunWrite::Update { run, expected }) => Some((run, *expected)),
            _ => None,
        })
        .collect();
    let moved = runs::update_many(c, &updates)?;
    for (i, w) in group.iter().enumerate() {
        if let Some(RunWrite::Update { run, .. }) = &w.run
            && !moved.contains(&run.id)
        {
            written[i] = false;
        }
    }
    // Rare (a sync over an online run, a QA reset): one statement each.
    for (i, w) in group.iter().enumerate() {
        if let (true, Some((run, expected))) = (written[i], &w.ends)
            && !runs::end(c, run, *expected)?
        {
            written[i] = false;
        }
    }
    let kept = || {
        group
            .iter()
            .zip(&written)
            .filter(|(_, ok)| **ok)
            .map(|(w, _)| *w)
    };
    let new_runs: Vec<RunRow> = kept()
        .filter_map(|w| match &w.run {
            Some(RunWrite::Insert(run)) => Some(run.clone()),
            _ => None,
        })
        .collect();
    runs::insert_many(c, &new_runs)?;
    for (back, withdrawn) in kept().filter_map(|w| w.back.as_ref()) {
        backs::save(c, back, withdrawn)?;
    }
    for w in kept() {
        if let (Some(rescue), Some(RunWrite::Update { run, .. })) = (&w.rescue, &w.run) {
            runs::withdraw_answers(c, &run.id, &rescue.withdrawn)?;
            runs::forget_assignments(c, &run.user_id, &rescue.forgotten)?;
        }
    }
    let answers: Vec<&AnswerRow> = kept().flat_map(|w| &w.answers).collect();
    runs::insert_answers(c, &answers)?;
    let mut puts: Vec<AssignmentRow> = Vec::new();
    for change in kept().flat_map(|w| &w.assignments) {
        match change {
            AssignmentWrite::Put(row) => {
                puts.retain(|p| key(p) != key(row));
                puts.push(row.clone());
            }
            // Once per user and group: rare, one statement each.
            AssignmentWrite::Expose {
                user_id,
                step_key,
                condition_name,
                at,
            } => {
                runs::mark_exposed(c, user_id, step_key, condition_name, *at)?;
            }
        }
    }
    runs::put_assignments(c, &puts)?;
    let events: Vec<&NewEvent> = kept().flat_map(|w| &w.events).collect();
    runs::record_events(c, &events)?;
    Ok(written
        .into_iter()
        .map(|ok| {
            if ok {
                Ok(())
            } else {
                Err(OnboardingError::Conflict)
            }
        })
        .collect())
}
