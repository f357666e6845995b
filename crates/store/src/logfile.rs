//! On SQLite the access log lives in a file of its own beside the registry,
//! `PATH.access-log`, attached to every connection as the schema `log`
//! (docs/architecture.md, "The access log's own SQLite file").
//!
//! The log's applier commits every few milliseconds. While its tables were
//! in the registry's file, every commit changed that file, and SQLite
//! drops a connection's whole page cache when its next read transaction
//! finds its database file changed: every reader re-read the registry's
//! pages from the operating system after every commit. In a file of its
//! own, the log's commits change only the log's file, and the registry's
//! readers keep their caches.
//!
//! Queries name the tables without a schema: SQLite looks a name up in
//! `main` first and then in the attached databases, so the same SQL runs
//! on a registry whose log is in its own file and on one whose log was
//! never moved (a database in memory, or one before its migrations have
//! run). Statements that create an index on a log table must name the
//! schema (`CREATE INDEX log.name ON access_log (...)`); the move runs at
//! a fixed place in the SQLite migrations (`migrate::LOG_FILE_AFTER`), so
//! every later migration can.
//!
//! Measured, the readers' saving was small: within this VM's noise on a
//! registry of 1,000,000 households, a few per cent on 100,000, because
//! caches that are no longer emptied fill up and cost more to search
//! (docs/performance.md, stop 23).

use std::path::{Path, PathBuf};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};

use crate::error::{Result, StoreError};

/// The schema name the log's file is attached as.
pub const SCHEMA: &str = "log";

/// The tables that live in the log's file: the ones the log's applier
/// writes on every commit. In the order they are copied (a record's batch
/// before the record); dropped in the reverse order.
pub const TABLES: [&str; 4] = [
    "access_batches",
    "access_log",
    "access_chain_head",
    "usage_daily",
];

/// The log's file beside the registry's file at `registry`.
#[must_use]
pub fn path_for(registry: &Path) -> PathBuf {
    let mut name = registry.as_os_str().to_owned();
    name.push(".access-log");
    PathBuf::from(name)
}

/// WAL as for the registry (readers never wait for the applier), and
/// SQLite's default page cache (2 MB): most connections read only a quota's
/// usage from the log. The log's writer asks for more ([`WRITER_CACHE`]).
const PRAGMAS: &str = "PRAGMA log.journal_mode = WAL; PRAGMA log.synchronous = NORMAL;";

/// The page cache of the connection that writes the log, as large as a
/// registry connection's: its indexes' pages stay in memory between
/// transactions (no other connection writes the log's file, so nothing
/// empties it).
pub const WRITER_CACHE: &str = "PRAGMA log.cache_size = -16000;";

/// Attach the log's file at `path` as [`SCHEMA`] (SQLite creates it when it
/// does not exist).
pub(crate) fn attach(conn: &mut SqliteConnection, path: &Path) -> Result<()> {
    let Some(name) = path.to_str() else {
        return Err(StoreError::SqlitePath {
            path: path.display().to_string(),
            reason: "the access log's file name is not UTF-8".to_owned(),
        });
    };
    diesel::sql_query("ATTACH DATABASE ? AS log")
        .bind::<Text, _>(name)
        .execute(conn)?;
    conn.batch_execute(PRAGMAS)?;
    Ok(())
}

/// The schema that holds the log's tables on this connection: [`SCHEMA`]
/// when its file is attached, `main` otherwise. For the log's pragmas
/// (`PRAGMA log.synchronous`), which name one schema.
pub fn schema(conn: &mut SqliteConnection) -> Result<&'static str> {
    Ok(if attached_file(conn)?.is_some() {
        SCHEMA
    } else {
        "main"
    })
}

fn attached_file(conn: &mut SqliteConnection) -> Result<Option<String>> {
    crate::sqlite_read::database_file(conn, SCHEMA)
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct Ddl {
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Nullable<Text>)]
    sql: Option<String>,
}

/// Whether `schema` (`main` or `log`, never request text) has `table`.
fn has_table(conn: &mut SqliteConnection, schema: &str, table: &str) -> Result<bool> {
    let found: Vec<Count> = diesel::sql_query(format!(
        "SELECT count(*) AS n FROM {schema}.sqlite_master WHERE type = 'table' AND name = ?"
    ))
    .bind::<Text, _>(table)
    .load(conn)?;
    Ok(found.first().is_some_and(|c| c.n > 0))
}

fn count(conn: &mut SqliteConnection, schema: &str, table: &str) -> Result<i64> {
    let rows: Vec<Count> =
        diesel::sql_query(format!("SELECT count(*) AS n FROM {schema}.{table}")).load(conn)?;
    Ok(rows.first().map_or(0, |c| c.n))
}

fn missing(path: &Path) -> StoreError {
    StoreError::AccessLogFile {
        path: path.display().to_string(),
        reason: "the registry's access log was moved to this file, which is missing or \
                 holds no log; restore it from the backup taken with the registry"
            .to_owned(),
    }
}

