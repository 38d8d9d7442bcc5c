//! Admin API tokens, stored as SHA-256 hashes only.

use diesel::prelude::*;

use super::schema::admin_tokens;
use super::{AnyConnection, StoreError};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = admin_tokens)]
pub struct TokenRow {
    pub token_hash: String,
    pub name: String,
    pub role: crate::words::Role,
    pub created_at: chrono::NaiveDateTime,
    pub expires_at: Option<chrono::NaiveDateTime>,
}

pub fn insert(conn: &mut AnyConnection, row: &TokenRow) -> Result<(), StoreError> {
    diesel::insert_into(admin_tokens::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

pub fn find(conn: &mut AnyConnection, token_hash: &str) -> Result<Option<TokenRow>, StoreError> {
    Ok(admin_tokens::table
        .find(token_hash)
        .select(TokenRow::as_select())
        .first(conn)
        .optional()?)
}

/// Every admin token, newest first.
pub fn list(conn: &mut AnyConnection) -> Result<Vec<TokenRow>, StoreError> {
    Ok(admin_tokens::table
        .order(admin_tokens::created_at.desc())
        .select(TokenRow::as_select())
        .load(conn)?)
}

pub fn delete(conn: &mut AnyConnection, token_hash: &str) -> Result<bool, StoreError> {
    Ok(diesel::delete(admin_tokens::table.find(token_hash)).execute(conn)? > 0)
}
