//! Versions and channels as both admin faces (the JSON API and the
//! dashboard) read them: a version by id (404 `not_found` the same way on
//! both), with its flow, its original file, and the channel overview.

use actix_web::HttpResponse;
use serde::Serialize;

use crate::alerts::Severity;
use crate::boundary::upload::attachment;
use crate::error::ApiError;
use crate::flow::FlowDef;
use crate::state::AppState;
use crate::store::channels::{self, ApprovalRow, ChannelRow};
use crate::store::versions::{self, VersionRow};
use crate::words::AlertKind;

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

/// The original file of a version, as an attachment.
pub async fn serve_workbook(state: &AppState, id: &str) -> Result<HttpResponse, ApiError> {
    let version = find(state, id).await?;
    let bytes = state.storage.get(&version.store_key).await?.ok_or_else(|| {
        tracing::error!(version = %version.id, key = %version.store_key, "stored workbook is missing");
        ApiError::NotFound(format!("the original file of version '{id}' is missing from the store"))
    })?;
    // The key names the version's SHA-256; a file that no longer hashes to
    // it (replaced or damaged in the store) is never served as the version.
    let found = crate::auth::sha256_hex(&bytes);
    if found != version.sha256 {
        tracing::error!(version = %version.id, key = %version.store_key, %found, "stored workbook does not match its version");
        state.alerts.send(
            Severity::Critical,
            AlertKind::StoredFileMismatch,
            format!(
                "the stored file of version {} ({}) hashes to {found}, not to the version's {}; it is not served",
                version.id, version.store_key, version.sha256
            ),
        );
        return Err(ApiError::StoredFileMismatch(version.id));
    }
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

/// A channel with its version, since when, by whom, and that version's approval.
#[derive(Serialize)]
pub struct ChannelState {
    #[serde(flatten)]
    pub pointer: ChannelRow,
    pub approval: Option<ApprovalRow>,
}

/// Each channel, plus what a production rollback would go back to.
#[derive(Serialize)]
pub struct Overview {
    pub channels: Vec<ChannelState>,
    pub production_rollback_to: Option<String>,
}

/// The channel overview the JSON API returns and the dashboard shows.
pub async fn overview(state: &AppState) -> Result<Overview, ApiError> {
    let (rows, approvals, previous) = state
        .db
        .run(|c| {
            Ok((
                channels::list(c)?,
                channels::approvals(c)?,
                channels::previous(c, channels::Channel::Production)?,
            ))
        })
        .await?;
    let channels = rows
        .into_iter()
        .map(|pointer| ChannelState {
            approval: approvals
                .iter()
                .find(|a| a.version_id == pointer.version_id)
                .cloned(),
            pointer,
        })
        .collect();
    Ok(Overview {
        channels,
        production_rollback_to: previous,
    })
}
