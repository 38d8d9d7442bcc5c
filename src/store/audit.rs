//! The audit log: who did what, when.

use diesel::prelude::*;
use serde::Serialize;

use super::schema::audit_log;
use super::{AnyConnection, StoreError};
use crate::words::AuditAction;

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = audit_log)]
pub struct AuditEntry {
    pub id: i64,
    #[serde(rename = "at")]
    pub created_at: chrono::NaiveDateTime,
    pub actor: String,
    pub action: String,
    pub version_from: Option<String>,
    pub version_to: Option<String>,
    pub note: Option<String>,
}

#[derive(Insertable)]
#[diesel(table_name = audit_log)]
struct NewEntry<'a> {
    created_at: chrono::NaiveDateTime,
    actor: &'a str,
    action: &'a str,
    version_from: Option<&'a str>,
    version_to: Option<&'a str>,
    note: Option<&'a str>,
}

pub fn record(
    conn: &mut AnyConnection,
    actor: &str,
    action: AuditAction,
    version_from: Option<&str>,
    version_to: Option<&str>,
    note: Option<&str>,
) -> Result<(), StoreError> {
    diesel::insert_into(audit_log::table)
        .values(NewEntry {
            created_at: super::now(),
            actor,
            action: action.as_str(),
            version_from,
            version_to,
            note,
        })
        .execute(conn)?;
    Ok(())
}

pub fn list(conn: &mut AnyConnection, limit: i64) -> Result<Vec<AuditEntry>, StoreError> {
    Ok(audit_log::table
        .order(audit_log::id.desc())
        .limit(limit)
        .select(AuditEntry::as_select())
        .load(conn)?)
}
