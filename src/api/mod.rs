//! The mobile API under `/v1`, and its OpenAPI document at `/openapi.json`.

pub mod auth;
pub mod offline;
pub mod onboarding;

use actix_web::{HttpResponse, web};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/v1/onboarding")
            .route("/start", web::post().to(onboarding::start))
            .route("/current", web::get().to(onboarding::current))
            .route("/answers", web::post().to(onboarding::answer))
            .route("/bundle", web::get().to(offline::bundle))
            .route("/sync", web::post().to(offline::sync))
            .route("/back", web::post().to(onboarding::back)),
    )
    .route("/openapi.json", web::get().to(openapi));
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "sceneflow mobile API",
        description = "Chat-style onboarding: fetch a scene, answer it, get the next."
    ),
    paths(
        onboarding::start,
        onboarding::current,
        onboarding::answer,
        offline::bundle,
        offline::sync,
        onboarding::back
    ),
    modifiers(&BearerAuth),
    security(("bearer" = []))
)]
pub struct ApiDoc;

async fn openapi() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}
