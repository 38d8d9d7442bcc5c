//! Channels: `staging` and `production`, each a pointer to a version.

use diesel::prelude::*;
use serde::Serialize;

use super::schema::{approvals, channel_history, channels};

// Pointer *writes* live in `crate::release::pointers`: the release pipeline is
// the only way to move a channel (docs/src/release.md).
use super::{AnyConnection, StoreError};

pub use crate::words::Channel;

#[derive(Debug, Clone, Queryable, Selectable, Insertable, Serialize)]
#[diesel(table_name = channels)]
pub struct ChannelRow {
    pub name: Channel,
    pub version_id: String,
    pub updated_at: chrono::NaiveDateTime,
    pub updated_by: String,
}

pub fn list(conn: &mut AnyConnection) -> Result<Vec<ChannelRow>, StoreError> {
    Ok(channels::table
        .order(channels::name)
        .select(ChannelRow::as_select())
        .load(conn)?)
}

pub fn get(conn: &mut AnyConnection, name: Channel) -> Result<Option<ChannelRow>, StoreError> {
    Ok(channels::table
        .find(name)
        .select(ChannelRow::as_select())
        .first(conn)
        .optional()?)
}

/// The version a rollback of `name` would go back to: the entry under the
/// top of the channel's history.
pub fn previous(conn: &mut AnyConnection, name: Channel) -> Result<Option<String>, StoreError> {
    Ok(live_history(conn, name)?.get(1).map(|(_, v)| v.clone()))
}

/// The newest two pointer changes of `name` not rolled back: (history id, version).
/// Whether `name` serves or ever served `version` (its pointer now, any
/// entry of its history, undone or not, or any rollout's version): the
/// versions a run on that channel can be on.
pub fn has_served(
    conn: &mut AnyConnection,
    name: Channel,
    version: &str,
) -> Result<bool, StoreError> {
    let now = get(conn, name)?.is_some_and(|c| c.version_id == version);
    if now {
        return Ok(true);
    }
    let ever: i64 = channel_history::table
        .filter(channel_history::channel.eq(name))
        .filter(channel_history::version_id.eq(version))
        .count()
        .get_result(conn)?;
    if ever > 0 {
        return Ok(true);
    }
    // A rollout's version served the users inside it before (or without)
    // becoming the channel's.
    let rolled: i64 = super::schema::rollouts::table
        .filter(super::schema::rollouts::channel.eq(name))
        .filter(super::schema::rollouts::version_id.eq(version))
        .count()
        .get_result(conn)?;
    Ok(rolled > 0)
}

pub fn live_history(
    conn: &mut AnyConnection,
    name: Channel,
) -> Result<Vec<(i64, String)>, StoreError> {
    Ok(channel_history::table
        .filter(channel_history::channel.eq(name))
        .filter(channel_history::undone_at.is_null())
        .order(channel_history::id.desc())
        .limit(2)
        .select((channel_history::id, channel_history::version_id))
        .load(conn)?)
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, Serialize)]
#[diesel(table_name = approvals)]
pub struct ApprovalRow {
    pub version_id: String,
    pub approved_by: String,
    pub approved_at: chrono::NaiveDateTime,
}

pub fn approval(
    conn: &mut AnyConnection,
    version_id: &str,
) -> Result<Option<ApprovalRow>, StoreError> {
    Ok(approvals::table
        .find(version_id)
        .select(ApprovalRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn approvals(conn: &mut AnyConnection) -> Result<Vec<ApprovalRow>, StoreError> {
    Ok(approvals::table
        .select(ApprovalRow::as_select())
        .load(conn)?)
}
