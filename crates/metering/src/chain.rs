//! The hash chain over access-log batches. Each record has a canonical
//! digest; a batch's hash covers the previous batch's hash, its id, its
//! commit time, its record count and the digests of its records in id order.
//! Deleting, inserting or editing a record, or a batch, breaks the chain.

use chrono::{NaiveDateTime, Timelike};
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
    serde_json::to_vec(row).unwrap_or_default()
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
        to_micros(committed_at).format("%Y-%m-%dT%H:%M:%S%.6f")
    );
    hex::encode(Sha256::digest(text.as_bytes()))
}
