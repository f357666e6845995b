//! The access log as stored: batches of records forming a hash chain (the
//! hashing itself is the metering crate's), the chain head, and the daily
//! usage rolled up in the same transaction as each batch.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::access::on_backend;
use crate::db::DbConn;
use crate::error::Result;
use crate::schema::{access_batches, access_chain_head, access_log, usage_daily};

/// One access record as stored.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, Serialize, Deserialize)]
#[diesel(table_name = access_log)]
// `None` is bound as NULL (what the columns' default is anyway), not written
// as `DEFAULT`: diesel inserts rows holding a `DEFAULT` into SQLite one
// statement each, and a multi-row insert needs none.
#[diesel(treat_none_as_default_value = false)]
pub struct AccessRow {
    pub id: i64,
    pub batch_id: i64,
    pub at: NaiveDateTime,
    pub request_id: String,
    pub client_ip: String,
    pub organisation_id: Option<i64>,
    pub organisation_name: Option<String>,
    pub org_type: Option<String>,
    pub client_system_id: Option<i64>,
    pub client_name: Option<String>,
    pub user_id: Option<i64>,
    pub user_name: Option<String>,
    pub search_type: String,
    pub endpoint: String,
    pub parameters: String,
    pub subject_hash: Option<String>,
    pub rows_returned: i64,
    pub status: i32,
    pub grant_id: Option<i64>,
    pub purpose: Option<String>,
    pub withheld: String,
}

/// One committed batch.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, Serialize, Deserialize)]
#[diesel(table_name = access_batches)]
pub struct BatchRow {
    pub id: i64,
    pub committed_at: NaiveDateTime,
    pub record_count: i32,
    pub records_hash: String,
    pub prev_hash: String,
    pub batch_hash: String,
}

/// The chain head: the newest batch and its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub last_batch_id: i64,
    pub last_hash: String,
    /// The next free record id.
    pub next_record_id: i64,
}

/// Read the head. Call inside [`write_transaction`]: on SQLite that holds
/// the write lock from its start; on PostgreSQL the head row is locked here
/// (`FOR UPDATE`) so concurrent writers (replicas) serialise.
pub fn lock_head(conn: &mut DbConn) -> Result<Head> {
    let head = access_chain_head::table.select((
        access_chain_head::last_batch_id,
        access_chain_head::last_hash,
    ));
    let (last_batch_id, last_hash): (i64, String) = match conn {
        DbConn::Pg(c) => head.for_update().first(c)?,
        DbConn::Sqlite(c) => head.first(c)?,
    };
    let max_id: Option<i64> = access_log::table
        .select(diesel::dsl::max(access_log::id))
        .first(conn)?;
    Ok(Head {
        last_batch_id,
        last_hash,
        next_record_id: max_id.unwrap_or(0) + 1,
    })
}

/// A fixed SQLite statement with a static query id of its own, so the
/// connection prepares it once (`diesel::sql_query` and the transaction
/// manager's `BEGIN` are parsed again on every call). One type per
/// statement: the statement cache is keyed by type.
macro_rules! sqlite_statement {
    ($name:ident, $sql:literal) => {
        #[derive(Debug, Clone, Copy, diesel::query_builder::QueryId)]
        struct $name;

        impl diesel::query_builder::QueryFragment<diesel::sqlite::Sqlite> for $name {
            fn walk_ast<'b>(
                &'b self,
                mut out: diesel::query_builder::AstPass<'_, 'b, diesel::sqlite::Sqlite>,
            ) -> QueryResult<()> {
                out.push_sql($sql);
                Ok(())
            }
        }

        impl RunQueryDsl<diesel::SqliteConnection> for $name {}
    };
}
sqlite_statement!(BeginImmediate, "BEGIN IMMEDIATE");
sqlite_statement!(Commit, "COMMIT");
sqlite_statement!(Rollback, "ROLLBACK");

