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
/// digest is taken of, and what the journal holds. Byte for byte what
/// `serde_json::to_vec(row)` writes (records already in logs must keep their
/// digests), written directly: `serde_json` escapes strings byte by byte and
/// formats the time through `Debug`, where most of a record's strings need
/// no escaping at all; ~250 against ~680 ns a record (`cargo run --release
/// -p metering --example writer_cost -- --json`; docs/performance.md, stop 21).
#[must_use]
pub fn record_json(row: &AccessRow) -> Vec<u8> {
    // A record's JSON is 400-700 bytes: one allocation, not a few doublings.
    let mut out = Vec::with_capacity(768);
    let o = &mut out;
    // A field added to the record is missing here until it is written:
    // `record_json_is_what_serde_json_writes` fails until then.
    int(o, b"{\"id\":", row.id);
    int(o, b",\"batch_id\":", row.batch_id);
    o.extend_from_slice(b",\"at\":\"");
    // As chrono serialises it: its `Debug` form (nothing in it needs escaping).
    store::timetext::write(o, row.at, b'T');
    o.push(b'"');
    text(o, b",\"request_id\":", &row.request_id);
    text(o, b",\"client_ip\":", &row.client_ip);
    opt_int(o, b",\"organisation_id\":", row.organisation_id);
    opt_text(
        o,
        b",\"organisation_name\":",
        row.organisation_name.as_deref(),
    );
    opt_text(o, b",\"org_type\":", row.org_type.as_deref());
    opt_int(o, b",\"client_system_id\":", row.client_system_id);
    opt_text(o, b",\"client_name\":", row.client_name.as_deref());
    opt_int(o, b",\"user_id\":", row.user_id);
    opt_text(o, b",\"user_name\":", row.user_name.as_deref());
    text(o, b",\"search_type\":", &row.search_type);
    text(o, b",\"endpoint\":", &row.endpoint);
    text(o, b",\"parameters\":", &row.parameters);
    opt_text(o, b",\"subject_hash\":", row.subject_hash.as_deref());
    int(o, b",\"rows_returned\":", row.rows_returned);
    int(o, b",\"status\":", i64::from(row.status));
    opt_int(o, b",\"grant_id\":", row.grant_id);
    opt_text(o, b",\"purpose\":", row.purpose.as_deref());
    text(o, b",\"withheld\":", &row.withheld);
    o.push(b'}');
    out
}

fn int(out: &mut Vec<u8>, key: &[u8], value: i64) {
    out.extend_from_slice(key);
    out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
}

fn opt_int(out: &mut Vec<u8>, key: &[u8], value: Option<i64>) {
    if let Some(v) = value {
        int(out, key, v);
    } else {
        out.extend_from_slice(key);
        out.extend_from_slice(b"null");
    }
}

fn opt_text(out: &mut Vec<u8>, key: &[u8], value: Option<&str>) {
    if let Some(v) = value {
        text(out, key, v);
    } else {
        out.extend_from_slice(key);
        out.extend_from_slice(b"null");
    }
}

/// A JSON string as `serde_json` writes it: `"` and `\` escaped with a
/// backslash; control characters as `\b \t \n \f \r`, the rest as
/// `\u00xx`; everything else, non-ASCII included, as it is.
fn text(out: &mut Vec<u8>, key: &[u8], value: &str) {
    out.extend_from_slice(key);
    out.push(b'"');
    let bytes = value.as_bytes();
    // Whether any byte needs escaping, without an early exit, so that the
    // loop vectorises: most strings (names, hashes, ids) need none.
    if bytes.iter().fold(false, |any, &b| any | needs_escape(b)) {
        let mut start = 0;
        for (i, &b) in bytes.iter().enumerate() {
            if !needs_escape(b) {
                continue;
            }
            out.extend_from_slice(&bytes[start..i]);
            start = i + 1;
            match b {
                b'"' => out.extend_from_slice(b"\\\""),
                b'\\' => out.extend_from_slice(b"\\\\"),
                0x08 => out.extend_from_slice(b"\\b"),
                b'\t' => out.extend_from_slice(b"\\t"),
                b'\n' => out.extend_from_slice(b"\\n"),
                0x0C => out.extend_from_slice(b"\\f"),
                b'\r' => out.extend_from_slice(b"\\r"),
                _ => {
                    const HEX: &[u8; 16] = b"0123456789abcdef";
                    out.extend_from_slice(b"\\u00");
                    out.push(HEX[usize::from(b >> 4)]);
                    out.push(HEX[usize::from(b & 0xF)]);
                }
            }
        }
        out.extend_from_slice(&bytes[start..]);
    } else {
        out.extend_from_slice(bytes);
    }
    out.push(b'"');
}

