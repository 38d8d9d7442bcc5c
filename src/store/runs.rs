//! Runs, their answers, A/B assignments, testers and events.

use diesel::prelude::*;

use super::channels::{Channel, ChannelRow};
use super::column::Json;
use super::rollouts::Split;
pub use super::rows::{AnswerRow, AssignmentRow, NewEvent, RunRow};
use super::schema::{assignments, channels, overrides, rollouts, run_answers, runs, testers};
use super::{AnyConnection, StoreError};
use crate::flow::{Attributes, EventKind};
use crate::insert_chunks;
use crate::words::RolloutState;

/// Whether `user_id` is a tester, and its override attributes:
/// `None` for everybody else. One query.
pub fn tester(
    conn: &mut AnyConnection,
    user_id: &str,
) -> Result<Option<Option<Json<Attributes>>>, StoreError> {
    Ok(testers::table
        .left_join(overrides::table.on(overrides::user_id.eq(testers::user_id)))
        .filter(testers::user_id.eq(user_id))
        .select(overrides::attributes.nullable())
        .first(conn)
        .optional()?)
}

/// Everything an answer of `user_id` decides on, in one query: the user's
/// runs (one per channel), whether it is a tester and its overrides, its
/// A/B assignments, and the earlier answer to `scene_id` if there is one.
/// No run, no rows: the caller then asks [`tester`] if it needs to know.
#[derive(Debug, Default)]
pub struct UserRows {
    pub runs: Vec<RunRow>,
    pub tester: Option<Option<Json<Attributes>>>,
    pub assignments: Vec<AssignmentRow>,
    pub earlier: Option<AnswerRow>,
}

pub fn load_user(
    conn: &mut AnyConnection,
    user_id: &str,
    scene_id: &str,
) -> Result<UserRows, StoreError> {
    type Row = (
        RunRow,
        Option<String>,
        Option<Json<Attributes>>,
        Option<AssignmentRow>,
        Option<AnswerRow>,
    );
    let rows: Vec<Row> = runs::table
        .left_join(testers::table.on(testers::user_id.eq(runs::user_id)))
        .left_join(overrides::table.on(overrides::user_id.eq(runs::user_id)))
        .left_join(assignments::table.on(assignments::user_id.eq(runs::user_id)))
        .left_join(
            run_answers::table.on(run_answers::run_id
                .eq(runs::id)
                .and(run_answers::scene_id.eq(scene_id))),
        )
        .filter(runs::user_id.eq(user_id))
        .select((
            RunRow::as_select(),
            testers::user_id.nullable(),
            overrides::attributes.nullable(),
            Option::<AssignmentRow>::as_select(),
            Option::<AnswerRow>::as_select(),
        ))
        .load(conn)?;
    let mut out = UserRows::default();
    for (run, tester, overrides, assignment, answer) in rows {
        if tester.is_some() {
            out.tester = Some(overrides);
        }
        if answer.is_some() {
            out.earlier = answer;
        }
        out.add(Some(run), assignment);
    }
    Ok(out)
}

/// A user's rows, and each channel's pointer with its running rollout.
pub type ForStart = (UserRows, Vec<(ChannelRow, Option<Split>)>);

