//! Vocabulary at the diesel boundary: text columns read and written as the
//! types the services use (run status, event kind, role, the user's channel,
//! JSON values).
//!
//! A value the database holds that is not one of the type's (an unknown
//! status, an event kind nobody writes, JSON that does not parse) fails the
//! row's deserialisation; [`super::StoreError`] turns that into `Corrupt`
//! once, here, instead of each service checking and wrapping it.

use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql, Queryable};
use diesel::pg::Pg;
use diesel::serialize::{self, IsNull, Output, ToSql};
use diesel::sql_types::Text;
use diesel::sqlite::Sqlite;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The backend of [`super::AnyConnection`].
pub type Multi = <super::AnyConnection as diesel::Connection>::Backend;

/// Why a stored value was refused; `StoreError` makes it `Corrupt`.
#[derive(Debug, thiserror::Error)]
#[error("{what} '{value}' is not one this version knows")]
pub struct UnknownValue {
    pub what: &'static str,
    pub value: String,
}

/// Map an enum with `as_str()` and `parse()` to a text column: written as
/// its `&'static str` (no allocation, every backend), read through `parse`.
macro_rules! text_enum {
    ($ty:ty, $what:literal) => {
        impl diesel::expression::AsExpression<Text> for $ty {
            type Expression = <&'static str as diesel::expression::AsExpression<Text>>::Expression;
            fn as_expression(self) -> Self::Expression {
                diesel::expression::AsExpression::<Text>::as_expression(self.as_str())
            }
        }

        impl diesel::expression::AsExpression<Text> for &$ty {
            type Expression = <&'static str as diesel::expression::AsExpression<Text>>::Expression;
            fn as_expression(self) -> Self::Expression {
                diesel::expression::AsExpression::<Text>::as_expression(self.as_str())
            }
        }

        impl diesel::expression::AsExpression<diesel::sql_types::Nullable<Text>> for $ty {
            type Expression = <&'static str as diesel::expression::AsExpression<
                diesel::sql_types::Nullable<Text>,
            >>::Expression;
            fn as_expression(self) -> Self::Expression {
                diesel::expression::AsExpression::<diesel::sql_types::Nullable<Text>>::as_expression(
                    self.as_str(),
                )
            }
        }

        impl<DB: Backend> ToSql<Text, DB> for $ty
        where
            str: ToSql<Text, DB>,
        {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> serialize::Result {
                <str as ToSql<Text, DB>>::to_sql(self.as_str(), out)
            }
        }

        impl FromSql<Text, Multi> for $ty {
            fn from_sql(bytes: <Multi as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
                let raw = <String as FromSql<Text, Multi>>::from_sql(bytes)?;
                <$ty>::parse(&raw).ok_or_else(|| {
                    Box::new(UnknownValue {
                        what: $what,
                        value: raw,
                    })
                    .into()
                })
            }
        }

        impl Queryable<Text, Multi> for $ty {
            type Row = Self;
            fn build(row: Self) -> deserialize::Result<Self> {
                Ok(row)
            }
        }
    };
}

text_enum!(crate::flow::view::Status, "run status");
text_enum!(crate::flow::EventKind, "event kind");
text_enum!(crate::words::Role, "role");
text_enum!(crate::words::Channel, "channel");
text_enum!(crate::words::AssignmentSource, "assignment source");
text_enum!(crate::words::SyncOutcome, "sync outcome");
text_enum!(crate::words::RolloutState, "rollout state");
text_enum!(crate::words::IncidentKind, "incident kind");

/// A JSON value kept in a text column (`runs.attributes`, `runs.answers`,
/// `overrides.attributes`): serialised on write, parsed on read.
#[derive(Debug, Clone, Default, PartialEq, diesel::AsExpression, diesel::FromSqlRow)]
#[diesel(sql_type = Text)]
pub struct Json<T>(pub T);

impl<T> std::ops::Deref for Json<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> std::ops::DerefMut for Json<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

/// As JSON, the value itself.
impl<T: Serialize> Serialize for Json<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<T: Serialize> Json<T> {
    fn text(&self) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
        Ok(serde_json::to_string(&self.0)?)
    }
}

