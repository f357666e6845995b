//! `GET /v1/households/by-cnic/{cnic}`: the household a CNIC belongs to,
//! shaped by the policy for the caller's role, organisation and grant.

use actix_web::{web, HttpRequest, HttpResponse};
use policy::SearchType;
use serde::{Deserialize, Serialize};

use crate::cnic::Cnic;
use crate::error::ApiError;
use crate::identity::{authenticate, grant_for};
use crate::server::AppState;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ByCnicQuery {
    /// Add, for every withheld or masked field, why.
    #[serde(default)]
    pub explain: bool,
}

#[derive(Serialize)]
struct Answer<'a, T: Serialize> {
    #[serde(flatten)]
    record: T,
    #[serde(skip_serializing_if = "Option::is_none")]
    explanation: Option<&'a [policy::Reason]>,
}

/// The household as the policy lets this caller see it: `household`,
/// `members`, `payments`, `flags` objects whose keys are registry field names
/// (withheld fields absent, masked ones masked), plus `explanation` when asked.
#[utoipa::path(
    get,
    path = "/v1/households/by-cnic/{cnic}",
    tag = "agencies",
    params(("cnic" = String, Path, description = "CNIC, 12345-1234567-1 or 13 digits"), ByCnicQuery),
    security(("mtls" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The shaped household", body = Object),
        (status = 400, description = "Malformed CNIC or query", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Invalid, expired or foreign token", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Search type not granted, grant not in force, organisation suspended", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No record the caller may see", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Rate limit exceeded", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn by_cnic(
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<ByCnicQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let caller = authenticate(&req, &state).await?;
    let cnic = Cnic::parse(&path).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let grant = grant_for(&state, caller.client.org.id, SearchType::Cnic).await?;
    let request = policy::Request {
        caller: caller.policy_caller(),
        search_type: SearchType::Cnic,
        grant,
    };
    let view = state
        .policy
        .decide(&request, chrono::Utc::now().date_naive())?;
    let pool = state.pool.clone();
    let record = web::block(move || -> Result<_, store::StoreError> {
        let mut conn = pool.get()?;
        store::registry::household_by_cnic(&mut conn, cnic.digits())
    })
    .await??
    .ok_or(ApiError::NotFound)?;
    let searched = record.members.iter().position(|m| m.cnic == cnic.digits());
    let household = policy::Household::new(record.household.id, &record.household)
        .with_members(&record.members, searched)
        .with_payments(&record.payments)
        .with_flags(&record.flags);
    let shaped = view.shape(household).ok_or(ApiError::NotFound)?;
    let reasons = query.explain.then(|| view.explain());
    Ok(HttpResponse::Ok().json(Answer {
        record: shaped,
        explanation: reasons.as_deref(),
    }))
}
