//! Multi-row statements of the answer path that diesel's query builder
//! cannot express or would not keep prepared (docs/src/benchmarks.md "Mobile API under
//! load"): diesel never caches an `UPDATE`, a `sql_query`, or an insert of a
//! `Vec` of rows as a prepared statement, so on PostgreSQL each is parsed and
//! planned again, in two round trips. These fragments push their SQL and
//! binds themselves and stay cacheable: diesel's statement cache keys them
//! by their SQL, one prepared statement per row count and connection.

use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::{BigInt, Bool, Integer, Nullable, Text, Timestamp};

use super::rows::{AnswerRow, NewEvent, RunRow};

/// What a guarded update writes of a run, from the row `v` holding its new
/// values: the statements of [`GuardedUpdates`] and of a group on
/// PostgreSQL ([`super::group`]) both set it. The version changes only in
/// a rescue (docs/src/rollouts.md "Rescue").
pub(super) const UPDATE_RUN_FROM_V: &str = "UPDATE runs SET version_id = v.version_id, status = v.status, \
     step_key = v.step_key, scene_key = v.scene_key, scene_id = v.scene_id, shown = v.shown, \
     answered = v.answered, answers = v.answers, revision = v.revision, \
     updated_at = v.updated_at, completed_at = v.completed_at, \
     previous_answer = v.previous_answer";

/// Bound parameters per row of [`GuardedUpdates`].
pub const UPDATE_PARAMS: usize = 14;

