//! `/admin/api/channels` and approval: deploy, approve, publish, rollback.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::auth::Admin;
use crate::boundary::Json;
use crate::catalog::overview;
use crate::error::ApiError;
use crate::release::Action;
use crate::state::AppState;
use crate::store::channels::Channel;

#[derive(Deserialize)]
pub struct PointRequest {
    version: String,
    /// Production only: below 100, a staged rollout (docs/src/rollouts.md).
    /// `null` is refused, not read as absent: a client that sends an unset
    /// share must not publish to everybody.
    #[serde(default, deserialize_with = "present")]
    rollout_percent: Option<f64>,
}

/// A member that, when present, must hold a value: `null` is refused.
fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}

#[derive(Deserialize)]
pub struct WidenRequest {
    percent: f64,
}

pub async fn list(_admin: Admin, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(overview(&state).await?))
}

pub async fn put(
    admin: Admin,
    state: web::Data<AppState>,
    name: web::Path<String>,
    body: Json<PointRequest>,
) -> Result<HttpResponse, ApiError> {
    let PointRequest {
        version,
        rollout_percent,
    } = body.into_inner();
    let channel = Channel::parse(&name).ok_or_else(|| {
        ApiError::NotFound(format!(
            "there is no channel '{name}': use staging or production"
        ))
    })?;
    let who = admin.require(Action::pointing(channel).required_role())?;
    match (channel, rollout_percent) {
        (Channel::Production, Some(percent)) if percent < 100.0 => {
            let rollout = state
                .releases
                .roll_out(&version, percent, &who.name)
                .await?;
            Ok(HttpResponse::Ok().json(json!({"rollout": rollout})))
        }
        (Channel::Staging, Some(_)) => Err(crate::release::ReleaseError::StagingRollout.into()),
        _ => {
            if let Some(p) = rollout_percent {
                crate::release::rollout::check_percent(p)?;
            }
            let change = state.releases.point(channel, &version, &who.name).await?;
            Ok(HttpResponse::Ok().json(json!({"change": change})))
        }
    }
}

/// `GET /admin/api/channels/production/rollout`: the running rollout, else
/// the newest; 404 when none ever ran.
pub async fn rollout(_admin: Admin, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    match state.releases.rollout().await {
        Ok(view) => Ok(HttpResponse::Ok().json(view)),
        Err(crate::release::ReleaseError::NoRollout) => Err(ApiError::NotFound(
            "no rollout ever ran on production: PUT /admin/api/channels/production with rollout_percent begins one".into(),
        )),
        Err(e) => Err(e.into()),
    }
}

/// `PATCH /admin/api/channels/production/rollout` `{"percent": P}`.
pub async fn widen(
    admin: Admin,
    state: web::Data<AppState>,
    body: Json<WidenRequest>,
) -> Result<HttpResponse, ApiError> {
    let who = admin.require(Action::Publish.required_role())?;
    let view = state
        .releases
        .widen(body.into_inner().percent, &who.name)
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// `POST /admin/api/channels/production/rollout/check`: judge the
/// guardrails now (as every instance does on its timer) and act on a breach.
pub async fn check(admin: Admin, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    admin.require(Action::Publish.required_role())?;
    state
        .releases
        .check_guardrails(state.settings.rollouts)
        .await?;
    rollout(admin, state).await
}

/// `POST /admin/api/channels/production/rollout/abort`.
pub async fn abort(admin: Admin, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let who = admin.require(Action::Rollback.required_role())?;
    let view = state.releases.abort(&who.name).await?;
    Ok(HttpResponse::Ok().json(view))
}

pub async fn rollback(admin: Admin, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let who = admin.require(Action::Rollback.required_role())?;
    let change = state.releases.rollback(&who.name).await?;
    Ok(HttpResponse::Ok().json(json!({"change": change})))
}

pub async fn approve(
    admin: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let who = admin.require(Action::Approve.required_role())?;
    let approval = state.releases.approve(&id, &who.name).await?;
    Ok(HttpResponse::Ok().json(json!({"approval": approval})))
}

#[derive(Deserialize)]
pub struct RescueRequest {
    to: String,
    /// `production` (default) or `staging`; not `null`.
    #[serde(default, deserialize_with = "present")]
    channel: Option<String>,
    /// Only count (default true: a rescue moves runs when asked to); not `null`.
    #[serde(default, deserialize_with = "present")]
    dry_run: Option<bool>,
}

/// `POST /admin/api/versions/{from}/rescue` `{"to", "channel", "dry_run"}`
/// (docs/src/rollouts.md).
pub async fn rescue(
    admin: Admin,
    state: web::Data<AppState>,
    from: web::Path<String>,
    body: Json<RescueRequest>,
) -> Result<HttpResponse, ApiError> {
    let who = admin.require(Action::Publish.required_role())?;
    let RescueRequest {
        to,
        channel,
        dry_run,
    } = body.into_inner();
    let channel = match channel.as_deref() {
        None => Channel::Production,
        Some(name) => Channel::parse(name).ok_or_else(|| {
            ApiError::InvalidRequest(format!("channel '{name}' is not staging or production"))
        })?,
    };
    let done = state
        .onboarding
        .rescue(
            from.into_inner(),
            to,
            channel,
            dry_run.unwrap_or(true),
            who.name.clone(),
        )
        .await?;
    crate::onboarding::rescue::announce(&state.alerts, &who.name, &done);
    Ok(HttpResponse::Ok().json(done))
}

/// `GET /admin/api/incidents`: every automatic rollback and rescue, newest
/// first, each with its record ready to paste as Markdown.
pub async fn incidents(
    _admin: Admin,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let rows = state
        .db
        .run(|c| crate::store::rollouts::incidents(c, 200))
        .await?;
    let list: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            let mut v = serde_json::to_value(r).unwrap_or_default();
            v["markdown"] = serde_json::Value::String(crate::release::incident::markdown(r));
            v
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({"incidents": list})))
}
