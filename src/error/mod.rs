//! The API error: one enum, each variant with an HTTP status and a stable
//! snake_case code (docs/src/errors.md). Module errors are converted here,
//! once; internal causes are logged here and never sent to clients.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::{Value, json};

use crate::auth::Role;
use crate::flow::answer::AnswerError;
use crate::master_data::import::ImportError;
use crate::onboarding::OnboardingError;
use crate::release::ReleaseError;
use crate::report::Report;
use crate::storage::StorageError;
use crate::store::StoreError;

/// Seconds a client should wait before retrying when storage is down.
pub const RETRY_AFTER_SECONDS: u32 = 5;

pub mod code;
pub use code::ErrorCode;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    InvalidRequest(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    RequestTimeout(String),
    #[error("{0}")]
    NotAFile(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("this needs the role {needed} or higher; your token has the role {have}")]
    Forbidden { needed: Role, have: Role },
    #[error("{0}")]
    NotFound(String),
    /// A version that may not take a channel's runs (a rescue's `to`).
    #[error("{0}")]
    NotApproved(String),
    /// The built-in metric `completed` cannot be replaced or removed.
    #[error("the metric completed is built in: it cannot be replaced or removed")]
    BuiltInMetric,
    /// A batch of outcome events refused at its first bad event.
    #[error("event {index}: {message}; nothing was stored")]
    InvalidEvent { index: usize, message: String },
    /// A route that exists, called with a method it does not take; the
    /// methods it takes (from the OpenAPI document; empty for a page).
    #[error("{method} is not a method of {path}")]
    MethodNotAllowed {
        method: String,
        path: String,
        allowed: Vec<String>,
    },
    #[error("the workbook has {} error(s); nothing was stored", .0.errors.len())]
    InvalidWorkbook(Box<Report>),
    #[error("no flow is published on the {0} channel")]
    FlowUnavailable(String),
    #[error("this user has not started onboarding: call POST /v1/onboarding/start first")]
    NotStarted,
    #[error("scene_id is not the scene this user is on; fetch GET /v1/onboarding/current")]
    SceneMismatch { current: Option<String> },
    #[error("this scene was already answered with a different answer")]
    AlreadyAnswered,
    #[error("this user's onboarding is already completed")]
    AlreadyCompleted,
    /// The scene key whose `back` column is `no` (docs/src/mobile-api.md "Going back").
    #[error(
        "scene '{0}' cannot be changed any more (its back column is no), so the run cannot go back past it"
    )]
    BackNotAllowed(String),
    #[error("there is no earlier answered scene to go back to")]
    NothingToGoBackTo,
    #[error("the answer does not fit this scene: {0}")]
    InvalidAnswer(AnswerError),
    #[error(
        "the user {0} is not a registered tester; debug calls only touch testers (PUT /debug/testers/{0})"
    )]
    NotATester(String),
    /// A release rule refused the action; its status and code are the
    /// mapping here ([`refusal`]).
    #[error("{0}")]
    Release(ReleaseError),
    /// The name is taken (`user_exists`).
    #[error("{0}")]
    UserExists(String),
    #[error("the database or object store cannot be reached; retry shortly")]
    StorageUnavailable,
    #[error("something went wrong on our side; it has been logged")]
    Internal,
    /// An offline run that does not replay (details: the first inconsistent answer).
    #[error("{0}")]
    SyncRefused(String, Value),
    #[error("this sync_id was already used for a different run; use a new one per run")]
    SyncIdReused,
    #[error("there is no version {0}")]
    UnknownVersion(String),
    /// A sync names a version the user's channel never served.
    #[error(
        "version {version} was never served on the {channel} channel, so no run of this user can be on it; play the version of GET /v1/onboarding/bundle"
    )]
    VersionNotServed { version: String, channel: String },
    /// The store's file of a version no longer hashes to it.
    #[error(
        "the stored file of version {0} does not match the version (the store holds another file); it is not served, and the on-call engineer is alerted"
    )]
    StoredFileMismatch(String),
    /// The client has more connections open than it may use at once.
    #[error(
        "this client has more connections open than it may use at once; reuse one connection (keep-alive) and retry"
    )]
    TooManyConnections,
}

