//! `GET /v1/pmt/{cnic}`: the till's hot path. The PMT score, eligibility per
//! configured programme, household size and survey date; nothing else.

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::NaiveDate;
use policy::{Effect, Entity, SearchType};
use serde::Serialize;

use crate::audit::Audit;
use crate::error::ApiError;
use crate::identity::authorise_cnic_search;
use crate::server::AppState;

/// Whether the household is under a programme's PMT cut-off.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Eligibility<'a> {
    pub programme: &'a str,
    pub pmt_cutoff: f64,
    pub eligible: bool,
}

/// The till's answer: nothing but the PMT score, eligibility, size and survey date.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PmtAnswer<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pmt_score: Option<f64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub eligibility: Vec<Eligibility<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub household_size: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub survey_date: Option<NaiveDate>,
}

#[utoipa::path(
    get,
    path = "/v1/pmt/{cnic}",
    tag = "tills",
    params(("cnic" = String, Path, description = "CNIC, 12345-1234567-1 or 13 digits")),
    responses(
        (status = 200, description = "PMT facts of the CNIC's household", body = PmtAnswer),
        (status = 400, description = "Malformed CNIC", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Client not registered, disabled, or grant does not cover pmt_by_cnic", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No record the caller may see", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Rate limit exceeded", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let mut audit = Audit::new("pmt_by_cnic", "GET /v1/pmt/{cnic}");
    let outcome = answer(&req, &path, &state, &mut audit).await;
    audit.finish(&req, &state, outcome).await
}

async fn answer(
    req: &HttpRequest,
    path: &str,
    state: &AppState,
    audit: &mut Audit,
) -> Result<HttpResponse, ApiError> {
    let (_, view, facts) = authorise_cnic_search(
        req,
        path,
        Ok(()),
        state,
        audit,
        SearchType::PmtByCnic,
        store::registry::pmt_by_cnic,
    )
    .await?;
    let facts = facts.ok_or(ApiError::NotFound)?;
    let shown = |field: &str| view.effect(Entity::Household, field) == Some(Effect::Show);
    audit.rows(1);
    let score = shown("pmt_score").then_some(facts.pmt_score);
    let answer = PmtAnswer {
        pmt_score: score,
        eligibility: score.map_or_else(Vec::new, |s| {
            state
                .programmes
                .iter()
                .map(|p| Eligibility {
                    programme: &p.name,
                    pmt_cutoff: p.pmt_cutoff,
                    eligible: s <= p.pmt_cutoff,
                })
                .collect()
        }),
        household_size: shown("size").then_some(facts.size),
        survey_date: shown("survey_date").then_some(facts.survey_date),
    };
    Ok(HttpResponse::Ok().json(answer))
}
