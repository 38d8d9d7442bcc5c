//! Roles and admin tokens. Tokens are random, shown once, stored hashed.

use argon2::{Argon2, PasswordHasher};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::store::tokens::{self, TokenRow};
use crate::store::{AnyConnection, StoreError};

pub mod role;
pub use role::Role;

const ADMIN_TOKEN_PREFIX: &str = "sfa_";

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A dashboard password as stored (Argon2, a PHC string): the dashboard
/// signs in with it, the people commands set it.
pub fn hash_password(password: &str) -> String {
    Argon2::default()
        .hash_password(password.as_bytes())
        .expect("argon2 hashing with default parameters works")
        .to_string()
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
            role,
            created_at: now,
            expires_at: Some(now + chrono::Duration::days(i64::from(valid_days))),
        },
    )?;
    Ok(token)
}

/// Who a request acts as: the holder of an admin token (JSON API) or of a
/// dashboard session. Both faces check roles through [`Identity::require`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub name: String,
    pub role: Role,
}

/// The caller's role is below the one the action needs; each face words it
/// (`ApiError::Forbidden`, the dashboard's page).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Forbidden {
    pub needed: Role,
    pub have: Role,
}

impl Identity {
    /// Refuse unless the caller has at least `needed`.
    pub fn require(&self, needed: Role) -> Result<&Identity, Forbidden> {
        if self.role >= needed {
            Ok(self)
        } else {
            Err(Forbidden {
                needed,
                have: self.role,
            })
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum TokenCheck {
    Valid(Identity),
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
    Ok(TokenCheck::Valid(Identity {
        name: row.name,
        role: row.role,
    }))
}

/// Claims of a mobile user's token: `sub` is the user id, `exp` is required;
/// nothing else is (docs/src/mobile-api.md). `exp` is a NumericDate, which
/// RFC 7519 allows to be fractional.
#[derive(Debug, Serialize, Deserialize)]
struct UserClaims {
    sub: String,
    exp: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    iat: Option<f64>,
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
        iat: Some(now as f64),
        exp: (now + u64::from(valid_days) * 86_400) as f64,
    };
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("HS256 signing does not fail")
}

/// Clock skew tolerated on `exp`.
const TOKEN_LEEWAY_SECONDS: f64 = 30.0;

/// The user id of a valid, unexpired HS256 token.
pub fn verify_user_token(secret: &str, token: &str) -> Result<String, UserTokenError> {
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    // The library reads `exp` as a whole number only; a fractional one is
    // valid JWT, so `exp` is required by the claims type and checked here.
    validation.set_required_spec_claims(&["sub"]);
    validation.validate_exp = false;
    let data = jsonwebtoken::decode::<UserClaims>(
        token,
        &jsonwebtoken::DecodingKey::from_secret(secret.as_bytes()),
        &validation,
    )
    .map_err(|e| UserTokenError::Invalid(e.to_string()))?;
    let now = chrono::Utc::now().timestamp() as f64;
    if !data.claims.exp.is_finite() || data.claims.exp + TOKEN_LEEWAY_SECONDS <= now {
        return Err(UserTokenError::Expired);
    }
    let sub = data.claims.sub;
    if sub.is_empty() || sub.len() > 255 {
        return Err(UserTokenError::Invalid("sub must be 1 to 255 bytes".into()));
    }
    // PostgreSQL text cannot hold NUL; refuse it here, on every backend.
    if sub.contains('\0') {
        return Err(UserTokenError::Invalid("sub must not contain NUL".into()));
    }
    Ok(sub)
}

/// The token of an `Authorization: Bearer <token>` header (scheme case-
/// insensitive), for both faces' extractors.
pub fn bearer(req: &actix_web::HttpRequest) -> Option<String> {
    let value = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
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

    fn sign(claims: serde_json::Value) -> String {
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(b"s"),
        )
        .unwrap()
    }

    #[test]
    fn tokens_need_only_sub_and_exp() {
        let exp = chrono::Utc::now().timestamp() + 600;
        let plain = sign(serde_json::json!({"sub": "u1", "exp": exp}));
        assert_eq!(verify_user_token("s", &plain).unwrap(), "u1");
        let fractional = sign(serde_json::json!({"sub": "u2", "exp": exp as f64 + 0.5}));
        assert_eq!(verify_user_token("s", &fractional).unwrap(), "u2");
        let expired = sign(serde_json::json!({"sub": "u3", "exp": 1_000_000.5}));
        assert_eq!(
            verify_user_token("s", &expired),
            Err(UserTokenError::Expired)
        );
        let no_exp = sign(serde_json::json!({"sub": "u4"}));
        assert!(verify_user_token("s", &no_exp).is_err());
        let nul = sign(serde_json::json!({"sub": "a\0b", "exp": exp}));
        assert!(matches!(
            verify_user_token("s", &nul),
            Err(UserTokenError::Invalid(_))
        ));
    }

    #[test]
    fn roles_below_the_needed_one_are_refused() {
        let who = |role| Identity {
            name: "x".into(),
            role,
        };
        assert!(who(Role::Admin).require(Role::Qa).is_ok());
        assert!(who(Role::Qa).require(Role::Qa).is_ok());
        assert_eq!(
            who(Role::Operator).require(Role::Qa),
            Err(Forbidden {
                needed: Role::Qa,
                have: Role::Operator
            })
        );
    }

    #[test]
    fn roles_are_ordered() {
        assert!(Role::Operator < Role::Qa && Role::Qa < Role::Admin);
        assert_eq!(Role::parse("qa"), Some(Role::Qa));
        assert_eq!(Role::parse("root"), None);
    }
}