/// Run `f` in one write transaction. On SQLite the write lock is taken at
/// once and `BEGIN`/`COMMIT` are cached prepared statements (the log
/// writer's per-batch cost); on PostgreSQL this is `Connection::transaction`.
/// Call on a connection with no transaction open.
pub fn write_transaction<T>(
    conn: &mut DbConn,
    f: impl FnOnce(&mut DbConn) -> Result<T>,
) -> Result<T> {
    if let DbConn::Pg(_) = conn {
        return conn.transaction(f);
    }
    if let DbConn::Sqlite(c) = conn {
        BeginImmediate.execute(c)?;
    }
    let result = f(conn);
    let DbConn::Sqlite(c) = conn else {
        return result;
    };
    match result {
        Ok(v) => match Commit.execute(c) {
            Ok(_) => Ok(v),
            Err(e) => {
                let _ = Rollback.execute(c);
                Err(e.into())
            }
        },
        Err(e) => {
            let _ = Rollback.execute(c);
            Err(e)
        }
    }
}

/// The head as stored, without locking.
pub fn head(conn: &mut DbConn) -> Result<(i64, String)> {
    Ok(access_chain_head::table
        .select((
            access_chain_head::last_batch_id,
            access_chain_head::last_hash,
        ))
        .first(conn)?)
}

/// (day, organisation, client system, search type, grant) of a usage line.
type UsageKey<'a> = (NaiveDate, i64, i64, &'a str, i64);

/// Rows per multi-row insert into the SQLite access log.
const SQLITE_INSERT_ROWS: usize = 32;

/// The subject index's key for a subject hash: its first
/// [`SUBJECT_PREFIX`] hex digits as a signed 64-bit integer (the bits of
/// the unsigned number; migration `2026-12-02-000007_access_log_subject_key`
/// computes the same in SQL). `None` unless they are lowercase hex digits,
/// as every hash the gateway writes is.
#[must_use]
pub fn subject_key(hash: &str) -> Option<i64> {
    let digits = hash.get(..SUBJECT_PREFIX)?;
    if !digits
        .bytes()
        .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return None;
    }
    let key = u64::from_str_radix(digits, 16).ok()?;
    Some(i64::from_be_bytes(key.to_be_bytes()))
}

impl AccessRow {
    /// The subject index's key for this record ([`subject_key`] of its
    /// subject hash; `None` without one).
    #[must_use]
    pub fn subject_key(&self) -> Option<i64> {
        self.subject_hash.as_deref().and_then(subject_key)
    }
}

/// The columns of an access record as the writer inserts them, in order
/// (all of [`AccessRow`]'s; `subject_key` follows, derived from the hash).
macro_rules! record_columns {
    ($then:ident) => {
        $then!(
            id,
            batch_id,
            at,
            request_id,
            client_ip,
            organisation_id,
            organisation_name,
            org_type,
            client_system_id,
            client_name,
            user_id,
            user_name,
            search_type,
            endpoint,
            parameters,
            subject_hash,
            rows_returned,
            status,
            grant_id,
            purpose,
            withheld
        )
    };
}

/// `INSERT OR FAIL` of `N` records into the SQLite log, with their subject
/// keys.
///
/// A plain multi-row `INSERT` (conflict resolution `ABORT`) makes SQLite
/// keep a statement journal, a copy of every page the statement changes
/// that the transaction had already changed, so that a failing row can
/// undo the rows before it; and so does an immediate foreign key on any
/// multi-row statement. Here a failure rolls the whole transaction back
/// anyway, so `OR FAIL` (stop at the failing row, keep nothing of the
/// statement past the transaction) loses nothing, and the log's writer
/// connections run without foreign-key enforcement (`metering::writer`;
/// the batch a record names is inserted just before it, in the same
/// transaction, and `audit verify` checks every record against its
/// batch). Without both, the copies were ~16 % of the applier's time
/// (docs/performance.md, stop 15).
///
/// Each record's time is bound as the text diesel would bind it
/// ([`crate::timetext`]), written without chrono's format string (~3,300
/// instructions a record through diesel, stop 22).
struct SqliteInsert<'a, const N: usize> {
    rows: &'a [AccessRow; N],
    keys: [Option<i64>; N],
    times: [String; N],
}

