//! One error type for the whole API, always answered as
//! `{"error": {"code", "message", "details"}}`. Storage and I/O failures are logged and
//! answered as a bare `internal` error: no secret, SQL or stack trace leaves the process.
//!
//! Requests are read by extractors whose rejection is an [`ApiError`]: [`ApiJson`] for bodies,
//! [`ApiQuery`] for query strings, [`Id`] for numeric path ids. A field that does not fit is a
//! 422 whose `details.field` is its path (`hours.days[2]`, `limit`), found structurally by
//! [`super::fields`] (never parsed out of serde's message text).
//!
//! The typed query pattern: a struct of typed, optional fields (`Option<i64>`, `Option<Date>`,
//! `Option<SomeEnum>`, `Option<Limit>`), documented with `utoipa::IntoParams` (the `#[param]`
//! attribute states the schema: integer bounds, `format = Date`, an enum's values), and read
//! with `ApiQuery<T>`; the handler parses nothing by hand. An empty parameter is absent.
//!
//! ```ignore
//! #[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
//! #[into_params(parameter_in = Query)]
//! pub struct ListQuery {
//!     /// The `next_cursor` of the previous page.
//!     pub cursor: Option<i64>,
//!     /// Page size.
//!     #[param(value_type = Option<i64>, minimum = 1, maximum = 200)]
//!     pub limit: Option<Limit>,
//!     /// From this local day.
//!     #[param(value_type = Option<String>, format = Date)]
//!     pub from: Option<jiff::civil::Date>,
//! }
//!
//! async fn list(ApiQuery(q): ApiQuery<ListQuery>) -> ApiResult<Json<Page<Row>>> {
//!     let limit = q.limit.unwrap_or_default().0;
//!     // ...
//! }
//! ```

use crate::app::AppError;
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

/// An API failure.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No valid session or token.
    #[error("authentication required")]
    Unauthenticated,
    /// Wrong username or password.
    #[error("invalid username or password")]
    BadCredentials,
    /// Logged in, but not allowed to do this.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The user must change their password (`POST /auth/password`) before anything else.
    #[error("change your password first (POST /auth/password)")]
    PasswordChangeRequired,
    /// The `X-CSRF-Token` header is missing or wrong.
    #[error("missing or invalid X-CSRF-Token header")]
    Csrf,
    /// Nothing there (or nothing this user may see).
    #[error("{0} not found")]
    NotFound(String),
    /// The method is not allowed on this path.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The request conflicts with the current state.
    #[error("{0}")]
    Conflict(String),
    /// A field is invalid.
    #[error("invalid {field}: {message}")]
    Validation {
        /// The field.
        field: String,
        /// Why.
        message: String,
    },
    /// The body could not be read at all.
    #[error("{0}")]
    BadRequest(String),
    /// Too many failed logins: wait.
    #[error("too many failed attempts; retry in {retry_after_s} s")]
    TooManyRequests {
        /// Seconds to wait.
        retry_after_s: u64,
    },
    /// The body is larger than the configured limit.
    #[error("the request body is too large")]
    PayloadTooLarge,
    /// The WhatsApp link cannot do it right now.
    #[error("{0}")]
    Unavailable(String),
    /// The database stayed busy (another writer held it past the busy timeout, or the pool had
    /// no free connection): nothing was written, and the same request can be sent again.
    #[error("the service is busy; retry in {retry_after_s} s")]
    Busy {
        /// Seconds to wait (also in the `Retry-After` header).
        retry_after_s: u64,
    },
    /// The media disk is full: nothing was stored (the same request works once space returns).
    #[error("the media disk is full; nothing was stored")]
    StorageFull,
    /// The stored file no longer matches its SHA-256 (an admin alert was raised).
    #[error("the stored file is damaged; an administrator must restore it from a backup")]
    MediaCorrupt,
    /// Something broke inside (already logged).
    #[error("internal error")]
    Internal,
}

