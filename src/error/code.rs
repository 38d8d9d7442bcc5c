//! The stable error codes of the API (docs/src/errors.md).

/// Every stable code an error body carries (docs/src/errors.md), one
/// vocabulary for every module: each module error maps to one of these once.
/// The workbook report's issue codes are a separate vocabulary
/// (`master_data::report::Code`, docs/src/workbook.md "Validation report").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    InvalidRequest,
    RequestTimeout,
    NotAFile,
    Unauthorized,
    Forbidden,
    NotFound,
    InvalidWorkbook,
    UnreadableWorkbook,
    FlowUnavailable,
    NotStarted,
    SceneMismatch,
    AlreadyAnswered,
    AlreadyCompleted,
    BackNotAllowed,
    NothingToGoBackTo,
    InvalidAnswer,
    NotATester,
    NotOnStaging,
    SelfApproval,
    NotApproved,
    NothingToRollBack,
    UserExists,
    StorageUnavailable,
    Internal,
    SyncRefused,
    SyncIdReused,
    UnknownVersion,
    VersionNotServed,
    StoredFileMismatch,
    TooManyConnections,
    MethodNotAllowed,
    BuiltInMetric,
    RolloutRunning,
    NoRollout,
    InvalidRollout,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 35] = [
        ErrorCode::InvalidRequest,
        ErrorCode::RequestTimeout,
        ErrorCode::NotAFile,
        ErrorCode::Unauthorized,
        ErrorCode::Forbidden,
        ErrorCode::NotFound,
        ErrorCode::InvalidWorkbook,
        ErrorCode::UnreadableWorkbook,
        ErrorCode::FlowUnavailable,
        ErrorCode::NotStarted,
        ErrorCode::SceneMismatch,
        ErrorCode::AlreadyAnswered,
        ErrorCode::AlreadyCompleted,
        ErrorCode::BackNotAllowed,
        ErrorCode::NothingToGoBackTo,
        ErrorCode::InvalidAnswer,
        ErrorCode::NotATester,
        ErrorCode::NotOnStaging,
        ErrorCode::SelfApproval,
        ErrorCode::NotApproved,
        ErrorCode::NothingToRollBack,
        ErrorCode::UserExists,
        ErrorCode::StorageUnavailable,
        ErrorCode::Internal,
        ErrorCode::SyncRefused,
        ErrorCode::SyncIdReused,
        ErrorCode::UnknownVersion,
        ErrorCode::VersionNotServed,
        ErrorCode::StoredFileMismatch,
        ErrorCode::TooManyConnections,
        ErrorCode::MethodNotAllowed,
        ErrorCode::BuiltInMetric,
        ErrorCode::RolloutRunning,
        ErrorCode::NoRollout,
        ErrorCode::InvalidRollout,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::RequestTimeout => "request_timeout",
            ErrorCode::NotAFile => "not_a_file",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFound => "not_found",
            ErrorCode::InvalidWorkbook => "invalid_workbook",
            ErrorCode::UnreadableWorkbook => "unreadable_workbook",
            ErrorCode::FlowUnavailable => "flow_unavailable",
            ErrorCode::NotStarted => "not_started",
            ErrorCode::SceneMismatch => "scene_mismatch",
            ErrorCode::AlreadyAnswered => "already_answered",
            ErrorCode::AlreadyCompleted => "already_completed",
            ErrorCode::BackNotAllowed => "back_not_allowed",
            ErrorCode::NothingToGoBackTo => "nothing_to_go_back_to",
            ErrorCode::InvalidAnswer => "invalid_answer",
            ErrorCode::NotATester => "not_a_tester",
            ErrorCode::NotOnStaging => "not_on_staging",
            ErrorCode::SelfApproval => "self_approval",
            ErrorCode::NotApproved => "not_approved",
            ErrorCode::NothingToRollBack => "nothing_to_roll_back",
            ErrorCode::UserExists => "user_exists",
            ErrorCode::StorageUnavailable => "storage_unavailable",
            ErrorCode::Internal => "internal",
            ErrorCode::SyncRefused => "sync_refused",
            ErrorCode::SyncIdReused => "sync_id_reused",
            ErrorCode::UnknownVersion => "unknown_version",
            ErrorCode::VersionNotServed => "version_not_served",
            ErrorCode::StoredFileMismatch => "stored_file_mismatch",
            ErrorCode::TooManyConnections => "too_many_connections",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::BuiltInMetric => "built_in_metric",
            ErrorCode::RolloutRunning => "rollout_running",
            ErrorCode::NoRollout => "no_rollout",
            ErrorCode::InvalidRollout => "invalid_rollout",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
