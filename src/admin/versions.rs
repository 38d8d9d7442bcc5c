//! `/admin/api/versions`: upload, import from the store, list, show, download.

use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::json;
use validator::Validate;

use super::auth::Admin;
use crate::auth::Role;
use crate::error::ApiError;
use crate::master_data::Report;
use crate::master_data::import::Outcome;
use crate::startup::AppState;
use crate::store::versions;

#[derive(Deserialize)]
pub struct UploadQuery {
    file_name: Option<String>,
}

fn too_large(limit: usize) -> ApiError {
    ApiError::InvalidWorkbook(Box::new(Report::unreadable(format!(
        "The file cannot be read: it is larger than the upload limit of {} MB. Remove unused sheets, images and formatting, or split the flow.",
        limit / (1024 * 1024)
    ))))
}

async fn read_limited<S, E>(mut stream: S, limit: usize) -> Result<Vec<u8>, ApiError>
where
    S: futures_util::Stream<Item = Result<web::Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let mut body = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk
            .map_err(|e| ApiError::InvalidRequest(format!("the upload was interrupted: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(too_large(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The workbook from a multipart form (field `workbook`) or the raw body.
async fn read_workbook(
    req: &HttpRequest,
    payload: web::Payload,
    limit: usize,
    query_name: Option<String>,
) -> Result<(Vec<u8>, Option<String>), ApiError> {
    let is_multipart = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"));
    if !is_multipart {
        return Ok((read_limited(payload, limit).await?, query_name));
    }
    let mut form = actix_multipart::Multipart::new(req.headers(), payload);
    while let Some(field) = form.next().await {
        let field = field.map_err(|e| {
            ApiError::InvalidRequest(format!("the multipart body is malformed: {e}"))
        })?;
        if field.name() == Some("workbook") {
            let name = field
                .content_disposition()
                .and_then(|d| d.get_filename())
                .map(str::to_owned)
                .or(query_name);
            if let Some(name) = &name {
                crate::boundary::refuse_nul("the file name", name)?;
            }
            return Ok((read_limited(field, limit).await?, name));
        }
    }
    Err(ApiError::InvalidRequest(
        "the multipart body has no field named workbook".into(),
    ))
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
    let (bytes, name) = read_workbook(
        &req,
        payload,
        state.settings.max_upload_bytes,
        query.into_inner().file_name,
    )
    .await?;
    respond(state.importer.import(bytes, name, &who.name).await?)
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
    body: web::Json<ImportRequest>,
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

fn not_found(id: &str) -> ApiError {
    ApiError::NotFound(format!("there is no version '{id}'"))
}

pub async fn show(
    _admin: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let lookup = id.clone();
    let found = state
        .db
        .run(move |c| match versions::find(c, &lookup)? {
            Some(v) => Ok(Some((versions::load_flow(c, &v.id)?, v))),
            None => Ok(None),
        })
        .await?;
    let (flow, version) = found.ok_or_else(|| not_found(&id))?;
    let report = version.report()?;
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

/// The original file of a version, as an attachment.
pub async fn serve_workbook(state: &AppState, id: &str) -> Result<HttpResponse, ApiError> {
    let lookup = id.to_owned();
    let version = state
        .db
        .run(move |c| versions::find(c, &lookup))
        .await?
        .ok_or_else(|| not_found(id))?;
    let bytes = state.storage.get(&version.store_key).await?.ok_or_else(|| {
        tracing::error!(version = %version.id, key = %version.store_key, "stored workbook is missing");
        ApiError::NotFound(format!("the original file of version '{id}' is missing from the store"))
    })?;
    let format = crate::master_data::Format::parse(&version.format)
        .unwrap_or(crate::master_data::Format::Xlsx);
    let name = version
        .file_name
        .clone()
        .unwrap_or_else(|| format!("{}.{}", version.id, version.format));
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    Ok(HttpResponse::Ok()
        .content_type(format.content_type())
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"{ascii}\""),
        ))
        .body(bytes))
}