impl ApiError {
    /// The stable code, as the error body spells it.
    pub fn code(&self) -> &'static str {
        self.error_code().as_str()
    }

    pub fn error_code(&self) -> ErrorCode {
        match self {
            ApiError::InvalidRequest(_) => ErrorCode::InvalidRequest,
            ApiError::PayloadTooLarge(_) => ErrorCode::InvalidRequest,
            ApiError::RequestTimeout(_) => ErrorCode::RequestTimeout,
            ApiError::NotAFile(_) => ErrorCode::NotAFile,
            ApiError::Unauthorized(_) => ErrorCode::Unauthorized,
            ApiError::Forbidden { .. } => ErrorCode::Forbidden,
            ApiError::NotFound(_) => ErrorCode::NotFound,
            ApiError::InvalidWorkbook(r) if r.is_unreadable() => ErrorCode::UnreadableWorkbook,
            ApiError::InvalidWorkbook(_) => ErrorCode::InvalidWorkbook,
            ApiError::FlowUnavailable(_) => ErrorCode::FlowUnavailable,
            ApiError::NotStarted => ErrorCode::NotStarted,
            ApiError::SceneMismatch { .. } => ErrorCode::SceneMismatch,
            ApiError::AlreadyAnswered => ErrorCode::AlreadyAnswered,
            ApiError::AlreadyCompleted => ErrorCode::AlreadyCompleted,
            ApiError::BackNotAllowed(_) => ErrorCode::BackNotAllowed,
            ApiError::NothingToGoBackTo => ErrorCode::NothingToGoBackTo,
            ApiError::InvalidAnswer(_) => ErrorCode::InvalidAnswer,
            ApiError::Release(e) => refusal(e).map_or(ErrorCode::Internal, |(_, code)| code),
            ApiError::NotATester(_) => ErrorCode::NotATester,
            ApiError::UserExists(_) => ErrorCode::UserExists,
            ApiError::StorageUnavailable => ErrorCode::StorageUnavailable,
            ApiError::Internal => ErrorCode::Internal,
            ApiError::SyncRefused(..) => ErrorCode::SyncRefused,
            ApiError::SyncIdReused => ErrorCode::SyncIdReused,
            ApiError::UnknownVersion(_) => ErrorCode::UnknownVersion,
            ApiError::VersionNotServed { .. } => ErrorCode::VersionNotServed,
            ApiError::StoredFileMismatch(_) => ErrorCode::StoredFileMismatch,
            ApiError::TooManyConnections => ErrorCode::TooManyConnections,
            ApiError::MethodNotAllowed { .. } => ErrorCode::MethodNotAllowed,
            ApiError::InvalidEvent { .. } => ErrorCode::InvalidRequest,
            ApiError::BuiltInMetric => ErrorCode::BuiltInMetric,
            ApiError::NotApproved(_) => ErrorCode::NotApproved,
        }
    }

    fn details(&self) -> Value {
        match self {
            ApiError::Forbidden { needed, have } => json!({"needed_role": needed, "role": have}),
            ApiError::InvalidWorkbook(r) => {
                json!({"errors": r.errors.len(), "warnings": r.warnings.len()})
            }
            ApiError::FlowUnavailable(channel) => json!({"channel": channel}),
            ApiError::SceneMismatch { current } => json!({"current_scene_id": current}),
            ApiError::InvalidAnswer(e) => e.details(),
            ApiError::SyncRefused(_, details) => details.clone(),
            ApiError::UnknownVersion(version) => json!({"version": version}),
            ApiError::VersionNotServed { version, channel } => {
                json!({"version": version, "channel": channel})
            }
            ApiError::BackNotAllowed(scene) => json!({"scene": scene}),
            ApiError::MethodNotAllowed { allowed, .. } => json!({"allowed": allowed}),
            ApiError::InvalidEvent { index, .. } => json!({"index": index}),
            _ => json!({}),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::NotAFile(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden { .. } | ApiError::NotATester(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) | ApiError::NotStarted => StatusCode::NOT_FOUND,
            ApiError::SceneMismatch { .. }
            | ApiError::UserExists(_)
            | ApiError::AlreadyAnswered
            | ApiError::AlreadyCompleted
            | ApiError::BackNotAllowed(_)
            | ApiError::NothingToGoBackTo => StatusCode::CONFLICT,
            ApiError::InvalidAnswer(_)
            | ApiError::SyncRefused(..)
            | ApiError::UnknownVersion(_)
            | ApiError::VersionNotServed { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::SyncIdReused => StatusCode::CONFLICT,
            ApiError::Release(e) => {
                refusal(e).map_or(StatusCode::INTERNAL_SERVER_ERROR, |(status, _)| status)
            }
            ApiError::InvalidWorkbook(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::FlowUnavailable(_) | ApiError::StorageUnavailable => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Internal | ApiError::StoredFileMismatch(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            ApiError::TooManyConnections => StatusCode::TOO_MANY_REQUESTS,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::InvalidEvent { .. } => StatusCode::BAD_REQUEST,
            ApiError::BuiltInMetric | ApiError::NotApproved(_) => StatusCode::CONFLICT,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut body = json!({"error": {"code": self.code(), "message": self.to_string(), "details": self.details()}});
        if let ApiError::InvalidWorkbook(report) = self {
            body["report"] = serde_json::to_value(report).unwrap_or(Value::Null);
        }
        let mut response = HttpResponse::build(self.status_code());
        if matches!(
            self,
            ApiError::StorageUnavailable | ApiError::TooManyConnections
        ) {
            response.insert_header(("Retry-After", RETRY_AFTER_SECONDS.to_string()));
        }
        if matches!(self, ApiError::Unauthorized(_)) {
            response.insert_header(("WWW-Authenticate", "Bearer"));
        }
        if let ApiError::MethodNotAllowed { allowed, .. } = self {
            response.insert_header(("Allow", allowed.join(", ")));
        }
        let mut res = response.json(body);
        res.extensions_mut().insert(self.error_code());
        res
    }
}

impl From<crate::analytics::ingest::Refused> for ApiError {
    fn from(r: crate::analytics::ingest::Refused) -> Self {
        ApiError::InvalidEvent {
            index: r.index,
            message: r.message,
        }
    }
}

impl From<crate::auth::Forbidden> for ApiError {
    fn from(crate::auth::Forbidden { needed, have }: crate::auth::Forbidden) -> Self {
        ApiError::Forbidden { needed, have }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        if e.is_unavailable() || e.is_contention() {
            tracing::warn!(error = %e, "database unavailable or busy");
            ApiError::StorageUnavailable
        } else {
            tracing::error!(error = %e, "database error");
            ApiError::Internal
        }
    }
}

impl From<crate::offline::OfflineError> for ApiError {
    fn from(e: crate::offline::OfflineError) -> Self {
        match e {
            crate::offline::OfflineError::Onboarding(e) => e.into(),
            crate::offline::OfflineError::Store(e) => e.into(),
            crate::offline::OfflineError::Refused(details) => ApiError::SyncRefused(
                "the offline run does not replay; details name the first inconsistent answer; nothing was stored".into(),
                details,
            ),
            crate::offline::OfflineError::SyncIdReused => ApiError::SyncIdReused,
            crate::offline::OfflineError::UnknownVersion(v) => ApiError::UnknownVersion(v),
            e @ crate::offline::OfflineError::BeforeVersion { .. } => {
                ApiError::InvalidRequest(e.to_string())
            }
            crate::offline::OfflineError::NotServed { version, channel } => {
                ApiError::VersionNotServed {
                    version,
                    channel: channel.to_string(),
                }
            }
        }
    }
}

/// The HTTP status and stable code of a release refusal (docs/src/errors.md);
/// `None` for a database or object store failure, which maps as
/// those errors do. The release pipeline knows nothing of HTTP.
fn refusal(e: &ReleaseError) -> Option<(StatusCode, ErrorCode)> {
    Some(match e {
        ReleaseError::UnknownVersion(_) => (StatusCode::NOT_FOUND, ErrorCode::NotFound),
        ReleaseError::NotOnStaging { .. } => (StatusCode::CONFLICT, ErrorCode::NotOnStaging),
        ReleaseError::SelfApproval(_) => (StatusCode::FORBIDDEN, ErrorCode::SelfApproval),
        ReleaseError::NotApproved(_) => (StatusCode::CONFLICT, ErrorCode::NotApproved),
        ReleaseError::NothingToRollBack => (StatusCode::CONFLICT, ErrorCode::NothingToRollBack),
        ReleaseError::RolloutRunning(_) => (StatusCode::CONFLICT, ErrorCode::RolloutRunning),
        ReleaseError::NoRollout => (StatusCode::CONFLICT, ErrorCode::NoRollout),
        ReleaseError::Narrowing { .. }
        | ReleaseError::AlreadyServed(_)
        | ReleaseError::StagingRollout
        | ReleaseError::NothingToRollOutOver => (StatusCode::CONFLICT, ErrorCode::InvalidRollout),
        ReleaseError::InvalidPercent(_) => (StatusCode::BAD_REQUEST, ErrorCode::InvalidRequest),
        ReleaseError::Store(_) | ReleaseError::Storage(_) => return None,
    })
}

impl From<OnboardingError> for ApiError {
    fn from(e: OnboardingError) -> Self {
        match e {
            OnboardingError::NotStarted => ApiError::NotStarted,
            OnboardingError::FlowUnavailable(channel) => {
                ApiError::FlowUnavailable(channel.to_string())
            }
            OnboardingError::SceneMismatch { current } => ApiError::SceneMismatch { current },
            OnboardingError::AlreadyAnswered => ApiError::AlreadyAnswered,
            OnboardingError::AlreadyCompleted => ApiError::AlreadyCompleted,
            OnboardingError::BackNotAllowed(scene) => ApiError::BackNotAllowed(scene),
            OnboardingError::NothingToGoBackTo => ApiError::NothingToGoBackTo,
            OnboardingError::InvalidAnswer(e) => ApiError::InvalidAnswer(e),
            OnboardingError::Store(e) => e.into(),
            OnboardingError::NotATester(user) => ApiError::NotATester(user),
            OnboardingError::UnknownKey(message) => ApiError::NotFound(message),
            OnboardingError::Invalid(message) => ApiError::InvalidRequest(message),
            OnboardingError::Conflict => {
                tracing::error!("a run kept changing while being written");
                ApiError::StorageUnavailable
            }
        }
    }
}

impl From<crate::onboarding::rescue::RescueError> for ApiError {
    fn from(e: crate::onboarding::rescue::RescueError) -> Self {
        use crate::onboarding::rescue::RescueError;
        match e {
            RescueError::UnknownVersion(_) => ApiError::NotFound(e.to_string()),
            RescueError::NotApproved { .. } => ApiError::NotApproved(e.to_string()),
            RescueError::SameVersion(_) => ApiError::InvalidRequest(e.to_string()),
            RescueError::Onboarding(e) => e.into(),
        }
    }
}

impl From<crate::people::PeopleError> for ApiError {
    fn from(e: crate::people::PeopleError) -> Self {
        use crate::people::PeopleError;
        match e {
            PeopleError::Store(e) => e.into(),
            PeopleError::UserExists(_) => ApiError::UserExists(e.to_string()),
            PeopleError::NoSuchUser(_) | PeopleError::NoSuchToken(_) => {
                ApiError::NotFound(e.to_string())
            }
            PeopleError::InvalidName
            | PeopleError::ShortPassword
            | PeopleError::InvalidTokenId(_)
            | PeopleError::RemoveSelf
            | PeopleError::IngestUser => ApiError::InvalidRequest(e.to_string()),
        }
    }
}

/// The error body, for the OpenAPI document.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// A stable snake_case code (docs/src/errors.md).
    #[schema(example = "scene_mismatch")]
    pub code: String,
    pub message: String,
    #[schema(value_type = Object)]
    pub details: Value,
}

impl From<ReleaseError> for ApiError {
    fn from(e: ReleaseError) -> Self {
        match e {
            ReleaseError::Store(e) => e.into(),
            ReleaseError::Storage(e) => e.into(),
            refusal => ApiError::Release(refusal),
        }
    }
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::InvalidKey(key) => {
                ApiError::InvalidRequest(format!("'{key}' is not a valid object key"))
            }
            StorageError::NotAFile(key) => ApiError::NotAFile(format!(
                "'{key}' is not a regular file inside the store (a directory, a link out of the store or a special file); put the workbook itself there"
            )),
            e @ StorageError::TooLarge { .. } => ApiError::PayloadTooLarge(e.to_string()),
            other => {
                tracing::warn!(error = %other, "object store unavailable");
                ApiError::StorageUnavailable
            }
        }
    }
}

impl From<ImportError> for ApiError {
    fn from(e: ImportError) -> Self {
        match e {
            ImportError::Store(e) => e.into(),
            ImportError::Storage(e) => e.into(),
        }
    }
}

/// Extractor errors (bad JSON, bad path or query) as the JSON error body.
pub fn extractor_error(err: impl std::fmt::Display, too_large: bool) -> actix_web::Error {
    if too_large {
        ApiError::PayloadTooLarge(format!("the request body is too large: {err}")).into()
    } else {
        ApiError::InvalidRequest(format!(
            "the request is not what this endpoint takes: {err}"
        ))
        .into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The codes serialise as the book spells them, each once, and the
    /// book's error table (`docs/src/errors.md`) names every one.
    #[test]
    fn error_codes_are_distinct_snake_case_words() {
        let page = include_str!("../../docs/src/errors.md");
        let table = &page[page.find("\n| status | code |").unwrap()..];
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            assert!(
                table.contains(&format!("`{code}`")),
                "{code} not in docs/src/errors.md"
            );
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
            assert!(seen.insert(code.as_str()), "{code} twice");
            assert!(
                code.as_str()
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '_'),
                "{code}"
            );
        }
    }

    /// SQLite's lock held by an import is contention, never a 500.
    #[test]
    fn a_locked_database_is_503_with_retry_after() {
        let locked = StoreError::Query(crate::store::database_error("database is locked"));
        let api = ApiError::from(locked);
        assert_eq!(api.code(), "storage_unavailable");
        let res = api.error_response();
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(res.headers().contains_key("retry-after"));
    }
}
