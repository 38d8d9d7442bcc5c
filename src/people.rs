//! People and tokens: dashboard users and admin API tokens, managed from the
//! command line and from the dashboard's People page (docs/src/release.md, "People and
//! tokens"). Every change is written to the audit log.

use chrono::NaiveDateTime;

use crate::auth::Role;
use crate::auth::hash_password;
use crate::store::tokens::{self, TokenRow};
use crate::store::users::{self, UserRow};
use crate::store::{AnyConnection, StoreError, audit};
use crate::words::AuditAction;

/// Digits of a token's SHA-256 hash that name it in lists and `revoke`.
pub const TOKEN_ID_LEN: usize = 12;
pub const MIN_PASSWORD_CHARS: usize = 8;
pub const MAX_NAME_CHARS: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum PeopleError {
    #[error("a user name needs 1 to {MAX_NAME_CHARS} characters")]
    InvalidName,
    #[error("the password needs at least {MIN_PASSWORD_CHARS} characters")]
    ShortPassword,
    #[error(
        "the user '{0}' exists already; to give them a new role and password, add --reset-password (or use `user passwd` for the password alone)"
    )]
    UserExists(String),
    #[error("there is no user '{0}'")]
    NoSuchUser(String),
    #[error("no admin token has the id '{0}'; `sceneflow admin-token list` shows the ids")]
    NoSuchToken(String),
    #[error(
        "'{0}' is not a token id: give the {TOKEN_ID_LEN} hex digits `sceneflow admin-token list` shows"
    )]
    InvalidTokenId(String),
    #[error("you cannot remove yourself; sign in as another admin to do it")]
    RemoveSelf,
    #[error(
        "the role ingest is for admin tokens of back ends only (sceneflow admin-token --role ingest), not for people who sign in"
    )]
    IngestUser,
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct UserView {
    pub name: String,
    pub role: Role,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct TokenView {
    pub id: String,
    pub name: String,
    pub role: Role,
    pub created_at: NaiveDateTime,
    pub expires_at: Option<NaiveDateTime>,
    pub expired: bool,
}

impl TokenView {
    fn of(row: TokenRow, now: NaiveDateTime) -> TokenView {
        TokenView {
            id: row.token_hash.chars().take(TOKEN_ID_LEN).collect(),
            expired: row.expires_at.is_some_and(|e| e <= now),
            name: row.name,
            role: row.role,
            created_at: row.created_at,
            expires_at: row.expires_at,
        }
    }
}

/// A trimmed user name of 1 to [`MAX_NAME_CHARS`] characters.
pub fn check_name(raw: &str) -> Result<String, PeopleError> {
    let name = raw.trim();
    if name.is_empty()
        || name.chars().count() > MAX_NAME_CHARS
        || name.chars().any(char::is_control)
    {
        return Err(PeopleError::InvalidName);
    }
    Ok(name.to_owned())
}

pub fn check_password(password: &str) -> Result<(), PeopleError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(PeopleError::ShortPassword);
    }
    Ok(())
}

/// Add a dashboard user. An existing name is refused unless `reset`, which
/// replaces its role and password (and ends its sessions).
pub fn add_user(
    conn: &mut AnyConnection,
    actor: &str,
    name: &str,
    role: Role,
    password: &str,
    reset: bool,
) -> Result<(), PeopleError> {
    let name = check_name(name)?;
    check_password(password)?;
    if role == Role::Ingest {
        return Err(PeopleError::IngestUser);
    }
    let row = UserRow {
        name: name.clone(),
        role,
        password_hash: hash_password(password),
        failed_logins: 0,
        last_failure_at: None,
        created_at: crate::store::now(),
    };
    if reset {
        users::delete(conn, &name)?;
        users::upsert(conn, &row)?;
        audit::record(
            conn,
            actor,
            AuditAction::UserReset,
            None,
            None,
            Some(&format!("{name} ({role})")),
        )?;
        return Ok(());
    }
    if !users::insert_new(conn, &row)? {
        return Err(PeopleError::UserExists(name));
    }
    audit::record(
        conn,
        actor,
        AuditAction::UserAdd,
        None,
        None,
        Some(&format!("{name} ({role})")),
    )?;
    Ok(())
}

pub fn list_users(conn: &mut AnyConnection) -> Result<Vec<UserView>, PeopleError> {
    Ok(users::list(conn)?
        .into_iter()
        .map(|u| UserView {
            name: u.name,
            role: u.role,
            created_at: u.created_at,
        })
        .collect())
}

pub fn remove_user(conn: &mut AnyConnection, actor: &str, name: &str) -> Result<(), PeopleError> {
    if !users::delete(conn, name)? {
        return Err(PeopleError::NoSuchUser(name.to_owned()));
    }
    audit::record(conn, actor, AuditAction::UserRemove, None, None, Some(name))?;
    Ok(())
}

/// Set a new password; the user's sessions end.
pub fn set_password(
    conn: &mut AnyConnection,
    actor: &str,
    name: &str,
    password: &str,
) -> Result<(), PeopleError> {
    check_password(password)?;
    if !users::set_password(conn, name, &hash_password(password))? {
        return Err(PeopleError::NoSuchUser(name.to_owned()));
    }
    audit::record(
        conn,
        actor,
        AuditAction::UserPassword,
        None,
        None,
        Some(name),
    )?;
    Ok(())
}

/// Create an admin token and record who did; the clear text, shown once.
pub fn mint_token(
    conn: &mut AnyConnection,
    actor: &str,
    name: &str,
    role: Role,
    days: u32,
) -> Result<String, PeopleError> {
    let name = check_name(name)?;
    let token = crate::auth::mint_admin_token(conn, &name, role, days)?;
    let id = &crate::auth::sha256_hex(token.as_bytes())[..TOKEN_ID_LEN];
    audit::record(
        conn,
        actor,
        AuditAction::TokenCreate,
        None,
        None,
        Some(&format!("{id}: {name} ({role}, {days} days)")),
    )?;
    Ok(token)
}

pub fn list_tokens(conn: &mut AnyConnection) -> Result<Vec<TokenView>, PeopleError> {
    let now = crate::store::now();
    Ok(tokens::list(conn)?
        .into_iter()
        .map(|t| TokenView::of(t, now))
        .collect())
}

/// Revoke the token whose id (the first [`TOKEN_ID_LEN`] hex digits of its
/// hash) is `id`; it stops working at once.
pub fn revoke_token(
    conn: &mut AnyConnection,
    actor: &str,
    id: &str,
) -> Result<TokenView, PeopleError> {
    let id = id.trim().to_ascii_lowercase();
    if id.len() != TOKEN_ID_LEN || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(PeopleError::InvalidTokenId(id));
    }
    let now = crate::store::now();
    let found = tokens::list(conn)?
        .into_iter()
        .find(|t| t.token_hash.starts_with(&id))
        .ok_or_else(|| PeopleError::NoSuchToken(id.clone()))?;
    tokens::delete(conn, &found.token_hash)?;
    let view = TokenView::of(found, now);
    audit::record(
        conn,
        actor,
        AuditAction::TokenRevoke,
        None,
        None,
        Some(&format!("{}: {} ({})", view.id, view.name, view.role)),
    )?;
    Ok(view)
}
