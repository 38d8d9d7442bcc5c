//! `/healthz` (the process answers) and `/readyz` (database reachable, a flow published).

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::state::AppState;
use crate::store::channels;

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let pointers = state
        .db
        .run(channels::list)
        .await
        .map(|rows| {
            rows.into_iter()
                .map(|c| (c.name.to_string(), c.version_id))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    let pending = state
        .db
        .run(crate::analytics::sink::pending)
        .await
        .unwrap_or_default();
    state
        .metrics
        .render(state.db.pool_state(), &pointers, &pending)
}

/// Below this, an instance on SQLite is not ready: its next writes would
/// fail for want of space (docs/src/operations.md).
pub const MIN_FREE_DISK: u64 = 4 << 20;

pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    if let Some(free) = state.db.free_bytes().filter(|b| *b < MIN_FREE_DISK) {
        tracing::warn!(free, "readiness check: the database's disk is full");
        return HttpResponse::ServiceUnavailable()
            .insert_header(("Retry-After", crate::error::RETRY_AFTER_SECONDS.to_string()))
            .json(json!({"status": "not_ready", "database": "disk_full", "flows": {},
                "reason": format!("the database's disk has {free} bytes free; writes fail until space is freed")}));
    }
    match state.db.run(channels::list).await {
        Ok(rows) => {
            let flows: serde_json::Map<String, serde_json::Value> = rows
                .iter()
                .map(|c| (c.name.to_string(), json!(c.version_id)))
                .collect();
            let ready = flows.contains_key(channels::Channel::Production.as_str());
            let body = json!({
                "status": if ready { "ready" } else { "not_ready" },
                "database": "ok",
                "flows": flows,
                "reason": if ready { None } else { Some("no version is published on the production channel") },
            });
            if ready {
                HttpResponse::Ok().json(body)
            } else {
                HttpResponse::ServiceUnavailable().json(body)
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "readiness check: database unreachable");
            HttpResponse::ServiceUnavailable()
                .insert_header(("Retry-After", crate::error::RETRY_AFTER_SECONDS.to_string()))
                .json(json!({"status": "not_ready", "database": "unreachable", "flows": {}}))
        }
    }
}