impl ApiError {
    /// A 422 naming the field.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError::Validation {
            field: field.into(),
            message: message.into(),
        }
    }

    /// A 404 for `what`.
    pub fn not_found(what: impl Into<String>) -> ApiError {
        ApiError::NotFound(what.into())
    }

    /// Logs an unexpected failure and hides it.
    pub fn internal(e: impl std::fmt::Display) -> ApiError {
        tracing::error!(error = %e, "internal error");
        ApiError::Internal
    }

    fn parts(&self) -> (StatusCode, &'static str, ErrorDetails) {
        let none = ErrorDetails::default();
        match self {
            ApiError::Unauthenticated => (StatusCode::UNAUTHORIZED, "unauthenticated", none),
            ApiError::BadCredentials => (StatusCode::UNAUTHORIZED, "bad_credentials", none),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden", none),
            ApiError::Csrf => (StatusCode::FORBIDDEN, "csrf", none),
            ApiError::PasswordChangeRequired => {
                (StatusCode::FORBIDDEN, "password_change_required", none)
            }
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found", none),
            ApiError::MethodNotAllowed => {
                (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", none)
            }
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict", none),
            ApiError::Validation { field, .. } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation",
                ErrorDetails {
                    field: Some(field.clone()),
                    ..none
                },
            ),
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request", none),
            ApiError::TooManyRequests { retry_after_s } => (
                StatusCode::TOO_MANY_REQUESTS,
                "throttled",
                ErrorDetails {
                    retry_after_s: Some(*retry_after_s),
                    ..none
                },
            ),
            ApiError::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", none),
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable", none),
            ApiError::Busy { retry_after_s } => (
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                ErrorDetails {
                    retry_after_s: Some(*retry_after_s),
                    ..none
                },
            ),
            ApiError::StorageFull => (StatusCode::INSUFFICIENT_STORAGE, "storage_full", none),
            ApiError::MediaCorrupt => (StatusCode::GONE, "media_corrupt", none),
            ApiError::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "internal", none),
        }
    }
}

/// The body of every error answer: `{"error": {"code", "message", "details"}}` (the OpenAPI
/// document's `Error` schema is generated from these types).
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    /// The failure.
    pub error: ErrorInfo,
}

/// What went wrong.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorInfo {
    /// Stable machine-readable code: `unauthenticated`, `bad_credentials`, `forbidden`,
    /// `password_change_required`, `csrf`, `not_found`, `method_not_allowed`, `conflict`,
    /// `validation`, `bad_request`, `throttled`, `payload_too_large`, `unavailable`, `busy`,
    /// `storage_full`, `media_corrupt`, `internal`.
    #[schema(example = "validation")]
    pub code: String,
    /// Human-readable text (never a secret, SQL or stack trace).
    pub message: String,
    /// Structured details (empty for most codes).
    pub details: ErrorDetails,
}

/// Structured details of an error.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorDetails {
    /// `validation`: the invalid field (a query parameter, a body field, or `body`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// `throttled` and `busy`: seconds to wait (also in the `Retry-After` header).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_s: Option<u64>,
}

impl ApiError {
    /// The body this error answers with.
    pub fn body(&self) -> ErrorBody {
        let (_, code, details) = self.parts();
        ErrorBody {
            error: ErrorInfo {
                code: code.to_owned(),
                message: self.to_string(),
                details,
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, _, _) = self.parts();
        let mut resp = (status, Json(self.body())).into_response();
        if let ApiError::TooManyRequests { retry_after_s } | ApiError::Busy { retry_after_s } = self
            && let Ok(v) = HeaderValue::from_str(&retry_after_s.to_string())
        {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        resp
    }
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        match e {
            AppError::NotFound { entity, id } => ApiError::NotFound(format!("{entity} {id}")),
            AppError::Invalid { field, message } => ApiError::invalid(field, message),
            AppError::Conflict(m) => ApiError::Conflict(m),
            AppError::Forbidden(m) => ApiError::Forbidden(m),
            AppError::Transition(t) => ApiError::Conflict(t.to_string()),
            AppError::Db(e) if e.is_busy() => {
                tracing::warn!(error = %e, "database busy: answered 503");
                ApiError::Busy { retry_after_s: 1 }
            }
            AppError::Io(e) if crate::app::is_disk_full(&e) => {
                tracing::warn!(error = %e, "media disk full: answered 507");
                ApiError::StorageFull
            }
            AppError::MediaCorrupt(_) => ApiError::MediaCorrupt,
            other => ApiError::internal(other),
        }
    }
}

/// The result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;

/// `Json<T>` whose rejections are [`ApiError`]s: a bad field is a 422 naming it by its path
/// (`items[1].day`; see [`super::fields`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(ApiError::invalid(
                "body",
                "expected Content-Type: application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|r| match r.status() {
                StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
                _ => ApiError::BadRequest(r.body_text()),
            })?;
        super::fields::json(&bytes).map(ApiJson)
    }
}

