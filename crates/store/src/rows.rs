//! Rows decoded cell by cell into one arena per table: the read path of
//! list searches and streamed exports, where a chunk of a thousand
//! households is ~7,600 rows and ~150,000 fields. Decoding each row into its
//! model struct costs an owned `String` per text field (and chrono's format
//! parser per date); here every text goes into one `String` per table and
//! every field into one `Vec<Cell>`, so a chunk costs a handful of
//! allocations, and the policy reads the cells through [`Record`].
//!
//! The cells of a row are in the order of the table's [`FieldSpec`]s, which
//! is the order of its model struct (the `SELECT` is the model's
//! `as_select()`), so [`Row`] answers [`Record::value`] with the same index
//! as the model does; a test checks the two agree field by field.
//!
//! On SQLite the rows are read by `sqlite_read` (rusqlite); on PostgreSQL
//! by [`Rows::load`]. Reading rows one at a time needs diesel's `LoadConnection::load`, public
//! only under its `i-implement-a-third-party-backend-and-opt-into-breaking-changes`
//! feature; `Cargo.lock` pins the version (`docs/architecture.md` says why
//! that is acceptable).

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use diesel::backend::Backend;
use diesel::connection::LoadConnection;
use diesel::deserialize::FromSql;
use diesel::expression::QueryMetadata;
use diesel::pg::Pg;
use diesel::query_builder::{Query, QueryFragment, QueryId};
use diesel::row::{Field, Row as _};
use diesel::sql_types::{Bool, Date, Double, Timestamp};
use policy::{FieldSpec, FieldType, Record, Value};

use crate::error::{Result, StoreError};
use crate::spare::Spare;

/// One decoded field. Text is a range of the table's text arena.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Cell {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(u32, u32),
    Date(NaiveDate),
    Timestamp(NaiveDateTime),
}

/// The rows of one query over one table.
#[derive(Debug, Default)]
pub struct Rows {
    width: usize,
    cells: Vec<Cell>,
    text: String,
    /// Where the arenas go back to when the rows are dropped.
    spare: Option<&'static Arenas>,
}

/// Spare arenas of one table's [`Rows`] (`crate::spare`).
pub(crate) type Arenas = Spare<(Vec<Cell>, String)>;

/// The most a table's spare arenas may hold and be kept.
const MOST_KEPT: usize = 64 << 20;

impl Drop for Rows {
    fn drop(&mut self) {
        if let Some(spare) = self.spare {
            let arenas = (
                std::mem::take(&mut self.cells),
                std::mem::take(&mut self.text),
            );
            spare.give(arenas, MOST_KEPT);
        }
    }
}

/// One row of [`Rows`], readable field by field.
#[derive(Debug, Clone, Copy)]
pub struct Row<'a> {
    cells: &'a [Cell],
    text: &'a str,
}

impl Rows {
    /// No rows yet, room for `expected` rows of `width` fields, in arenas
    /// taken from `spare` (and given back to it when dropped) if it has any.
    pub(crate) fn with_capacity(
        width: usize,
        expected: usize,
        spare: Option<&'static Arenas>,
    ) -> Rows {
        let (mut cells, mut text) = spare.and_then(Spare::take).unwrap_or_default();
        cells.reserve(expected * width);
        text.reserve(expected * width * 8);
        Rows {
            width,
            cells,
            text,
            spare,
        }
    }

    /// The next field of the row being read.
    pub(crate) fn push(&mut self, cell: Cell) {
        self.cells.push(cell);
    }

    /// `s` appended to the arena, as a cell.
    pub(crate) fn push_text(&mut self, s: &str) -> DecodeResult<Cell> {
        push_text(&mut self.text, s)
    }

    /// Run `query` (which must select the columns `fields` describes, in
    /// that order) and decode every row it returns; room is made for
    /// `expected` rows up front.
    pub(crate) fn load<C, Q>(
        conn: &mut C,
        query: Q,
        fields: &[FieldSpec],
        expected: usize,
        spare: Option<&'static Arenas>,
    ) -> Result<Rows>
    where
        C: LoadConnection,
        C::Backend: Decode + QueryMetadata<Q::SqlType>,
        Q: Query + QueryFragment<C::Backend> + QueryId,
    {
        let mut rows = Rows::with_capacity(fields.len(), expected, spare);
        for row in conn.load(query)? {
            let row = row?;
            if row.field_count() != fields.len() {
                return Err(decode_error(
                    format!(
                        "a row has {} columns where {} were expected",
                        row.field_count(),
                        fields.len()
                    )
                    .into(),
                ));
            }
            for (i, spec) in fields.iter().enumerate() {
                let field = row
                    .get(i)
                    .ok_or_else(|| decode_error(format!("no column {i}").into()))?;
                let cell = match field.value() {
                    None => Cell::Null,
                    Some(value) => C::Backend::cell(spec.ty, value, &mut rows.text)
                        .map_err(|e| decode_error(format!("{}: {e}", spec.name).into()))?,
                };
                rows.cells.push(cell);
            }
        }
        Ok(rows)
    }

    /// Every row, in query order.
    #[must_use]
    pub fn iter(&self) -> impl ExactSizeIterator<Item = Row<'_>> + '_ {
        self.cells.chunks_exact(self.width.max(1)).map(|cells| Row {
            cells,
            text: &self.text,
        })
    }
}

