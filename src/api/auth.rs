//! The mobile user of a request: `Authorization: Bearer <JWT>` (HS256, `sub`
//! is the user id, `exp` required).

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use std::future::{Ready, ready};

use crate::auth::bearer;
use crate::auth::{UserTokenError, verify_user_token};
use crate::error::ApiError;
use crate::state::AppState;

pub struct MobileUser(pub String);

impl FromRequest for MobileUser {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let Some(state) = req.app_data::<web::Data<AppState>>() else {
            return ready(Err(ApiError::Internal));
        };
        let result = match bearer(req) {
            None => Err(ApiError::Unauthorized(
                "this call needs the user's token: Authorization: Bearer <JWT>".into(),
            )),
            Some(token) => verify_user_token(&state.settings.jwt_secret, &token)
                .map(MobileUser)
                .map_err(|e| match e {
                    UserTokenError::Expired => {
                        ApiError::Unauthorized("the token has expired; get a new one".into())
                    }
                    UserTokenError::Invalid(_) => {
                        ApiError::Unauthorized("the token is not valid for this service".into())
                    }
                }),
        };
        ready(result)
    }
}
