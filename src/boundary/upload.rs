//! A workbook upload as both admin faces read it (the JSON API's raw or
//! multipart body, the dashboard's form), and downloads as attachments: the
//! same limits and refusals on both (docs/src/operations.md "Limits").

use actix_web::http::header::{
    Charset, ContentDisposition, DispositionParam, DispositionType, ExtendedValue,
};
use actix_web::{HttpRequest, web};
use futures_util::StreamExt;

use crate::error::ApiError;
use crate::master_data::Report;
use crate::store::channels::Channel;

/// 422 `invalid_workbook`: the upload is over `limit` bytes.
pub fn too_large(limit: usize) -> ApiError {
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
/// it here, so they refuse the same way (docs/src/operations.md: limits).
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
                    super::refuse_nul("the file name", name)?;
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

/// `?channel=`: production when absent, else staging or production; the API
/// and the dashboard both read it here.
pub fn channel_param(raw: Option<&str>) -> Result<Channel, ApiError> {
    match raw {
        None => Ok(Channel::Production),
        Some(name) => Channel::parse(name)
            .ok_or_else(|| ApiError::InvalidRequest("channel is staging or production".into())),
    }
}