/// `WITH v(…) AS (VALUES (…), …) UPDATE runs SET … FROM v WHERE id = v.run_id
/// AND revision = v.expected RETURNING id`, valid on PostgreSQL and on SQLite
/// (≥ 3.35; the bundled one is newer). diesel's query builder has no
/// `UPDATE … FROM`, and its `sql_query` and `update` are never kept as
/// prepared statements; this fragment is: diesel's statement cache keys it
/// by its SQL, so each group size is parsed and planned once per connection.
pub struct GuardedUpdates<'a>(pub &'a [(&'a RunRow, i64)]);

impl QueryId for GuardedUpdates<'_> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl diesel::query_builder::Query for GuardedUpdates<'_> {
    type SqlType = diesel::sql_types::Text;
}

impl<C> RunQueryDsl<C> for GuardedUpdates<'_> {}

impl<DB> QueryFragment<DB> for GuardedUpdates<'_>
where
    DB: diesel::backend::Backend,
    DB: diesel::sql_types::HasSqlType<diesel::sql_types::Text>
        + diesel::sql_types::HasSqlType<diesel::sql_types::BigInt>
        + diesel::sql_types::HasSqlType<diesel::sql_types::Integer>
        + diesel::sql_types::HasSqlType<diesel::sql_types::Timestamp>,
    String: diesel::serialize::ToSql<diesel::sql_types::Text, DB>,
    str: diesel::serialize::ToSql<diesel::sql_types::Text, DB>,
    super::column::Json<crate::flow::Attributes>:
        diesel::serialize::ToSql<diesel::sql_types::Text, DB>,
    Option<String>:
        diesel::serialize::ToSql<diesel::sql_types::Nullable<diesel::sql_types::Text>, DB>,
    Option<super::column::Json<serde_json::Value>>:
        diesel::serialize::ToSql<diesel::sql_types::Nullable<diesel::sql_types::Text>, DB>,
    i64: diesel::serialize::ToSql<diesel::sql_types::BigInt, DB>,
    i32: diesel::serialize::ToSql<diesel::sql_types::Integer, DB>,
    chrono::NaiveDateTime: diesel::serialize::ToSql<diesel::sql_types::Timestamp, DB>,
    Option<chrono::NaiveDateTime>:
        diesel::serialize::ToSql<diesel::sql_types::Nullable<diesel::sql_types::Timestamp>, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> diesel::QueryResult<()> {
        out.push_sql(
            "WITH v(run_id, expected, version_id, status, step_key, scene_key, scene_id, shown, answered, \
             answers, revision, updated_at, completed_at, previous_answer) AS (VALUES ",
        );
        for (i, (run, expected)) in self.0.iter().enumerate() {
            out.push_sql(if i == 0 { "(" } else { ", (" });
            out.push_bind_param::<Text, _>(&run.id)?;
            out.push_sql(", ");
            out.push_bind_param::<BigInt, _>(expected)?;
            out.push_sql(", ");
            out.push_bind_param::<Text, _>(&run.version_id)?;
            out.push_sql(", ");
            out.push_bind_param::<Text, _>(run.status.as_str())?;
            out.push_sql(", ");
            out.push_bind_param::<Nullable<Text>, _>(&run.step_key)?;
            out.push_sql(", ");
            out.push_bind_param::<Nullable<Text>, _>(&run.scene_key)?;
            out.push_sql(", ");
            out.push_bind_param::<Nullable<Text>, _>(&run.scene_id)?;
            out.push_sql(", ");
            out.push_bind_param::<Integer, _>(&run.shown)?;
            out.push_sql(", ");
            out.push_bind_param::<Integer, _>(&run.answered)?;
            out.push_sql(", ");
            out.push_bind_param::<Text, _>(&run.answers)?;
            out.push_sql(", ");
            out.push_bind_param::<BigInt, _>(&run.revision)?;
            out.push_sql(", ");
            out.push_bind_param::<Timestamp, _>(&run.updated_at)?;
            out.push_sql(", ");
            out.push_bind_param::<Nullable<Timestamp>, _>(&run.completed_at)?;
            out.push_sql(", ");
            out.push_bind_param::<Nullable<Text>, _>(&run.previous_answer)?;
            out.push_sql(")");
        }
        out.push_sql(") ");
        out.push_sql(UPDATE_RUN_FROM_V);
        out.push_sql(
            " FROM v WHERE runs.id = v.run_id AND runs.revision = v.expected RETURNING runs.id",
        );
        Ok(())
    }
}

/// `INSERT INTO t (columns) VALUES (…), (…)` for a slice of rows, on both
/// backends (the bind placeholders are the backend's).
macro_rules! prepared_insert {
    ($name:ident, $row:ty, $sql:literal, [$first:ident: $first_ty:ty $(, $field:ident: $ty:ty)*]) => {
        /// Rows or references to rows: the group write binds its writes'
        /// rows where they are, without copying them.
        pub struct $name<'a, R>(pub &'a [R]);

        impl<R> QueryId for $name<'_, R> {
            type QueryId = ();
            const HAS_STATIC_QUERY_ID: bool = false;
        }

        impl<C, R> RunQueryDsl<C> for $name<'_, R> {}

        prepared_insert!(@backend $name, $row, diesel::pg::Pg, $sql, [$first: $first_ty $(, $field: $ty)*]);
        prepared_insert!(@backend $name, $row, diesel::sqlite::Sqlite, $sql, [$first: $first_ty $(, $field: $ty)*]);
    };
    (@backend $name:ident, $row:ty, $db:ty, $sql:literal, [$first:ident: $first_ty:ty $(, $field:ident: $ty:ty)*]) => {
        impl<R: std::borrow::Borrow<$row>> QueryFragment<$db> for $name<'_, R> {
            fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, $db>) -> diesel::QueryResult<()> {
                out.push_sql($sql);
                for (i, row) in self.0.iter().enumerate() {
                    let row: &$row = row.borrow();
                    out.push_sql(if i == 0 { " VALUES (" } else { ", (" });
                    out.push_bind_param::<$first_ty, _>(&row.$first)?;
                    $(
                        out.push_sql(", ");
                        out.push_bind_param::<$ty, _>(&row.$field)?;
                    )*
                    out.push_sql(")");
                }
                Ok(())
            }
        }
    };
}

prepared_insert!(
    AnswerRows,
    AnswerRow,
    "INSERT INTO run_answers (run_id, scene_id, step_key, scene_key, answer, response, created_at)",
    [
        run_id: Text,
        scene_id: Text,
        step_key: Text,
        scene_key: Text,
        answer: Text,
        response: Text,
        created_at: Timestamp
    ]
);

prepared_insert!(
    EventRows,
    NewEvent,
    "INSERT INTO events (kind, occurred_at, user_id, run_id, version_id, channel, step_key, \
     scene_key, experiment_id, variation_id, offline)",
    [
        kind: Text,
        occurred_at: Timestamp,
        user_id: Text,
        run_id: Text,
        version_id: Text,
        channel: Text,
        step_key: Nullable<Text>,
        scene_key: Nullable<Text>,
        experiment_id: Nullable<Text>,
        variation_id: Nullable<Text>,
        offline: Bool
    ]
);
