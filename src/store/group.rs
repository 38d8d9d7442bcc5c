//! A whole group of answer writes as one PostgreSQL statement (docs/src/benchmarks.md
//! "Mobile API under load"): a data-modifying `WITH` that updates the runs
//! still at the revision they were read at, and inserts the new runs, the
//! answers, the assignments, the exposures and the events of the writes it
//! keeps. On its own it is one transaction: one round trip and one commit
//! for the group, where a transaction of separate statements costs a round
//! trip each, and two more for `BEGIN` and `COMMIT`.
//!
//! Each column travels as one array parameter and `unnest` turns the arrays
//! back into rows (PostgreSQL manual, "Array Functions and Operators"), so
//! the SQL is the same for every group: diesel keeps it prepared, parsed
//! once per connection. A write is named by its
//! position in the group, `w`; its rows are written only if its run was
//! updated (the update returns its `w`) or it has no run to guard.

use chrono::NaiveDateTime;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::{Array, BigInt, Bool, Integer, Nullable, Text, Timestamp};
use serde_json::Value;

use super::channels::Channel;
use super::column::Json;
use super::rows::{AnswerRow, AssignmentRow, NewEvent, RunRow};
use crate::flow::{Attributes, EventKind, RunStatus};

/// Rows of one kind as columns, each an array bound as one parameter and
/// led by the writes' positions: `push` adds a row (borrowed, not copied),
/// `unnest` writes `unnest($1, $2, …) AS alias(w, column, …)`. Extra
/// columns that are no field of the row are given by value to `push`.
macro_rules! columns {
    (
        $name:ident for $row:ty { $($field:ident: $ty:ty as $st:ty),* $(,)? }
        $(and { $($extra:ident: $xty:ty as $xst:ty),* })?
    ) => {
        #[derive(Default)]
        struct $name<'a> {
            w: Vec<i32>,
            $($field: Vec<&'a $ty>,)*
            $($($extra: Vec<$xty>,)*)?
        }

        impl<'a> $name<'a> {
            #[allow(unused_variables)]
            fn push(&mut self, w: usize, row: &'a $row $($(, $extra: $xty)*)?) {
                self.w.push(i32::try_from(w).expect("a group's positions fit an i32"));
                $(self.$field.push(&row.$field);)*
                $($(self.$extra.push($extra);)*)?
            }

            /// With `numbered`, the rows' order is the column `n`.
            fn unnest<'b>(
                &'b self,
                alias: &'static str,
                numbered: bool,
                out: &mut AstPass<'_, 'b, Pg>,
            ) -> QueryResult<()> {
                out.push_sql("unnest(");
                out.push_bind_param::<Array<Integer>, _>(&self.w)?;
                $(
                    out.push_sql(", ");
                    out.push_bind_param::<Array<$st>, _>(&self.$field)?;
                )*
                $($(
                    out.push_sql(", ");
                    out.push_bind_param::<Array<$xst>, _>(&self.$extra)?;
                )*)?
                out.push_sql(if numbered { ") WITH ORDINALITY AS " } else { ") AS " });
                out.push_sql(alias);
                out.push_sql("(w");
                $(out.push_sql(concat!(", ", stringify!($field)));)*
                $($(out.push_sql(concat!(", ", stringify!($extra)));)*)?
                out.push_sql(if numbered { ", n)" } else { ")" });
                Ok(())
            }
        }
    };
}

columns!(Updates for RunRow {
    id: String as Text,
    version_id: String as Text,
    status: RunStatus as Text,
    step_key: Option<String> as Nullable<Text>,
    scene_key: Option<String> as Nullable<Text>,
    scene_id: Option<String> as Nullable<Text>,
    shown: i32 as Integer,
    answered: i32 as Integer,
    answers: Json<Attributes> as Text,
    revision: i64 as BigInt,
    updated_at: NaiveDateTime as Timestamp,
    completed_at: Option<NaiveDateTime> as Nullable<Timestamp>,
    previous_answer: Option<Json<Value>> as Nullable<Text>,
} and { expected: i64 as BigInt });

