//! `POST /v1/pos/transactions`: what a USC till sold, up to 1,000 sales a
//! call. Each sale is stored once per transaction id however often it is
//! sent, and answered the same each time; invalid sales are reported by item
//! and field without losing the valid ones.

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use store::pos::{NewItem, NewSale, SaleOutcome};

use crate::audit::Audit;
use crate::cnic::Cnic;
use crate::error::ApiError;
use crate::identity::{authenticate, ClientKind};
use crate::server::AppState;

/// The most sales one call may carry.
pub const MAX_SALES: usize = 1_000;
/// The most items one sale may carry.
pub const MAX_ITEMS: usize = 500;

/// Up to 1,000 sales; each is checked on its own.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Batch {
    #[schema(value_type = Vec<SaleIn>)]
    pub transactions: Vec<serde_json::Value>,
}

/// One sale at a till.
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SaleIn {
    pub transaction_id: String,
    pub store_id: String,
    pub terminal_id: String,
    pub cnic: String,
    pub occurred_at: DateTime<Utc>,
    pub items: Vec<ItemIn>,
}

/// One line of a sale.
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemIn {
    pub sku: String,
    pub category: String,
    pub quantity: f64,
    /// Rupees, at most two decimals.
    pub unit_price: f64,
    /// Rupees of subsidy per unit, at most the unit price.
    pub subsidy: f64,
}

/// What is wrong with one field of one sale.
#[derive(Debug, Serialize, PartialEq, utoipa::ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// What became of one sale.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SaleResult {
    pub index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<String>,
    /// `accepted` (stored now or before, identically), `conflict` (the id was
    /// stored before with other content) or `rejected` (see `errors`).
    pub status: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

/// What became of a batch.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BatchResult {
    pub accepted: usize,
    pub rejected: usize,
    pub results: Vec<SaleResult>,
}

fn ident(field: &str, v: &str, errors: &mut Vec<FieldError>) {
    let ok = (1..=64).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':' | b'/'));
    if !ok {
        errors.push(FieldError {
            field: field.into(),
            message: "1-64 characters of A-Z a-z 0-9 - _ . : /".into(),
        });
    }
}

/// Rupees to paisa, refusing negative, non-finite, too large or sub-paisa amounts.
fn paisa(rupees: f64) -> Option<i64> {
    if !rupees.is_finite() || !(0.0..=10_000_000.0).contains(&rupees) {
        return None;
    }
    let p = (rupees * 100.0).round();
    #[allow(clippy::cast_possible_truncation, reason = "bounded above")]
    ((p - rupees * 100.0).abs() < 1e-6).then_some(p as i64)
}

/// Check one item; on success the row to store, else errors appended.
fn validate_item(i: usize, item: &ItemIn, errors: &mut Vec<FieldError>) -> Option<NewItem> {
    let at = |f: &str| format!("items[{i}].{f}");
    let before = errors.len();
    ident(&at("sku"), &item.sku, errors);
    if !(1..=64).contains(&item.category.len()) || item.category.chars().any(char::is_control) {
        errors.push(FieldError {
            field: at("category"),
            message: "1-64 printable characters".into(),
        });
    }
    if !item.quantity.is_finite() || item.quantity <= 0.0 || item.quantity > 10_000.0 {
        errors.push(FieldError {
            field: at("quantity"),
            message: "a number above 0 and at most 10000".into(),
        });
    }
    let price = paisa(item.unit_price);
    let subsidy = paisa(item.subsidy);
    if price.is_none() {
        errors.push(FieldError {
            field: at("unit_price"),
            message: "rupees from 0 to 10000000, at most two decimals".into(),
        });
    }
    match (subsidy, price) {
        (None, _) => errors.push(FieldError {
            field: at("subsidy"),
            message: "rupees from 0, at most two decimals".into(),
        }),
        (Some(s), Some(p)) if s > p => {
            errors.push(FieldError {
                field: at("subsidy"),
                message: "is more than the unit price".into(),
            });
        }
        _ => {}
    }
    (errors.len() == before).then(|| NewItem {
        sku: item.sku.clone(),
        category: item.category.clone(),
        quantity: item.quantity,
        unit_price_paisa: price.unwrap_or(0),
        subsidy_paisa: subsidy.unwrap_or(0),
    })
}

