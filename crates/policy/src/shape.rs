//! Applying a compiled view to one household: which value each visible field
//! carries (decided once, in [`Op::out`]), written as JSON straight into the
//! caller's buffer or handed to any serde serializer. Reads the borrowed rows
//! and allocates nothing beyond the output.

use std::cell::RefCell;

use chrono::{Datelike, NaiveDate, NaiveDateTime};
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde::Serialize;

use crate::field::{Entity, Record, Value};
use crate::json;
use crate::mask::{band, last4, MaskKind, Memo, Plain, Pseudonym, REDACTED};
use crate::view::{Effect, MemberSelection, Op, View};

/// A record type with no values, for a household shaped without members,
/// payments or flags.
#[derive(Debug, Clone, Copy)]
pub enum NoRecord {}

impl Record for NoRecord {
    fn value(&self, _field: usize) -> Value<'_> {
        match *self {}
    }
}

/// A household to shape: its record and the records that hang off it,
/// borrowed. Build it with [`Household::new`] and the `with_*` methods.
#[derive(Debug)]
pub struct Household<'r, H: ?Sized, M = NoRecord, P = NoRecord, F = NoRecord> {
    id: i64,
    record: &'r H,
    members: &'r [M],
    searched: Option<usize>,
    payments: &'r [P],
    flags: &'r [F],
}

impl<H: ?Sized, M, P, F> Clone for Household<'_, H, M, P, F> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<H: ?Sized, M, P, F> Copy for Household<'_, H, M, P, F> {}

impl<'r, H: Record + ?Sized> Household<'r, H> {
    /// A household by its id (which decides the Basic sample) and record.
    pub fn new(id: i64, record: &'r H) -> Self {
        Household {
            id,
            record,
            members: &[],
            searched: None,
            payments: &[],
            flags: &[],
        }
    }
}

impl<'r, H: ?Sized, M, P, F> Household<'r, H, M, P, F> {
    pub(crate) fn id(&self) -> i64 {
        self.id
    }

    /// Its members; `searched` is the index in `members` of the member whose
    /// CNIC was searched, if the search was by CNIC.
    pub fn with_members<M2: Record>(
        self,
        members: &'r [M2],
        searched: Option<usize>,
    ) -> Household<'r, H, M2, P, F> {
        let Household {
            id,
            record,
            payments,
            flags,
            ..
        } = self;
        Household {
            id,
            record,
            members,
            searched,
            payments,
            flags,
        }
    }

    /// Its CCT payments.
    pub fn with_payments<P2: Record>(self, payments: &'r [P2]) -> Household<'r, H, M, P2, F> {
        let Household {
            id,
            record,
            members,
            searched,
            flags,
            ..
        } = self;
        Household {
            id,
            record,
            members,
            searched,
            payments,
            flags,
        }
    }

    /// Its holds and flags.
    pub fn with_flags<F2: Record>(self, flags: &'r [F2]) -> Household<'r, H, M, P, F2> {
        let Household {
            id,
            record,
            members,
            searched,
            payments,
            ..
        } = self;
        Household {
            id,
            record,
            members,
            searched,
            payments,
            flags,
        }
    }
}

/// A household as a view lets its caller see it. Write it with
/// [`Shaped::write_json`] (the fast path), or serialise it with serde (same
/// fields; with `serde_json`, the same bytes).
pub struct Shaped<'a, H: ?Sized, M, P, F> {
    view: &'a View<'a>,
    household: Household<'a, H, M, P, F>,
}

impl<'a, H, M, P, F> Shaped<'a, H, M, P, F>
where
    H: Record + ?Sized,
    M: Record,
    P: Record,
    F: Record,
{
    pub(crate) fn new(view: &'a View<'a>, household: Household<'a, H, M, P, F>) -> Self {
        Shaped { view, household }
    }

    /// The members this view includes, with whether each is the searched one.
    fn members(&self) -> impl Iterator<Item = (&'a M, bool)> + 'a {
        let hh = self.household;
        let only = self.view.members() == MemberSelection::SearchedOnly;
        hh.members
            .iter()
            .enumerate()
            .filter(move |(i, _)| !only || hh.searched == Some(*i))
            .map(move |(i, m)| (m, hh.searched == Some(i)))
    }

    /// Appends the household as compact JSON to `out`:
    /// `{"household":{..},"members":[..],"payments":[..],"flags":[..]}`,
    /// leaving out entities with no visible field. Allocates nothing beyond
    /// the growth of `out`; reuse one buffer across households.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        let view = self.view;
        let hh = &self.household;
        let mut memo = Memo::new(view.client_key());
        // Every entry is written after a comma; the first comma becomes the
        // opening brace or bracket (see `close`).
        let start = out.len();
        let ops = view.ops(Entity::Household);
        if !ops.is_empty() {
            out.extend_from_slice(b",\"household\":");
            write_record(out, ops, hh.record, false, &mut memo);
        }
        let ops = view.ops(Entity::Member);
        if !ops.is_empty() {
            out.extend_from_slice(b",\"members\":");
            let rows = out.len();
            for (record, searched) in self.members() {
                out.push(b',');
                write_record(out, ops, record, searched, &mut memo);
            }
            close(out, rows, b'[', b']');
        }
        let ops = view.ops(Entity::Payment);
        if !ops.is_empty() {
            out.extend_from_slice(b",\"payments\":");
            write_table(out, ops, hh.payments, &mut memo);
        }
        let ops = view.ops(Entity::Flag);
        if !ops.is_empty() {
            out.extend_from_slice(b",\"flags\":");
            write_table(out, ops, hh.flags, &mut memo);
        }
        close(out, start, b'{', b'}');
    }
}