columns!(NewRuns for RunRow {
    id: String as Text,
    user_id: String as Text,
    channel: Channel as Text,
    version_id: String as Text,
    status: RunStatus as Text,
    step_key: Option<String> as Nullable<Text>,
    scene_key: Option<String> as Nullable<Text>,
    scene_id: Option<String> as Nullable<Text>,
    shown: i32 as Integer,
    answered: i32 as Integer,
    attributes: Json<Attributes> as Text,
    answers: Json<Attributes> as Text,
    revision: i64 as BigInt,
    started_at: NaiveDateTime as Timestamp,
    updated_at: NaiveDateTime as Timestamp,
    completed_at: Option<NaiveDateTime> as Nullable<Timestamp>,
    previous_answer: Option<Json<Value>> as Nullable<Text>,
});

columns!(Answers for AnswerRow {
    run_id: String as Text,
    scene_id: String as Text,
    step_key: String as Text,
    scene_key: String as Text,
    answer: Json<Value> as Text,
    response: Json<crate::flow::view::State> as Text,
    created_at: NaiveDateTime as Timestamp,
});

columns!(Assignments for AssignmentRow {
    user_id: String as Text,
    step_key: String as Text,
    condition_name: String as Text,
    scene_key: String as Text,
    source: crate::words::AssignmentSource as Text,
    assigned_at: NaiveDateTime as Timestamp,
    exposed_at: Option<NaiveDateTime> as Nullable<Timestamp>,
});

// Assignments to mark exposed: a key and when.
columns!(Exposures for () {} and {
    user_id: &'a str as Text,
    step_key: &'a str as Text,
    condition_name: &'a str as Text,
    at: NaiveDateTime as Timestamp
});

columns!(Events for NewEvent {
    kind: EventKind as Text,
    occurred_at: NaiveDateTime as Timestamp,
    user_id: String as Text,
    run_id: String as Text,
    version_id: String as Text,
    channel: Channel as Text,
    step_key: Option<String> as Nullable<Text>,
    scene_key: Option<String> as Nullable<Text>,
    experiment_id: Option<String> as Nullable<Text>,
    variation_id: Option<String> as Nullable<Text>,
    offline: bool as Bool,
});

/// A group's writes, gathered by position; [`GroupStatement::load`]
/// returns the positions of the guarded writes it kept.
#[derive(Default)]
pub struct GroupStatement<'a> {
    updates: Updates<'a>,
    /// Writes with no run to guard: kept whatever the updates find.
    unguarded: Vec<i32>,
    new_runs: NewRuns<'a>,
    answers: Answers<'a>,
    assignments: Assignments<'a>,
    exposures: Exposures<'a>,
    events: Events<'a>,
}

impl<'a> GroupStatement<'a> {
    /// Write `run` if its revision is still `expected`; the rest of write
    /// `w` is kept only then.
    pub fn update(&mut self, w: usize, run: &'a RunRow, expected: i64) {
        self.updates.push(w, run, expected);
    }

    /// Write `w` has no run to guard: its rows are kept.
    pub fn unguarded(&mut self, w: usize) {
        self.unguarded
            .push(i32::try_from(w).expect("a group's positions fit an i32"));
    }

    /// A new run (its write is unguarded: a second insert of it fails the
    /// statement).
    pub fn new_run(&mut self, w: usize, run: &'a RunRow) {
        self.new_runs.push(w, run);
    }

    pub fn answer(&mut self, w: usize, row: &'a AnswerRow) {
        self.answers.push(w, row);
    }

    /// Store or replace an assignment; at most one per key and group (the
    /// caller's to check: PostgreSQL refuses to touch a row twice).
    pub fn assignment(&mut self, w: usize, row: &'a AssignmentRow) {
        self.assignments.push(w, row);
    }

