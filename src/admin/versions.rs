//! `/admin/api/versions`: upload, import from the store, list, show, download.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;
use validator::Validate;

use super::auth::Admin;
use crate::auth::Role;
use crate::boundary::Json;
use crate::boundary::upload::{read_upload, too_large};
use crate::catalog::{load, serve_workbook};
use crate::error::ApiError;
use crate::master_data::import::Outcome;
use crate::state::AppState;
use crate::store::versions;

/// A misspelt parameter (`chanel=staging`) is refused, not ignored.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadQuery {
    file_name: Option<String>,
}

fn respond(outcome: Outcome) -> Result<HttpResponse, ApiError> {
    match outcome {
        Outcome::Created { version, report } => {
            Ok(HttpResponse::Created().json(json!({"version": version, "report": report})))
        }
        Outcome::Existing { version, report } => {
            Ok(HttpResponse::Ok().json(json!({"version": version, "report": report})))
        }
        Outcome::Invalid { report } => Err(ApiError::InvalidWorkbook(Box::new(report))),
    }
}

pub async fn upload(
    admin: Admin,
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
    query: web::Query<UploadQuery>,
) -> Result<HttpResponse, ApiError> {
    let who = admin.require(Role::Operator)?;
    let upload = read_upload(
        &req,
        payload,
        state.settings.max_upload_bytes,
        query.into_inner().file_name,
    )
    .await?;
    respond(
        state
            .importer
            .import(upload.bytes, upload.name, &who.name)
            .await?,
    )
}

#[derive(Deserialize, Validate)]
pub struct ImportRequest {
    #[validate(length(min = 7, max = 1024), custom(function = "under_inbox"))]
    key: String,
}

fn under_inbox(key: &str) -> Result<(), validator::ValidationError> {
    if key.starts_with("inbox/") && crate::storage::check_key(key).is_ok() {
        Ok(())
    } else {
        Err(validator::ValidationError::new("key").with_message(
            "only keys under inbox/ can be imported, like inbox/onboarding.xlsx".into(),
        ))
    }
}

pub async fn import_key(
    admin: Admin,
    state: web::Data<AppState>,
    body: Json<ImportRequest>,
) -> Result<HttpResponse, ApiError> {
    let who = admin.require(Role::Operator)?;
    body.validate()
        .map_err(|e| ApiError::InvalidRequest(format!("invalid key: {e}")))?;
    let key = body.into_inner().key;
    let limit = state.settings.max_upload_bytes;
    let bytes = match state.storage.get_limited(&key, limit as u64).await {
        Ok(Some(bytes)) => bytes,
        Ok(None) => {
            return Err(ApiError::NotFound(format!(
                "the store has no object at '{key}'"
            )));
        }
        Err(crate::storage::StorageError::TooLarge { .. }) => return Err(too_large(limit)),
        Err(e) => return Err(e.into()),
    };
    let name = key.rsplit('/').next().map(str::to_owned);
    respond(state.importer.import(bytes, name, &who.name).await?)
}

pub async fn list(_admin: Admin, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let rows = state.db.run(versions::list).await?;
    Ok(HttpResponse::Ok().json(json!({"versions": rows})))
}

pub async fn show(
    _admin: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (version, flow) = load(&state, &id).await?;
    let report = &version.report.0;
    Ok(HttpResponse::Ok().json(json!({
        "version": version,
        "steps": flow.steps,
        "scenes": flow.scenes,
        "choices": flow.choices,
        "report": report,
    })))
}

pub async fn workbook(
    _admin: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    serve_workbook(&state, &id).await
}
