//! Errors as clients see them: RFC 9457 `application/problem+json`, each kind
//! with a stable `type` URI and the request id. Which error goes where:
//! domain crates return their own `thiserror` enums; handlers convert them to
//! [`ApiError`] here, in one place, so "not found" and "not allowed" can be
//! made to look the same and no database message ever reaches a client.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

/// An error answered to a client.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The database is unreachable or failed; details go to the application log only.
    #[error("the registry is unavailable")]
    Unavailable,
    /// No route matches.
    #[error("no such resource")]
    NotFound,
}

impl ApiError {
    fn kind(&self) -> (&'static str, &'static str) {
        match self {
            Self::Unavailable => ("unavailable", "Service unavailable"),
            Self::NotFound => ("not-found", "Not found"),
        }
    }
}

/// The RFC 9457 body.
#[derive(Debug, Serialize)]
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
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::NotFound => StatusCode::NOT_FOUND,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let (slug, title) = self.kind();
        problem(self.status_code(), slug, title, self.to_string())
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

impl From<store::StoreError> for ApiError {
    fn from(e: store::StoreError) -> Self {
        tracing::error!(error = %e, "store error");
        Self::Unavailable
    }
}
