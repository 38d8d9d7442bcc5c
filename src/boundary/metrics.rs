//! Defining and removing metrics, for the admin API and the dashboard
//! alike (docs/src/analytics.md "Outcomes and experiment results").

use diesel::Connection;
use serde::Deserialize;

use crate::analytics::outcomes::{self, COMPLETED, Metric};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::aggregates as agg;
use crate::store::outcomes::{self as store, MetricRow};
use crate::store::{AnyConnection, StoreError, audit};
use crate::words::{AuditAction, Direction, MetricKind};

/// The fields of a metric as sent (JSON or the dashboard's form).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricBody {
    pub event: String,
    pub kind: String,
    /// A whole number; `168.0` is `168` (the contract's rule for numbers).
    pub window_hours: f64,
    #[serde(default)]
    pub direction: Option<String>,
    #[serde(default)]
    pub guardrail: bool,
    #[serde(default)]
    pub description: String,
}

/// Longest window: ten years.
const MAX_WINDOW_HOURS: i64 = 87_600;

/// A metric from its name and the fields sent; refusals say which field.
pub fn check(name: &str, body: MetricBody) -> Result<Metric, ApiError> {
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
/// folded so far, holding the aggregator's lock (docs/src/analytics.md "Outcomes and
/// experiment results": a definition applies to the whole history).
fn replace(conn: &mut AnyConnection, row: &MetricRow) -> Result<(), StoreError> {
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

/// Store a metric (create or replace) as `who`, built from the whole
/// history; the row stored.
pub async fn define(state: &AppState, metric: &Metric, who: String) -> Result<MetricRow, ApiError> {
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
    state.db.run(move |c| replace(c, &stored)).await?;
    Ok(row)
}

/// Remove a metric and its figures as `who`: 404 when there is none, 409
/// for `completed`.
pub async fn remove(state: &AppState, name: &str, who: String) -> Result<(), ApiError> {
    if name == COMPLETED {
        return Err(ApiError::BuiltInMetric);
    }
    let gone = name.to_owned();
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
    if existed {
        Ok(())
    } else {
        Err(ApiError::NotFound(format!("there is no metric '{name}'")))
    }
}
