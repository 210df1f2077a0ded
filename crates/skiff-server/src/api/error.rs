//! The API's errors: one JSON shape (`skiff_api::v1::ErrorBody`) with a stable code and the
//! right HTTP status, converted here at the edge from the library errors.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use skiff_api::v1::ErrorBody;
use skiff_core::plan::PlanError;
use skiff_core::state::{Found, Rejection};
use skiff_core::{Expect, Key};
use utoipa::openapi::content::Content;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::{Ref, RefOr};

use crate::control::Unavailable;

/// How long a client should wait before retrying a 503.
pub const RETRY_AFTER: Duration = Duration::from_millis(500);

/// An error answer of the API.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The stable code (`ErrorBody::code`).
    pub code: &'static str,
    /// What went wrong and what to do.
    pub message: String,
    /// Structured detail (`null` when none).
    pub details: Value,
}

impl ApiError {
    /// An error without details.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            details: Value::Null,
        }
    }

    /// Adds structured detail.
    pub fn with_details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }

    /// 400 `invalid_request`: a parameter or body field is wrong.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    /// 401 `unauthenticated`.
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthenticated", message)
    }

    /// 403 `forbidden`.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 404 `not_found` for a key.
    pub fn not_found(what: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} does not exist"),
        )
    }

    /// 409 `revision_conflict`: a compare-and-swap failed. `details.expected` and
    /// `details.found` are the state machine's `Expect` and `Found` as JSON (`"absent"`,
    /// `{"revision": 12}`).
    pub fn conflict(key: &Key, expected: Expect, found: Found) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "revision_conflict",
            format!("{key} changed: expected {expected}, found {found}; read it again and retry"),
        )
        .with_details(json!({
            "key": key.to_string(),
            "expected": expected,
            "found": found,
        }))
    }

    /// 503 for a server that cannot serve now; `details.retry_after_ms` (and the `Retry-After`
    /// header) say when to try again.
    pub fn unavailable(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, code, message)
            .with_details(json!({ "retry_after_ms": RETRY_AFTER.as_millis() as u64 }))
    }

    /// 500 `internal`: a bug or a broken invariant on the server.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }

    /// The body as sent.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            code: self.code.to_owned(),
            message: self.message.clone(),
            details: self.details.clone(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body())).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            // Retry-After takes whole seconds; the body's retry_after_ms is the precise hint.
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

impl From<Unavailable> for ApiError {
    fn from(e: Unavailable) -> Self {
        let code = match &e {
            Unavailable::NotLeader { leader: None } => "no_leader",
            Unavailable::NotLeader { leader: Some(_) } => "not_leader",
            Unavailable::NoQuorum(_) => "no_quorum",
            Unavailable::Stopped(_) => "stopping",
            Unavailable::Timeout(_) => "timeout",
        };
        let mut error = ApiError::unavailable(code, format!("{e}; retry shortly"));
        if let Unavailable::NotLeader {
            leader: Some((id, addr)),
        } = &e
        {
            error.details["leader"] = json!({ "id": id, "addr": addr });
        }
        error
    }
}

impl From<PlanError> for ApiError {
    fn from(e: PlanError) -> Self {
        let (status, code) = match &e {
            PlanError::NoSuchEnvironment { .. }
            | PlanError::NoSuchApp { .. }
            | PlanError::NoSuchService { .. }
            | PlanError::NoSuchNode { .. } => (StatusCode::NOT_FOUND, "not_found"),
            PlanError::QuotaExceeded { .. } => (StatusCode::CONFLICT, "quota_exceeded"),
            PlanError::NothingToRollBack { .. } => (StatusCode::CONFLICT, "nothing_to_roll_back"),
            PlanError::EnvironmentMismatch { .. }
            | PlanError::InvalidAppName { .. }
            | PlanError::InvalidServiceName { .. }
            | PlanError::ScaleGlobal { .. }
            | PlanError::TooManyReplicas { .. }
            | PlanError::InvalidLabel { .. } => (StatusCode::BAD_REQUEST, "invalid_request"),
        };
        ApiError::new(status, code, e.to_string())
    }
}

impl From<Rejection> for ApiError {
    fn from(e: Rejection) -> Self {
        let (status, code) = match &e {
            Rejection::NoSuchEnvironment { .. } => (StatusCode::NOT_FOUND, "not_found"),
            Rejection::EnvironmentNotEmpty { .. } => (StatusCode::CONFLICT, "not_empty"),
            Rejection::StaleRevision { .. } => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
            Rejection::KeyMismatch { .. }
            | Rejection::AppSpecMismatch { .. }
            | Rejection::AppHistoryTooLong { .. }
            | Rejection::TaskIdentityChanged { .. }
            | Rejection::TaskStateBackward { .. }
            | Rejection::RestartCountDecreased { .. } => {
                (StatusCode::BAD_REQUEST, "invalid_request")
            }
        };
        ApiError::new(status, code, e.to_string())
    }
}

/// The result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;

/// The error answers any authenticated endpoint may give, for the OpenAPI document (each
/// endpoint adds its own: 409, 413, …). docs/api.md lists the codes.
#[derive(Debug)]
pub struct ErrorResponses;

impl utoipa::IntoResponses for ErrorResponses {
    fn responses() -> BTreeMap<String, RefOr<utoipa::openapi::response::Response>> {
        [
            (
                "400",
                "`invalid_request` (a bad name, parameter or header) or `invalid_body`",
            ),
            (
                "401",
                "`unauthenticated`: no token, or an unknown or revoked one",
            ),
            (
                "403",
                "`forbidden`: the token's role or environments do not allow this",
            ),
            ("404", "`not_found` (no such object) or `no_such_route`"),
            (
                "503",
                "No leader or no quorum now (`no_leader`, `not_leader`, `leader_unreachable`, \
                 `timeout`, `no_quorum`, `stopping`): retry after `details.retry_after_ms`",
            ),
        ]
        .into_iter()
        .map(|(status, description)| {
            let body = Content::new(Some(Ref::from_schema_name("ErrorBody")));
            let response = ResponseBuilder::new()
                .description(description)
                .content("application/json", body)
                .build();
            (status.to_owned(), RefOr::T(response))
        })
        .collect()
    }
}