/// For commands that read the log without migrating (`audit verify`):
/// refuse, with the reason, a migrated registry whose log is neither in its
/// file nor in the log's file (rather than fail on a missing table).
pub fn require(conn: &mut SqliteConnection) -> Result<()> {
    let Some(registry) = crate::sqlite_read::main_file(conn)? else {
        return Ok(());
    };
    if !has_table(conn, "main", "__diesel_schema_migrations")?
        || has_table(conn, "main", "access_log")?
        || attached_file(conn)?.is_some() && has_table(conn, SCHEMA, "access_log")?
    {
        return Ok(());
    }
    Err(missing(&path_for(&registry)))
}

/// What [`relocate`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relocation {
    /// The log was already in its own file (or the database is in memory,
    /// where it stays in `main`).
    Unchanged,
    /// The log's tables were moved from the registry's file into their own.
    Moved,
}

/// Move the log's tables out of the registry's file into their own, once.
///
/// Crash-safe in two steps. First the tables are created in the log's file
/// and their rows copied, in one transaction on that file, committed with
/// `synchronous = FULL` (the copy is on disk before anything is dropped).
/// Then the registry's copies are dropped. A crash between the two leaves
/// both copies; the next start finds the log's copy whole (it was one
/// transaction), checks that every table holds as many rows in both, and
/// drops the registry's. A log that is neither in the registry's file nor
/// in its own (the log's file deleted or lost) is refused: the gateway
/// never starts a new, empty log over a lost one.
pub fn relocate(conn: &mut SqliteConnection) -> Result<Relocation> {
    let Some(registry) = crate::sqlite_read::main_file(conn)? else {
        return Ok(Relocation::Unchanged);
    };
    let path = path_for(&registry);
    let attached = attached_file(conn)?.is_some();
    if !has_table(conn, "main", "access_log")? {
        if attached && has_table(conn, SCHEMA, "access_log")? {
            return Ok(Relocation::Unchanged);
        }
        return Err(missing(&path));
    }
    if !attached {
        attach(conn, &path)?;
    }
    conn.batch_execute("PRAGMA log.synchronous = FULL")?;
    if has_table(conn, SCHEMA, "access_log")? {
        // An earlier move copied and stopped before dropping: its copy was
        // one transaction, so it is whole; the counts say it is this log's.
        for table in TABLES {
            let (here, there) = (count(conn, "main", table)?, count(conn, SCHEMA, table)?);
            if here != there {
                return Err(StoreError::AccessLogFile {
                    path: path.display().to_string(),
                    reason: format!(
                        "both the registry and this file hold an access log, and they differ \
                         ({table}: {here} rows in the registry, {there} here); \
                         keep the right one and remove the other"
                    ),
                });
            }
        }
    } else {
        conn.immediate_transaction(|c| copy(c, &path))?;
    }
    conn.transaction(|conn| {
        for table in TABLES.iter().rev() {
            conn.batch_execute(&format!("DROP TABLE main.{table}"))?;
        }
        Ok::<_, StoreError>(())
    })?;
    conn.batch_execute("PRAGMA log.synchronous = NORMAL")?;
    Ok(Relocation::Moved)
}

/// Create the log's tables in its file with the registry's own definitions
/// (what the migrations built), copy the rows, then build the indexes.
fn copy(conn: &mut SqliteConnection, path: &Path) -> Result<()> {
    let mut indexes = Vec::new();
    for table in TABLES {
        let ddl: Vec<Ddl> = diesel::sql_query(
            "SELECT type AS kind, sql FROM main.sqlite_master WHERE tbl_name = ? \
             ORDER BY type = 'index', rowid",
        )
        .bind::<Text, _>(table)
        .load(conn)?;
        for Ddl { kind, sql } in ddl {
            // An index SQLite made for a key has no SQL; the table's
            // definition makes it again.
            let Some(sql) = sql else { continue };
            let qualified = ["CREATE TABLE ", "CREATE INDEX ", "CREATE UNIQUE INDEX "]
                .into_iter()
                .find_map(|p| {
                    sql.strip_prefix(p)
                        .map(|rest| format!("{p}{SCHEMA}.{rest}"))
                });
            let Some(qualified) = qualified else {
                return Err(StoreError::AccessLogFile {
                    path: path.display().to_string(),
                    reason: format!("cannot move the {kind} {sql:?} of {table}"),
                });
            };
            if kind == "table" {
                conn.batch_execute(&qualified)?;
                conn.batch_execute(&format!(
                    "INSERT INTO {SCHEMA}.{table} SELECT * FROM main.{table}"
                ))?;
            } else {
                indexes.push(qualified);
            }
        }
    }
    for index in indexes {
        conn.batch_execute(&index)?;
    }
    Ok(())
}
