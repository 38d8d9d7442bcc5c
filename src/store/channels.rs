//! Channels: `staging` and `production`, each a pointer to a version.

use diesel::prelude::*;
use serde::Serialize;

use super::schema::{approvals, channel_history, channels};
use super::{AnyConnection, StoreError};

pub const STAGING: &str = "staging";
pub const PRODUCTION: &str = "production";
pub const ALL: [&str; 2] = [STAGING, PRODUCTION];

#[derive(Debug, Clone, Queryable, Selectable, Insertable, Serialize)]
#[diesel(table_name = channels)]
pub struct ChannelRow {
    pub name: String,
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

pub fn get(conn: &mut AnyConnection, name: &str) -> Result<Option<ChannelRow>, StoreError> {
    Ok(channels::table
        .find(name)
        .select(ChannelRow::as_select())
        .first(conn)
        .optional()?)
}

/// Point a channel at a version and audit it, in one transaction; returns the previous version.
pub fn set(
    conn: &mut AnyConnection,
    name: &str,
    version_id: &str,
    actor: &str,
    action: &str,
) -> Result<Option<String>, StoreError> {
    conn.transaction(|conn| {
        let previous = get(conn, name)?.map(|c| c.version_id);
        let row = ChannelRow {
            name: name.to_owned(),
            version_id: version_id.to_owned(),
            updated_at: super::now(),
            updated_by: actor.to_owned(),
        };
        if previous.is_some() {
            diesel::update(channels::table.find(name))
                .set((
                    channels::version_id.eq(&row.version_id),
                    channels::updated_at.eq(row.updated_at),
                    channels::updated_by.eq(&row.updated_by),
                ))
                .execute(conn)?;
        } else {
            diesel::insert_into(channels::table)
                .values(&row)
                .execute(conn)?;
        }
        diesel::insert_into(channel_history::table)
            .values((
                channel_history::channel.eq(name),
                channel_history::version_id.eq(version_id),
                channel_history::set_by.eq(actor),
                channel_history::set_at.eq(row.updated_at),
            ))
            .execute(conn)?;
        super::audit::record(
            conn,
            actor,
            action,
            previous.as_deref(),
            Some(version_id),
            Some(name),
        )?;
        Ok(previous)
    })
}

/// The version a rollback of `name` would go back to: the entry under the
/// top of the channel's history.
pub fn previous(conn: &mut AnyConnection, name: &str) -> Result<Option<String>, StoreError> {
    Ok(live_history(conn, name)?.get(1).map(|(_, v)| v.clone()))
}

fn live_history(conn: &mut AnyConnection, name: &str) -> Result<Vec<(i64, String)>, StoreError> {
    Ok(channel_history::table
        .filter(channel_history::channel.eq(name))
        .filter(channel_history::undone_at.is_null())
        .order(channel_history::id.desc())
        .limit(2)
        .select((channel_history::id, channel_history::version_id))
        .load(conn)?)
}

/// Undo the latest pointer change of `name`: `(from, to)`, or `None` when
/// there is nothing before it.
pub fn rollback(
    conn: &mut AnyConnection,
    name: &str,
    actor: &str,
) -> Result<Option<(String, String)>, StoreError> {
    conn.transaction(|conn| {
        let live = live_history(conn, name)?;
        let [(top, from), (_, to)] = live.as_slice() else {
            return Ok(None);
        };
        let now = super::now();
        diesel::update(channel_history::table.find(top))
            .set(channel_history::undone_at.eq(now))
            .execute(conn)?;
        diesel::update(channels::table.find(name))
            .set((
                channels::version_id.eq(to),
                channels::updated_at.eq(now),
                channels::updated_by.eq(actor),
            ))
            .execute(conn)?;
        super::audit::record(conn, actor, "rollback", Some(from), Some(to), Some(name))?;
        Ok(Some((from.clone(), to.clone())))
    })
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

/// Record QA approval of a version, and audit it.
pub fn approve(
    conn: &mut AnyConnection,
    version_id: &str,
    actor: &str,
) -> Result<ApprovalRow, StoreError> {
    conn.transaction(|conn| {
        let row = ApprovalRow {
            version_id: version_id.to_owned(),
            approved_by: actor.to_owned(),
            approved_at: super::now(),
        };
        diesel::insert_into(approvals::table)
            .values(&row)
            .execute(conn)?;
        super::audit::record(
            conn,
            actor,
            "approve",
            None,
            Some(version_id),
            Some("staging"),
        )?;
        Ok(row)
    })
}
