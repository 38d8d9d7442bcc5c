//! `/admin/api/versions`: upload, import from the store, list, show, download.

use actix_web::http::header::{
    Charset, ContentDisposition, DispositionParam, DispositionType, ExtendedValue,
};
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::json;
use validator::Validate;

use super::auth::Admin;
use crate::auth::Role;
use crate::boundary::Json;
use crate::error::ApiError;
use crate::flow::FlowDef;
use crate::master_data::Report;
use crate::master_data::import::Outcome;
use crate::state::AppState;
use crate::store::versions::{self, VersionRow};

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

/// A workbook as uploaded: its bytes, its file name, and the CSRF token of
/// the dashboard's form.
pub struct Upload {
    pub bytes: Vec<u8>,
    pub name: Option<String>,
    /// The `csrf` field when it comes before `workbook` (the dashboard's form
    /// sends it first); empty otherwise.
    pub csrf: String,
}

/// The most a form field other than the workbook may hold.
const SMALL_FIELD: usize = 4096;

/// The workbook from a multipart form (field `workbook`) or the raw body,
/// within `limit`: the JSON API's upload and the dashboard's form both read
/// it here, so they refuse the same way (README, "Operations": limits).
pub async fn read_upload(
    req: &HttpRequest,
    payload: web::Payload,
    limit: usize,
    query_name: Option<String>,
) -> Result<Upload, ApiError> {
    let is_multipart = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"));
    if !is_multipart {
        return Ok(Upload {
            bytes: read_limited(payload, limit).await?,
            name: query_name,
            csrf: String::new(),
        });
    }
    let mut form = actix_multipart::Multipart::new(req.headers(), payload);
    let mut csrf = String::new();
    while let Some(field) = form.next().await {
        let field = field.map_err(|e| {
            ApiError::InvalidRequest(format!("the multipart body is malformed: {e}"))
        })?;
        match field.name() {
            Some("workbook") => {
                let name = field
                    .content_disposition()
                    .and_then(|d| d.get_filename())
                    .map(str::to_owned)
                    .or(query_name);
                if let Some(name) = &name {
                    crate::boundary::refuse_nul("the file name", name)?;
                }
                return Ok(Upload {
                    bytes: read_limited(field, limit).await?,
                    name,
                    csrf,
                });
            }
            Some("csrf") => {
                csrf =
                    String::from_utf8_lossy(&read_limited(field, SMALL_FIELD).await?).into_owned();
            }
            _ => {
                read_limited(field, SMALL_FIELD).await?;
            }
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

fn not_found(id: &str) -> ApiError {
    ApiError::NotFound(format!("there is no version '{id}'"))
}

/// A stored version, or 404 `not_found`: every route that names a version
/// (API and dashboard) looks it up here.
pub async fn find(state: &AppState, id: &str) -> Result<VersionRow, ApiError> {
    let lookup = id.to_owned();
    state
        .db
        .run(move |c| versions::find(c, &lookup))
        .await?
        .ok_or_else(|| not_found(id))
}

/// A stored version with its flow, or 404 `not_found`.
pub async fn load(state: &AppState, id: &str) -> Result<(VersionRow, FlowDef), ApiError> {
    let lookup = id.to_owned();
    state
        .db
        .run(move |c| match versions::find(c, &lookup)? {
            Some(v) => Ok(Some((versions::load_flow(c, &v.id)?, v))),
            None => Ok(None),
        })
        .await?
        .map(|(flow, version)| (version, flow))
        .ok_or_else(|| not_found(id))
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

/// The original file of a version, as an attachment.
pub async fn serve_workbook(state: &AppState, id: &str) -> Result<HttpResponse, ApiError> {
    let version = find(state, id).await?;
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
        .insert_header(attachment(&ascii, Some(&name)))
        .body(bytes))
}

/// `Content-Disposition: attachment` through actix's typed header (RFC 6266):
/// `filename` in ASCII for every client, and, when the name is not ASCII,
/// `filename*` in UTF-8 (RFC 8187) so browsers save the operator's own name.
pub fn attachment(ascii: &str, name: Option<&str>) -> ContentDisposition {
    let mut parameters = vec![DispositionParam::Filename(ascii.to_owned())];
    if let Some(name) = name.filter(|n| !n.is_ascii()) {
        parameters.push(DispositionParam::FilenameExt(ExtendedValue {
            charset: Charset::Ext("UTF-8".into()),
            language_tag: None,
            value: name.as_bytes().to_vec(),
        }));
    }
    ContentDisposition {
        disposition: DispositionType::Attachment,
        parameters,
    }
}
