//! Channels: `staging` and `production`, each a pointer to a version.

use diesel::prelude::*;
use serde::Serialize;

use super::schema::channels;
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