impl<'a, H, M, P, F> Shaped<'a, H, M, P, F>
where
    H: Record + ?Sized,
    M: Record,
    P: Record,
    F: Record,
{
    /// Appends the household as CSV lines under [`View::write_csv_header`]'s
    /// columns: one line per member the view includes, each repeating the
    /// household's columns (one line with empty member columns when none is
    /// included). Payments and flags are not part of the CSV form.
    pub fn write_csv(&self, out: &mut Vec<u8>) {
        let view = self.view;
        let mut memo = Memo::new(view.client_key());
        let household_ops = view.ops(Entity::Household);
        let member_ops = view.ops(Entity::Member);
        let line = |out: &mut Vec<u8>, member: Option<(&'a M, bool)>, memo: &mut Memo<'_, 'a>| {
            let mut first = true;
            for op in household_ops {
                csv_cell(out, &mut first, op.out(self.household.record, false, memo));
            }
            for op in member_ops {
                let value = member.and_then(|(m, searched)| op.out(m, searched, memo));
                csv_cell(out, &mut first, value);
            }
            out.extend_from_slice(b"\r\n");
        };
        let mut any = false;
        if !member_ops.is_empty() {
            for member in self.members() {
                any = true;
                line(out, Some(member), &mut memo);
            }
        }
        if !any {
            line(out, None, &mut memo);
        }
    }
}

impl View<'_> {
    /// The CSV header line for [`Shaped::write_csv`]: `household.<field>`
    /// for each visible household field, then `member.<field>`.
    pub fn write_csv_header(&self, out: &mut Vec<u8>) {
        let mut first = true;
        for (prefix, entity) in [
            ("household.", Entity::Household),
            ("member.", Entity::Member),
        ] {
            for op in self.ops(entity) {
                if !first {
                    out.push(b',');
                }
                first = false;
                out.extend_from_slice(prefix.as_bytes());
                out.extend_from_slice(op.name.as_bytes());
            }
        }
        out.extend_from_slice(b"\r\n");
    }
}

/// One CSV cell (RFC 4180): text quoted, quotes doubled; a text that a
/// spreadsheet would run as a formula gets a leading apostrophe.
fn csv_cell(out: &mut Vec<u8>, first: &mut bool, value: Option<Out<'_>>) {
    if !*first {
        out.push(b',');
    }
    *first = false;
    let quoted = |out: &mut Vec<u8>, s: &str| {
        out.push(b'"');
        if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
            out.push(b'\'');
        }
        for b in s.bytes() {
            if b == b'"' {
                out.push(b'"');
            }
            out.push(b);
        }
        out.push(b'"');
    };
    match value {
        None | Some(Out::Null) => {}
        Some(Out::Text(s)) => quoted(out, s),
        Some(Out::Last4(tail)) => {
            out.extend_from_slice(b"\"****");
            for b in tail.bytes().filter(|b| *b != b'"') {
                out.push(b);
            }
            out.push(b'"');
        }
        Some(other) => {
            // Numbers, booleans, dates and pseudonyms: their JSON form,
            // without the quotes JSON puts around dates and pseudonyms.
            let start = out.len();
            other.write_json(out);
            if out.get(start) == Some(&b'"') && out.last() == Some(&b'"') && out.len() - start >= 2
            {
                out.remove(start);
                out.pop();
            }
        }
    }
}

/// Ends a JSON object or array whose entries, from `start`, were each
/// written after a comma: the first comma becomes `open`, or, with no
/// entries, `open` is written.
#[inline]
fn close(out: &mut Vec<u8>, start: usize, open: u8, end: u8) {
    match out.get_mut(start) {
        Some(first) => *first = open,
        None => out.push(open),
    }
    out.push(end);
}

