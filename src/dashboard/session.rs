//! Dashboard sign-in: argon2 password hashes, a session cookie (HttpOnly,
//! SameSite=Strict, Secure behind TLS), a CSRF token per session checked on
//! every form, and the sign-in limits of [`super::throttle`].

use std::time::Duration;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use argon2::{Argon2, PasswordVerifier};
use futures_util::future::LocalBoxFuture;

use super::DashboardError;
use super::throttle::RetryAfter;
use crate::auth::{Identity, Role, hash_password, random_hex, sha256_hex};
use crate::state::AppState;
use crate::store::users::{self, SessionRow, UserRow};
use crate::store::{AnyConnection, StoreError};

pub const COOKIE: &str = "sceneflow_session";
const SESSION_HOURS: i64 = 12;
/// At most this many password checks per user while attempts keep coming
/// less than [`LOCKOUT`] apart; a success starts the count again.
const FAILURES_BEFORE_LOCKOUT: i32 = 5;
const LOCKOUT: chrono::Duration = chrono::Duration::seconds(60);

/// The signed-in user of a dashboard request; its [`Identity`] (name, role,
/// `require`) is reached through `Deref`, as for the admin API's caller.
#[derive(Debug, Clone)]
pub struct Signed {
    pub who: Identity,
    pub csrf: String,
    token_hash: String,
}

impl std::ops::Deref for Signed {
    type Target = Identity;

    fn deref(&self) -> &Identity {
        &self.who
    }
}

impl Signed {
    /// Refuse a form whose CSRF token is not this session's.
    pub fn check_csrf(&self, sent: &str) -> Result<(), DashboardError> {
        // In constant time: how much of a guess matches must not show in
        // how long the refusal takes.
        use subtle::ConstantTimeEq;
        if !sent.is_empty() && bool::from(sent.as_bytes().ct_eq(self.csrf.as_bytes())) {
            Ok(())
        } else {
            Err(DashboardError::BadCsrf)
        }
    }
}

impl FromRequest for Signed {
    type Error = DashboardError;
    type Future = LocalBoxFuture<'static, Result<Self, DashboardError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let token = req.cookie(COOKIE).map(|c| c.value().to_owned());
        Box::pin(async move {
            let state = state.ok_or(DashboardError::LoginRequired)?;
            let token = token.ok_or(DashboardError::LoginRequired)?;
            let hash = sha256_hex(token.as_bytes());
            let lookup = hash.clone();
            let (session, user) = state
                .db
                .run(move |c| users::session(c, &lookup))
                .await?
                .ok_or(DashboardError::LoginRequired)?;
            let role = user.role;
            Ok(Signed {
                who: Identity {
                    name: user.name,
                    role,
                },
                csrf: session.csrf_token,
                token_hash: hash,
            })
        })
    }
}

fn verify_password(password: &str, hash: &str) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), hash)
        .is_ok()
}

/// Create or update a dashboard user (`sceneflow user add`).
pub fn add_user(
    conn: &mut AnyConnection,
    name: &str,
    role: Role,
    password: &str,
) -> Result<(), StoreError> {
    users::upsert(
        conn,
        &UserRow {
            name: name.to_owned(),
            role,
            password_hash: hash_password(password),
            failed_logins: 0,
            last_failure_at: None,
            created_at: crate::store::now(),
        },
    )
}

pub enum LoginOutcome {
    /// The cookie value of the new session.
    Session(String),
    WrongPassword,
    /// Too many attempts for this user (the lockout) or from this address,
    /// or no hashing slot free: 429 with `Retry-After`.
    Throttled(RetryAfter),
}

/// Check a name and password; on success open a session. Every limit is
/// checked before the password hash runs.
pub async fn login(
    state: &AppState,
    ip: Option<std::net::IpAddr>,
    name: String,
    password: String,
) -> Result<LoginOutcome, StoreError> {
    if let Err(retry) = state.sign_in.admit(ip) {
        return Ok(LoginOutcome::Throttled(retry));
    }
    let lookup = name.clone();
    let (taken, user) = state
        .db
        .run(move |c| {
            let taken = users::take_attempt(c, &lookup, FAILURES_BEFORE_LOCKOUT, LOCKOUT)?;
            Ok((taken, users::find(c, &lookup)?))
        })
        .await?;
    let Some(user) = user else {
        tokio::time::sleep(Duration::from_millis(700)).await;
        return Ok(LoginOutcome::WrongPassword);
    };
    if !taken {
        return Ok(LoginOutcome::Throttled(RetryAfter(
            LOCKOUT.num_seconds() as u64
        )));
    }
    let ok = {
        let _slot = match state.sign_in.hashing_slot().await {
            Ok(slot) => slot,
            Err(retry) => return Ok(LoginOutcome::Throttled(retry)),
        };
        let hash = user.password_hash.clone();
        // argon2 is deliberately slow: keep it off the async workers.
        tokio::task::spawn_blocking(move || verify_password(&password, &hash))
            .await
            .unwrap_or(false)
    };
    if !ok {
        tokio::time::sleep(Duration::from_millis(700)).await;
        return Ok(LoginOutcome::WrongPassword);
    }
    let now = crate::store::now();
    let token = random_hex(32);
    let row = SessionRow {
        token_hash: sha256_hex(token.as_bytes()),
        user_name: user.name,
        csrf_token: random_hex(16),
        created_at: now,
        expires_at: now + chrono::Duration::hours(SESSION_HOURS),
    };
    state
        .db
        .run(move |c| users::create_session(c, &row))
        .await?;
    Ok(LoginOutcome::Session(token))
}

pub async fn logout(state: &AppState, signed: &Signed) -> Result<(), StoreError> {
    let hash = signed.token_hash.clone();
    state.db.run(move |c| users::end_session(c, &hash)).await
}

/// The session cookie; `Secure` when the request came over TLS.
pub fn cookie(req: &HttpRequest, value: String) -> Cookie<'static> {
    let secure = req.connection_info().scheme() == "https";
    Cookie::build(COOKIE, value)
        .path("/admin")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .max_age(actix_web::cookie::time::Duration::hours(SESSION_HOURS))
        .finish()
}

pub fn removal(req: &HttpRequest) -> Cookie<'static> {
    let mut c = cookie(req, String::new());
    c.make_removal();
    c
}
