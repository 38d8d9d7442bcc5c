//! Roles and admin tokens. Tokens are random, shown once, stored hashed.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::store::tokens::{self, TokenRow};
use crate::store::{AnyConnection, StoreError};

/// Admin roles, ordered: a call needs at least the role it names.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Upload workbooks and deploy them to staging.
    Operator,
    /// Also approve the version on staging and use the QA tools.
    Qa,
    /// Also publish, roll back, and manage people and tokens.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Operator => "operator",
            Role::Qa => "qa",
            Role::Admin => "admin",
        }
    }

    pub fn parse(raw: &str) -> Option<Role> {
        match raw {
            "operator" => Some(Role::Operator),
            "qa" => Some(Role::Qa),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

const ADMIN_TOKEN_PREFIX: &str = "sfa_";

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).expect("the operating system's random source works");
    hex::encode(buf)
}

/// Create an admin token; the clear text is returned once and never stored.
pub fn mint_admin_token(
    conn: &mut AnyConnection,
    name: &str,
    role: Role,
    valid_days: u32,
) -> Result<String, StoreError> {
    let token = format!("{ADMIN_TOKEN_PREFIX}{}", random_hex(32));
    let now = crate::store::now();
    tokens::insert(
        conn,
        &TokenRow {
            token_hash: sha256_hex(token.as_bytes()),
            name: name.to_owned(),
            role: role.as_str().to_owned(),
            created_at: now,
            expires_at: Some(now + chrono::Duration::days(i64::from(valid_days))),
        },
    )?;
    Ok(token)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminIdentity {
    pub name: String,
    pub role: Role,
}

#[derive(Debug, PartialEq, Eq)]
pub enum TokenCheck {
    Valid(AdminIdentity),
    Unknown,
    Expired,
}

pub fn check_admin_token(conn: &mut AnyConnection, token: &str) -> Result<TokenCheck, StoreError> {
    if !token.starts_with(ADMIN_TOKEN_PREFIX) {
        return Ok(TokenCheck::Unknown);
    }
    let Some(row) = tokens::find(conn, &sha256_hex(token.as_bytes()))? else {
        return Ok(TokenCheck::Unknown);
    };
    if row.expires_at.is_some_and(|e| e <= crate::store::now()) {
        return Ok(TokenCheck::Expired);
    }
    let role = Role::parse(&row.role)
        .ok_or_else(|| StoreError::Corrupt(format!("role '{}'", row.role)))?;
    Ok(TokenCheck::Valid(AdminIdentity {
        name: row.name,
        role,
    }))
}

/// Claims of a mobile user's token: `sub` is the user id, `exp` is required.
#[derive(Debug, Serialize, Deserialize)]
struct UserClaims {
    sub: String,
    exp: u64,
    iat: u64,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum UserTokenError {
    #[error("the token has expired; sign the user in again")]
    Expired,
    #[error("the token is not valid: {0}")]
    Invalid(String),
}

/// A mobile token (HS256) for `user_id`, valid for `valid_days`.
pub fn mint_user_token(secret: &str, user_id: &str, valid_days: u32) -> String {
    let now = chrono::Utc::now().timestamp().max(0) as u64;
    let claims = UserClaims {
        sub: user_id.to_owned(),
        iat: now,
        exp: now + u64::from(valid_days) * 86_400,
    };
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("HS256 signing does not fail")
}

/// The user id of a valid, unexpired HS256 token.
pub fn verify_user_token(secret: &str, token: &str) -> Result<String, UserTokenError> {
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.set_required_spec_claims(&["exp", "sub"]);
    validation.leeway = 30;
    let data = jsonwebtoken::decode::<UserClaims>(
        token,
        &jsonwebtoken::DecodingKey::from_secret(secret.as_bytes()),
        &validation,
    )
    .map_err(|e| match e.kind() {
        jsonwebtoken::errors::ErrorKind::ExpiredSignature => UserTokenError::Expired,
        _ => UserTokenError::Invalid(e.to_string()),
    })?;
    let sub = data.claims.sub;
    if sub.is_empty() || sub.len() > 255 {
        return Err(UserTokenError::Invalid("sub must be 1 to 255 bytes".into()));
    }
    Ok(sub)
}

#[cfg(test)]
mod tests {
    #[test]
    fn user_tokens_round_trip_and_are_checked() {
        let token = mint_user_token("secret-a", "ゆき-1", 1);
        assert_eq!(verify_user_token("secret-a", &token).unwrap(), "ゆき-1");
        assert!(matches!(
            verify_user_token("secret-b", &token),
            Err(UserTokenError::Invalid(_))
        ));
        assert!(matches!(
            verify_user_token("secret-a", "not.a.jwt"),
            Err(UserTokenError::Invalid(_))
        ));
    }

    use super::*;

    #[test]
    fn roles_are_ordered() {
        assert!(Role::Operator < Role::Qa && Role::Qa < Role::Admin);
        assert_eq!(Role::parse("qa"), Some(Role::Qa));
        assert_eq!(Role::parse("root"), None);
    }
}
