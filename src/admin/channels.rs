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
    let version = body.into_inner().version;
    let channel = Channel::parse(&name).ok_or_else(|| {
        ApiError::NotFound(format!(
            "there is no channel '{name}': use staging or production"
        ))
    })?;
    let who = admin.require(Action::pointing(channel).required_role())?;
    let change = state.releases.point(channel, &version, &who.name).await?;
    Ok(HttpResponse::Ok().json(json!({"change": change})))
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
