//! Errors as clients see them: RFC 9457 `application/problem+json`, each kind
//! with a stable `type` URI and the request id.
//!
//! Which error goes where: domain crates return their own `thiserror` enums;
//! handlers convert them to [`ApiError`] here, in one place. A store failure
//! becomes `Unavailable` (the details go to the application log only, never
//! to a client); a record that does not exist and a record the caller may not
//! see both become `NotFound`, with the same detail, so nobody can probe for
//! existence; a policy refusal becomes `Forbidden`.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

/// An error answered to a client.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed; the message says what was expected.
    #[error("{0}")]
    BadRequest(String),
    /// No usable credentials (token missing where required, invalid, expired or
    /// bound to another certificate).
    #[error("{0}")]
    Unauthenticated(&'static str),
    /// The client system or user may not do this; the message says why.
    #[error("{detail}")]
    Forbidden { slug: &'static str, detail: String },
    /// No such record, or none the caller may see: the same answer for both.
    #[error("no record the caller may see matches")]
    NotFound,
    /// No route matches.
    #[error("no such resource")]
    NoRoute,
    /// Too many requests; retry after this many seconds.
    #[error("rate limit exceeded; retry after {0} s")]
    RateLimited(u64),
    /// The body is larger than the configured limit; the detail says the limit.
    #[error("{0}")]
    TooLarge(String),
    /// The database is unreachable or failed.
    #[error("the registry is unavailable; try again shortly")]
    Unavailable,
}

impl ApiError {
    pub fn forbidden(slug: &'static str, detail: impl Into<String>) -> Self {
        Self::Forbidden {
            slug,
            detail: detail.into(),
        }
    }

    fn kind(&self) -> (&'static str, &'static str) {
        match self {
            Self::BadRequest(_) => ("bad-request", "Bad request"),
            Self::Unauthenticated(_) => ("unauthenticated", "Unauthenticated"),
            Self::Forbidden { slug, .. } => (slug, "Forbidden"),
            Self::NotFound => ("not-found", "Not found"),
            Self::NoRoute => ("no-such-resource", "Not found"),
            Self::RateLimited(_) => ("rate-limited", "Too many requests"),
            Self::TooLarge(_) => ("payload-too-large", "Payload too large"),
            Self::Unavailable => ("unavailable", "Service unavailable"),
        }
    }
}

/// The RFC 9457 body.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub type_: String,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    /// The request's id, also sent as `x-request-id`, to quote to support.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden { .. } => StatusCode::FORBIDDEN,
            Self::NotFound | Self::NoRoute => StatusCode::NOT_FOUND,
            Self::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let (slug, title) = self.kind();
        let mut res = problem(self.status_code(), slug, title, self.to_string());
        match self {
            Self::RateLimited(secs) => {
                if let Ok(v) = header::HeaderValue::from_str(&secs.to_string()) {
                    res.headers_mut().insert(header::RETRY_AFTER, v);
                }
            }
            Self::Unauthenticated(_) => {
                res.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    header::HeaderValue::from_static("Bearer"),
                );
            }
            _ => {}
        }
        res
    }
}

/// A problem+json response.
pub fn problem(
    status: StatusCode,
    slug: &str,
    title: &'static str,
    detail: String,
) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, "application/problem+json"))
        .json(Problem {
            type_: format!("https://nser.bisp.gov.pk/problems/{slug}"),
            title,
            status: status.as_u16(),
            detail,
            request_id: crate::server::REQUEST_ID.try_with(Clone::clone).ok(),
        })
}

impl ApiError {
    /// An extractor's refusal (already shaped by [`json_error`] or the query
    /// handler), carried into the handler so the refusal is logged.
    pub fn extraction(e: &actix_web::Error) -> Self {
        if e.as_response_error().status_code() == StatusCode::PAYLOAD_TOO_LARGE {
            Self::TooLarge(e.to_string())
        } else {
            Self::BadRequest(e.to_string())
        }
    }
}

impl From<store::StoreError> for ApiError {
    fn from(e: store::StoreError) -> Self {
        tracing::error!(error = %e, "store error");
        Self::Unavailable
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(_: actix_web::error::BlockingError) -> Self {
        tracing::error!("blocking task failed");
        Self::Unavailable
    }
}

impl From<policy::Refusal> for ApiError {
    fn from(r: policy::Refusal) -> Self {
        let slug = match r {
            policy::Refusal::SearchTypeNotGranted { .. } => "search-not-granted",
            policy::Refusal::OrganisationSuspended => "organisation-suspended",
            policy::Refusal::GrantExpired { .. } | policy::Refusal::GrantNotYetValid { .. } => {
                "grant-not-in-force"
            }
            policy::Refusal::NothingVisible => "nothing-visible",
            policy::Refusal::BoardApprovalRequired => "board-approval-required",
            policy::Refusal::PowerRoleRequired => "power-role-required",
        };
        Self::forbidden(slug, r.to_string())
    }
}

/// Turn actix's own body and path errors into problem+json too.
pub fn json_error(
    err: actix_web::error::JsonPayloadError,
    _req: &actix_web::HttpRequest,
) -> actix_web::Error {
    use actix_web::error::JsonPayloadError as E;
    match err {
        E::OverflowKnownLength { limit, .. } | E::Overflow { limit } => {
            ApiError::TooLarge(format!("the request body is larger than {limit} bytes")).into()
        }
        E::ContentType => {
            ApiError::BadRequest("expected Content-Type: application/json".into()).into()
        }
        E::Deserialize(e) => ApiError::BadRequest(format!("invalid JSON body: {e}")).into(),
        other => ApiError::BadRequest(format!("unreadable body: {other}")).into(),
    }
}
