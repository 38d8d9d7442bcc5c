//! The admin identity of a request: `Authorization: Bearer <admin token>`.

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use futures_util::future::LocalBoxFuture;

use crate::auth::{self, Identity, Role, TokenCheck};
use crate::error::ApiError;
use crate::state::AppState;

/// The caller of an admin API route; roles are checked with
/// [`Identity::require`] (through `Deref`), as on the dashboard. A token of
/// role `ingest` is refused here: it may only send outcome events
/// ([`Ingest`]).
pub struct Admin(pub Identity);

/// The caller of `POST /admin/api/events`: a token of role `ingest`, or
/// `operator` and above.
pub struct Ingest(pub Identity);

impl std::ops::Deref for Admin {
    type Target = Identity;

    fn deref(&self) -> &Identity {
        &self.0
    }
}

pub use crate::auth::bearer;

impl FromRequest for Admin {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let identity = identify(req);
        Box::pin(async move {
            let identity = identity.await?;
            identity.require(Role::Operator)?;
            Ok(Admin(identity))
        })
    }
}

impl FromRequest for Ingest {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let identity = identify(req);
        Box::pin(async move { Ok(Ingest(identity.await?)) })
    }
}

/// The identity of the request's admin token, any role.
fn identify(req: &HttpRequest) -> LocalBoxFuture<'static, Result<Identity, ApiError>> {
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let token = bearer(req);
    Box::pin(async move {
        let state = state.ok_or(ApiError::Internal)?;
        let token = token.ok_or_else(|| {
                ApiError::Unauthorized("this call needs an admin token: Authorization: Bearer <token> (sceneflow admin-token prints one)".into())
            })?;
        match state
            .db
            .run(move |c| auth::check_admin_token(c, &token))
            .await?
        {
            TokenCheck::Valid(identity) => Ok(identity),
            TokenCheck::Expired => Err(ApiError::Unauthorized(
                "the admin token has expired; ask for a new one".into(),
            )),
            TokenCheck::Unknown => Err(ApiError::Unauthorized(
                "the admin token is not valid".into(),
            )),
        }
    })
}
