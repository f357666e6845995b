//! The hash chain over access-log batches. Each record has a canonical
//! digest; a batch's hash covers the previous batch's hash, its id, its
//! commit time, its record count and the digests of its records in id order.
//! Deleting, inserting or editing a record, or a batch, breaks the chain.

use chrono::{Datelike, NaiveDateTime, Timelike};
use sha2::{Digest, Sha256};
use store::audit::AccessRow;

/// The hash before the first batch.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Timestamps are kept to the microsecond, the precision both backends store.
#[must_use]
pub fn to_micros(t: NaiveDateTime) -> NaiveDateTime {
    t.with_nanosecond(t.nanosecond() / 1_000 * 1_000)
        .unwrap_or(t)
}

/// A stored record's canonical JSON (fields in declaration order): what its
/// digest is taken of, and what the journal holds.
#[must_use]
pub fn record_json(row: &AccessRow) -> Vec<u8> {
    // A record's JSON is 400-700 bytes: one allocation, not a few doublings.
    let mut out = Vec::with_capacity(768);
    match serde_json::to_writer(&mut out, row) {
        Ok(()) => out,
        Err(_) => Vec::new(),
    }
}

/// The canonical digest of one stored record: of its JSON.
#[must_use]
pub fn record_digest(row: &AccessRow) -> [u8; 32] {
    Sha256::digest(record_json(row)).into()
}

/// The hash of a batch's records, in id order.
#[must_use]
pub fn records_hash(rows: &[AccessRow]) -> String {
    hash_of_digests(rows.iter().map(record_digest))
}

/// [`records_hash`] from the records' JSON ([`record_json`]), already made.
#[must_use]
pub fn records_hash_of_json(records: &[Vec<u8>]) -> String {
    hash_of_digests(records.iter().map(|r| Sha256::digest(r).into()))
}

fn hash_of_digests(digests: impl Iterator<Item = [u8; 32]>) -> String {
    let mut h = Sha256::new();
    for d in digests {
        h.update(d);
    }
    hex::encode(h.finalize())
}

/// The hash of a batch.
#[must_use]
pub fn batch_hash(
    prev_hash: &str,
    id: i64,
    committed_at: NaiveDateTime,
    count: i32,
    records_hash: &str,
) -> String {
    let text = format!(
        "nser-access-batch|{prev_hash}|{id}|{}|{count}|{records_hash}",
        Micros(to_micros(committed_at))
    );
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// How a batch's time enters its hash (chrono's format syntax).
const BATCH_TIME: &str = "%Y-%m-%dT%H:%M:%S%.6f";

/// A time as [`BATCH_TIME`], without parsing that format string on every
/// batch as chrono's `format` does (a few percent of the writer).
struct Micros(NaiveDateTime);

impl std::fmt::Display for Micros {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let t = self.0;
        if !(0..=9999).contains(&t.year()) {
            return write!(f, "{}", t.format(BATCH_TIME));
        }
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}",
            t.year(),
            t.month(),
            t.day(),
            t.hour(),
            t.minute(),
            // A leap second (nanoseconds past 1e9) prints as second 60.
            t.second() + t.nanosecond() / 1_000_000_000,
            t.nanosecond() % 1_000_000_000 / 1_000
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(year: i32, month: u32, day: u32, micro: u32) -> NaiveDateTime {
        chrono::NaiveDate::from_ymd_opt(year, month, day)
            .unwrap()
            .and_hms_micro_opt(23, 59, 59, micro)
            .unwrap()
    }

    #[test]
    fn batch_times_print_as_chrono_prints_them() {
        // Years 1 to ~2027 in steps of 37 days and ~1 h; years chrono
        // prints otherwise; a leap second.
        let step = chrono::Duration::microseconds(86_400_000_000 * 37 + 3_723_456_789);
        let times = std::iter::successors(Some(at(1, 1, 1, 0)), |t| Some(*t + step))
            .take(20_000)
            .chain([
                at(-1, 2, 3, 7),
                at(10_000, 2, 3, 7),
                at(2016, 12, 31, 1_500_000),
            ]);
        for t in times {
            assert_eq!(Micros(t).to_string(), t.format(BATCH_TIME).to_string());
        }
    }
}