/// Check one sale; on success the row to store.
pub fn validate(
    value: serde_json::Value,
    now: DateTime<Utc>,
) -> Result<NewSale, (Option<String>, Vec<FieldError>)> {
    let tid = value
        .get("transaction_id")
        .and_then(|v| v.as_str())
        .map(str::to_owned);
    let sale: SaleIn = serde_path_to_error::deserialize(value).map_err(|e| {
        let field = e.path().to_string();
        (
            tid.clone(),
            vec![FieldError {
                field,
                message: e.into_inner().to_string(),
            }],
        )
    })?;
    let mut errors = Vec::new();
    ident("transaction_id", &sale.transaction_id, &mut errors);
    ident("store_id", &sale.store_id, &mut errors);
    ident("terminal_id", &sale.terminal_id, &mut errors);
    let cnic = Cnic::parse(&sale.cnic);
    if let Err(e) = cnic {
        errors.push(FieldError {
            field: "cnic".into(),
            message: e.to_string(),
        });
    }
    if sale.occurred_at > now + chrono::Duration::minutes(5) {
        errors.push(FieldError {
            field: "occurred_at".into(),
            message: "is in the future".into(),
        });
    }
    if sale.occurred_at.timestamp() < 1_577_836_800 {
        errors.push(FieldError {
            field: "occurred_at".into(),
            message: "is before 2020".into(),
        });
    }
    if sale.items.is_empty() || sale.items.len() > MAX_ITEMS {
        errors.push(FieldError {
            field: "items".into(),
            message: format!("1 to {MAX_ITEMS} items"),
        });
    }
    let items: Vec<NewItem> = sale
        .items
        .iter()
        .enumerate()
        .filter_map(|(i, item)| validate_item(i, item, &mut errors))
        .collect();
    let (Ok(cnic), true) = (cnic, errors.is_empty()) else {
        return Err((Some(sale.transaction_id), errors));
    };
    // A canonical digest of what was sold, so a replay is recognised as the same sale.
    let canonical = serde_json::to_vec(&sale).unwrap_or_default();
    Ok(NewSale {
        payload_sha256: hex::encode(Sha256::digest(&canonical)),
        transaction_id: sale.transaction_id,
        store_id: sale.store_id,
        terminal_id: sale.terminal_id,
        cnic: cnic.digits().to_owned(),
        occurred_at: sale.occurred_at.naive_utc(),
        items,
    })
}

/// Store the valid sales; mark those whose id was used before for other content.
async fn store_sales(
    state: &AppState,
    client_id: i64,
    valid: Vec<NewSale>,
    valid_index: &[usize],
    results: &mut [SaleResult],
) -> Result<(), ApiError> {
    let pool = state.pool.clone();
    let outcomes = web::block(move || -> Result<_, store::StoreError> {
        let mut conn = pool.get()?;
        store::pos::record_sales(&mut conn, client_id, &valid)
    })
    .await??;
    for (&i, outcome) in valid_index.iter().zip(outcomes) {
        if outcome == SaleOutcome::Conflict {
            results[i].status = "conflict";
            results[i].errors.push(FieldError {
                field: "transaction_id".into(),
                message: "was stored before with different content".into(),
            });
        }
    }
    Ok(())
}

#[utoipa::path(
    post,
    path = "/v1/pos/transactions",
    tag = "tills",
    request_body = Batch,
    responses(
        (status = 200, description = "Per-sale results: accepted, conflict or rejected with field errors", body = BatchResult),
        (status = 400, description = "Not a batch, or more than 1,000 sales", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a till", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over the configured limit", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Rate limit exceeded", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn post(
    req: HttpRequest,
    body: web::Json<Batch>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    // A body that is not a JSON batch never reaches here: it is refused with
    // 400/413 by the extractor (and noted in the application log only; no
    // data is involved). Every batch that is read is logged.
    let mut audit = Audit::new("pos_feedback", "POST /v1/pos/transactions");
    let outcome = receive(&req, body.into_inner(), &state, &mut audit).await;
    audit.finish(&req, &state, outcome).await
}

async fn receive(
    req: &HttpRequest,
    body: Batch,
    state: &AppState,
    audit: &mut Audit,
) -> Result<HttpResponse, ApiError> {
    let caller = authenticate(req, state).await?;
    audit.caller(&caller);
    if caller.client.kind != ClientKind::Machine || caller.user.is_some() {
        return Err(ApiError::forbidden(
            "not-a-till",
            "only till systems send point-of-sale transactions",
        ));
    }
    let grant =
        crate::identity::grant_for(state, caller.client.org.id, policy::SearchType::PmtByCnic)
            .await?;
    audit.grant(&grant);
    // Only a till may send sales: a machine client whose grant for the PMT
    // lookup is in force (the policy checks validity and standing).
    let request = policy::Request {
        caller: caller.policy_caller()?,
        search_type: policy::SearchType::PmtByCnic,
        grant: grant.grant.clone(),
    };
    state
        .policy
        .decide(&request, Utc::now().date_naive())
        .map_err(|_| {
            ApiError::forbidden(
                "not-a-till",
                "only till systems with a grant in force send point-of-sale transactions",
            )
        })?;
    let Batch { transactions } = body;
    audit.parameter("sales", transactions.len().into());
    if transactions.is_empty() || transactions.len() > MAX_SALES {
        return Err(ApiError::BadRequest(format!(
            "transactions: 1 to {MAX_SALES} sales per call"
        )));
    }
    let now = Utc::now();
    let mut results = Vec::with_capacity(transactions.len());
    let mut valid = Vec::new();
    let mut valid_index = Vec::new();
    for (index, value) in transactions.into_iter().enumerate() {
        match validate(value, now) {
            Ok(sale) => {
                valid_index.push(results.len());
                results.push(SaleResult {
                    index,
                    transaction_id: Some(sale.transaction_id.clone()),
                    status: "accepted",
                    errors: vec![],
                });
                valid.push(sale);
            }
            Err((transaction_id, errors)) => results.push(SaleResult {
                index,
                transaction_id,
                status: "rejected",
                errors,
            }),
        }
    }
    if !valid.is_empty() {
        store_sales(state, caller.client.id, valid, &valid_index, &mut results).await?;
    }
    let accepted = results.iter().filter(|r| r.status == "accepted").count();
    Ok(HttpResponse::Ok().json(BatchResult {
        accepted,
        rejected: results.len() - accepted,
        results,
    }))
}
