//! Bills as stored: the charge lines of closed periods, written once when the
//! period is closed, and adjustment lines added after. Nothing here updates or
//! deletes a line: a closed bill is corrected by adding to it. Also the reads
//! an export needs, taken from one consistent snapshot of the database.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable};
use serde::Serialize;

use crate::access::{on_backend, ClientSystem, Organisation};
use crate::audit::UsageRow;
use crate::db::DbConn;
use crate::error::StoreError;
use crate::schema::{
    access_log, bill_line_details, bill_lines, client_systems, closed_period_details,
    closed_periods, organisations,
};

/// What can go wrong closing or adjusting a period.
#[derive(Debug, thiserror::Error)]
pub enum BillingError {
    /// The period was closed before; its bill is immutable.
    #[error("period {0} is already closed; correct it with an adjustment line")]
    AlreadyClosed(String),
    /// Adjustments go to closed periods only; an open period is still computed from usage.
    #[error("period {0} is not closed; close it before adjusting it")]
    NotClosed(String),
    /// No organisation with this id.
    #[error("no organisation with id {0}")]
    NoOrganisation(i64),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<diesel::result::Error> for BillingError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Store(StoreError::Query(e))
    }
}

/// Requests and rows straight from the access log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct LogTotals {
    pub requests: i64,
    pub rows: i64,
}

/// A line to write when closing a period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLine {
    pub organisation_id: i64,
    pub organisation_name: String,
    pub rate_class: String,
    pub service: String,
    pub requests: i64,
    pub rows: i64,
    pub rate_paisa: i64,
    pub per_rows: i64,
    pub amount_paisa: i64,
    pub segment_from: Option<NaiveDate>,
    pub segment_to: Option<NaiveDate>,
    pub note: String,
}

/// A stored line of a closed period, charge or adjustment.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Serialize)]
pub struct StoredLine {
    pub id: i64,
    pub period: String,
    pub organisation_id: i64,
    pub service: String,
    /// `charge` or `adjustment`.
    pub kind: String,
    pub rows: i64,
    pub rate_paisa: i64,
    pub amount_paisa: i64,
    pub note: String,
    pub created_at: NaiveDateTime,
    pub organisation_name: String,
    pub rate_class: String,
    pub per_rows: i64,
    pub requests: i64,
    pub segment_from: Option<NaiveDate>,
    pub segment_to: Option<NaiveDate>,
}

/// A closed period and what the log and the bill held when it was closed.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Serialize)]
pub struct ClosedPeriod {
    pub period: String,
    pub closed_at: NaiveDateTime,
    pub log_rows: i64,
    pub billed_rows: i64,
    pub log_requests: i64,
    pub billed_requests: i64,
    pub rate_card: String,
    pub sample_rates: bool,
}

/// The figures recorded with a closed period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseSnapshot {
    pub log: LogTotals,
    pub billed_requests: i64,
    pub billed_rows: i64,
    pub rate_card: String,
    pub sample_rates: bool,
}

/// Everything an export of one period reads, from one snapshot.
#[derive(Debug, Clone, Default)]
pub struct PeriodData {
    /// Set when the period is closed: then `lines` holds its bill and `usage` is empty.
    pub closed: Option<ClosedPeriod>,
    pub lines: Vec<StoredLine>,
    pub usage: Vec<UsageRow>,
    pub organisations: Vec<Organisation>,
    pub clients: Vec<ClientSystem>,
    /// The log's totals for the period now (for the reconciliation).
    pub log: LogTotals,
}

fn midnight(d: NaiveDate) -> NaiveDateTime {
    d.and_time(chrono::NaiveTime::MIN)
}

