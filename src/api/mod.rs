//! The mobile API under `/v1`, and the OpenAPI document of every API at
//! `/openapi.json`.

pub mod auth;
pub mod events;
pub mod offline;
pub mod onboarding;
pub mod openapi;

use actix_web::{HttpResponse, web};

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
    .route("/v1/events", web::post().to(events::record))
    .route("/openapi.json", web::get().to(openapi));
}

async fn openapi() -> HttpResponse {
    HttpResponse::Ok().json(openapi::document())
}
