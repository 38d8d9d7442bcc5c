//! `/admin/api`: funnel, experiments, event export, impact scope.

use actix_web::{HttpResponse, web};
use chrono::NaiveDateTime;
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::json;

use super::auth::Admin;
use crate::analytics::{self, export};
use crate::boundary::upload::{attachment, channel_param};
use crate::error::ApiError;
use crate::state::AppState;

/// A misspelt parameter (`chanel=staging`) is refused, not ignored.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelQuery {
    channel: Option<String>,
}

async fn known_version(state: &AppState, id: &str) -> Result<(), ApiError> {
    crate::catalog::find(state, id).await.map(|_| ())
}

pub async fn funnel(
    _admin: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
    query: web::Query<ChannelQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let channel = channel_param(query.into_inner().channel.as_deref())?.as_str();
    known_version(&state, &id).await?;
    let flows = state.onboarding.flows().clone();
    let (funnel, fresh) = state
        .db
        .run(move |c| analytics::with_freshness(c, |c| analytics::funnel(c, &flows, &id, channel)))
        .await?;
    Ok(HttpResponse::Ok().json(Fresh {
        figures: funnel,
        fresh,
    }))
}

/// Figures with the time of the aggregates they come from.
#[derive(serde::Serialize)]
struct Fresh<T> {
    #[serde(flatten)]
    figures: T,
    #[serde(flatten)]
    fresh: analytics::Freshness,
}

/// A misspelt parameter (`chanel=staging`) is refused, not ignored.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VersionQuery {
    version: Option<String>,
}

pub async fn experiments(
    _admin: Admin,
    state: web::Data<AppState>,
    query: web::Query<VersionQuery>,
) -> Result<HttpResponse, ApiError> {
    let version = query.into_inner().version;
    if let Some(v) = &version {
        known_version(&state, v).await?;
    }
    let flows = state.onboarding.flows().clone();
    let (list, fresh) = state
        .db
        .run(move |c| {
            analytics::with_freshness(c, |c| analytics::experiments(c, &flows, version.as_deref()))
        })
        .await?;
    Ok(HttpResponse::Ok().json(Fresh {
        figures: json!({"experiments": list}),
        fresh,
    }))
}

pub async fn impact(
    _admin: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    known_version(&state, &id).await?;
    let lookup = id.clone();
    let ((channels, fresh), offline) = state
        .db
        .run(move |c| {
            let impact = analytics::with_freshness(c, |c| analytics::impact(c, &lookup))?;
            Ok((impact, crate::store::offline::synced_runs(c, &lookup)?))
        })
        .await?;
    // Runs played offline and synced, by channel (docs/src/offline.md).
    let offline_runs: serde_json::Map<String, serde_json::Value> =
        offline.into_iter().map(|(k, n)| (k, json!(n))).collect();
    Ok(HttpResponse::Ok().json(Fresh {
        figures: json!({"version": id, "channels": channels, "offline_runs": offline_runs}),
        fresh,
    }))
}

/// A misspelt parameter (`chanel=staging`) is refused, not ignored.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportQuery {
    since: Option<String>,
    until: Option<String>,
    format: Option<String>,
    /// `events` (default) or `outcomes`.
    log: Option<String>,
}

/// `2026-11-25`, `2026-11-25T10:00:00Z` or with an offset; as UTC, between
/// the years 1970 and 9999 (both databases hold those; chrono reads more).
fn parse_time(name: &str, raw: &str) -> Result<NaiveDateTime, ApiError> {
    let parsed = chrono::DateTime::parse_from_rfc3339(raw)
        .map(|t| t.naive_utc())
        .or_else(|_| {
            chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d")
                .map(|d| d.and_hms_opt(0, 0, 0).expect("midnight exists"))
        });
    match parsed {
        Ok(t) if (1970..=9999).contains(&chrono::Datelike::year(&t)) => Ok(t),
        Ok(_) => Err(ApiError::InvalidRequest(format!(
            "{name} must be between the years 1970 and 9999"
        ))),
        Err(_) => Err(ApiError::InvalidRequest(format!(
            "{name} must be a date (2026-11-25) or an RFC 3339 time (2026-11-25T10:00:00Z)"
        ))),
    }
}