impl<'a, const N: usize> SqliteInsert<'a, N> {
    fn new(rows: &'a [AccessRow; N]) -> Self {
        SqliteInsert {
            rows,
            keys: std::array::from_fn(|i| rows[i].subject_key()),
            times: std::array::from_fn(|i| crate::timetext::sqlite(rows[i].at)),
        }
    }
}

/// The statement cache's key: one prepared statement per row count.
struct SqliteInsertId<const N: usize>;

impl<const N: usize> diesel::query_builder::QueryId for SqliteInsert<'_, N> {
    type QueryId = SqliteInsertId<N>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<const N: usize> diesel::query_builder::QueryFragment<diesel::sqlite::Sqlite>
    for SqliteInsert<'_, N>
{
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, diesel::sqlite::Sqlite>,
    ) -> QueryResult<()> {
        macro_rules! column_list {
            ($($c:ident),*) => {
                concat!("INSERT OR FAIL INTO access_log (", $(stringify!($c), ", ",)* "subject_key) VALUES ")
            };
        }
        out.push_sql(record_columns!(column_list));
        for (i, ((r, key), time)) in self
            .rows
            .iter()
            .zip(&self.keys)
            .zip(&self.times)
            .enumerate()
        {
            out.push_sql(if i == 0 { "(" } else { ", (" });
            macro_rules! bind {
                (at) => {
                    out.push_bind_param::<diesel::sql_types::Text, _>(time)?;
                };
                ($c:ident) => {
                    out.push_bind_param::<<access_log::$c as diesel::Expression>::SqlType, _>(
                        &r.$c,
                    )?;
                };
            }
            macro_rules! binds {
                ($($c:ident),*) => {
                    $(
                        bind!($c);
                        out.push_sql(", ");
                    )*
                };
            }
            record_columns!(binds);
            out.push_bind_param::<<access_log::subject_key as diesel::Expression>::SqlType, _>(
                key,
            )?;
            out.push_sql(")");
        }
        Ok(())
    }
}

impl<const N: usize> diesel::RunQueryDsl<diesel::SqliteConnection> for SqliteInsert<'_, N> {}

/// An `UPDATE` of the SQLite log's bookkeeping with a static query id, so
/// that the connection prepares it once. Diesel marks every `UPDATE` it
/// builds unsafe to cache (its changesets may skip `None` fields), so the
/// applier's two updates were compiled again in every transaction, ~50,000
/// instructions each (docs/performance.md, stop 22).
macro_rules! sqlite_update {
    ($name:ident { $($field:ident: $ty:ty => $st:ty),* $(,)? }, $sql:literal) => {
        struct $name<'a> {
            $($field: &'a $ty,)*
        }

        impl diesel::query_builder::QueryId for $name<'_> {
            type QueryId = $name<'static>;
            const HAS_STATIC_QUERY_ID: bool = true;
        }

        impl diesel::query_builder::QueryFragment<diesel::sqlite::Sqlite> for $name<'_> {
            fn walk_ast<'b>(
                &'b self,
                mut out: diesel::query_builder::AstPass<'_, 'b, diesel::sqlite::Sqlite>,
            ) -> QueryResult<()> {
                // `?` in the statement, in the fields' order.
                let mut sql = $sql.split('?');
                out.push_sql(sql.next().unwrap_or_default());
                $(
                    out.push_bind_param::<$st, _>(self.$field)?;
                    out.push_sql(sql.next().unwrap_or_default());
                )*
                Ok(())
            }
        }

        impl diesel::RunQueryDsl<diesel::SqliteConnection> for $name<'_> {}
    };
}