/// Requests and rows in the log for `[from, to)` (days, UTC), counting only
/// records with an organisation and a client system, as the usage roll-up
/// does; one pass over the log.
pub fn log_totals(
    conn: &mut DbConn,
    from: NaiveDate,
    to: NaiveDate,
    organisation_id: Option<i64>,
) -> Result<LogTotals, StoreError> {
    macro_rules! totals {
        ($backend:ty) => {{
            let mut q = access_log::table
                .filter(access_log::at.ge(midnight(from)))
                .filter(access_log::at.lt(midnight(to)))
                .filter(access_log::organisation_id.is_not_null())
                .filter(access_log::client_system_id.is_not_null())
                .into_boxed::<$backend>();
            if let Some(o) = organisation_id {
                q = q.filter(access_log::organisation_id.eq(o));
            }
            q.select(diesel::dsl::sql::<(BigInt, Nullable<BigInt>)>(
                "COUNT(*), CAST(SUM(rows_returned) AS BIGINT)",
            ))
        }};
    }
    let (requests, rows): (i64, Option<i64>) = match conn {
        DbConn::Sqlite(c) => totals!(diesel::sqlite::Sqlite).first(c)?,
        DbConn::Pg(c) => totals!(diesel::pg::Pg).first(c)?,
    };
    Ok(LogTotals {
        requests,
        rows: rows.unwrap_or(0),
    })
}

/// The closed period `period`, if it is closed.
pub fn closed_period(conn: &mut DbConn, period: &str) -> Result<Option<ClosedPeriod>, StoreError> {
    Ok(closed_periods::table
        .inner_join(closed_period_details::table)
        .filter(closed_periods::period.eq(period))
        .select((
            closed_periods::period,
            closed_periods::closed_at,
            closed_periods::log_rows,
            closed_periods::billed_rows,
            closed_period_details::log_requests,
            closed_period_details::billed_requests,
            closed_period_details::rate_card,
            closed_period_details::sample_rates,
        ))
        .first(conn)
        .optional()?)
}

/// The lines of a closed period (charges, then adjustments, in the order
/// written), optionally for one organisation.
pub fn lines(
    conn: &mut DbConn,
    period: &str,
    organisation_id: Option<i64>,
) -> Result<Vec<StoredLine>, StoreError> {
    let mut q = bill_lines::table
        .inner_join(bill_line_details::table)
        .filter(bill_lines::period.eq(period))
        .order(bill_lines::id)
        .select((
            bill_lines::id,
            bill_lines::period,
            bill_lines::organisation_id,
            bill_lines::service,
            bill_lines::kind,
            bill_lines::rows_billed,
            bill_lines::rate_paisa,
            bill_lines::amount_paisa,
            bill_lines::note,
            bill_lines::created_at,
            bill_line_details::organisation_name,
            bill_line_details::rate_class,
            bill_line_details::per_rows,
            bill_line_details::requests,
            bill_line_details::segment_from,
            bill_line_details::segment_to,
        ))
        .into_boxed();
    if let Some(o) = organisation_id {
        q = q.filter(bill_lines::organisation_id.eq(o));
    }
    Ok(q.load(conn)?)
}

/// Read what an export of `period` (`[from, to)`) needs in one snapshot, so
/// the usage and the log totals it is reconciled with agree.
pub fn period_data(
    conn: &mut DbConn,
    period: &str,
    from: NaiveDate,
    to: NaiveDate,
    organisation_id: Option<i64>,
) -> Result<PeriodData, StoreError> {
    let is_pg = matches!(conn, DbConn::Pg(_));
    conn.transaction(|conn| {
        if is_pg {
            // The first statement of the transaction: one snapshot for all reads.
            diesel::sql_query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                .execute(conn)?;
        }
        let closed = closed_period(conn, period)?;
        let (lines, usage) = if closed.is_some() {
            (lines(conn, period, organisation_id)?, Vec::new())
        } else {
            (
                Vec::new(),
                crate::audit::usage(conn, from, to, organisation_id)?,
            )
        };
        let organisations = organisations::table
            .order(organisations::id)
            .select(Organisation::as_select())
            .load(conn)?;
        let clients = client_systems::table
            .order(client_systems::id)
            .select(ClientSystem::as_select())
            .load(conn)?;
        let log = log_totals(conn, from, to, organisation_id)?;
        Ok(PeriodData {
            closed,
            lines,
            usage,
            organisations,
            clients,
            log,
        })
    })
}

fn now() -> NaiveDateTime {
    chrono::Utc::now().naive_utc()
}

fn next_line_id(conn: &mut DbConn) -> Result<i64, StoreError> {
    let max: Option<i64> = bill_lines::table
        .select(diesel::dsl::max(bill_lines::id))
        .first(conn)?;
    Ok(max.unwrap_or(0) + 1)
}