/// A table's rows, as a JSON array.
fn write_table<'v, R: Record>(
    out: &mut Vec<u8>,
    ops: &[Op<'_>],
    rows: &'v [R],
    memo: &mut Memo<'_, 'v>,
) {
    let start = out.len();
    for record in rows {
        out.push(b',');
        write_record(out, ops, record, false, memo);
    }
    close(out, start, b'[', b']');
}

fn write_record<'v, R: Record + ?Sized>(
    out: &mut Vec<u8>,
    ops: &[Op<'_>],
    record: &'v R,
    searched: bool,
    memo: &mut Memo<'_, 'v>,
) {
    let start = out.len();
    for op in ops {
        if let Some(value) = op.out(record, searched, memo) {
            op.json_key.write(out);
            value.write_json(out);
        }
    }
    close(out, start, b'{', b'}');
}

/// What one field of a shaped record carries.
#[derive(Debug, Clone, Copy)]
enum Out<'v> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(&'v str),
    Date(NaiveDate),
    Timestamp(NaiveDateTime),
    /// `"****"` followed by this tail.
    Last4(&'v str),
    Pseudonym(Pseudonym),
}

impl Op<'_> {
    /// The value this field carries in `record`, or `None` when the field is
    /// left out of it. The one place where a rule meets a value.
    #[inline]
    fn out<'v, R: Record + ?Sized>(
        &self,
        record: &'v R,
        searched: bool,
        memo: &mut Memo<'_, 'v>,
    ) -> Option<Out<'v>> {
        match self.effect {
            Effect::Withhold | Effect::Mask(MaskKind::Omit) => None,
            Effect::SearchedMemberOnly if !searched => None,
            Effect::Show | Effect::SearchedMemberOnly => Some(plain(record.value(self.field))),
            Effect::Mask(kind) => Some(masked(kind, record.value(self.field), memo)),
        }
    }
}

/// A value as stored.
#[inline]
fn plain(value: Value<'_>) -> Out<'_> {
    match value {
        Value::Null => Out::Null,
        Value::Bool(b) => Out::Bool(b),
        Value::Int(i) => Out::Int(i),
        Value::Float(x) => Out::Float(x),
        Value::Text(s) => Out::Text(s),
        Value::Date(d) => Out::Date(d),
        Value::Timestamp(t) => Out::Timestamp(t),
    }
}

/// A value through its mask. A value whose type the mask does not take
/// becomes `null` rather than pass through; a null stays null, except under
/// `redact`, which says nothing about the value at all.
#[inline]
fn masked<'v>(kind: MaskKind, value: Value<'v>, memo: &mut Memo<'_, 'v>) -> Out<'v> {
    match (kind, value) {
        (MaskKind::Redact, _) => Out::Text(REDACTED),
        (MaskKind::Last4, Value::Text(s)) => Out::Last4(last4(s)),
        (MaskKind::YearOnly, Value::Date(d)) => Out::Int(d.year().into()),
        (MaskKind::YearOnly, Value::Timestamp(t)) => Out::Int(t.year().into()),
        (MaskKind::Band, Value::Float(x)) => band(x).map_or(Out::Null, Out::Text),
        (MaskKind::Pseudonym, Value::Text(s)) => Out::Pseudonym(memo.pseudonym(Plain::Text(s))),
        (MaskKind::Pseudonym, Value::Int(i)) => Out::Pseudonym(memo.pseudonym(Plain::Int(i))),
        _ => Out::Null,
    }
}

impl Out<'_> {
    #[inline]
    fn write_json(self, out: &mut Vec<u8>) {
        match self {
            Out::Null => json::null(out),
            Out::Bool(b) => json::bool(out, b),
            Out::Int(i) => json::int(out, i),
            Out::Float(x) => json::float(out, x),
            Out::Text(s) => json::string(out, s),
            Out::Date(d) => json::date(out, d),
            Out::Timestamp(t) => json::timestamp(out, t),
            Out::Last4(tail) => {
                out.extend_from_slice(b"\"****");
                json::string_body(out, tail);
                out.push(b'"');
            }
            Out::Pseudonym(p) => p.write_json(out),
        }
    }
}