/// `application/json` or any `application/*+json`, as axum's `Json` accepts.
fn is_json(headers: &axum::http::HeaderMap) -> bool {
    let Some(v) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = v.split(';').next().unwrap_or_default().trim();
    let essence = essence.to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// A numeric path id; anything else is a 404 (there is nothing at such a path).
#[derive(Debug, Clone, Copy)]
pub struct Id(pub i64);

impl<S: Send + Sync> FromRequestParts<S> for Id {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<i64>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(Id(v)),
            Err(PathRejection::FailedToDeserializePathParams(_)) => {
                Err(ApiError::not_found(parts.uri.path().to_owned()))
            }
            Err(e) => Err(ApiError::internal(e)),
        }
    }
}

/// A numeric path id and a second path value (`/api/tickets/{id}/labels/{label_id}`,
/// `/api/customers/{id}/tags/{tag}`); a malformed one is a 404, as for [`Id`].
#[derive(Debug, Clone)]
pub struct IdAnd<T>(pub i64, pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned + Send> FromRequestParts<S> for IdAnd<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<(i64, T)>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path((id, v))) => Ok(IdAnd(id, v)),
            Err(PathRejection::FailedToDeserializePathParams(_)) => {
                Err(ApiError::not_found(parts.uri.path().to_owned()))
            }
            Err(e) => Err(ApiError::internal(e)),
        }
    }
}

/// Parses an optional query value, naming the field on failure (for query structs not yet
/// typed: prefer typed fields read by [`ApiQuery`]).
pub fn parse_opt<T: std::str::FromStr>(v: &Option<String>, field: &str) -> ApiResult<Option<T>> {
    match v.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => s
            .parse()
            .map(Some)
            .map_err(|_| ApiError::invalid(field, format!("cannot parse {s:?}"))),
    }
}

/// The page size from a string parameter: default 50, at most 200 (for query structs not yet
/// typed: prefer a `limit: Option<Limit>` field).
pub fn limit(v: &Option<String>) -> ApiResult<i64> {
    let l: i64 = parse_opt(v, "limit")?.unwrap_or(50);
    if !(1..=200).contains(&l) {
        return Err(ApiError::invalid("limit", "between 1 and 200"));
    }
    Ok(l)
}

/// A page size read from the query: 1 to 200, 50 when absent (`limit: Option<Limit>`, then
/// `q.limit.unwrap_or_default()`); anything else is a 422 naming `limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit(pub i64);

impl Default for Limit {
    fn default() -> Self {
        Limit(50)
    }
}

impl<'de> serde::Deserialize<'de> for Limit {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::{Error, Unexpected};
        let n = i64::deserialize(d)?;
        if (1..=200).contains(&n) {
            Ok(Limit(n))
        } else {
            Err(D::Error::invalid_value(
                Unexpected::Signed(n),
                &"a page size between 1 and 200",
            ))
        }
    }
}

/// The JSON 404 for unknown paths.
pub async fn fallback(uri: axum::http::Uri) -> ApiError {
    ApiError::not_found(uri.path().to_owned())
}

/// The JSON 405.
pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

/// Parses an optional JSON body (empty = the default), naming the bad field.
pub fn optional_json<T: DeserializeOwned + Default>(bytes: &[u8]) -> ApiResult<T> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    super::fields::json(bytes)
}

/// Parses a JSON body, naming the bad field.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> ApiResult<T> {
    super::fields::json(bytes)
}

/// `Query<T>` whose rejections are [`ApiError`]s: the parameters are read into `T`'s typed
/// fields, a bad one is a 422 naming it, and an empty one (`?limit=`) is absent. See the
/// module documentation for the pattern.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        super::fields::query(parts.uri.query().unwrap_or_default()).map(ApiQuery)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
    use std::time::Duration;

    /// A write that meets another writer's lock past the busy timeout is a 503 with
    /// `Retry-After` (the caller may send it again), not a 500.
    #[tokio::test]
    async fn a_locked_database_is_busy_not_internal() {
        let dir = std::env::temp_dir().join(format!("busy-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let opts = SqliteConnectOptions::new()
            .filename(dir.join("db.sqlite"))
            .create_if_missing(true)
            .busy_timeout(Duration::ZERO);
        let pool = SqlitePoolOptions::new()
            .max_connections(2)
            .connect_with(opts)
            .await
            .unwrap();
        let holder = pool.begin_with("BEGIN IMMEDIATE").await.unwrap();
        let e = pool.begin_with("BEGIN IMMEDIATE").await.unwrap_err();
        let api: ApiError = AppError::from(e).into();
        let resp = api.into_response();
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(resp.headers()[header::RETRY_AFTER], "1");
        drop(holder);
        let other: ApiError = AppError::from(sqlx::Error::RowNotFound).into();
        assert_eq!(
            other.into_response().status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
        pool.close().await;
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
