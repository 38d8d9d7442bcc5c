//! The only writes to channel pointers and approvals. Private to the release
//! pipeline, so every move of a pointer goes through its rules and its mirror.

use diesel::prelude::*;

use crate::store::channels::{ApprovalRow, Channel, ChannelRow, get, live_history};
use crate::store::schema::{approvals, channel_history, channels};
use crate::store::{AnyConnection, StoreError, audit, now};
use crate::words::AuditAction;

/// Point a channel at a version and audit it, in one transaction; returns the previous version.
pub(super) fn set(
    conn: &mut AnyConnection,
    name: Channel,
    version_id: &str,
    actor: &str,
    action: AuditAction,
) -> Result<Option<String>, StoreError> {
    conn.transaction(|conn| {
        let previous = get(conn, name)?.map(|c| c.version_id);
        let row = ChannelRow {
            name,
            version_id: version_id.to_owned(),
            updated_at: now(),
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
        audit::record(
            conn,
            actor,
            action,
            previous.as_deref(),
            Some(version_id),
            Some(name.as_str()),
        )?;
        Ok(previous)
    })
}

/// Undo the latest pointer change of `name`: `(from, to)`, or `None` when
/// there is nothing before it.
pub(super) fn rollback(
    conn: &mut AnyConnection,
    name: Channel,
    actor: &str,
) -> Result<Option<(String, String)>, StoreError> {
    conn.transaction(|conn| {
        let live = live_history(conn, name)?;
        let [(top, from), (_, to)] = live.as_slice() else {
            return Ok(None);
        };
        let now = now();
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
        audit::record(
            conn,
            actor,
            AuditAction::Rollback,
            Some(from),
            Some(to),
            Some(name.as_str()),
        )?;
        Ok(Some((from.clone(), to.clone())))
    })
}

/// Record QA approval of a version, and audit it.
pub(super) fn approve(
    conn: &mut AnyConnection,
    version_id: &str,
    actor: &str,
) -> Result<ApprovalRow, StoreError> {
    conn.transaction(|conn| {
        let row = ApprovalRow {
            version_id: version_id.to_owned(),
            approved_by: actor.to_owned(),
            approved_at: now(),
        };
        diesel::insert_into(approvals::table)
            .values(&row)
            .execute(conn)?;
        audit::record(
            conn,
            actor,
            AuditAction::Approve,
            None,
            Some(version_id),
            Some(Channel::Staging.as_str()),
        )?;
        Ok(row)
    })
}
