//! `/admin/api/events` (outcome events from a back end) and
//! `/admin/api/metrics` (README "Outcomes and experiment results").

use actix_web::{HttpResponse, web};
use diesel::Connection;
use serde::Deserialize;
use serde_json::json;

use super::auth::Admin;
use crate::analytics::ingest::{self, EventBody};
use crate::analytics::outcomes::{self, COMPLETED, Metric};
use crate::auth::Role;
use crate::boundary::Json;
use crate::boundary::admin::Ingest;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::aggregates as agg;
use crate::store::outcomes::{self as store, MetricRow};
use crate::store::{AnyConnection, StoreError, audit};
use crate::words::{AuditAction, Direction, MetricKind, OutcomeSource};

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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricBody {
    event: String,
    kind: String,
    /// A whole number; `168.0` is `168` (the contract's rule for numbers).
    window_hours: f64,
    #[serde(default)]
    direction: Option<String>,
    #[serde(default)]
    guardrail: bool,
    #[serde(default)]
    description: String,
}

/// Longest window: ten years.
const MAX_WINDOW_HOURS: i64 = 87_600;

fn check(name: &str, body: MetricBody) -> Result<Metric, ApiError> {
    let invalid = |m: String| Err(ApiError::InvalidRequest(m));
    if !crate::flow::Key::is_valid(name) {
        return invalid(format!("metric name '{name}' must match [a-z0-9_]{{1,64}}"));
    }
    if name == COMPLETED {
        return Err(ApiError::BuiltInMetric);
    }
    if !crate::flow::Key::is_valid(&body.event) {
        return invalid(format!(
            "event '{}' must match [a-z0-9_]{{1,64}}",
            body.event
        ));
    }
    let Some(kind) = MetricKind::parse(&body.kind) else {
        return invalid(format!("kind '{}' is binomial, mean or count", body.kind));
    };
    let hours = body.window_hours;
    if hours.fract() != 0.0 || !(1.0..=MAX_WINDOW_HOURS as f64).contains(&hours) {
        return invalid(format!(
            "window_hours must be a whole number from 1 to {MAX_WINDOW_HOURS}"
        ));
    }
    let direction = match body.direction.as_deref() {
        None => Direction::Increase,
        Some(raw) => match Direction::parse(raw) {
            Some(d) => d,
            None => return invalid(format!("direction '{raw}' is increase or decrease")),
        },
    };
    if body.description.chars().count() > 500 || body.description.contains('\0') {
        return invalid("description takes at most 500 characters".into());
    }
    Ok(Metric {
        name: name.to_owned(),
        event: body.event,
        kind,
        window_hours: hours as u32,
        direction,
        guardrail: body.guardrail,
        description: body.description,
    })
}

/// Replace a metric and rebuild its aggregates from the outcome events
/// folded so far, holding the aggregator's lock (README "Outcomes and
/// experiment results": a definition applies to the whole history).
fn put_metric(conn: &mut AnyConnection, row: &MetricRow) -> Result<(), StoreError> {
    conn.transaction(|c| {
        agg::lock(c, crate::analytics::aggregator::LOCK_KEY)?;
        store::put_metric(c, row)?;
        let until = agg::cursor(c, outcomes::OUTCOMES)?.map_or(0, |r| r.0);
        outcomes::build(c, &row.name, until)?;
        audit::record(
            c,
            &row.updated_by,
            AuditAction::MetricPut,
            None,
            None,
            Some(&format!(
                "{} ({} of {}, {} h)",
                row.name, row.kind, row.event, row.window_hours
            )),
        )
    })
}

/// `PUT /admin/api/metrics/{name}` (operator).
pub async fn put(
    admin: Admin,
    state: web::Data<AppState>,
    name: web::Path<String>,
    body: Json<MetricBody>,
) -> Result<HttpResponse, ApiError> {
    let who = admin.require(Role::Operator)?.name.clone();
    let metric = check(&name, body.into_inner())?;
    let row = MetricRow {
        name: metric.name.clone(),
        event: metric.event.clone(),
        kind: metric.kind.as_str().into(),
        window_hours: metric.window_hours as i32,
        direction: metric.direction.as_str().into(),
        guardrail: metric.guardrail,
        description: metric.description.clone(),
        updated_at: crate::store::now(),
        updated_by: who,
    };
    let stored = row.clone();
    state.db.run(move |c| put_metric(c, &stored)).await?;
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
    if name == COMPLETED {
        return Err(ApiError::BuiltInMetric);
    }
    let gone = name.clone();
    let existed = state
        .db
        .run(move |c| {
            c.transaction(|c| {
                agg::lock(c, crate::analytics::aggregator::LOCK_KEY)?;
                let existed = store::delete_metric(c, &gone)?;
                if existed {
                    audit::record(c, &who, AuditAction::MetricDelete, None, None, Some(&gone))?;
                }
                Ok(existed)
            })
        })
        .await?;
    if !existed {
        return Err(ApiError::NotFound(format!("there is no metric '{name}'")));
    }
    Ok(HttpResponse::Ok().json(json!({"deleted": name})))
}
