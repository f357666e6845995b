//! Point-of-sale transactions sent back by USC tills, stored once per
//! (client system, transaction id) however often they are sent.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};

use crate::access::on_backend;
use crate::db::DbConn;
use crate::error::Result;
use crate::schema::{pos_items, pos_transactions};

/// A sale as validated by the api, ready to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSale {
    pub transaction_id: String,
    /// SHA-256 of the sale's canonical form: a replay must carry the same.
    pub payload_sha256: String,
    pub store_id: String,
    pub terminal_id: String,
    pub cnic: String,
    pub occurred_at: NaiveDateTime,
    pub items: Vec<NewItem>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewItem {
    pub sku: String,
    pub category: String,
    pub quantity: f64,
    pub unit_price_paisa: i64,
    pub subsidy_paisa: i64,
}

/// What became of one sale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaleOutcome {
    /// Stored now.
    Stored,
    /// Stored earlier with the same content: nothing written.
    AlreadyStored,
    /// Stored earlier with different content under the same transaction id.
    Conflict,
}

/// Store each sale once. One database transaction for the batch; each sale
/// in a savepoint, so a race with a concurrent replay resolves to `AlreadyStored`.
pub fn record_sales(
    conn: &mut DbConn,
    client_system_id: i64,
    sales: &[NewSale],
) -> Result<Vec<SaleOutcome>> {
    let received_at = chrono::Utc::now().naive_utc();
    conn.transaction(|conn| {
        if let DbConn::Sqlite(c) = conn {
            // Take SQLite's write lock before the first read: a transaction
            // that has read cannot wait for the lock and fails with "database
            // is locked" when another writer committed meanwhile; one that
            // asks for it first waits (busy timeout) like a BEGIN IMMEDIATE.
            diesel::sql_query("UPDATE pos_transactions SET id = id WHERE 0").execute(c)?;
        }
        let mut outcomes = Vec::with_capacity(sales.len());
        for sale in sales {
            outcomes.push(record_one(conn, client_system_id, sale, received_at)?);
        }
        Ok(outcomes)
    })
}

fn existing(
    conn: &mut DbConn,
    client_system_id: i64,
    sale: &NewSale,
) -> Result<Option<SaleOutcome>, DieselError> {
    let hash: Option<String> = pos_transactions::table
        .filter(pos_transactions::client_system_id.eq(client_system_id))
        .filter(pos_transactions::transaction_id.eq(&sale.transaction_id))
        .select(pos_transactions::payload_sha256)
        .first(conn)
        .optional()?;
    Ok(hash.map(|h| {
        if h == sale.payload_sha256 {
            SaleOutcome::AlreadyStored
        } else {
            SaleOutcome::Conflict
        }
    }))
}

fn record_one(
    conn: &mut DbConn,
    client_system_id: i64,
    sale: &NewSale,
    received_at: NaiveDateTime,
) -> Result<SaleOutcome, DieselError> {
    if let Some(outcome) = existing(conn, client_system_id, sale)? {
        return Ok(outcome);
    }
    let total: i64 = sale
        .items
        .iter()
        .map(|i| line_total(i.quantity, i.unit_price_paisa))
        .sum();
    let subsidy: i64 = sale
        .items
        .iter()
        .map(|i| line_total(i.quantity, i.subsidy_paisa))
        .sum();
    let inserted = conn.transaction(|conn| {
        let id: i64 = on_backend!(conn, c => diesel::insert_into(pos_transactions::table)
            .values((
                pos_transactions::client_system_id.eq(client_system_id),
                pos_transactions::transaction_id.eq(&sale.transaction_id),
                pos_transactions::payload_sha256.eq(&sale.payload_sha256),
                pos_transactions::store_id.eq(&sale.store_id),
                pos_transactions::terminal_id.eq(&sale.terminal_id),
                pos_transactions::cnic.eq(&sale.cnic),
                pos_transactions::occurred_at.eq(sale.occurred_at),
                pos_transactions::total_paisa.eq(total),
                pos_transactions::subsidy_paisa.eq(subsidy),
                pos_transactions::received_at.eq(received_at),
            ))
            .returning(pos_transactions::id)
            .get_result(c))?;
        let rows: Vec<_> = sale
            .items
            .iter()
            .zip(1..)
            .map(|(i, line_no): (&NewItem, i32)| {
                (
                    pos_items::pos_transaction_id.eq(id),
                    pos_items::line_no.eq(line_no),
                    pos_items::sku.eq(&i.sku),
                    pos_items::category.eq(&i.category),
                    pos_items::quantity.eq(i.quantity),
                    pos_items::unit_price_paisa.eq(i.unit_price_paisa),
                    pos_items::subsidy_paisa.eq(i.subsidy_paisa),
                )
            })
            .collect();
        on_backend!(conn, c => diesel::insert_into(pos_items::table).values(&rows).execute(c))?;
        Ok::<_, DieselError>(())
    });
    match inserted {
        Ok(()) => Ok(SaleOutcome::Stored),
        Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
            Ok(existing(conn, client_system_id, sale)?.unwrap_or(SaleOutcome::Conflict))
        }
        Err(e) => Err(e),
    }
}

#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_precision_loss,
    reason = "paisa totals of a till sale fit easily"
)]
fn line_total(quantity: f64, paisa: i64) -> i64 {
    (quantity * paisa as f64).round() as i64
}

/// How many sales a client system has stored (for tests and reports).
pub fn sale_count(conn: &mut DbConn, client_system_id: i64) -> Result<i64> {
    Ok(pos_transactions::table
        .filter(pos_transactions::client_system_id.eq(client_system_id))
        .count()
        .get_result(conn)?)
}
