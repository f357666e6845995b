//! Oversight of the access log, for BISP users with the `oversight` duty:
//! `GET /v1/audit/access` (filtered, paged, newest first) and
//! `GET /v1/audit/subject/{cnic}`: which organisations looked at this
//! person's record, when, and for what purpose. These reads are themselves
//! logged.

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

use crate::audit::{subject_hash, Audit};
use crate::cnic::Cnic;
use crate::error::ApiError;
use crate::identity::{authenticate, Authenticated};
use crate::server::AppState;

/// The most records one page carries.
pub const MAX_PAGE: i64 = 500;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AccessQuery {
    pub organisation: Option<i64>,
    pub user: Option<i64>,
    /// `cnic`, `address_parameters`, `pmt_range_address` or `pmt_by_cnic`.
    #[param(value_type = Option<String>)]
    pub search_type: Option<policy::SearchType>,
    /// From this time (UTC, inclusive), e.g. `2026-11-01T00:00:00`.
    #[param(value_type = Option<String>)]
    pub from: Option<NaiveDateTime>,
    /// Until this time (UTC, exclusive).
    #[param(value_type = Option<String>)]
    pub to: Option<NaiveDateTime>,
    /// Records older than this record id (the `next_before` of the previous page).
    pub before: Option<i64>,
    /// Page size, 1-500 (default 100).
    pub limit: Option<i64>,
}

/// One page of access records.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AccessPage {
    #[schema(value_type = Vec<Object>)]
    pub records: Vec<store::audit::AccessRow>,
    /// Pass as `before` for the next page; absent on the last page.
    pub next_before: Option<i64>,
}

/// Who looked at one person's record.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SubjectAccess {
    pub at: NaiveDateTime,
    pub organisation: Option<String>,
    pub client_system: Option<String>,
    pub user: Option<String>,
    pub search_type: String,
    pub purpose: Option<String>,
    pub status: i32,
    pub rows_returned: i64,
}

fn require_oversight(caller: &Authenticated) -> Result<(), ApiError> {
    let oversight = caller
        .user
        .as_ref()
        .is_some_and(|u| u.duties.iter().any(|d| d == "oversight"));
    if oversight && caller.client.org.kind.is_government() {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "not-oversight",
            "the access log is open to BISP oversight users only",
        ))
    }
}

#[utoipa::path(
    get,
    path = "/v1/audit/access",
    tag = "oversight",
    params(AccessQuery),
    responses(
        (status = 200, description = "Access records, newest first", body = AccessPage),
        (status = 400, description = "Bad filter", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an oversight user", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn access(
    req: HttpRequest,
    query: web::Query<AccessQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let mut audit = Audit::new("audit_access", "GET /v1/audit/access");
    let outcome = list(&req, query.into_inner(), &state, &mut audit).await;
    audit.finish(&req, &state, outcome).await
}

async fn list(
    req: &HttpRequest,
    q: AccessQuery,
    state: &AppState,
    audit: &mut Audit,
) -> Result<HttpResponse, ApiError> {
    let caller = authenticate(req, state).await?;
    audit.caller(&caller);
    require_oversight(&caller)?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::BadRequest(format!("limit: 1 to {MAX_PAGE}")));
    }
    let filter = store::audit::AccessQuery {
        organisation_id: q.organisation,
        user_id: q.user,
        search_type: q.search_type.map(|s| s.name().to_owned()),
        from: q.from,
        to: q.to,
        subject_hash: None,
        before_id: q.before,
        limit,
    };
    audit.parameter(
        "filter",
        serde_json::json!({
            "organisation": q.organisation, "user": q.user, "search_type": filter.search_type,
            "from": q.from, "to": q.to, "before": q.before, "limit": limit,
        }),
    );
    crate::audit::settled(state).await?;
    let pool = state.pool.clone();
    let records = web::block(move || -> Result<_, store::StoreError> {
        let mut conn = pool.get()?;
        store::audit::query(&mut conn, &filter)
    })
    .await??;
    let next_before = (records.len() == usize::try_from(limit).unwrap_or(0))
        .then(|| records.last().map(|r| r.id))
        .flatten();
    audit.rows(i64::try_from(records.len()).unwrap_or(i64::MAX));
    Ok(HttpResponse::Ok().json(AccessPage {
        records,
        next_before,
    }))
}

#[utoipa::path(
    get,
    path = "/v1/audit/subject/{cnic}",
    tag = "oversight",
    params(("cnic" = String, Path, description = "The person's CNIC")),
    responses(
        (status = 200, description = "Every logged access to records searched by this CNIC, newest first", body = Vec<SubjectAccess>),
        (status = 400, description = "Malformed CNIC", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an oversight user", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn subject(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let mut audit = Audit::new("audit_subject", "GET /v1/audit/subject/{cnic}");
    let outcome = subject_accesses(&req, &path, &state, &mut audit).await;
    audit.finish(&req, &state, outcome).await
}

async fn subject_accesses(
    req: &HttpRequest,
    path: &str,
    state: &AppState,
    audit: &mut Audit,
) -> Result<HttpResponse, ApiError> {
    let caller = authenticate(req, state).await?;
    audit.caller(&caller);
    require_oversight(&caller)?;
    let cnic = Cnic::parse(path).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    // Logged under its own kind, so this read does not show as an access to the record itself.
    let hash = subject_hash(&state.subject_key, cnic.digits());
    audit.parameter("cnic", format!("hmac:{hash}").into());
    let filter = store::audit::AccessQuery {
        subject_hash: Some(hash),
        limit: 10_000,
        ..Default::default()
    };
    crate::audit::settled(state).await?;
    let pool = state.pool.clone();
    let records = web::block(move || -> Result<_, store::StoreError> {
        let mut conn = pool.get()?;
        store::audit::query(&mut conn, &filter)
    })
    .await??;
    let accesses: Vec<SubjectAccess> = records
        .into_iter()
        .map(|r| SubjectAccess {
            at: r.at,
            organisation: r.organisation_name,
            client_system: r.client_name,
            user: r.user_name,
            search_type: r.search_type,
            purpose: r.purpose,
            status: r.status,
            rows_returned: r.rows_returned,
        })
        .collect();
    audit.rows(i64::try_from(accesses.len()).unwrap_or(i64::MAX));
    Ok(HttpResponse::Ok().json(accesses))
}
