//! A time as text without chrono's formatting machinery (which parses its
//! format string on every call): the access log writes one for every
//! record twice, in its canonical JSON and in its SQLite row.
//!
//! [`write`] gives, byte for byte, chrono's `%F<sep>%T%.f`: the date, the
//! separator, the time, and the fraction as 3, 6 or 9 digits, whichever is
//! exact, none when zero; a leap second (nanoseconds past 1e9) as second 60.
//! With `b'T'` that is chrono's `Debug` form (what serde writes); with
//! `b' '`, the text diesel stores a SQLite `TIMESTAMP` as.

use std::io::Write as _;

use chrono::{Datelike, NaiveDateTime, Timelike};

/// What diesel binds a `NaiveDateTime` as on SQLite (`%F %T%.f`).
pub const SQLITE_SEPARATOR: u8 = b' ';

/// Append `t` as chrono's `%F<sep>%T%.f` to `out`.
pub fn write(out: &mut Vec<u8>, t: NaiveDateTime, sep: u8) {
    let year = u32::try_from(t.year()).unwrap_or(u32::MAX);
    if year > 9999 {
        // A signed or five-digit year: rare enough for chrono's own way.
        let format = if sep == b'T' { "%FT%T%.f" } else { "%F %T%.f" };
        let _ = write!(out, "{}", t.format(format));
        return;
    }
    let nano = t.nanosecond();
    digits(out, year, 4);
    out.push(b'-');
    digits(out, t.month(), 2);
    out.push(b'-');
    digits(out, t.day(), 2);
    out.push(sep);
    digits(out, t.hour(), 2);
    out.push(b':');
    digits(out, t.minute(), 2);
    out.push(b':');
    digits(out, t.second() + nano / 1_000_000_000, 2);
    let frac = nano % 1_000_000_000;
    let (value, width) = match frac {
        0 => return,
        f if f % 1_000_000 == 0 => (f / 1_000_000, 3),
        f if f % 1_000 == 0 => (f / 1_000, 6),
        f => (f, 9),
    };
    out.push(b'.');
    digits(out, value, width);
}

/// `t` as diesel stores it in SQLite, as a string.
#[must_use]
pub fn sqlite(t: NaiveDateTime) -> String {
    let mut out = Vec::with_capacity(26);
    write(&mut out, t, SQLITE_SEPARATOR);
    // Only ASCII digits and punctuation, or chrono's own (UTF-8) output.
    String::from_utf8(out).unwrap_or_default()
}

/// `value`'s last `width` decimal digits, zero-padded.
fn digits(out: &mut Vec<u8>, mut value: u32, width: usize) {
    let mut buf = [b'0'; 9];
    for d in buf[..width].iter_mut().rev() {
        *d = b'0' + u8::try_from(value % 10).unwrap_or(0);
        value /= 10;
    }
    out.extend_from_slice(&buf[..width]);
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, NaiveTime};

    use super::*;

    /// Times of every shape: fractions of 0, 3, 6 and 9 digits, leap
    /// seconds, years before 0 and after 9999 (xorshift, so a failure
    /// reproduces).
    fn times() -> impl Iterator<Item = NaiveDateTime> {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        std::iter::from_fn(move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            Some(state)
        })
        .take(20_000)
        .filter_map(|r| {
            let year = match r % 10 {
                0 => i32::try_from(r >> 8 & 0x3_ffff).ok()? - 0x1_ffff,
                1 => 9_990 + i32::try_from(r >> 8 & 31).ok()?,
                _ => 1_970 + i32::try_from(r >> 8 & 127).ok()?,
            };
            let date = NaiveDate::from_ymd_opt(year, 1, 1)?
                .checked_add_days(chrono::Days::new(r >> 20 & 511))?;
            let nano = u32::try_from(r >> 32 & 0x3fff_ffff).ok()? % 2_000_000_000;
            let nano = match r >> 62 {
                0 => 0,
                1 => nano / 1_000_000 * 1_000_000,
                2 => nano / 1_000 * 1_000,
                _ => nano,
            };
            let secs = u32::try_from(r >> 12 & 0xffff).ok()? % 86_400;
            // A leap second only at a minute's last second, as chrono allows.
            let nano = if secs % 60 == 59 {
                nano
            } else {
                nano % 1_000_000_000
            };
            let time = NaiveTime::from_num_seconds_from_midnight_opt(secs, nano)?;
            Some(date.and_time(time))
        })
    }

    #[test]
    fn is_what_chrono_and_diesel_write() {
        let mut seen = 0;
        for t in times() {
            let mut debug = Vec::new();
            write(&mut debug, t, b'T');
            assert_eq!(String::from_utf8(debug).unwrap(), format!("{t:?}"), "{t:?}");
            assert_eq!(sqlite(t), t.format("%F %T%.f").to_string(), "{t:?}");
            seen += 1;
        }
        assert!(seen > 15_000, "only {seen} times generated");
    }
}
