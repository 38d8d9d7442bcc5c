//! Save: everything a decision produced, written in one transaction: the
//! run (inserted, or updated if its `revision` is still the one read), the
//! answer, the A/B assignment and the events as one multi-row insert.

use super::{OnboardingError, Result};
use crate::store::runs::{self, AnswerRow, AssignmentRow, NewEvent, RunRow};
use crate::store::{AnyConnection, batch};

/// The rows a decision produced.
#[derive(Debug, Clone, Default)]
pub struct Write {
    pub run: Option<RunWrite>,
    pub answer: Option<AnswerRow>,
    pub assignment: Option<AssignmentWrite>,
    pub events: Vec<NewEvent>,
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

/// Write `w`; the caller holds the transaction. A run moved by somebody
/// else is [`OnboardingError::Conflict`], and nothing else is written.
/// The same statements as a group of one.
pub fn save(c: &mut AnyConnection, w: &Write) -> Result<()> {
    save_group(c, &[w])?
        .pop()
        .expect("one result for one write")
}

/// Writes in one group, at most: [`runs::update_many`] binds
/// [`batch::UPDATE_PARAMS`] parameters a run, well under PostgreSQL's 65535
/// (and SQLite's 32766) bound parameters a statement.
pub const MAX_GROUP: usize = 64;
const _: () = assert!(MAX_GROUP * batch::UPDATE_PARAMS < 32766);

/// Write a group in a constant number of statements, whatever its size
/// (README "Mobile API under load"): the guarded run updates as one
/// statement, then, for the writes whose run was still the one read, the
/// new runs, answers, assignments and events as one multi-row insert each.
/// The caller holds the transaction. A write whose run moved (or whose run
/// an earlier write of the group moves) is [`OnboardingError::Conflict`]
/// alone and nothing of it is written; a database error is the group's,
/// the caller then writes each on its own.
pub fn save_group(c: &mut AnyConnection, group: &[&Write]) -> Result<Vec<Result<()>>> {
    assert!(
        group.len() <= MAX_GROUP,
        "a group of {} writes",
        group.len()
    );
    let mut written = vec![true; group.len()];
    let mut updates: Vec<(&RunRow, i64)> = Vec::new();
    for (i, w) in group.iter().enumerate() {
        if let Some(RunWrite::Update { run, expected }) = &w.run {
            if updates.iter().any(|(r, _)| r.id == run.id) {
                // The earlier write moves it: this one reads again.
                written[i] = false;
            } else {
                updates.push((run, *expected));
            }
        }
    }
    let moved = runs::update_many(c, &updates)?;
    for (i, w) in group.iter().enumerate() {
        if let Some(RunWrite::Update { run, .. }) = &w.run
            && !moved.contains(&run.id)
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
    let answers: Vec<&AnswerRow> = kept().filter_map(|w| w.answer.as_ref()).collect();
    runs::insert_answers(c, &answers)?;
    let mut puts: Vec<AssignmentRow> = Vec::new();
    for w in kept() {
        match &w.assignment {
            Some(AssignmentWrite::Put(row)) => {
                fn key(r: &AssignmentRow) -> (&str, &str, &str) {
                    (&r.user_id, &r.step_key, &r.condition_name)
                }
                puts.retain(|p| key(p) != key(row));
                puts.push(row.clone());
            }
            // Once per user and group: rare, one statement each.
            Some(AssignmentWrite::Expose {
                user_id,
                step_key,
                condition_name,
                at,
            }) => {
                runs::mark_exposed(c, user_id, step_key, condition_name, *at)?;
            }
            None => {}
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