/// What a start reads, in one query: both channels' pointers, each with its
/// running rollout and the user's run on it, and the user's tester row,
/// overrides and A/B assignments (`channels` left-joined to the rollouts
/// and the user's rows). Unlike [`load_user`], a user with no run still
/// gets its tester row and its assignments (a QA reset keeps them). `None`
/// when no channel is stored.
pub fn load_for_start(
    conn: &mut AnyConnection,
    user_id: &str,
) -> Result<Option<ForStart>, StoreError> {
    type Row = (
        ChannelRow,
        Option<Split>,
        Option<RunRow>,
        Option<String>,
        Option<Json<Attributes>>,
        Option<AssignmentRow>,
    );
    // Owned: a bound value in a join's ON must outlive the query.
    let user = || user_id.to_owned();
    let rows: Vec<Row> = channels::table
        .left_join(
            rollouts::table.on(rollouts::channel
                .eq(channels::name)
                .and(rollouts::state.eq(RolloutState::Running))),
        )
        .left_join(
            runs::table.on(runs::user_id
                .eq(user())
                .and(runs::channel.eq(channels::name))),
        )
        .left_join(testers::table.on(testers::user_id.eq(user())))
        .left_join(overrides::table.on(overrides::user_id.eq(user())))
        .left_join(assignments::table.on(assignments::user_id.eq(user())))
        .select((
            ChannelRow::as_select(),
            Option::<Split>::as_select(),
            Option::<RunRow>::as_select(),
            testers::user_id.nullable(),
            overrides::attributes.nullable(),
            Option::<AssignmentRow>::as_select(),
        ))
        .load(conn)?;
    let Some((_, _, _, tester, overrides, _)) = rows.first() else {
        return Ok(None);
    };
    let mut out = UserRows {
        tester: tester.as_ref().map(|_| overrides.clone()),
        ..UserRows::default()
    };
    let mut pointers: Vec<(ChannelRow, Option<Split>)> = Vec::new();
    for (channel, split, run, _, _, assignment) in rows {
        out.add(run, assignment);
        if !pointers.iter().any(|(p, _)| p.name == channel.name) {
            pointers.push((channel, split));
        }
    }
    Ok(Some((out, pointers)))
}

impl UserRows {
    /// Fold one joined row in: each run and assignment once.
    fn add(&mut self, run: Option<RunRow>, assignment: Option<AssignmentRow>) {
        if let Some(a) = assignment
            && !self
                .assignments
                .iter()
                .any(|b| (&b.step_key, &b.condition_name) == (&a.step_key, &a.condition_name))
        {
            self.assignments.push(a);
        }
        if let Some(run) = run
            && !self.runs.iter().any(|r| r.id == run.id)
        {
            self.runs.push(run);
        }
    }
}