/// Dates as `YYYY-MM-DD`, timestamps as `YYYY-MM-DDTHH:MM:SS[.fff]`,
/// non-finite floats as `null`: what [`Out::write_json`] writes.
impl Serialize for Out<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match *self {
            Out::Null => serializer.serialize_none(),
            Out::Bool(b) => serializer.serialize_bool(b),
            Out::Int(i) => serializer.serialize_i64(i),
            Out::Float(x) => serializer.serialize_f64(x),
            Out::Text(s) => serializer.serialize_str(s),
            Out::Date(d) => match json::iso_date(d) {
                Some(buf) => serializer.serialize_str(json::ascii(&buf)),
                None => serializer.collect_str(&d),
            },
            Out::Timestamp(t) => match json::iso_timestamp(t) {
                Some(buf) => serializer.serialize_str(json::ascii(&buf)),
                None => serializer.collect_str(&json::IsoTimestamp(t)),
            },
            Out::Last4(tail) => serializer.collect_str(&format_args!("****{tail}")),
            Out::Pseudonym(p) => p.serialize(serializer),
        }
    }
}

// The serde path: the same records and values as `write_json`, through any
// serializer. The memo is shared by the nested `Serialize` impls, hence the
// `RefCell` (borrowed only while one value is computed).

impl<H, M, P, F> Serialize for Shaped<'_, H, M, P, F>
where
    H: Record + ?Sized,
    M: Record,
    P: Record,
    F: Record,
{
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let (view, hh) = (self.view, &self.household);
        let memo = RefCell::new(Memo::new(view.client_key()));
        let memo = &memo;
        let mut map = serializer.serialize_map(None)?;
        let ops = view.ops(Entity::Household);
        if !ops.is_empty() {
            map.serialize_entry("household", &Fields::new(ops, hh.record, false, memo))?;
        }
        let ops = view.ops(Entity::Member);
        if !ops.is_empty() {
            let rows = || {
                self.members()
                    .map(move |(record, searched)| Fields::new(ops, record, searched, memo))
            };
            map.serialize_entry("members", &Rows(rows))?;
        }
        let ops = view.ops(Entity::Payment);
        if !ops.is_empty() {
            let rows = || {
                hh.payments
                    .iter()
                    .map(move |r| Fields::new(ops, r, false, memo))
            };
            map.serialize_entry("payments", &Rows(rows))?;
        }
        let ops = view.ops(Entity::Flag);
        if !ops.is_empty() {
            let rows = || {
                hh.flags
                    .iter()
                    .map(move |r| Fields::new(ops, r, false, memo))
            };
            map.serialize_entry("flags", &Rows(rows))?;
        }
        map.end()
    }
}

/// A sequence of records, from a function giving their iterator.
struct Rows<G>(G);

impl<G, I> Serialize for Rows<G>
where
    G: Fn() -> I,
    I: Iterator,
    I::Item: Serialize,
{
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(None)?;
        for fields in (self.0)() {
            seq.serialize_element(&fields)?;
        }
        seq.end()
    }
}

/// One record's visible fields.
struct Fields<'f, 'k, 'v, R: ?Sized> {
    ops: &'f [Op<'f>],
    record: &'v R,
    /// Whether this is the member whose CNIC was searched.
    searched: bool,
    memo: &'f RefCell<Memo<'k, 'v>>,
}

impl<'f, 'k, 'v, R: Record + ?Sized> Fields<'f, 'k, 'v, R> {
    fn new(
        ops: &'f [Op<'f>],
        record: &'v R,
        searched: bool,
        memo: &'f RefCell<Memo<'k, 'v>>,
    ) -> Self {
        Fields {
            ops,
            record,
            searched,
            memo,
        }
    }
}

impl<R: Record + ?Sized> Serialize for Fields<'_, '_, '_, R> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        for op in self.ops {
            let value = op.out(self.record, self.searched, &mut self.memo.borrow_mut());
            if let Some(value) = value {
                map.serialize_entry(op.name, &value)?;
            }
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells(values: &[Option<Out<'_>>]) -> String {
        let mut out = Vec::new();
        let mut first = true;
        for v in values {
            csv_cell(&mut out, &mut first, *v);
        }
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn csv_cells_are_quoted_and_never_formulas() {
        assert_eq!(
            cells(&[
                Some(Out::Text("Bibi, \"Amina\"")),
                Some(Out::Int(7)),
                None,
                Some(Out::Null),
                Some(Out::Bool(true)),
                Some(Out::Date(NaiveDate::from_ymd_opt(2024, 2, 29).unwrap())),
            ]),
            "\"Bibi, \"\"Amina\"\"\",7,,,true,2024-02-29"
        );
        for formula in ["=HYPERLINK(\"x\")", "+1", "-1", "@SUM(A1)", "\tx"] {
            let cell = cells(&[Some(Out::Text(formula))]);
            assert!(cell.starts_with("\"'"), "{formula:?} -> {cell}");
        }
        assert_eq!(cells(&[Some(Out::Last4("4567"))]), "\"****4567\"");
        assert_eq!(cells(&[Some(Out::Text("line\nbreak"))]), "\"line\nbreak\"");
    }
}
