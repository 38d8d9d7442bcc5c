//! Dashboard users (argon2 password hashes) and their sessions.

use diesel::prelude::*;

use super::schema::{sessions, users};
use super::{AnyConnection, StoreError};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub name: String,
    pub role: crate::words::Role,
    pub password_hash: String,
    pub failed_logins: i32,
    pub last_failure_at: Option<chrono::NaiveDateTime>,
    pub created_at: chrono::NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = sessions)]
pub struct SessionRow {
    pub token_hash: String,
    pub user_name: String,
    pub csrf_token: String,
    pub created_at: chrono::NaiveDateTime,
    pub expires_at: chrono::NaiveDateTime,
}

/// Create a user, or replace the role and password of an existing one.
pub fn upsert(conn: &mut AnyConnection, row: &UserRow) -> Result<(), StoreError> {
    conn.transaction(|conn| {
        diesel::delete(users::table.find(&row.name)).execute(conn)?;
        diesel::insert_into(users::table)
            .values(row)
            .execute(conn)?;
        Ok(())
    })
}

pub fn find(conn: &mut AnyConnection, name: &str) -> Result<Option<UserRow>, StoreError> {
    Ok(users::table
        .find(name)
        .select(UserRow::as_select())
        .first(conn)
        .optional()?)
}

/// Take one sign-in attempt for `name`, atomically: at most `max` attempts
/// pass while the last one is younger than `window`; a success resets the
/// count. Each step is a single UPDATE, so concurrent requests (and other
/// instances on the same PostgreSQL) cannot all read a low count and pass.
/// `false` when the user is locked out or does not exist.
pub fn take_attempt(
    conn: &mut AnyConnection,
    name: &str,
    max: i32,
    window: chrono::Duration,
) -> Result<bool, StoreError> {
    let now = super::now();
    // A quiet window ends the lockout. Concurrent resets are harmless: the
    // condition no longer holds once an attempt has stamped `now`.
    diesel::update(
        users::table
            .find(name)
            .filter(users::last_failure_at.lt(now - window)),
    )
    .set((
        users::failed_logins.eq(0),
        users::last_failure_at.eq(None::<chrono::NaiveDateTime>),
    ))
    .execute(conn)?;
    let taken = diesel::update(users::table.find(name).filter(users::failed_logins.lt(max)))
        .set((
            users::failed_logins.eq(users::failed_logins + 1),
            users::last_failure_at.eq(Some(now)),
        ))
        .execute(conn)?;
    Ok(taken == 1)
}

pub fn create_session(conn: &mut AnyConnection, row: &SessionRow) -> Result<(), StoreError> {
    conn.transaction(|conn| {
        diesel::update(users::table.find(&row.user_name))
            .set(users::failed_logins.eq(0))
            .execute(conn)?;
        diesel::delete(sessions::table.filter(sessions::expires_at.lt(super::now())))
            .execute(conn)?;
        diesel::insert_into(sessions::table)
            .values(row)
            .execute(conn)?;
        Ok(())
    })
}

/// The live session with this token hash, and its user.
pub fn session(
    conn: &mut AnyConnection,
    token_hash: &str,
) -> Result<Option<(SessionRow, UserRow)>, StoreError> {
    Ok(sessions::table
        .inner_join(users::table)
        .filter(sessions::token_hash.eq(token_hash))
        .filter(sessions::expires_at.gt(super::now()))
        .select((SessionRow::as_select(), UserRow::as_select()))
        .first(conn)
        .optional()?)
}

pub fn end_session(conn: &mut AnyConnection, token_hash: &str) -> Result<(), StoreError> {
    diesel::delete(sessions::table.find(token_hash)).execute(conn)?;
    Ok(())
}

/// Add a user; `Ok(false)` (nothing written) when the name is taken.
pub fn insert_new(conn: &mut AnyConnection, row: &UserRow) -> Result<bool, StoreError> {
    conn.transaction(|conn| {
        if users::table
            .find(&row.name)
            .count()
            .get_result::<i64>(conn)?
            > 0
        {
            return Ok(false);
        }
        diesel::insert_into(users::table)
            .values(row)
            .execute(conn)?;
        Ok(true)
    })
}

/// Every user, by name.
pub fn list(conn: &mut AnyConnection) -> Result<Vec<UserRow>, StoreError> {
    Ok(users::table
        .order(users::name.asc())
        .select(UserRow::as_select())
        .load(conn)?)
}

/// Remove a user and end their sessions; `false` when there was none.
pub fn delete(conn: &mut AnyConnection, name: &str) -> Result<bool, StoreError> {
    conn.transaction(|conn| {
        diesel::delete(sessions::table.filter(sessions::user_name.eq(name))).execute(conn)?;
        Ok(diesel::delete(users::table.find(name)).execute(conn)? > 0)
    })
}

/// Replace a user's password hash and end their sessions (a changed password
/// signs out everywhere); `false` when there is no such user.
pub fn set_password(
    conn: &mut AnyConnection,
    name: &str,
    password_hash: &str,
) -> Result<bool, StoreError> {
    conn.transaction(|conn| {
        let changed = diesel::update(users::table.find(name))
            .set((
                users::password_hash.eq(password_hash),
                users::failed_logins.eq(0),
            ))
            .execute(conn)?;
        diesel::delete(sessions::table.filter(sessions::user_name.eq(name))).execute(conn)?;
        Ok(changed > 0)
    })
}
