//! JSON text written straight into a byte buffer: the few value kinds a shaped
//! household holds, byte for byte as `serde_json` writes them (compact, same
//! string escapes, the same `itoa`/`zmij` number formatting, non-finite
//! floats as `null`).

use std::fmt::{self, Write as _};

use chrono::{Datelike, NaiveDate, NaiveDateTime, Timelike};

/// A JSON string: quoted, with `"`, `\` and control characters escaped.
#[inline]
pub(crate) fn string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    string_body(out, s);
    out.push(b'"');
}

/// The body of a JSON string. The common case, no byte that needs escaping,
/// is checked eight bytes at a time and copied at once.
#[inline]
pub(crate) fn string_body(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    if is_plain(bytes) {
        out.extend_from_slice(bytes);
    } else {
        escape(out, bytes);
    }
}

#[cold]
fn escape(out: &mut Vec<u8>, bytes: &[u8]) {
    let mut start = 0;
    for (i, &byte) in bytes.iter().enumerate() {
        let escape = ESCAPE[usize::from(byte)];
        if escape == 0 {
            continue;
        }
        out.extend_from_slice(&bytes[start..i]);
        if escape == b'u' {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(byte >> 4)]);
            out.push(HEX[usize::from(byte & 0x0f)]);
        } else {
            out.extend_from_slice(&[b'\\', escape]);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

/// Whether no byte needs escaping: none below 0x20, no `"`, no `\`.
#[inline]
fn is_plain(bytes: &[u8]) -> bool {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    // Whether any byte of `w` is below `n` (n <= 0x80; exact for "any").
    let below = |w: u64, n: u8| w.wrapping_sub(ONES * u64::from(n)) & !w & HIGHS != 0;
    let special = |w: u64| {
        below(w, 0x20)
            || below(w ^ (ONES * u64::from(b'"')), 1)
            || below(w ^ (ONES * u64::from(b'\\')), 1)
    };
    let mut words = bytes.chunks_exact(8);
    for word in &mut words {
        let mut buf = [0; 8];
        buf.copy_from_slice(word);
        if special(u64::from_ne_bytes(buf)) {
            return false;
        }
    }
    words
        .remainder()
        .iter()
        .all(|&b| ESCAPE[usize::from(b)] == 0)
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Per byte: 0 when it stands for itself, else the letter after the
/// backslash (`u` for `\u00XX`). `serde_json`'s table.
static ESCAPE: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut i = 0;
    while i < 0x20 {
        table[i] = b'u';
        i += 1;
    }
    table[0x08] = b'b';
    table[0x09] = b't';
    table[0x0a] = b'n';
    table[0x0c] = b'f';
    table[0x0d] = b'r';
    table[b'"' as usize] = b'"';
    table[b'\\' as usize] = b'\\';
    table
};

/// A `fmt::Write` that escapes what it is given into a JSON string body.
struct Escaping<'o>(&'o mut Vec<u8>);

impl fmt::Write for Escaping<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        string_body(self.0, s);
        Ok(())
    }
}

/// Anything `Display` as a JSON string (the slow paths: dates outside years
/// 0-9999, timestamps with a fraction of a second).
fn display(out: &mut Vec<u8>, value: impl fmt::Display) {
    out.push(b'"');
    // Escaping never fails, and chrono's Display only fails when the writer does.
    let _ = write!(Escaping(out), "{value}");
    out.push(b'"');
}

#[inline]
pub(crate) fn int(out: &mut Vec<u8>, i: i64) {
    out.extend_from_slice(itoa::Buffer::new().format(i).as_bytes());
}

/// A float as its shortest round-tripping decimal; NaN and infinities, which
/// JSON cannot carry, as `null`.
#[inline]
pub(crate) fn float(out: &mut Vec<u8>, x: f64) {
    if x.is_finite() {
        out.extend_from_slice(zmij::Buffer::new().format_finite(x).as_bytes());
    } else {
        out.extend_from_slice(b"null");
    }
}

#[inline]
pub(crate) fn bool(out: &mut Vec<u8>, b: bool) {
    out.extend_from_slice(if b { b"true" } else { b"false" });
}

#[inline]
pub(crate) fn null(out: &mut Vec<u8>) {
    out.extend_from_slice(b"null");
}

/// `"YYYY-MM-DD"`.
#[inline]
pub(crate) fn date(out: &mut Vec<u8>, d: NaiveDate) {
    match iso_date(d) {
        Some(buf) => quoted_ascii(out, &buf),
        None => display(out, d),
    }
}

/// `"YYYY-MM-DDTHH:MM:SS[.fff]"`.
#[inline]
pub(crate) fn timestamp(out: &mut Vec<u8>, t: NaiveDateTime) {
    match iso_timestamp(t) {
        Some(buf) => quoted_ascii(out, &buf),
        None => display(out, IsoTimestamp(t)),
    }
}

/// Bytes known to need no escaping, quoted.
#[inline]
fn quoted_ascii(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'"');
    out.extend_from_slice(bytes);
    out.push(b'"');
}

