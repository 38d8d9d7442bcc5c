//! `/v1/onboarding/bundle`: the signed flow bundle for offline play
//! (README, "Offline onboarding").

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

use super::auth::MobileUser;
use crate::error::{ApiError, ErrorBody};
use crate::offline::{self, BundleKey};
use crate::startup::AppState;

/// Per user (assignments), so private; a stale copy is fine during an
/// outage, which is what the bundle is for.
const CACHE_CONTROL: &str = "private, max-age=300, stale-if-error=604800";

/// The user's channel version as one signed document, with `ETag`.
#[utoipa::path(
    get,
    path = "/v1/onboarding/bundle",
    responses(
        (status = 200, description = "{\"payload\": \"<bundle JSON>\", \"signature\": {\"alg\": \"Ed25519\", \"key_id\", \"public_key\", \"value\"}}"),
        (status = 304, description = "If-None-Match names the current ETag"),
        (status = 401, description = "unauthorized", body = ErrorBody),
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