const fn needs_escape(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
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

    /// A small deterministic generator (xorshift), so that a failure
    /// reproduces.
    struct Gen(u64);

    impl Gen {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }

        fn pick(&mut self, n: u64) -> usize {
            usize::try_from(self.below(n)).unwrap()
        }

        fn int(&mut self) -> i64 {
            match self.below(4) {
                0 => 0,
                1 => i64::MIN + i64::try_from(self.below(3)).unwrap(),
                2 => i64::MAX - i64::try_from(self.below(3)).unwrap(),
                _ => i64::try_from(self.below(1 << 40)).unwrap() - (1 << 39),
            }
        }

        /// Text mixing every character JSON treats specially with ordinary
        /// ASCII and non-ASCII characters.
        fn text(&mut self) -> String {
            let len = self.below(40);
            (0..len)
                .map(|_| match self.below(6) {
                    0 => char::from(u8::try_from(self.below(0x20)).unwrap()),
                    1 => ['"', '\\', '/', '\u{7f}', '\u{80}', '\u{2028}'][self.pick(6)],
                    2 => ['é', '€', '𝄞', 'ا', '\u{feff}'][self.pick(5)],
                    _ => char::from(u8::try_from(0x20 + self.below(0x5f)).unwrap()),
                })
                .collect()
        }

        fn opt_text(&mut self) -> Option<String> {
            (self.below(3) != 0).then(|| self.text())
        }

        fn opt_int(&mut self) -> Option<i64> {
            (self.below(3) != 0).then(|| self.int())
        }

        fn time(&mut self) -> NaiveDateTime {
            let year = [1, 1970, 2026, 9999, -1, 10_000, -262_000][self.pick(7)];
            let nano = match self.below(6) {
                0 => 0,
                1 => self.below(1_000) * 1_000_000,
                2 => self.below(1_000_000) * 1_000,
                3 => self.below(1_000_000_000),
                // A leap second.
                4 => 1_000_000_000 + self.below(1_000_000) * 1_000,
                _ => self.below(1_000_000_000) / 1_000 * 1_000,
            };
            let second = if nano >= 1_000_000_000 {
                59
            } else {
                u32::try_from(self.below(60)).unwrap()
            };
            chrono::NaiveDate::from_ymd_opt(year, 1 + u32::try_from(self.below(12)).unwrap(), 28)
                .unwrap()
                .and_hms_nano_opt(23, 59, second, u32::try_from(nano).unwrap())
                .unwrap()
        }

        fn row(&mut self) -> AccessRow {
            AccessRow {
                id: self.int(),
                batch_id: self.int(),
                at: self.time(),
                request_id: self.text(),
                client_ip: self.text(),
                organisation_id: self.opt_int(),
                organisation_name: self.opt_text(),
                org_type: self.opt_text(),
                client_system_id: self.opt_int(),
                client_name: self.opt_text(),
                user_id: self.opt_int(),
                user_name: self.opt_text(),
                search_type: self.text(),
                endpoint: self.text(),
                parameters: self.text(),
                subject_hash: self.opt_text(),
                rows_returned: self.int(),
                status: i32::try_from(self.int() >> 33).unwrap(),
                grant_id: self.opt_int(),
                purpose: self.opt_text(),
                withheld: self.text(),
            }
        }
    }

    #[test]
    fn record_json_is_what_serde_json_writes() {
        let mut g = Gen(0x9e37_79b9_7f4a_7c15);
        for _ in 0..20_000 {
            let row = g.row();
            let ours = record_json(&row);
            let theirs = serde_json::to_vec(&row).unwrap();
            assert_eq!(
                String::from_utf8_lossy(&ours),
                String::from_utf8_lossy(&theirs),
                "{row:?}"
            );
            assert_eq!(ours, theirs);
        }
        // A record as the gateway writes it.
        let mut row = g.row();
        row.parameters = r#"{"cnic":"hmac:00ff"}"#.into();
        assert_eq!(record_json(&row), serde_json::to_vec(&row).unwrap());
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