/// `YYYY-MM-DD` for years 0-9999 (the fast path: chrono's `Display` goes
/// through the formatting machinery, several times slower).
pub(crate) fn iso_date(d: NaiveDate) -> Option<[u8; 10]> {
    let year = u32::try_from(d.year()).ok().filter(|y| *y <= 9999)?;
    let mut buf = *b"0000-00-00";
    digits(&mut buf[0..4], year);
    digits(&mut buf[5..7], d.month());
    digits(&mut buf[8..10], d.day());
    Some(buf)
}

/// `YYYY-MM-DDTHH:MM:SS` for whole seconds in years 0-9999.
pub(crate) fn iso_timestamp(t: NaiveDateTime) -> Option<[u8; 19]> {
    if t.nanosecond() != 0 {
        return None;
    }
    let date = iso_date(t.date())?;
    let mut buf = *b"0000-00-00T00:00:00";
    buf[..10].copy_from_slice(&date);
    digits(&mut buf[11..13], t.hour());
    digits(&mut buf[14..16], t.minute());
    digits(&mut buf[17..19], t.second());
    Some(buf)
}

/// Writes `n` in decimal, right-aligned and zero-padded, into `out`.
fn digits(out: &mut [u8], mut n: u32) {
    for byte in out.iter_mut().rev() {
        // n % 10 < 10, so the cast cannot truncate.
        #[allow(clippy::cast_possible_truncation, reason = "a single decimal digit")]
        let digit = (n % 10) as u8;
        *byte = b'0' + digit;
        n /= 10;
    }
}

/// The slow path's timestamp: chrono's date and time joined by `T`.
pub(crate) struct IsoTimestamp(pub(crate) NaiveDateTime);

impl fmt::Display for IsoTimestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}T{}", self.0.date(), self.0.time())
    }
}

/// The buffers above hold only ASCII digits and punctuation.
pub(crate) fn ascii(buf: &[u8]) -> &str {
    std::str::from_utf8(buf).unwrap_or_default()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "test")]
mod tests {
    use super::*;

    fn text(write: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut out = Vec::new();
        write(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn strings_escape_as_serde_json_does() {
        let mut every_control: String = (0u8..0x20).map(char::from).collect();
        every_control.push('\u{7f}');
        for s in [
            "",
            "plain",
            "Muhammad Akram",
            "quote \" backslash \\ slash /",
            "{\"q17\":\"yes\"}",
            "tab\tnew\nline\r",
            "\u{e9}\u{0628}\u{06cc}\u{0628}\u{06cc} \u{1f600}",
            "\u{2028}\u{2029}",
            &every_control,
        ] {
            assert_eq!(
                text(|o| string(o, s)),
                serde_json::to_string(s).unwrap(),
                "{s:?}"
            );
        }
    }

    #[test]
    fn the_word_at_a_time_check_agrees_with_the_table() {
        for byte in 0..=255u8 {
            for len in 1..=19 {
                for at in 0..len {
                    let mut bytes = vec![b'a'; len];
                    bytes[at] = byte;
                    assert_eq!(
                        is_plain(&bytes),
                        ESCAPE[usize::from(byte)] == 0,
                        "byte {byte:#x} at {at} of {len}"
                    );
                }
            }
        }
        assert!(is_plain(b""));
    }

    #[test]
    fn numbers_match_serde_json() {
        for i in [0, 7, -7, 42, 1_000_000, i64::MAX, i64::MIN] {
            assert_eq!(text(|o| int(o, i)), serde_json::to_string(&i).unwrap());
        }
        for x in [
            0.0,
            -0.0,
            0.5,
            23.4,
            16.17,
            1e16,
            1.5e-7,
            f64::MAX,
            f64::MIN_POSITIVE,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ] {
            assert_eq!(text(|o| float(o, x)), serde_json::to_string(&x).unwrap());
        }
        assert_eq!(text(|o| bool(o, true)), "true");
        assert_eq!(text(|o| bool(o, false)), "false");
        assert_eq!(text(null), "null");
    }

    #[test]
    fn fast_dates_match_chrono() {
        for s in ["2025-01-31", "0001-02-03", "9999-12-31", "1978-05-02"] {
            let d: NaiveDate = s.parse().unwrap();
            assert_eq!(
                iso_date(d).map(|b| ascii(&b).to_owned()),
                Some(d.to_string())
            );
            assert_eq!(text(|o| date(o, d)), format!("\"{s}\""));
        }
        for s in ["2025-01-10T09:30:00", "1999-12-31T23:59:59"] {
            let t: NaiveDateTime = s.parse().unwrap();
            assert_eq!(
                iso_timestamp(t).map(|b| ascii(&b).to_owned()),
                Some(s.into())
            );
            assert_eq!(text(|o| timestamp(o, t)), format!("\"{s}\""));
        }
        let fraction: NaiveDateTime = "2025-01-10T09:30:00.250".parse().unwrap();
        assert_eq!(iso_timestamp(fraction), None);
        assert_eq!(
            text(|o| timestamp(o, fraction)),
            "\"2025-01-10T09:30:00.250\""
        );
        let far = NaiveDate::from_ymd_opt(12_345, 6, 7).unwrap();
        assert_eq!(text(|o| date(o, far)), format!("\"{far}\""));
        let bc = NaiveDate::from_ymd_opt(-44, 3, 15).unwrap();
        assert_eq!(text(|o| date(o, bc)), format!("\"{bc}\""));
    }
}
