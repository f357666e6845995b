//! The SQLite read path of list searches and streamed exports, on rusqlite.
//!
//! An export reads ~150 fields per household. Through diesel each field
//! costs a `sqlite3_value` wrapper, two `sqlite3_value_text` calls and two
//! UTF-8 validations of the text (plus our own scan for the replacement
//! character diesel substitutes for bad bytes): about a fifth of an
//! export's CPU (docs/performance.md, stop 18). rusqlite's `ValueRef`
//! borrows the column's bytes once; we validate them once, and bytes that
//! are not UTF-8 are an error naming the field, as on diesel's path.
//!
//! Only reads, only here: every write, and every other read, stays on
//! diesel. A few idle connections are kept for the next chunk (opened
//! `query_only`), and closed when the file at their path is another one
//! (a registry replaced under the same name). The four queries of a chunk
//! run in one read transaction, so a chunk is one snapshot.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chrono::{NaiveDate, NaiveDateTime};
use policy::{FieldSpec, FieldType};
use rusqlite::types::ValueRef;

use crate::error::{Result, StoreError};
use crate::rows::{iso_date, iso_timestamp, Arenas, Cell, Rows};

/// A read connection and the file it has open.
struct Reader {
    path: PathBuf,
    file: (u64, u64),
    conn: rusqlite::Connection,
}

/// Idle read connections, newest last. Shared by all threads rather than
/// kept per thread, so that their number (and their page caches) follows
/// the reads under way, not how many blocking threads ever read.
static IDLE: Mutex<Vec<Reader>> = Mutex::new(Vec::new());

/// Idle connections kept: two readers per export, two exports at once.
const KEEP: usize = 4;

/// The file `path` names now (device, inode).
fn identity(path: &Path) -> Result<(u64, u64)> {
    let meta = std::fs::metadata(path).map_err(|e| StoreError::SqlitePath {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    Ok((meta.dev(), meta.ino()))
}

fn open(path: &Path) -> Result<Reader> {
    use rusqlite::OpenFlags;
    let file = identity(path)?;
    // Never created here (no SQLITE_OPEN_CREATE): the registry exists. A
    // small page cache: a chunk reads its rows once, mostly in key order,
    // and the operating system's cache holds the file.
    let conn = rusqlite::Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.execute_batch(
        "PRAGMA query_only = ON; PRAGMA busy_timeout = 5000; PRAGMA cache_size = -2000;",
    )?;
    Ok(Reader {
        path: path.to_owned(),
        file,
        conn,
    })
}

#[derive(diesel::QueryableByName)]
struct Database {
    #[diesel(sql_type = diesel::sql_types::Text)]
    name: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    file: String,
}

/// The file of the database `conn` has attached as `schema` (`""` for one
/// in memory); `None` when nothing is attached under that name.
pub(crate) fn database_file(
    conn: &mut diesel::SqliteConnection,
    schema: &str,
) -> Result<Option<String>> {
    use diesel::RunQueryDsl;
    let list: Vec<Database> = diesel::sql_query("PRAGMA database_list").load(conn)?;
    Ok(list.into_iter().find(|d| d.name == schema).map(|d| d.file))
}

/// The file of `conn`'s main database; `None` for one in memory.
pub(crate) fn main_file(conn: &mut diesel::SqliteConnection) -> Result<Option<PathBuf>> {
    Ok(database_file(conn, "main")?
        .filter(|f| !f.is_empty())
        .map(PathBuf::from))
}

/// Run `f` in one read transaction on an idle connection to `path` (or a
/// new one), then keep the connection for the next read.
pub(crate) fn with_reader<T>(
    path: &Path,
    f: impl FnOnce(&rusqlite::Connection) -> Result<T>,
) -> Result<T> {
    let current = identity(path)?;
    let kept = {
        let mut idle = IDLE
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Connections to a file no longer at its path are closed.
        idle.retain(|r| r.path != path || r.file == current);
        idle.iter()
            .rposition(|r| r.path == path)
            .map(|i| idle.remove(i))
    };
    let reader = match kept {
        Some(r) => r,
        None => open(path)?,
    };
    let out = (|| {
        let tx = reader.conn.unchecked_transaction()?;
        let out = f(&tx)?;
        tx.finish()?;
        Ok(out)
    })();
    let mut idle = IDLE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if idle.len() >= KEEP {
        // The longest idle goes (in tests, one to a file long gone).
        idle.remove(0);
    }
    idle.push(reader);
    out
}

/// How the rows of one table are picked.
pub(crate) enum Keys<'a> {
    /// `key BETWEEN lo AND hi`.
    Range(i64, i64),
    /// `key IN (ids)`.
    In(&'a [i64]),
}

/// One table of a chunk's read: the caller's constants.
pub(crate) struct Table {
    pub name: &'static str,
    /// The household id column.
    pub key: &'static str,
    pub order: &'static str,
    /// The columns, in the order of the table's model.
    pub fields: &'static [FieldSpec],
    /// Rows expected per household, to size the arenas.
    pub per: usize,
    /// Where its arenas are kept between chunks.
    pub spare: &'static Arenas,
}

/// `SELECT fields FROM table WHERE key ... ORDER BY order`, every row
/// decoded into [`Rows`]; room is made for `households` times the table's
/// rows per household. Only the ids are bound.
pub(crate) fn load(
    conn: &rusqlite::Connection,
    t: &Table,
    keys: &Keys<'_>,
    households: usize,
) -> Result<Rows> {
    let Table {
        name: table,
        key,
        order,
        fields,
        ..
    } = *t;
    let columns: Vec<&str> = fields.iter().map(|f| f.name).collect();
    let columns = columns.join(", ");
    let mut rows = Rows::with_capacity(fields.len(), households * t.per, Some(t.spare));
    let mut decode = |row: &rusqlite::Row<'_>| -> Result<()> {
        for (i, spec) in fields.iter().enumerate() {
            let cell = cell(spec.ty, row.get_ref(i)?, &mut rows)
                .map_err(|e| decode_error(&format!("{}: {e}", spec.name)))?;
            rows.push(cell);
        }
        Ok(())
    };
    match keys {
        Keys::Range(lo, hi) => {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {columns} FROM {table} WHERE {key} BETWEEN ?1 AND ?2 ORDER BY {order}"
            ))?;
            let mut q = stmt.query([lo, hi])?;
            while let Some(row) = q.next()? {
                decode(row)?;
            }
        }
        Keys::In(ids) => {
            let marks = vec!["?"; ids.len()].join(",");
            let mut stmt = conn.prepare(&format!(
                "SELECT {columns} FROM {table} WHERE {key} IN ({marks}) ORDER BY {order}"
            ))?;
            let mut q = stmt.query(rusqlite::params_from_iter(ids.iter()))?;
            while let Some(row) = q.next()? {
                decode(row)?;
            }
        }
    }
    Ok(rows)
}