pub async fn events(
    _admin: Admin,
    state: web::Data<AppState>,
    query: web::Query<ExportQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let since = q
        .since
        .as_deref()
        .map(|s| parse_time("since", s))
        .transpose()?;
    let until = q
        .until
        .as_deref()
        .map(|s| parse_time("until", s))
        .transpose()?;
    let format = match q.format.as_deref() {
        None | Some("ndjson") => export::Format::Ndjson,
        Some("csv") => export::Format::Csv,
        Some(other) => {
            return Err(ApiError::InvalidRequest(format!(
                "format '{other}' is ndjson or csv"
            )));
        }
    };
    let log = match q.log.as_deref() {
        None | Some("events") => export::Log::Events,
        Some("outcomes") => export::Log::Outcomes,
        Some(other) => {
            return Err(ApiError::InvalidRequest(format!(
                "log '{other}' is events or outcomes"
            )));
        }
    };
    let body = export::stream(state.db.clone(), log, since, until, format).map(|chunk| {
        chunk.map_err(|e| {
            tracing::error!(error = %e, "the event export stopped");
            actix_web::error::ErrorServiceUnavailable("the export stopped")
        })
    });
    let file = match (log, format) {
        (export::Log::Events, export::Format::Csv) => "events.csv",
        (export::Log::Events, export::Format::Ndjson) => "events.ndjson",
        (export::Log::Outcomes, export::Format::Csv) => "outcomes.csv",
        (export::Log::Outcomes, export::Format::Ndjson) => "outcomes.ndjson",
    };
    Ok(HttpResponse::Ok()
        .content_type(format.content_type())
        .insert_header(attachment(file, None))
        .streaming(body))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResultsQuery {
    version: Option<String>,
    metric: Option<String>,
    min_effect: Option<f64>,
}

/// The smallest relative effect the power figures plan for, by default.
const DEFAULT_MIN_EFFECT: f64 = 0.05;

/// `GET /admin/api/experiments/{experiment_id}/results?version=V&metric=M`
/// (docs/src/analytics.md "Outcomes and experiment results"): the version defaults to
/// the one production serves, the metric to `completed`.
pub async fn results(
    _admin: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
    query: web::Query<ResultsQuery>,
) -> Result<HttpResponse, ApiError> {
    use crate::analytics::outcomes::COMPLETED;
    use crate::analytics::results;
    let experiment = id.into_inner();
    let q = query.into_inner();
    let min_effect = q.min_effect.unwrap_or(DEFAULT_MIN_EFFECT);
    if !(min_effect.is_finite() && min_effect > 0.0 && min_effect <= 10.0) {
        return Err(ApiError::InvalidRequest(
            "min_effect is a relative effect above 0 and at most 10 (0.05 is 5 %)".into(),
        ));
    }
    let version = match q.version {
        Some(v) => v,
        None => state
            .db
            .run(|c| crate::store::channels::get(c, crate::store::channels::Channel::Production))
            .await?
            .map(|row| row.version_id)
            .ok_or_else(|| ApiError::NotFound("production serves no version yet".into()))?,
    };
    known_version(&state, &version).await?;
    let metric_name = q.metric.unwrap_or_else(|| COMPLETED.to_owned());
    let flows = state.onboarding.flows().clone();
    let (lookup, wanted, name) = (version.clone(), experiment.clone(), metric_name.clone());
    let (found, fresh) = state
        .db
        .run(move |c| {
            let pending = crate::analytics::outcomes::pending(c)?;
            let (found, mut fresh) = analytics::with_freshness(c, |c| {
                results::load(c, &flows, &lookup, &wanted, &name, min_effect)
            })?;
            fresh.pending_events += pending;
            Ok((found, fresh))
        })
        .await?;
    let results = match found {
        results::Found::Results(r) => r,
        results::Found::NoExperiment => {
            return Err(ApiError::NotFound(format!(
                "version {version} has no experiment '{experiment}' (the experiments list gives their ids, step:condition)"
            )));
        }
        results::Found::NoMetric => {
            return Err(ApiError::NotFound(format!(
                "there is no metric '{metric_name}'"
            )));
        }
    };
    Ok(HttpResponse::Ok().json(Fresh {
        figures: results,
        fresh,
    }))
}
