//! `POST /v1/events`: outcome events from the app, for the user of the
//! token (docs/src/analytics.md "Outcomes and experiment results").

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use utoipa::ToSchema;

use super::auth::MobileUser;
use crate::analytics::ingest::{self, EventBody};
use crate::boundary::Json;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use crate::words::OutcomeSource;

/// One outcome event of the app's user.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct AppEvent {
    /// The app's id for the event (1–128 characters); the same id again is
    /// a duplicate and stores nothing.
    #[schema(min_length = 1, max_length = 128)]
    id: String,
    /// `[a-z0-9_]{1,64}`, e.g. `subscribed`, `purchase`, `opened_day_7`.
    #[schema(pattern = "^[a-z0-9_]{1,64}$")]
    name: String,
    /// A number from −10¹² to 10¹² (a purchase's amount); default 1.
    #[schema(minimum = -1e12, maximum = 1e12)]
    value: Option<f64>,
    /// RFC 3339 with an offset, not before 2000 nor more than 5 minutes
    /// ahead; default the time of receipt. (The pattern is narrower than
    /// what is taken: years 2000–2025, days 01–28.)
    #[schema(
        pattern = r"^20[0-2][0-5]-(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,6})?(?:Z|[+-](?:0[0-9]|1[0-3]):[0-5][0-9])$"
    )]
    time: Option<String>,
}

/// Up to 100 events.
#[derive(Deserialize, ToSchema)]
pub struct EventsRequest {
    #[schema(value_type = Vec<AppEvent>, max_items = 100)]
    pub events: Vec<EventBody>,
}

/// What a batch did.
#[derive(serde::Serialize, ToSchema)]
pub struct EventsAccepted {
    /// Events stored.
    pub accepted: usize,
    /// Events whose id this user had sent before (stored nothing).
    pub duplicates: usize,
}

/// Store outcome events, all or none, and say how many were new.
pub async fn store(
    state: &AppState,
    rows: Vec<crate::store::outcomes::NewOutcome>,
) -> Result<EventsAccepted, ApiError> {
    let total = rows.len();
    let accepted = state
        .db
        .run(move |c| {
            use diesel::Connection;
            c.transaction(|c| crate::store::outcomes::insert(c, &rows))
        })
        .await?;
    Ok(EventsAccepted {
        accepted,
        duplicates: total - accepted,
    })
}

/// Record outcome events of the token's user (after a purchase, a
/// subscription, a day-7 open); they count for the experiments the user
/// is exposed to, from the first exposure, in each metric's window.
#[utoipa::path(
    post,
    path = "/v1/events",
    request_body = EventsRequest,
    responses(
        (status = 200, description = "Stored; a retry of the same ids gets them as duplicates", body = EventsAccepted),
        (status = 400, description = "invalid_request (details: index, the first bad event; nothing stored)", body = ErrorBody),
        (status = 401, description = "unauthorized", body = ErrorBody),
        (status = 429, description = "too_many_connections (Retry-After)", body = ErrorBody),
        (status = 503, description = "storage_unavailable", body = ErrorBody),
    )
)]
pub async fn record(
    user: MobileUser,
    state: web::Data<AppState>,
    body: Json<EventsRequest>,
) -> Result<HttpResponse, ApiError> {
    let rows = ingest::check(
        body.into_inner().events,
        Some(&user.0),
        OutcomeSource::App,
        crate::store::now(),
    )?;
    Ok(HttpResponse::Ok().json(store(&state, rows).await?))
}