pub fn find(
    conn: &mut AnyConnection,
    user_id: &str,
    channel: Channel,
) -> Result<Option<RunRow>, StoreError> {
    Ok(runs::table
        .filter(runs::user_id.eq(user_id))
        .filter(runs::channel.eq(channel))
        .select(RunRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn insert(conn: &mut AnyConnection, run: &RunRow) -> Result<(), StoreError> {
    diesel::insert_into(runs::table).values(run).execute(conn)?;
    Ok(())
}

/// Write `run` if nobody changed it since revision `expected`; `false` when
/// somebody did (the caller retries on fresh data). The group's statement
/// with one row.
pub fn update(conn: &mut AnyConnection, run: &RunRow, expected: i64) -> Result<bool, StoreError> {
    Ok(!update_many(conn, &[(run, expected)])?.is_empty())
}

/// Many guarded run updates in one statement (a group commit, docs/src/benchmarks.md
/// "Mobile API under load"): each run is written if its revision is still
/// the one expected; returns the ids of the runs written. At most one entry
/// per run id.
pub fn update_many(
    conn: &mut AnyConnection,
    rows: &[(&RunRow, i64)],
) -> Result<Vec<String>, StoreError> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let query = super::batch::GuardedUpdates(rows);
    Ok(match conn {
        AnyConnection::Postgresql(c) => query.load(c)?,
        AnyConnection::Sqlite(c) => query.load(c)?,
    })
}

/// New runs, one multi-row insert.
pub fn insert_many(conn: &mut AnyConnection, rows: &[RunRow]) -> Result<(), StoreError> {
    insert_chunks!(conn, runs::table, rows);
    Ok(())
}

/// Answers, one multi-row insert, kept prepared per row count.
pub fn insert_answers<R: std::borrow::Borrow<AnswerRow>>(
    conn: &mut AnyConnection,
    rows: &[R],
) -> Result<(), StoreError> {
    for chunk in rows.chunks(super::CHUNK) {
        let query = super::batch::AnswerRows(chunk);
        match conn {
            AnyConnection::Postgresql(c) => query.execute(c)?,
            AnyConnection::Sqlite(c) => query.execute(c)?,
        };
    }
    Ok(())
}

/// Store (or replace) assignments, one multi-row upsert; at most one row
/// per key (PostgreSQL refuses to touch a row twice in one statement).
pub fn put_assignments(conn: &mut AnyConnection, rows: &[AssignmentRow]) -> Result<(), StoreError> {
    use diesel::upsert::excluded;
    if rows.is_empty() {
        return Ok(());
    }
    macro_rules! upsert {
        ($c:expr) => {
            diesel::insert_into(assignments::table)
                .values(rows)
                .on_conflict((
                    assignments::user_id,
                    assignments::step_key,
                    assignments::condition_name,
                ))
                .do_update()
                .set((
                    assignments::scene_key.eq(excluded(assignments::scene_key)),
                    assignments::source.eq(excluded(assignments::source)),
                    assignments::assigned_at.eq(excluded(assignments::assigned_at)),
                    assignments::exposed_at.eq(excluded(assignments::exposed_at)),
                ))
                .execute($c)?
        };
    }
    match conn {
        AnyConnection::Postgresql(c) => upsert!(c),
        AnyConnection::Sqlite(c) => upsert!(c),
    };
    Ok(())
}

/// Bump the revision of every run of `user_id`: QA changed what its
/// decisions read (tester flag, overrides, assignments), so a run another
/// instance keeps in memory is read again before it is written.
pub fn touch(conn: &mut AnyConnection, user_id: &str) -> Result<(), StoreError> {
    diesel::update(runs::table.filter(runs::user_id.eq(user_id)))
        .set(runs::revision.eq(runs::revision + 1))
        .execute(conn)?;
    Ok(())
}

pub fn find_answer(
    conn: &mut AnyConnection,
    run_id: &str,
    scene_id: &str,
) -> Result<Option<AnswerRow>, StoreError> {
    Ok(run_answers::table
        .find((run_id, scene_id))
        .select(AnswerRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn insert_answer(conn: &mut AnyConnection, row: &AnswerRow) -> Result<(), StoreError> {
    insert_answers(conn, std::slice::from_ref(row))
}

pub fn assignment(
    conn: &mut AnyConnection,
    user_id: &str,
    step: &str,
    condition: &str,
) -> Result<Option<AssignmentRow>, StoreError> {
    Ok(assignments::table
        .find((user_id, step, condition))
        .select(AssignmentRow::as_select())
        .first(conn)
        .optional()?)
}

/// Store (or replace) an assignment, in one statement.
pub fn put_assignment(conn: &mut AnyConnection, row: &AssignmentRow) -> Result<(), StoreError> {
    put_assignments(conn, std::slice::from_ref(row))
}

/// Mark an assignment exposed; `true` only the first time.
pub fn mark_exposed(
    conn: &mut AnyConnection,
    user_id: &str,
    step: &str,
    condition: &str,
    at: chrono::NaiveDateTime,
) -> Result<bool, StoreError> {
    let n = diesel::update(
        assignments::table
            .find((user_id, step, condition))
            .filter(assignments::exposed_at.is_null()),
    )
    .set(assignments::exposed_at.eq(at))
    .execute(conn)?;
    Ok(n == 1)
}

/// Events, one multi-row insert, kept prepared per row count.
pub fn record_events<R: std::borrow::Borrow<NewEvent>>(
    conn: &mut AnyConnection,
    rows: &[R],
) -> Result<(), StoreError> {
    for chunk in rows.chunks(super::CHUNK) {
        let query = super::batch::EventRows(chunk);
        match conn {
            AnyConnection::Postgresql(c) => query.execute(c)?,
            AnyConnection::Sqlite(c) => query.execute(c)?,
        };
    }
    Ok(())
}

/// End `run` without completing it (a QA reset, or an offline run synced in
/// its place): the run and its answers go, the log keeps a `run_reset` event
/// at the run's step so the funnel's "left" stops counting it (docs/src/analytics.md
/// "Analytics at scale"). Guarded like every write of a run: nothing
/// happens, and `false` comes back, if its revision is no longer
/// `expected` (an answer committed since it was read is never deleted).
pub fn end(conn: &mut AnyConnection, run: &RunRow, expected: i64) -> Result<bool, StoreError> {
    let ended = diesel::delete(
        runs::table
            .filter(runs::id.eq(&run.id))
            .filter(runs::revision.eq(expected)),
    )
    .execute(conn)?;
    if ended == 0 {
        return Ok(false);
    }
    super::testers::delete_run(conn, &run.id)?;
    record_events(
        conn,
        &[NewEvent {
            kind: EventKind::RunReset,
            occurred_at: super::now(),
            user_id: run.user_id.clone(),
            run_id: run.id.clone(),
            version_id: run.version_id.clone(),
            channel: run.channel,
            step_key: run.step_key.clone(),
            scene_key: run.scene_key.clone(),
            experiment_id: None,
            variation_id: None,
            offline: false,
        }],
    )?;
    Ok(true)
}

/// In-progress runs of `channel` pinned to `version`, per current step
/// (index `runs_in_progress_step`).
pub fn in_progress_by_step(
    conn: &mut AnyConnection,
    version: &str,
    channel: Channel,
) -> Result<Vec<(Option<String>, i64)>, StoreError> {
    use diesel::dsl::count_star;
    Ok(runs::table
        .filter(runs::version_id.eq(version))
        .filter(runs::channel.eq(channel))
        .filter(runs::status.eq(crate::flow::RunStatus::InProgress))
        .group_by(runs::step_key)
        .select((runs::step_key, count_star()))
        .load(conn)?)
}

/// Up to `limit` in-progress runs of `channel` pinned to `version`, with
/// ids after `after`, in id order.
pub fn in_progress_page(
    conn: &mut AnyConnection,
    version: &str,
    channel: Channel,
    after: &str,
    limit: i64,
) -> Result<Vec<RunRow>, StoreError> {
    Ok(runs::table
        .filter(runs::version_id.eq(version))
        .filter(runs::channel.eq(channel))
        .filter(runs::status.eq(crate::flow::RunStatus::InProgress))
        .filter(runs::id.gt(after))
        .order(runs::id)
        .limit(limit)
        .select(RunRow::as_select())
        .load(conn)?)
}

pub fn by_id(conn: &mut AnyConnection, id: &str) -> Result<Option<RunRow>, StoreError> {
    Ok(runs::table
        .find(id)
        .select(RunRow::as_select())
        .first(conn)
        .optional()?)
}

/// Withdraw a run's answers to the scenes `scene_ids`.
pub fn withdraw_answers(
    conn: &mut AnyConnection,
    run_id: &str,
    scene_ids: &[String],
) -> Result<(), StoreError> {
    if scene_ids.is_empty() {
        return Ok(());
    }
    diesel::delete(
        run_answers::table
            .filter(run_answers::run_id.eq(run_id))
            .filter(run_answers::scene_id.eq_any(scene_ids)),
    )
    .execute(conn)?;
    Ok(())
}

/// Forget a user's assignments to the groups `(step, condition)`.
pub fn forget_assignments(
    conn: &mut AnyConnection,
    user_id: &str,
    groups: &[(String, String)],
) -> Result<(), StoreError> {
    for (step, condition) in groups {
        diesel::delete(
            assignments::table
                .filter(assignments::user_id.eq(user_id))
                .filter(assignments::step_key.eq(step))
                .filter(assignments::condition_name.eq(condition)),
        )
        .execute(conn)?;
    }
    Ok(())
}