fn insert_line(
    conn: &mut DbConn,
    id: i64,
    period: &str,
    kind: &str,
    line: &NewLine,
    at: NaiveDateTime,
) -> Result<(), StoreError> {
    on_backend!(conn, c => diesel::insert_into(bill_lines::table)
        .values((
            bill_lines::id.eq(id),
            bill_lines::period.eq(period),
            bill_lines::organisation_id.eq(line.organisation_id),
            bill_lines::service.eq(&line.service),
            bill_lines::kind.eq(kind),
            bill_lines::rows_billed.eq(line.rows),
            bill_lines::rate_paisa.eq(line.rate_paisa),
            bill_lines::amount_paisa.eq(line.amount_paisa),
            bill_lines::note.eq(&line.note),
            bill_lines::created_at.eq(at),
        ))
        .execute(c))?;
    on_backend!(conn, c => diesel::insert_into(bill_line_details::table)
        .values((
            bill_line_details::line_id.eq(id),
            bill_line_details::organisation_name.eq(&line.organisation_name),
            bill_line_details::rate_class.eq(&line.rate_class),
            bill_line_details::per_rows.eq(line.per_rows),
            bill_line_details::requests.eq(line.requests),
            bill_line_details::segment_from.eq(line.segment_from),
            bill_line_details::segment_to.eq(line.segment_to),
        ))
        .execute(c))?;
    Ok(())
}

/// Close `period`: write its charge lines and the closed-period record in
/// one transaction. Refused when the period is already closed.
pub fn close_period(
    conn: &mut DbConn,
    period: &str,
    charges: &[NewLine],
    snapshot: &CloseSnapshot,
) -> Result<ClosedPeriod, BillingError> {
    conn.transaction(|conn| {
        let closed_at = now();
        // The closed_periods row first: its primary key makes a concurrent
        // second close fail here rather than write lines twice.
        let inserted = on_backend!(conn, c => diesel::insert_into(closed_periods::table)
            .values((
                closed_periods::period.eq(period),
                closed_periods::closed_at.eq(closed_at),
                closed_periods::log_rows.eq(snapshot.log.rows),
                closed_periods::billed_rows.eq(snapshot.billed_rows),
            ))
            .on_conflict_do_nothing()
            .execute(c))?;
        if inserted == 0 {
            return Err(BillingError::AlreadyClosed(period.to_owned()));
        }
        on_backend!(conn, c => diesel::insert_into(closed_period_details::table)
            .values((
                closed_period_details::period.eq(period),
                closed_period_details::log_requests.eq(snapshot.log.requests),
                closed_period_details::billed_requests.eq(snapshot.billed_requests),
                closed_period_details::rate_card.eq(&snapshot.rate_card),
                closed_period_details::sample_rates.eq(snapshot.sample_rates),
            ))
            .execute(c))?;
        let first = next_line_id(conn)?;
        for (id, line) in (first..).zip(charges) {
            insert_line(conn, id, period, "charge", line, closed_at)?;
        }
        closed_period(conn, period)?
            .ok_or_else(|| BillingError::Store(StoreError::Query(diesel::result::Error::NotFound)))
    })
}

/// Add an adjustment line (credit when negative) to a closed period.
pub fn add_adjustment(
    conn: &mut DbConn,
    period: &str,
    organisation_id: i64,
    amount_paisa: i64,
    note: &str,
) -> Result<StoredLine, BillingError> {
    conn.transaction(|conn| {
        if closed_period(conn, period)?.is_none() {
            return Err(BillingError::NotClosed(period.to_owned()));
        }
        let org = crate::access::organisation(conn, organisation_id)?
            .ok_or(BillingError::NoOrganisation(organisation_id))?;
        let id = next_line_id(conn)?;
        let line = NewLine {
            organisation_id,
            organisation_name: org.name,
            rate_class: String::new(),
            service: "adjustment".into(),
            requests: 0,
            rows: 0,
            rate_paisa: 0,
            per_rows: 1,
            amount_paisa,
            segment_from: None,
            segment_to: None,
            note: note.to_owned(),
        };
        insert_line(conn, id, period, "adjustment", &line, now())?;
        lines(conn, period, Some(organisation_id))?
            .into_iter()
            .find(|l| l.id == id)
            .ok_or_else(|| BillingError::Store(StoreError::Query(diesel::result::Error::NotFound)))
    })
}
