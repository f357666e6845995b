//! Bills and usage over the API: `GET /v1/billing/bills` for BISP finance
//! users, and `GET /v1/metering/usage`, where a client system sees its own
//! usage and nobody else's (as X-Road shows a member only its own records).

use std::collections::BTreeMap;

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::NaiveDate;
use metering::bills::Period;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::identity::{authenticate, Authenticated};
use crate::server::AppState;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct BillQuery {
    /// The month, `YYYY-MM` (UTC).
    pub period: String,
    /// Only this organisation (its id).
    pub organisation: Option<i64>,
}

fn require_finance(caller: &Authenticated) -> Result<(), ApiError> {
    let finance = caller
        .user
        .as_ref()
        .is_some_and(|u| u.duties.iter().any(|d| d == "finance"));
    if finance && caller.client.org.kind.is_government() {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "not-finance",
            "bills are open to BISP finance users only",
        ))
    }
}

fn parse_period(s: &str) -> Result<Period, ApiError> {
    Period::parse(s).map_err(|e| ApiError::BadRequest(e.to_string()))
}

/// A period's bill: for an open period computed from usage with the rate
/// card in force, for a closed one read back with its adjustments. `lines`
/// (organisation x service x rate segment), `totals`, and `reconciliation`
/// with the access log (`equal`, or the differences).
#[utoipa::path(
    get,
    path = "/v1/billing/bills",
    tag = "finance",
    params(BillQuery),
    security(("mtls" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The bill", body = Object),
        (status = 400, description = "Malformed period", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Invalid, expired or foreign token", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a BISP finance user", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn bills(
    req: HttpRequest,
    query: web::Query<BillQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let caller = authenticate(&req, &state).await?;
    require_finance(&caller)?;
    let period = parse_period(&query.period)?;
    let organisation = query.organisation;
    crate::audit::settled(&state).await?;
    let pool = state.pool.clone();
    let rates = state.rates.clone();
    let bill = web::block(move || -> Result<_, ApiError> {
        let mut conn = pool.get().map_err(store::StoreError::from)?;
        metering::bills::export(&mut conn, &rates, period, organisation).map_err(|e| match e {
            metering::bills::ExportError::Store(e) => e.into(),
            metering::bills::ExportError::Bill(e) => {
                tracing::error!(error = %e, "bill cannot be computed");
                ApiError::Unavailable
            }
        })
    })
    .await??;
    Ok(HttpResponse::Ok().json(bill))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct UsageQuery {
    /// The month, `YYYY-MM` (UTC); the current one when absent.
    pub period: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Counts {
    pub requests: i64,
    pub rows: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UsageDay {
    #[schema(value_type = String)]
    pub day: NaiveDate,
    pub search_type: String,
    pub requests: i64,
    pub rows: i64,
}

/// A client system's own usage in a period.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Usage {
    /// `YYYY-MM`.
    pub period: String,
    pub client_system: String,
    pub organisation: String,
    /// Requests and rows per search type.
    pub by_search_type: BTreeMap<String, Counts>,
    pub by_day: Vec<UsageDay>,
    pub total: Counts,
}

/// The calling client system's own requests and rows returned, by search
/// type and by day, so far in the period. A user sees the usage of the client
/// system they call through; nobody sees another client's usage.
#[utoipa::path(
    get,
    path = "/v1/metering/usage",
    tag = "all clients",
    params(UsageQuery),
    responses(
        (status = 200, description = "This client system's usage", body = Usage),
        (status = 400, description = "Malformed period", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Certificate not registered or client disabled", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn usage(
    req: HttpRequest,
    query: web::Query<UsageQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let caller = authenticate(&req, &state).await?;
    let period = match &query.period {
        Some(p) => parse_period(p)?,
        None => Period::containing(chrono::Utc::now().date_naive()),
    };
    let (client_id, org_id) = (caller.client.id, caller.client.org.id);
    crate::audit::settled(&state).await?;
    let pool = state.pool.clone();
    let rows = web::block(move || -> Result<_, store::StoreError> {
        let mut conn = pool.get()?;
        store::audit::usage(&mut conn, period.first_day(), period.end(), Some(org_id))
    })
    .await??;
    let mut by_search_type: BTreeMap<String, Counts> = BTreeMap::new();
    let mut by_day: BTreeMap<(NaiveDate, String), Counts> = BTreeMap::new();
    let mut total = Counts {
        requests: 0,
        rows: 0,
    };
    for u in rows.into_iter().filter(|u| u.client_system_id == client_id) {
        for c in [
            by_search_type
                .entry(u.search_type.clone())
                .or_insert(Counts {
                    requests: 0,
                    rows: 0,
                }),
            by_day.entry((u.day, u.search_type)).or_insert(Counts {
                requests: 0,
                rows: 0,
            }),
            &mut total,
        ] {
            c.requests += u.requests;
            c.rows += u.rows_returned;
        }
    }
    Ok(HttpResponse::Ok().json(Usage {
        period: period.to_string(),
        client_system: caller.client.name.clone(),
        organisation: caller.client.org.name.clone(),
        by_search_type,
        by_day: by_day
            .into_iter()
            .map(|((day, search_type), c)| UsageDay {
                day,
                search_type,
                requests: c.requests,
                rows: c.rows,
            })
            .collect(),
        total,
    }))
}