sqlite_update!(
    SqliteHead { batch: i64 => diesel::sql_types::BigInt, hash: str => diesel::sql_types::Text },
    "UPDATE access_chain_head SET last_batch_id = ?, last_hash = ?"
);
sqlite_update!(
    SqliteUsage {
        requests: i64 => diesel::sql_types::BigInt,
        rows: i64 => diesel::sql_types::BigInt,
        day: NaiveDate => diesel::sql_types::Date,
        org: i64 => diesel::sql_types::BigInt,
        client: i64 => diesel::sql_types::BigInt,
        search: str => diesel::sql_types::Text,
        grant: i64 => diesel::sql_types::BigInt,
    },
    "UPDATE usage_daily SET requests = requests + ?, rows_returned = rows_returned + ? \
     WHERE day = ? AND organisation_id = ? AND client_system_id = ? AND search_type = ? \
     AND grant_id = ?"
);

/// Write batches (in chain order), their records (all of them, in id
/// order), the new head (the last batch) and the usage roll-up. Call inside
/// the transaction that called [`lock_head`], or, for batches already
/// chained and journaled, inside any [`write_transaction`].
pub fn append(conn: &mut DbConn, batches: &[BatchRow], rows: &[AccessRow]) -> Result<()> {
    let Some(last) = batches.last() else {
        return Ok(());
    };
    for batch in batches {
        on_backend!(conn, c => diesel::insert_into(access_batches::table).values(batch).execute(c))?;
    }
    match conn {
        // In-process: statements of a fixed length, prepared once and
        // kept in the connection's statement cache: 32 rows each, then one
        // at a time. A statement per row spent more in diesel (building and
        // looking up the statement, column names) than SQLite spent
        // inserting. See [`SqliteInsert`] for why `OR FAIL`.
        DbConn::Sqlite(c) => {
            let (chunks, rest) = rows.as_chunks::<SQLITE_INSERT_ROWS>();
            for chunk in chunks {
                SqliteInsert::new(chunk).execute(c)?;
            }
            for row in rest {
                SqliteInsert::new(std::array::from_ref(row)).execute(c)?;
            }
        }
        // Over the network: one multi-row statement per 1,000 records.
        DbConn::Pg(c) => {
            for chunk in rows.chunks(1_000) {
                // Each record with its subject key.
                let stored: Vec<_> = chunk
                    .iter()
                    .map(|row| {
                        let key = row.subject_key();
                        (row, access_log::subject_key.eq(key))
                    })
                    .collect();
                diesel::insert_into(access_log::table)
                    .values(stored)
                    .execute(c)?;
            }
        }
    }
    // On SQLite a statement prepared once per connection
    // ([`sqlite_update!`]); on PostgreSQL diesel's `UPDATE`, which the
    // server parses on every batch.
    match conn {
        DbConn::Sqlite(c) => SqliteHead {
            batch: &last.id,
            hash: &last.batch_hash,
        }
        .execute(c)?,
        DbConn::Pg(c) => diesel::update(access_chain_head::table)
            .set((
                access_chain_head::last_batch_id.eq(last.id),
                access_chain_head::last_hash.eq(&last.batch_hash),
            ))
            .execute(c)?,
    };
    roll_up_usage(conn, rows)
}