fn decode_error(what: &str) -> StoreError {
    StoreError::Query(diesel::result::Error::DeserializationError(
        what.to_owned().into(),
    ))
}

/// One value as a [`Cell`] of type `ty`: what diesel's path reads, with
/// text validated once. A value of another storage class than the column's
/// is an error, never a guess.
fn cell(ty: FieldType, value: ValueRef<'_>, rows: &mut Rows) -> Result<Cell, String> {
    Ok(match (ty, value) {
        (_, ValueRef::Null) => Cell::Null,
        (FieldType::Bool, ValueRef::Integer(i)) => Cell::Bool(i != 0),
        (FieldType::Int, ValueRef::Integer(i)) => Cell::Int(i),
        (FieldType::Float, ValueRef::Real(x)) => Cell::Float(x),
        #[allow(
            clippy::cast_precision_loss,
            reason = "SQLite keeps whole REAL values as integers on disk; they are read back as the doubles they were"
        )]
        (FieldType::Float, ValueRef::Integer(i)) => Cell::Float(i as f64),
        (FieldType::Text, v) => rows.push_text(text(v)?).map_err(|e| e.to_string())?,
        (FieldType::Date, v) => {
            let s = text(v)?;
            Cell::Date(
                iso_date(s.as_bytes())
                    .or_else(|| NaiveDate::parse_from_str(s, "%F").ok())
                    .ok_or_else(|| format!("{s:?} is not a date"))?,
            )
        }
        (FieldType::Timestamp, v) => {
            let s = text(v)?;
            Cell::Timestamp(
                iso_timestamp(s.as_bytes())
                    .or_else(|| NaiveDateTime::parse_from_str(s, "%F %T%.f").ok())
                    .or_else(|| NaiveDateTime::parse_from_str(s, "%FT%T%.f").ok())
                    .ok_or_else(|| format!("{s:?} is not a timestamp"))?,
            )
        }
        (ty, v) => return Err(format!("{:?} where {ty:?} was expected", v.data_type())),
    })
}

/// A text value, validated once.
fn text(value: ValueRef<'_>) -> Result<&str, String> {
    match value {
        ValueRef::Text(b) => std::str::from_utf8(b).map_err(|e| e.to_string()),
        other => Err(format!("{:?} where text was expected", other.data_type())),
    }
}
