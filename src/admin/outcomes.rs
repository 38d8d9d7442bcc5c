//! `/admin/api/events` (outcome events from a back end) and
//! `/admin/api/metrics` (docs/src/analytics.md "Outcomes and experiment results").

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::auth::Admin;
use crate::analytics::ingest::{self, EventBody};
use crate::analytics::outcomes::Metric;
use crate::auth::Role;
use crate::boundary::admin::Ingest;
use crate::boundary::{Json, metrics};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::outcomes::{self as store, MetricRow};
use crate::words::OutcomeSource;

#[derive(Deserialize)]
pub struct BackendEvents {
    events: Vec<EventBody>,
}

/// `POST /admin/api/events`: up to 1,000 events of any users.
pub async fn ingest(
    who: Ingest,
    state: web::Data<AppState>,
    body: Json<BackendEvents>,
) -> Result<HttpResponse, ApiError> {
    let _ = who;
    let rows = ingest::check(
        body.into_inner().events,
        None,
        OutcomeSource::Backend,
        crate::store::now(),
    )?;
    Ok(HttpResponse::Ok().json(crate::api::events::store(&state, rows).await?))
}

/// A metric as the API shows it.
fn view(metric: &Metric, row: Option<&MetricRow>) -> serde_json::Value {
    let mut v = serde_json::to_value(metric).unwrap_or_default();
    v["built_in"] = json!(row.is_none());
    if let Some(row) = row {
        v["updated_at"] = json!(row.updated_at);
        v["updated_by"] = json!(row.updated_by);
    }
    v
}

/// `GET /admin/api/metrics`: `completed` first, then by name.
pub async fn list(_admin: Admin, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let rows = state.db.run(store::metrics_list).await?;
    let mut metrics = vec![view(&Metric::completed(), None)];
    metrics.extend(
        rows.iter()
            .filter_map(|r| Metric::from_row(r).map(|m| view(&m, Some(r)))),
    );
    Ok(HttpResponse::Ok().json(json!({"metrics": metrics})))
}

/// `PUT /admin/api/metrics/{name}` (operator).
pub async fn put(
    admin: Admin,
    state: web::Data<AppState>,
    name: web::Path<String>,
    body: Json<metrics::MetricBody>,
) -> Result<HttpResponse, ApiError> {
    let who = admin.require(Role::Operator)?.name.clone();
    let metric = metrics::check(&name, body.into_inner())?;
    let row = metrics::define(&state, &metric, who).await?;
    Ok(HttpResponse::Ok().json(view(&metric, Some(&row))))
}

/// `DELETE /admin/api/metrics/{name}` (operator).
pub async fn delete(
    admin: Admin,
    state: web::Data<AppState>,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let who = admin.require(Role::Operator)?.name.clone();
    let name = name.into_inner();
    metrics::remove(&state, &name, who).await?;
    Ok(HttpResponse::Ok().json(json!({"deleted": name})))
}