    /// Mark an assignment exposed (if it is not yet); not one the group
    /// also stores or exposes twice.
    pub fn exposure(
        &mut self,
        w: usize,
        (user_id, step_key, condition_name): (&'a str, &'a str, &'a str),
        at: NaiveDateTime,
    ) {
        self.exposures
            .push(w, &(), user_id, step_key, condition_name, at);
    }

    /// Events, inserted in the order given (their ids follow it).
    pub fn event(&mut self, w: usize, row: &'a NewEvent) {
        self.events.push(w, row);
    }
}

impl QueryId for GroupStatement<'_> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl diesel::query_builder::Query for GroupStatement<'_> {
    type SqlType = Integer;
}

impl<C> RunQueryDsl<C> for GroupStatement<'_> {}

/// `w IN kept`: the write was updated or needs no guard.
const KEPT: &str = " WHERE w IN (SELECT w FROM u UNION ALL SELECT unnest(";

impl QueryFragment<Pg> for GroupStatement<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        let kept = |out: &mut AstPass<'_, 'b, Pg>| -> QueryResult<()> {
            out.push_sql(KEPT);
            out.push_bind_param::<Array<Integer>, _>(&self.unguarded)?;
            out.push_sql("))");
            Ok(())
        };
        out.push_sql("WITH u AS (");
        out.push_sql(super::batch::UPDATE_RUN_FROM_V);
        out.push_sql(" FROM ");
        self.updates.unnest("v", false, &mut out)?;
        out.push_sql(
            " WHERE runs.id = v.id AND runs.revision = v.expected RETURNING v.w), \
             r AS (INSERT INTO runs (id, user_id, channel, version_id, status, step_key, \
             scene_key, scene_id, shown, answered, attributes, answers, revision, started_at, \
             updated_at, completed_at, previous_answer) SELECT id, user_id, channel, \
             version_id, status, step_key, scene_key, scene_id, shown, answered, attributes, \
             answers, revision, started_at, updated_at, completed_at, previous_answer FROM ",
        );
        self.new_runs.unnest("x", false, &mut out)?;
        out.push_sql(
            "), a AS (INSERT INTO run_answers (run_id, scene_id, step_key, scene_key, answer, \
             response, created_at) SELECT run_id, scene_id, step_key, scene_key, answer, \
             response, created_at FROM ",
        );
        self.answers.unnest("x", false, &mut out)?;
        kept(&mut out)?;
        out.push_sql(
            "), s AS (INSERT INTO assignments (user_id, step_key, condition_name, scene_key, \
             source, assigned_at, exposed_at) SELECT user_id, step_key, condition_name, \
             scene_key, source, assigned_at, exposed_at FROM ",
        );
        self.assignments.unnest("x", false, &mut out)?;
        kept(&mut out)?;
        out.push_sql(
            " ON CONFLICT (user_id, step_key, condition_name) DO UPDATE SET \
             scene_key = excluded.scene_key, source = excluded.source, \
             assigned_at = excluded.assigned_at, exposed_at = excluded.exposed_at), \
             x AS (UPDATE assignments SET exposed_at = ex.at FROM (SELECT * FROM ",
        );
        self.exposures.unnest("x", false, &mut out)?;
        kept(&mut out)?;
        out.push_sql(
            ") AS ex WHERE assignments.user_id = ex.user_id AND assignments.step_key = ex.step_key \
             AND assignments.condition_name = ex.condition_name \
             AND assignments.exposed_at IS NULL), \
             e AS (INSERT INTO events (kind, occurred_at, user_id, run_id, version_id, channel, \
             step_key, scene_key, experiment_id, variation_id, offline) SELECT kind, \
             occurred_at, user_id, run_id, version_id, channel, step_key, scene_key, \
             experiment_id, variation_id, offline FROM ",
        );
        // In the order given: ids follow the rows' order.
        self.events.unnest("x", true, &mut out)?;
        kept(&mut out)?;
        out.push_sql(" ORDER BY n) SELECT w FROM u");
        Ok(())
    }
}
