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
    /// Production only: below 100, a staged rollout (README "Staged
    /// rollouts and rescue").
    rollout_percent: Option<f64>,
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
        (Channel::Staging, Some(_)) => Err(ApiError::InvalidRequest(
            "rollout_percent is for production only: staging serves one version to every tester"
                .into(),
        )),
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
