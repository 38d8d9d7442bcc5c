//! Save: everything a decision produced, written in one transaction: the
//! run (inserted, or updated if its `revision` is still the one read), the
//! answer, the A/B assignment and the events as one multi-row insert.

use super::{OnboardingError, Result};
use crate::store::AnyConnection;
use crate::store::runs::{self, AnswerRow, AssignmentRow, NewEvent, RunRow};

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
pub fn save(c: &mut AnyConnection, w: &Write) -> Result<()> {
    match &w.run {
        Some(RunWrite::Insert(run)) => runs::insert(c, run)?,
        Some(RunWrite::Update { run, expected }) if !runs::update(c, run, *expected)? => {
            return Err(OnboardingError::Conflict);
        }
        Some(RunWrite::Update { .. }) | None => {}
    }
    if let Some(answer) = &w.answer {
        runs::insert_answer(c, answer)?;
    }
    match &w.assignment {
        Some(AssignmentWrite::Put(row)) => runs::put_assignment(c, row)?,
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
    runs::record_events(c, &w.events)?;
    Ok(())
}