/// Add `rows` to the usage roll-up: requests and rows per day,
/// organisation, client system, search type and grant.
fn roll_up_usage(conn: &mut DbConn, rows: &[AccessRow]) -> Result<()> {
    let mut usage: std::collections::BTreeMap<UsageKey<'_>, (i64, i64)> =
        std::collections::BTreeMap::new();
    for r in rows {
        let (Some(org), Some(client)) = (r.organisation_id, r.client_system_id) else {
            continue;
        };
        let e = usage
            .entry((
                r.at.date(),
                org,
                client,
                r.search_type.as_str(),
                r.grant_id.unwrap_or(0),
            ))
            .or_default();
        e.0 += 1;
        e.1 += r.rows_returned;
    }
    for ((day, org, client, search, grant), (requests, rows_returned)) in usage {
        // An update of the day's line, and an insert only when there is none
        // yet: on SQLite both stay prepared, where diesel's `ON CONFLICT`
        // upsert is parsed again on every batch. No other writer can insert the line
        // in between: writers serialise on the chain head (PostgreSQL's
        // `FOR UPDATE`, SQLite's write lock).
        let updated = match conn {
            DbConn::Sqlite(c) => SqliteUsage {
                requests: &requests,
                rows: &rows_returned,
                day: &day,
                org: &org,
                client: &client,
                search,
                grant: &grant,
            }
            .execute(c)?,
            DbConn::Pg(c) => diesel::update(
                usage_daily::table
                    .filter(usage_daily::day.eq(day))
                    .filter(usage_daily::organisation_id.eq(org))
                    .filter(usage_daily::client_system_id.eq(client))
                    .filter(usage_daily::search_type.eq(search))
                    .filter(usage_daily::grant_id.eq(grant)),
            )
            .set((
                usage_daily::requests.eq(usage_daily::requests + requests),
                usage_daily::rows_returned.eq(usage_daily::rows_returned + rows_returned),
            ))
            .execute(c)?,
        };
        if updated == 0 {
            on_backend!(conn, c => diesel::insert_into(usage_daily::table)
                .values((
                    usage_daily::day.eq(day),
                    usage_daily::organisation_id.eq(org),
                    usage_daily::client_system_id.eq(client),
                    usage_daily::search_type.eq(search),
                    usage_daily::grant_id.eq(grant),
                    usage_daily::requests.eq(requests),
                    usage_daily::rows_returned.eq(rows_returned),
                ))
                .execute(c))?;
        }
    }
    Ok(())
}

/// Batches with id >= `from_id`, in order, at most `limit`.
pub fn batches(conn: &mut DbConn, from_id: i64, limit: i64) -> Result<Vec<BatchRow>> {
    Ok(access_batches::table
        .filter(access_batches::id.ge(from_id))
        .order(access_batches::id)
        .limit(limit)
        .select(BatchRow::as_select())
        .load(conn)?)
}

/// The first batch committed at or after `at`.
pub fn first_batch_since(conn: &mut DbConn, at: NaiveDateTime) -> Result<Option<i64>> {
    Ok(access_batches::table
        .filter(access_batches::committed_at.ge(at))
        .select(diesel::dsl::min(access_batches::id))
        .first(conn)?)
}

/// The batch before `id` (its hash starts the chain from there).
pub fn batch(conn: &mut DbConn, id: i64) -> Result<Option<BatchRow>> {
    Ok(access_batches::table
        .find(id)
        .select(BatchRow::as_select())
        .first(conn)
        .optional()?)
}

/// Records of batches `first..=last`, in id order, each with the subject
/// key stored beside it.
pub fn records_of_batches(
    conn: &mut DbConn,
    first: i64,
    last: i64,
) -> Result<Vec<(AccessRow, Option<i64>)>> {
    Ok(access_log::table
        .filter(access_log::batch_id.between(first, last))
        .order(access_log::id)
        .select((AccessRow::as_select(), access_log::subject_key))
        .load(conn)?)
}

/// How many hex digits of the subject hash the subject index's key holds
/// ([`subject_key`]).
pub const SUBJECT_PREFIX: usize = 16;

/// The subject index's buckets are of `1 << SUBJECT_BUCKET_BITS` record
/// ids: migration `2026-12-02-000008_access_log_subject_bucket` indexes
/// `(id >> 12, subject_key)`, and [`subject_ids`]' SQL must say `>> 12` too
/// for the index to serve it.
pub const SUBJECT_BUCKET_BITS: u32 = 12;

