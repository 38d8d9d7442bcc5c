//! The admin identity of a request: `Authorization: Bearer <admin token>`.

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use futures_util::future::LocalBoxFuture;

use crate::auth::{self, AdminIdentity, Role, TokenCheck};
use crate::error::ApiError;
use crate::startup::AppState;

pub struct Admin(pub AdminIdentity);

impl Admin {
    /// Refuse unless the caller has at least `needed`.
    pub fn require(&self, needed: Role) -> Result<&AdminIdentity, ApiError> {
        if self.0.role >= needed {
            Ok(&self.0)
        } else {
            Err(ApiError::Forbidden {
                needed,
                have: self.0.role,
            })
        }
    }
}

pub fn bearer(req: &HttpRequest) -> Option<String> {
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

impl FromRequest for Admin {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
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
                TokenCheck::Valid(identity) => Ok(Admin(identity)),
                TokenCheck::Expired => Err(ApiError::Unauthorized(
                    "the admin token has expired; ask for a new one".into(),
                )),
                TokenCheck::Unknown => Err(ApiError::Unauthorized(
                    "the admin token is not valid".into(),
                )),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::ResponseError;

    fn admin(role: Role) -> Admin {
        Admin(AdminIdentity {
            name: "x".into(),
            role,
        })
    }

    #[test]
    fn roles_below_the_needed_one_get_403() {
        assert!(admin(Role::Admin).require(Role::Qa).is_ok());
        assert!(admin(Role::Qa).require(Role::Qa).is_ok());
        let err = admin(Role::Operator).require(Role::Qa).unwrap_err();
        assert_eq!(err.status_code(), actix_web::http::StatusCode::FORBIDDEN);
        assert_eq!(err.code(), "forbidden");
    }
}
