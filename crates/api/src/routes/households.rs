//! `GET /v1/households/by-cnic/{cnic}`: the household a CNIC belongs to,
//! shaped by the policy for the caller's role, organisation and grant.

use actix_web::{web, HttpRequest, HttpResponse};
use policy::SearchType;
use serde::Deserialize;

use crate::audit::Audit;
use crate::error::ApiError;
use crate::identity::authorise_cnic_search;
use crate::server::AppState;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ByCnicQuery {
    /// Add, for every withheld or masked field, why.
    #[serde(default)]
    pub explain: bool,
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
    query: Result<web::Query<ByCnicQuery>, actix_web::Error>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let mut audit = Audit::new("cnic", "GET /v1/households/by-cnic/{cnic}");
    // A bad query is refused inside, after identification, so it is logged like any refusal.
    let outcome = answer(&req, &path, query.map(|q| q.explain), &state, &mut audit).await;
    audit.finish(&req, &state, outcome).await
}

async fn answer(
    req: &HttpRequest,
    path: &str,
    explain: Result<bool, actix_web::Error>,
    state: &AppState,
    audit: &mut Audit,
) -> Result<HttpResponse, ApiError> {
    let (well_formed, explain) = match explain {
        Ok(explain) => (Ok(()), explain),
        Err(e) => (Err(ApiError::extraction(&e)), false),
    };
    let (cnic, view, record) = authorise_cnic_search(
        req,
        path,
        well_formed,
        state,
        audit,
        SearchType::Cnic,
        store::registry::household_by_cnic,
    )
    .await?;
    let record = record.ok_or(ApiError::NotFound)?;
    let searched = record.members.iter().position(|m| m.cnic == cnic.digits());
    let household = policy::Household::new(record.household.id, &record.household)
        .with_members(&record.members, searched)
        .with_payments(&record.payments)
        .with_flags(&record.flags);
    let shaped = view.shape(household).ok_or(ApiError::NotFound)?;
    let mut body = Vec::with_capacity(2048);
    shaped.write_json(&mut body);
    if explain {
        // Append "explanation" as the object's last member.
        let reasons = serde_json::to_vec(&view.explain()).map_err(|_| ApiError::Unavailable)?;
        body.pop();
        if body.len() > 1 {
            body.push(b',');
        }
        body.extend_from_slice(b"\"explanation\":");
        body.extend_from_slice(&reasons);
        body.push(b'}');
    }
    audit.rows(1);
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(body))
}