/// `access_log.id IN (...)`: the ids of the records with subject key `key`
/// (none when `None`), found by one probe of the subject index per bucket,
/// from the bucket of the newest record (or of the record below
/// `before_id`, when given and lower) down to the first.
fn subject_ids(
    conn: &DbConn,
    key: Option<i64>,
    before_id: Option<i64>,
) -> Box<
    dyn BoxableExpression<
        access_log::table,
        <DbConn as diesel::Connection>::Backend,
        SqlType = diesel::sql_types::Bool,
    >,
> {
    use diesel::sql_types::{BigInt, Nullable};
    let [open, middle, close] = subject_ids_sql(matches!(conn, DbConn::Sqlite(_)));
    // `before` comes from the client: the loop starts no higher than the
    // newest record's bucket whatever it says (`before=i64::MAX` would
    // otherwise be 2^51 probes), and a bucket below zero probes nothing.
    let top = before_id.map(|id| id.saturating_sub(1) >> SUBJECT_BUCKET_BITS);
    Box::new(
        diesel::dsl::sql::<diesel::sql_types::Bool>(&open)
            .bind::<Nullable<BigInt>, _>(top)
            .sql(&middle)
            .bind::<Nullable<BigInt>, _>(key)
            .sql(&close),
    )
}

/// The SQL of [`subject_ids`], in the three pieces around its two binds
/// (the top bucket, then the subject key); public for the test that checks
/// SQLite's plan of it. The bucket loop is a recursive CTE that drives the
/// probes: on SQLite a `CROSS JOIN` keeps it the outer loop, on PostgreSQL
/// a `LATERAL` subquery behind `OFFSET 0` (which the planner does not
/// flatten into a join it might hash).
#[doc(hidden)]
#[must_use]
pub fn subject_ids_sql(sqlite: bool) -> [String; 3] {
    let (least, probe, close) = if sqlite {
        ("MIN", "SELECT l.id FROM b CROSS JOIN access_log l ON", ")")
    } else {
        (
            "LEAST",
            "SELECT s.id FROM b, LATERAL (SELECT l.id FROM access_log l WHERE",
            " OFFSET 0) s)",
        )
    };
    let newest = format!("(SELECT max(id) FROM access_log) >> {SUBJECT_BUCKET_BITS}");
    [
        format!("access_log.id IN (WITH RECURSIVE b(n) AS (SELECT {least}(COALESCE(CAST("),
        format!(
            " AS BIGINT), {newest}), {newest}) UNION ALL SELECT n - 1 FROM b WHERE n > 0) \
             {probe} (l.id >> {SUBJECT_BUCKET_BITS}) = b.n AND l.subject_key = "
        ),
        close.to_owned(),
    ]
}

/// Filters for the oversight query.
#[derive(Debug, Clone, Default)]
pub struct AccessQuery {
    pub organisation_id: Option<i64>,
    pub user_id: Option<i64>,
    pub search_type: Option<String>,
    pub from: Option<NaiveDateTime>,
    pub to: Option<NaiveDateTime>,
    pub subject_hash: Option<String>,
    /// Records with id below this (newest first paging).
    pub before_id: Option<i64>,
    pub limit: i64,
}

/// Records matching `q`, newest first.
pub fn query(conn: &mut DbConn, q: &AccessQuery) -> Result<Vec<AccessRow>> {
    let mut b = access_log::table
        .select(AccessRow::as_select())
        .order(access_log::id.desc())
        .limit(q.limit)
        .into_boxed();
    if let Some(o) = q.organisation_id {
        b = b.filter(access_log::organisation_id.eq(o));
    }
    if let Some(u) = q.user_id {
        b = b.filter(access_log::user_id.eq(u));
    }
    if let Some(s) = &q.search_type {
        b = b.filter(access_log::search_type.eq(s.clone()));
    }
    if let Some(f) = q.from {
        b = b.filter(access_log::at.ge(f));
    }
    if let Some(t) = q.to {
        b = b.filter(access_log::at.lt(t));
    }
    if let Some(h) = &q.subject_hash {
        // The index narrows on the key, bucket by bucket; the whole hash
        // decides. A hash that has no key (not one the gateway writes)
        // matches nothing.
        b = b
            .filter(subject_ids(conn, subject_key(h), q.before_id))
            .filter(access_log::subject_hash.eq(h.clone()));
    }
    if let Some(id) = q.before_id {
        b = b.filter(access_log::id.lt(id));
    }
    Ok(b.load(conn)?)
}