impl<T: Serialize + std::fmt::Debug> ToSql<Text, Pg> for Json<T> {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        use std::io::Write;
        out.write_all(self.text()?.as_bytes())?;
        Ok(IsNull::No)
    }
}

impl<T: Serialize + std::fmt::Debug> ToSql<Text, Sqlite> for Json<T> {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        out.set_value(self.text()?);
        Ok(IsNull::No)
    }
}

impl<T> ToSql<Text, Multi> for Json<T>
where
    T: Serialize + std::fmt::Debug + Send + Sync + 'static,
{
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Multi>) -> serialize::Result {
        out.set_value((Text, self));
        Ok(IsNull::No)
    }
}

impl<T: DeserializeOwned> FromSql<Text, Multi> for Json<T> {
    fn from_sql(bytes: <Multi as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
        let raw = <String as FromSql<Text, Multi>>::from_sql(bytes)?;
        Ok(Json(serde_json::from_str(&raw).map_err(|e| {
            format!("stored JSON does not parse as expected: {e}")
        })?))
    }
}

#[cfg(test)]
mod tests {

    use crate::flow::EventKind;
    use crate::flow::view::Status;
    use crate::store::channels::Channel;
    use crate::store::schema::{events, runs};
    use crate::store::{Db, StoreError};
    use diesel::prelude::*;

    /// A stored value this version does not know (written by a newer
    /// version, or by hand past the CHECK constraints) is `Corrupt`, raised
    /// where the row is read.
    #[tokio::test]
    async fn unknown_stored_values_are_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::new(&format!("sqlite://{}/t.db", dir.path().display()), 1).unwrap();
        db.migrate().unwrap();
        let err = db
            .run(|c| {
                diesel::sql_query("PRAGMA ignore_check_constraints = ON").execute(c)?;
                diesel::sql_query(
                    "INSERT INTO events (kind, occurred_at, user_id, run_id, version_id, channel) \
                     VALUES ('teleported', '2026-01-01 00:00:00', 'u', 'r', 'v', 'staging')",
                )
                .execute(c)?;
                let kinds: Vec<EventKind> = events::table.select(events::kind).load(c)?;
                Ok(kinds)
            })
            .await
            .unwrap_err();
        assert!(
            matches!(&err, StoreError::Corrupt(m) if m.contains("event kind 'teleported'")),
            "{err}"
        );
        let err = db
            .run(|c| {
                diesel::sql_query("PRAGMA foreign_keys = OFF").execute(c)?;
                diesel::sql_query(
                    "INSERT INTO runs (id, user_id, channel, version_id, status, shown, answered, \
                     attributes, answers, revision, started_at, updated_at) VALUES ('r', 'u', \
                     'staging', 'v', 'paused', 0, 0, '{}', '{}', 0, '2026-01-01 00:00:00', \
                     '2026-01-01 00:00:00')",
                )
                .execute(c)?;
                let status: Vec<Status> = runs::table.select(runs::status).load(c)?;
                Ok(status)
            })
            .await
            .unwrap_err();
        assert!(
            matches!(&err, StoreError::Corrupt(m) if m.contains("run status 'paused'")),
            "{err}"
        );
        let err = db
            .run(|c| {
                diesel::sql_query(
                    "INSERT INTO runs (id, user_id, channel, version_id, status, shown, answered, \
                     attributes, answers, revision, started_at, updated_at) VALUES ('r2', 'u2', \
                     'beta', 'v', 'in_progress', 0, 0, '{}', '{}', 0, '2026-01-01 00:00:00', \
                     '2026-01-01 00:00:00')",
                )
                .execute(c)?;
                let channels: Vec<Channel> = runs::table
                    .filter(runs::id.eq("r2"))
                    .select(runs::channel)
                    .load(c)?;
                Ok(channels)
            })
            .await
            .unwrap_err();
        assert!(
            matches!(&err, StoreError::Corrupt(m) if m.contains("channel 'beta'")),
            "{err}"
        );
    }
}
