//! `/v1/onboarding/bundle` (the signed flow bundle for offline play) and
//! `/v1/onboarding/sync` (a run played offline): docs/src/offline.md.

use crate::flow::values;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::NaiveDateTime;
use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::auth::MobileUser;
use super::onboarding::accept_language;
use crate::boundary::Json;
use crate::error::{ApiError, ErrorBody};
use crate::flow::locale::Wanted;
use crate::offline::sync::{SyncAnswer, SyncRequest};
use crate::offline::{self, BundleKey};
use crate::onboarding::check_attributes;
use crate::state::AppState;

/// Per user (assignments), so private; a stale copy is fine during an
/// outage, which is what the bundle is for.
const CACHE_CONTROL: &str = "private, max-age=300, stale-if-error=604800";

/// The user's channel version as one signed document, with `ETag`.
#[utoipa::path(
    get,
    path = "/v1/onboarding/bundle",
    responses(
        (status = 200, description = "{\"payload\": \"<bundle JSON>\", \"signature\": {\"alg\": \"Ed25519\", \"key_id\", \"public_key\", \"value\"}}; the payload's fields, texts in every language included: docs/src/offline.md \"The bundle\", \"Languages offline\""),
        (status = 304, description = "If-None-Match names the current ETag"),
        (status = 401, description = "unauthorized", body = ErrorBody),
        (status = 429, description = "too_many_connections (this client has more connections open than it may use; Retry-After)", body = ErrorBody),
        (status = 503, description = "flow_unavailable, storage_unavailable", body = ErrorBody),
    )
)]
pub async fn bundle(
    user: MobileUser,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let key = BundleKey::from_seed(&state.settings.bundle_seed());
    let signed = offline::bundle(&state.db, state.onboarding.flows(), &key, user.0).await?;
    let unchanged = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| offline::not_modified(v, &signed.etag));
    let outcome = if unchanged { "not_modified" } else { "full" };
    state.metrics.bundles.with_label_values(&[outcome]).inc();
    let mut response = if unchanged {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header((header::ETAG, signed.etag))
        .insert_header((header::CACHE_CONTROL, CACHE_CONTROL))
        .insert_header((header::VARY, "Authorization"));
    Ok(if unchanged {
        response.finish()
    } else {
        response.json(signed.envelope)
    })
}

#[derive(Deserialize, ToSchema)]
pub struct SyncAnswerBody {
    pub scene_key: String,
    #[serde(default)]
    #[schema(value_type = crate::flow::schema::Answer)]
    pub answer: Value,
    /// RFC 3339, when the user answered.
    #[schema(format = DateTime)]
    pub answered_at: String,
}

#[derive(Deserialize, ToSchema)]
pub struct SyncBody {
    /// The app's id for this offline run (1–200 characters); a retry sends the same.
    #[schema(min_length = 1, max_length = 200)]
    pub sync_id: String,
    /// The bundle's version.
    pub version: String,
    /// RFC 3339, when the run started.
    #[schema(format = DateTime)]
    pub started_at: String,
    #[serde(default)]
    #[schema(value_type = crate::flow::schema::Attributes)]
    pub attributes: Map<String, Value>,
    /// The preferred languages the app played with, best first (at most
    /// 32), as `player.syncRequest` sends them; absent: the request's
    /// `Accept-Language`. The stored states are in the language negotiated
    /// from them, as online (docs/src/offline.md "Languages offline").
    #[serde(default)]
    #[schema(max_items = 32)]
    pub languages: Option<Vec<String>>,
    /// At most 1,000, in the order answered; times never go back.
    #[schema(max_items = 1000)]
    pub answers: Vec<SyncAnswerBody>,
}

/// Most preferred languages a sync may name (as many as `Accept-Language`
/// is read for).
const MAX_SYNC_LANGUAGES: usize = 32;
/// Most answers one sync may carry; far more than any flow asks.
const MAX_SYNC_ANSWERS: usize = 1000;
/// How far ahead of the server's clock an app's times may be.
const CLOCK_SKEW_SECS: i64 = 300;

/// The earliest time a run may claim (docs/src/offline.md "Sync"): older is no clock's
/// reading, and warehouses (Parquet readers, BigQuery) refuse years before 1.
const EARLIEST_YEAR: i32 = 2000;

fn time(raw: &str, what: &str) -> Result<NaiveDateTime, ApiError> {
    use chrono::Datelike;
    let t = chrono::DateTime::parse_from_rfc3339(raw)
        .map(|t| t.naive_utc())
        .map_err(|_| ApiError::InvalidRequest(format!("{what} must be an RFC 3339 time")))?;
    if t.year() < EARLIEST_YEAR {
        return Err(ApiError::InvalidRequest(format!(
            "{what} {raw} is before {EARLIEST_YEAR}: not a plausible time"
        )));
    }
    Ok(t)
}

