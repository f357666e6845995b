//! Reading and writing the registry: lookups by CNIC, by geography and by PMT
//! range, and batch inserts for the generator.

use diesel::prelude::*;

use crate::db::DbConn;
use crate::error::Result;
use crate::models::{Flag, GeoUnit, Household, HouseholdRecord, Member, Payment};
use crate::schema::{cct_payments, geo_units, household_flags, households, members};

/// A level of the administrative geography with the code of one unit at it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Area {
    Province(i32),
    District(i32),
    Tehsil(i32),
    UnionCouncil(i32),
}

/// What the USC till needs: the PMT score, survey date and household size of
/// the household a CNIC belongs to.
#[derive(Debug, Clone, PartialEq, Queryable)]
pub struct PmtFacts {
    pub household_id: i64,
    pub pmt_score: f64,
    pub survey_date: chrono::NaiveDate,
    pub size: i32,
}

/// The till's hot path: one indexed lookup, no other rows read; on the
/// backend's own connection, so the statement stays prepared in its cache.
pub fn pmt_by_cnic(conn: &mut DbConn, cnic: &str) -> Result<Option<PmtFacts>> {
    Ok(crate::access::on_backend!(conn, c => members::table
        .inner_join(households::table)
        .filter(members::cnic.eq(cnic))
        .select((
            households::id,
            households::pmt_score,
            households::survey_date,
            households::size,
        ))
        .first::<PmtFacts>(c)
        .optional())?)
}

/// The household a CNIC belongs to, with its members (in line order),
/// payments and flags.
pub fn household_by_cnic(conn: &mut DbConn, cnic: &str) -> Result<Option<HouseholdRecord>> {
    let id: Option<i64> = members::table
        .filter(members::cnic.eq(cnic))
        .select(members::household_id)
        .first(conn)
        .optional()?;
    match id {
        Some(id) => household(conn, id),
        None => Ok(None),
    }
}

/// One household by id, with everything that hangs off it.
pub fn household(conn: &mut DbConn, id: i64) -> Result<Option<HouseholdRecord>> {
    let Some(household) = households::table
        .find(id)
        .select(Household::as_select())
        .first(conn)
        .optional()?
    else {
        return Ok(None);
    };
    let members = members::table
        .filter(members::household_id.eq(id))
        .order(members::line_no)
        .select(Member::as_select())
        .load(conn)?;
    let payments = cct_payments::table
        .filter(cct_payments::household_id.eq(id))
        .order(cct_payments::paid_on)
        .select(Payment::as_select())
        .load(conn)?;
    let flags = household_flags::table
        .filter(household_flags::household_id.eq(id))
        .order(household_flags::raised_at)
        .select(Flag::as_select())
        .load(conn)?;
    Ok(Some(HouseholdRecord {
        household,
        members,
        payments,
        flags,
    }))
}

/// Ids of the households in an area, optionally within a PMT range
/// (inclusive), in id order, starting after `after_id`, at most `limit`.
pub fn household_ids_in_area(
    conn: &mut DbConn,
    area: Area,
    pmt: Option<(f64, f64)>,
    after_id: i64,
    limit: i64,
) -> Result<Vec<i64>> {
    let mut q = households::table
        .select(households::id)
        .filter(households::id.gt(after_id))
        .order(households::id)
        .limit(limit)
        .into_boxed();
    q = match area {
        Area::Province(c) => q.filter(households::province_code.eq(c)),
        Area::District(c) => q.filter(households::district_code.eq(c)),
        Area::Tehsil(c) => q.filter(households::tehsil_code.eq(c)),
        Area::UnionCouncil(c) => q.filter(households::uc_code.eq(c)),
    };
    if let Some((lo, hi)) = pmt {
        q = q.filter(households::pmt_score.between(lo, hi));
    }
    Ok(q.load(conn)?)
}

/// The geography: every province, district, tehsil and union council.
pub fn geo_units(conn: &mut DbConn) -> Result<Vec<GeoUnit>> {
    Ok(geo_units::table
        .order(geo_units::code)
        .select(GeoUnit::as_select())
        .load(conn)?)
}

/// How many households the registry holds.
pub fn household_count(conn: &mut DbConn) -> Result<i64> {
    Ok(households::table.count().get_result(conn)?)
}

/// A batch of registry rows to insert together.
#[derive(Debug, Default, Clone)]
pub struct Batch {
    pub households: Vec<Household>,
    pub members: Vec<Member>,
    pub payments: Vec<Payment>,
    pub flags: Vec<Flag>,
}

/// Insert geography units (the generator writes them once).
pub fn insert_geo_units(conn: &mut DbConn, units: &[GeoUnit]) -> Result<()> {
    for chunk in units.chunks(2000) {
        match conn {
            DbConn::Sqlite(c) => diesel::insert_into(geo_units::table)
                .values(chunk)
                .execute(c)?,
            DbConn::Pg(c) => diesel::insert_into(geo_units::table)
                .values(chunk)
                .execute(c)?,
        };
    }
    Ok(())
}

/// Insert a batch, chunked below each backend's bind-parameter limit.
/// Batch inserts do not compile on the `DbConn` enum, so each arm runs the
/// same diesel code on the inner connection.
pub fn insert_batch(conn: &mut DbConn, batch: &Batch) -> Result<()> {
    // SQLite allows 32766 bind parameters per statement, PostgreSQL 65535.
    macro_rules! insert_chunked {
        ($c:expr, $table:expr, $rows:expr, $cols:expr) => {
            for chunk in $rows.chunks(32_000 / $cols) {
                diesel::insert_into($table).values(chunk).execute($c)?;
            }
        };
    }
    match conn {
        DbConn::Sqlite(c) => {
            insert_chunked!(c, households::table, batch.households, 34);
            insert_chunked!(c, members::table, batch.members, 17);
            insert_chunked!(c, cct_payments::table, batch.payments, 6);
            insert_chunked!(c, household_flags::table, batch.flags, 9);
        }
        DbConn::Pg(c) => {
            insert_chunked!(c, households::table, batch.households, 34);
            insert_chunked!(c, members::table, batch.members, 17);
            insert_chunked!(c, cct_payments::table, batch.payments, 6);
            insert_chunked!(c, household_flags::table, batch.flags, 9);
        }
    }
    Ok(())
}