/// A usage line: one day, organisation, client system, search type and grant.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Serialize)]
pub struct UsageRow {
    pub day: NaiveDate,
    pub organisation_id: i64,
    pub client_system_id: i64,
    pub search_type: String,
    pub grant_id: i64,
    pub requests: i64,
    pub rows_returned: i64,
}

/// Usage from the roll-up in `[from, to)`, optionally for one organisation.
pub fn usage(
    conn: &mut DbConn,
    from: NaiveDate,
    to: NaiveDate,
    organisation_id: Option<i64>,
) -> Result<Vec<UsageRow>> {
    let mut q = usage_daily::table
        .filter(usage_daily::day.ge(from))
        .filter(usage_daily::day.lt(to))
        .order((
            usage_daily::day,
            usage_daily::organisation_id,
            usage_daily::client_system_id,
            usage_daily::search_type,
        ))
        .into_boxed();
    if let Some(o) = organisation_id {
        q = q.filter(usage_daily::organisation_id.eq(o));
    }
    Ok(q.load(conn)?)
}

diesel::define_sql_function! {
    /// SQLite's `SUM` over integers, which is an integer (diesel's own `sum`
    /// is typed `Numeric` for every backend).
    #[aggregate]
    #[sql_name = "SUM"]
    fn sum_integers(x: diesel::sql_types::BigInt) -> diesel::sql_types::Nullable<diesel::sql_types::BigInt>;
}

/// Rows served under a grant so far (for its quota).
pub fn rows_served_under_grant(conn: &mut DbConn, grant_id: i64) -> Result<i64> {
    let sum: Option<i64> = match conn {
        DbConn::Pg(c) => usage_daily::table
            .filter(usage_daily::grant_id.eq(grant_id))
            .select(diesel::dsl::sql::<
                diesel::sql_types::Nullable<diesel::sql_types::BigInt>,
            >("CAST(SUM(rows_returned) AS BIGINT)"))
            .first(c)?,
        // On the hot path: a statement without SQL literals stays prepared
        // in the connection's cache.
        DbConn::Sqlite(c) => usage_daily::table
            .filter(usage_daily::grant_id.eq(grant_id))
            .select(sum_integers(usage_daily::rows_returned))
            .first(c)?,
    };
    Ok(sum.unwrap_or(0))
}

/// Rows and requests straight from the log in `[from, to)` (the bill's reconciliation).
pub fn log_totals(conn: &mut DbConn, from: NaiveDateTime, to: NaiveDateTime) -> Result<(i64, i64)> {
    let q = access_log::table
        .filter(access_log::at.ge(from))
        .filter(access_log::at.lt(to))
        .filter(access_log::organisation_id.is_not_null())
        .filter(access_log::client_system_id.is_not_null());
    let requests: i64 = q.count().get_result(conn)?;
    let rows: Option<i64> = match conn {
        DbConn::Pg(c) => q
            .select(diesel::dsl::sql::<
                diesel::sql_types::Nullable<diesel::sql_types::BigInt>,
            >("CAST(SUM(rows_returned) AS BIGINT)"))
            .first(c)?,
        DbConn::Sqlite(c) => q
            .select(diesel::dsl::sql::<
                diesel::sql_types::Nullable<diesel::sql_types::BigInt>,
            >("SUM(rows_returned)"))
            .first(c)?,
    };
    Ok((requests, rows.unwrap_or(0)))
}