fn check(body: SyncBody, accept: Wanted) -> Result<SyncRequest, ApiError> {
    // The digest of the request as spelled, as syncs stored before retries
    // were recognised by value kept it.
    let legacy_digest = crate::auth::sha256_hex(
        serde_json::json!({"sync_id": body.sync_id, "version": body.version,
            "started_at": body.started_at, "attributes": body.attributes,
            "answers": body.answers.iter().map(|a| serde_json::json!(
                {"scene_key": a.scene_key, "answer": a.answer, "answered_at": a.answered_at}
            )).collect::<Vec<_>>()})
        .to_string()
        .as_bytes(),
    );
    if body.sync_id.is_empty() || body.sync_id.chars().count() > 200 {
        return Err(ApiError::InvalidRequest(
            "sync_id must be 1 to 200 characters".into(),
        ));
    }
    if body.answers.len() > MAX_SYNC_ANSWERS {
        return Err(ApiError::InvalidRequest(format!(
            "at most {MAX_SYNC_ANSWERS} answers per sync"
        )));
    }
    check_attributes(&body.attributes)?;
    let languages = match &body.languages {
        Some(list) if list.len() > MAX_SYNC_LANGUAGES => {
            return Err(ApiError::InvalidRequest(format!(
                "at most {MAX_SYNC_LANGUAGES} languages per sync"
            )));
        }
        Some(list) => Wanted::from_list(list),
        None => accept,
    };
    let started_at = time(&body.started_at, "started_at")?;
    let latest = crate::store::now() + chrono::Duration::seconds(CLOCK_SKEW_SECS);
    let mut previous = started_at;
    let mut answers = Vec::with_capacity(body.answers.len());
    for a in body.answers {
        let answered_at = time(&a.answered_at, "answered_at")?;
        if answered_at < previous {
            return Err(ApiError::InvalidRequest(
                "answered_at must not go back in time, nor before started_at".into(),
            ));
        }
        previous = answered_at;
        answers.push(SyncAnswer {
            scene_key: a.scene_key,
            answer: a.answer,
            answered_at,
        });
    }
    if previous > latest {
        return Err(ApiError::InvalidRequest(
            "the run's times are in the future".into(),
        ));
    }
    // What makes a retry the same request: its values, not their spelling
    // (`1994.0` is `1994`, times in any offset are one instant).
    let attributes: crate::flow::Attributes = body.attributes.into_iter().collect();
    let digest = crate::auth::sha256_hex(
        serde_json::json!({"sync_id": body.sync_id, "version": body.version,
            "started_at": started_at.and_utc().to_rfc3339(),
            "attributes": values::canonical(&serde_json::json!(attributes)),
            "answers": answers.iter().map(|a| serde_json::json!(
                {"scene_key": a.scene_key, "answer": values::canonical(&a.answer),
                 "answered_at": a.answered_at.and_utc().to_rfc3339()}
            )).collect::<Vec<_>>()})
        .to_string()
        .as_bytes(),
    );
    Ok(SyncRequest {
        sync_id: body.sync_id,
        version: body.version,
        started_at,
        attributes,
        languages,
        answers,
        digest,
        legacy_digest,
    })
}

/// Store a run played offline, replayed through the engine on its version.
#[utoipa::path(
    post,
    path = "/v1/onboarding/sync",
    request_body = SyncBody,
    responses(
        (status = 200, description = "{\"outcome\": \"accepted\" | \"online_kept\", \"state\": State}; a retry gets the same"),
        (status = 400, description = "invalid_request (also: started_at before 2000, or more than a day before the version was uploaded)", body = ErrorBody),
        (status = 401, description = "unauthorized", body = ErrorBody),
        (status = 429, description = "too_many_connections (this client has more connections open than it may use; Retry-After)", body = ErrorBody),
        (status = 409, description = "sync_id_reused", body = ErrorBody),
        (status = 422, description = "sync_refused (details: the first inconsistent answer), unknown_version, version_not_served (a version the user's channel never served)", body = ErrorBody),
        (status = 503, description = "storage_unavailable", body = ErrorBody),
    )
)]
pub async fn sync(
    user: MobileUser,
    req: HttpRequest,
    state: web::Data<AppState>,
    body: Json<SyncBody>,
) -> Result<HttpResponse, ApiError> {
    let request = check(body.into_inner(), accept_language(&req))?;
    let result = offline::sync::sync(&state.db, state.onboarding.flows(), user.0, request).await;
    let outcome = match &result {
        Ok(synced) => synced.outcome.as_str(),
        Err(crate::offline::OfflineError::Refused(_)) => "refused",
        Err(_) => "error",
    };
    if outcome != "error" {
        state.metrics.syncs.with_label_values(&[outcome]).inc();
    }
    Ok(HttpResponse::Ok().json(result?.body))
}
