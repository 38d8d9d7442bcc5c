//! Offline onboarding: a user's stored A/B assignments (for the bundle), the
//! record of each sync, and the writes of a synced run.

use diesel::prelude::*;

use super::channels::Channel;
use super::column::Json;
use super::runs::AssignmentRow;
use super::schema::{assignments, offline_syncs};
use super::{AnyConnection, StoreError};
use crate::words::SyncOutcome;

/// Every A/B assignment of a user, in a stable order.
pub fn assignments_of(
    conn: &mut AnyConnection,
    user_id: &str,
) -> Result<Vec<AssignmentRow>, StoreError> {
    Ok(assignments::table
        .filter(assignments::user_id.eq(user_id))
        .order((assignments::step_key, assignments::condition_name))
        .select(AssignmentRow::as_select())
        .load(conn)?)
}

/// One sync an app sent, with the answer it got.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = offline_syncs)]
pub struct SyncRow {
    pub user_id: String,
    pub sync_id: String,
    /// SHA-256 of the request, to tell a retry from a reused sync id.
    pub request_sha256: String,
    /// `accepted` (the offline run is the user's run) or `online_kept`.
    pub outcome: SyncOutcome,
    pub run_id: String,
    /// The online run the offline one replaced, if any.
    pub replaced_run: Option<String>,
    pub version_id: String,
    pub channel: Channel,
    pub answered: i32,
    pub started_at: chrono::NaiveDateTime,
    pub synced_at: chrono::NaiveDateTime,
    /// The body the sync answered, replayed when it is sent again.
    pub response: Json<serde_json::Value>,
}

pub fn find_sync(
    conn: &mut AnyConnection,
    user_id: &str,
    sync_id: &str,
) -> Result<Option<SyncRow>, StoreError> {
    Ok(offline_syncs::table
        .find((user_id, sync_id))
        .select(SyncRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn insert_sync(conn: &mut AnyConnection, row: &SyncRow) -> Result<(), StoreError> {
    diesel::insert_into(offline_syncs::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// Runs of `version` played offline and kept (outcome `accepted`), by channel.
pub fn synced_runs(
    conn: &mut AnyConnection,
    version: &str,
) -> Result<Vec<(String, i64)>, StoreError> {
    Ok(offline_syncs::table
        .filter(offline_syncs::version_id.eq(version))
        .filter(offline_syncs::outcome.eq(SyncOutcome::Accepted))
        .group_by(offline_syncs::channel)
        .select((offline_syncs::channel, diesel::dsl::count_star()))
        .order(offline_syncs::channel)
        .load(conn)?)
}
