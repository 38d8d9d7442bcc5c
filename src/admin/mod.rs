//! The admin JSON API under `/admin/api`.

pub mod analytics;
pub mod auth;
pub mod channels;
pub mod outcomes;
pub mod versions;

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::error::ApiError;
use crate::state::AppState;
use crate::store::audit;
use auth::Admin;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/admin/api")
            .route("/versions", web::post().to(versions::upload))
            .route("/versions", web::get().to(versions::list))
            .route("/versions/import", web::post().to(versions::import_key))
            .route("/versions/{id}", web::get().to(versions::show))
            .route("/versions/{id}/workbook", web::get().to(versions::workbook))
            .route("/versions/{id}/approve", web::post().to(channels::approve))
            .route("/versions/{id}/rescue", web::post().to(channels::rescue))
            .route("/incidents", web::get().to(channels::incidents))
            .route("/versions/{id}/funnel", web::get().to(analytics::funnel))
            .route("/versions/{id}/impact", web::get().to(analytics::impact))
            .route("/experiments", web::get().to(analytics::experiments))
            .route(
                "/experiments/{experiment_id}/results",
                web::get().to(analytics::results),
            )
            .route("/events", web::get().to(analytics::events))
            .route("/events", web::post().to(outcomes::ingest))
            .route("/metrics", web::get().to(outcomes::list))
            .route("/metrics/{name}", web::put().to(outcomes::put))
            .route("/metrics/{name}", web::delete().to(outcomes::delete))
            .route("/channels", web::get().to(channels::list))
            .route(
                "/channels/production/rollback",
                web::post().to(channels::rollback),
            )
            .route(
                "/channels/production/rollout",
                web::get().to(channels::rollout),
            )
            .route(
                "/channels/production/rollout",
                web::patch().to(channels::widen),
            )
            .route(
                "/channels/production/rollout/abort",
                web::post().to(channels::abort),
            )
            .route(
                "/channels/production/rollout/check",
                web::post().to(channels::check),
            )
            .route("/channels/{name}", web::put().to(channels::put))
            .route("/audit", web::get().to(list_audit))
            .route("/conditions", web::get().to(list_conditions)),
    );
}

async fn list_audit(_admin: Admin, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let rows = state.db.run(|c| audit::list(c, 500)).await?;
    Ok(HttpResponse::Ok().json(json!({"entries": rows})))
}

async fn list_conditions(_admin: Admin) -> HttpResponse {
    let list: Vec<_> = crate::flow::catalogue()
        .iter()
        .map(
            |c| json!({"name": c.name, "description": c.description, "attributes": c.attributes()}),
        )
        .collect();
    HttpResponse::Ok().json(json!({"conditions": list}))
}
