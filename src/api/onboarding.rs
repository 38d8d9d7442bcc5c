//! `/v1/onboarding`: start, current, answers.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::auth::MobileUser;
use crate::boundary::Json;
use crate::error::{ApiError, ErrorBody};
use crate::flow::locale::Wanted;
use crate::flow::view::State;
use crate::state::AppState;

#[derive(Deserialize, ToSchema)]
pub struct StartRequest {
    /// The user's attributes: install_source, campaign, gender, birth_year,
    /// platform, app_version, locale, nickname, subscription (others are kept too).
    #[serde(default)]
    #[schema(value_type = crate::flow::schema::Attributes)]
    pub attributes: Map<String, Value>,
}

#[derive(Deserialize, ToSchema)]
pub struct AnswerRequest {
    /// The `scene.id` of the state being answered.
    #[schema(min_length = 1, max_length = 200)]
    pub scene_id: String,
    /// null (none), a choice key (choice), a list of keys (multi_choice),
    /// a string (text), a number (number) or "YYYY-MM-DD" (date).
    #[serde(default)]
    #[schema(value_type = crate::flow::schema::Answer)]
    pub answer: Value,
}

/// The languages a request asks for in `Accept-Language` (docs/src/mobile-api.md "Languages").
/// Several header fields are one comma-separated list (RFC 9110 §5.3).
pub fn accept_language(req: &HttpRequest) -> Wanted {
    let fields: Vec<&str> = req
        .headers()
        .get_all(actix_web::http::header::ACCEPT_LANGUAGE)
        .filter_map(|v| v.to_str().ok())
        .collect();
    let list = fields.join(",");
    if list.len() > 1024 {
        return Wanted::default();
    }
    Wanted::from_accept_language(&list)
}

/// Start onboarding, or get the run already started.
#[utoipa::path(
    post,
    path = "/v1/onboarding/start",
    params(("Accept-Language" = Option<String>, Header, description = "Languages the user reads, with q-values; used when the run has no locale attribute (docs/src/mobile-api.md \"Languages\")")),
    request_body = StartRequest,
    responses(
        (status = 200, description = "The run's state", body = State),
        (status = 400, description = "invalid_request", body = ErrorBody),
        (status = 401, description = "unauthorized", body = ErrorBody),
        (status = 429, description = "too_many_connections (this client has more connections open than it may use; Retry-After)", body = ErrorBody),
        (status = 503, description = "flow_unavailable, storage_unavailable", body = ErrorBody),
    )
)]
pub async fn start(
    req: HttpRequest,
    user: MobileUser,
    state: web::Data<AppState>,
    body: Json<StartRequest>,
) -> Result<HttpResponse, ApiError> {
    let attributes = body.into_inner().attributes;
    crate::onboarding::check_attributes(&attributes)?;
    let run = state
        .onboarding
        .start(
            user.0,
            attributes.into_iter().collect(),
            accept_language(&req),
        )
        .await?;
    Ok(HttpResponse::Ok().json(run))
}

/// The current state of the user's run.
#[utoipa::path(
    get,
    path = "/v1/onboarding/current",
    params(("Accept-Language" = Option<String>, Header, description = "Languages the user reads, with q-values; used when the run has no locale attribute (docs/src/mobile-api.md \"Languages\")")),
    responses(
        (status = 200, description = "The run's state", body = State),
        (status = 401, description = "unauthorized", body = ErrorBody),
        (status = 429, description = "too_many_connections (this client has more connections open than it may use; Retry-After)", body = ErrorBody),
        (status = 404, description = "not_started", body = ErrorBody),
        (status = 503, description = "storage_unavailable", body = ErrorBody),
    )
)]
pub async fn current(
    req: HttpRequest,
    user: MobileUser,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let accept = accept_language(&req);
    Ok(HttpResponse::Ok().json(state.onboarding.current(user.0, accept).await?))
}

/// Answer the current scene; a retry of the same answer returns the same state.
#[utoipa::path(
    post,
    path = "/v1/onboarding/answers",
    params(("Accept-Language" = Option<String>, Header, description = "Languages the user reads, with q-values; used when the run has no locale attribute (docs/src/mobile-api.md \"Languages\")")),
    request_body = AnswerRequest,
    responses(
        (status = 200, description = "The next state", body = State),
        (status = 400, description = "invalid_request", body = ErrorBody),
        (status = 401, description = "unauthorized", body = ErrorBody),
        (status = 429, description = "too_many_connections (this client has more connections open than it may use; Retry-After)", body = ErrorBody),
        (status = 404, description = "not_started", body = ErrorBody),
        (status = 409, description = "scene_mismatch, already_answered, already_completed", body = ErrorBody),
        (status = 422, description = "invalid_answer", body = ErrorBody),
        (status = 503, description = "storage_unavailable", body = ErrorBody),
    )
)]
pub async fn answer(
    req: HttpRequest,
    user: MobileUser,
    state: web::Data<AppState>,
    body: Json<AnswerRequest>,
) -> Result<HttpResponse, ApiError> {
    let AnswerRequest { scene_id, answer } = body.into_inner();
    check_scene_id(&scene_id, "the scene being answered")?;
    let accept = accept_language(&req);
    Ok(HttpResponse::Ok().json(
        state
            .onboarding
            .answer(user.0, scene_id, answer, accept)
            .await?,
    ))
}

/// A scene id as the server hands them out: not empty, at most 200 bytes.
fn check_scene_id(scene_id: &str, which: &str) -> Result<(), ApiError> {
    if scene_id.is_empty() || scene_id.len() > 200 {
        return Err(ApiError::InvalidRequest(format!(
            "scene_id must be the id of {which}"
        )));
    }
    Ok(())
}

#[derive(Deserialize, ToSchema)]
pub struct BackRequest {
    /// The `scene.id` of the state the user is on.
    #[schema(min_length = 1, max_length = 200)]
    pub scene_id: String,
}

/// Go back to the previous answered scene (scenes with input `none` are
/// passed over) to change its answer: it is shown again with a new id and
/// the earlier answer in `input.previous`; the answers from it on are
/// withdrawn. A repeated back returns the same state (docs/src/mobile-api.md "Going back").
#[utoipa::path(
    post,
    path = "/v1/onboarding/back",
    params(("Accept-Language" = Option<String>, Header, description = "Languages the user reads, with q-values; used when the run has no locale attribute (docs/src/mobile-api.md \"Languages\")")),
    request_body = BackRequest,
    responses(
        (status = 200, description = "The state at the scene gone back to", body = State),
        (status = 400, description = "invalid_request", body = ErrorBody),
        (status = 401, description = "unauthorized", body = ErrorBody),
        (status = 429, description = "too_many_connections (this client has more connections open than it may use; Retry-After)", body = ErrorBody),
        (status = 404, description = "not_started", body = ErrorBody),
        (status = 409, description = "scene_mismatch, already_completed, back_not_allowed, nothing_to_go_back_to", body = ErrorBody),
        (status = 503, description = "storage_unavailable", body = ErrorBody),
    )
)]
pub async fn back(
    req: HttpRequest,
    user: MobileUser,
    state: web::Data<AppState>,
    body: Json<BackRequest>,
) -> Result<HttpResponse, ApiError> {
    let BackRequest { scene_id } = body.into_inner();
    check_scene_id(&scene_id, "the scene the user is on")?;
    let accept = accept_language(&req);
    Ok(HttpResponse::Ok().json(state.onboarding.back(user.0, scene_id, accept).await?))
}