impl Row<'_> {
    /// The `field`-th field as an integer (0 when it is not one): for keys.
    #[must_use]
    pub fn int(&self, field: usize) -> i64 {
        match self.cells.get(field) {
            Some(Cell::Int(i)) => *i,
            _ => 0,
        }
    }
}

impl Record for Row<'_> {
    fn value(&self, field: usize) -> Value<'_> {
        match self.cells.get(field) {
            None | Some(Cell::Null) => Value::Null,
            Some(Cell::Bool(b)) => Value::Bool(*b),
            Some(Cell::Int(i)) => Value::Int(*i),
            Some(Cell::Float(x)) => Value::Float(*x),
            Some(&Cell::Text(start, len)) => {
                let (start, len) = (start as usize, len as usize);
                Value::Text(self.text.get(start..start + len).unwrap_or_default())
            }
            Some(Cell::Date(d)) => Value::Date(*d),
            Some(Cell::Timestamp(t)) => Value::Timestamp(*t),
        }
    }
}

fn decode_error(e: Box<dyn std::error::Error + Send + Sync>) -> StoreError {
    StoreError::Query(diesel::result::Error::DeserializationError(e))
}

/// How a backend's raw value becomes a [`Cell`], text appended to `text`.
pub(crate) trait Decode: Backend {
    fn cell(ty: FieldType, value: Self::RawValue<'_>, text: &mut String) -> DecodeResult<Cell>;
}

type DecodeResult<T> = diesel::deserialize::Result<T>;

fn push_text(text: &mut String, s: &str) -> DecodeResult<Cell> {
    let start = u32::try_from(text.len())?;
    let len = u32::try_from(s.len())?;
    text.push_str(s);
    Ok(Cell::Text(start, len))
}

impl Decode for Pg {
    fn cell(
        ty: FieldType,
        value: diesel::pg::PgValue<'_>,
        text: &mut String,
    ) -> DecodeResult<Cell> {
        let bytes = value.as_bytes();
        Ok(match ty {
            FieldType::Bool => Cell::Bool(<bool as FromSql<Bool, Pg>>::from_sql(value)?),
            // Binary integers of the column's own width.
            FieldType::Int => Cell::Int(if let Ok(b) = <[u8; 8]>::try_from(bytes) {
                i64::from_be_bytes(b)
            } else if let Ok(b) = <[u8; 4]>::try_from(bytes) {
                i32::from_be_bytes(b).into()
            } else if let Ok(b) = <[u8; 2]>::try_from(bytes) {
                i16::from_be_bytes(b).into()
            } else {
                return Err(format!("an integer of {} bytes", bytes.len()).into());
            }),
            FieldType::Float => Cell::Float(<f64 as FromSql<Double, Pg>>::from_sql(value)?),
            FieldType::Text => return push_text(text, std::str::from_utf8(bytes)?),
            FieldType::Date => Cell::Date(<NaiveDate as FromSql<Date, Pg>>::from_sql(value)?),
            FieldType::Timestamp => {
                Cell::Timestamp(<NaiveDateTime as FromSql<Timestamp, Pg>>::from_sql(value)?)
            }
        })
    }
}

/// `YYYY-MM-DD`, exactly.
pub(crate) fn iso_date(s: &[u8]) -> Option<NaiveDate> {
    match *s {
        [y0, y1, y2, y3, b'-', m0, m1, b'-', d0, d1] => NaiveDate::from_ymd_opt(
            i32::try_from(number(&[y0, y1, y2, y3])?).ok()?,
            number(&[m0, m1])?,
            number(&[d0, d1])?,
        ),
        _ => None,
    }
}

/// `YYYY-MM-DD HH:MM:SS`, exactly.
pub(crate) fn iso_timestamp(s: &[u8]) -> Option<NaiveDateTime> {
    match s {
        [date @ .., b' ', h0, h1, b':', m0, m1, b':', s0, s1] => {
            let time = NaiveTime::from_hms_opt(
                number(&[*h0, *h1])?,
                number(&[*m0, *m1])?,
                number(&[*s0, *s1])?,
            )?;
            Some(iso_date(date)?.and_time(time))
        }
        _ => None,
    }
}

fn number(digits: &[u8]) -> Option<u32> {
    digits.iter().try_fold(0u32, |n, &d| {
        d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_dates_agree_with_chrono_and_refuse_the_rest() {
        for s in ["2026-11-27", "1950-01-01", "2024-02-29", "0001-12-31"] {
            assert_eq!(
                iso_date(s.as_bytes()),
                NaiveDate::parse_from_str(s, "%F").ok()
            );
        }
        for s in [
            "2023-02-29",
            "2026-13-01",
            "2026-1-01",
            "2026/11/27",
            "+2026-11-27",
            "",
        ] {
            assert_eq!(iso_date(s.as_bytes()), None, "{s}");
        }
        assert_eq!(
            iso_timestamp(b"2026-11-27 09:08:07"),
            NaiveDateTime::parse_from_str("2026-11-27 09:08:07", "%F %T").ok()
        );
        for s in [
            "2026-11-27 24:00:00",
            "2026-11-27T09:08:07",
            "2026-11-27 09:08:07.5",
        ] {
            assert_eq!(iso_timestamp(s.as_bytes()), None, "{s}");
        }
    }
}
