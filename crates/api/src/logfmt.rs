//! The operational log's line. Every event inside a request carries that
//! request's id, read from the task's [`REQUEST_ID`] rather than from a
//! `tracing` span: a span per request (created, its fields formatted,
//! entered and left on every poll, closed) cost the till's hot path more
//! than the `served` line itself (docs/performance.md, stop 22). Events
//! outside a request (start-up, reloads, the writers' threads) have no id.
//!
//! Human (the default):
//! `2026-12-03T12:00:00.123456Z  INFO request_id=… nser_gateway::server: served method=GET path=/v1/pmt/{cnic} status=200 micros=84`
//!
//! JSON, one object a line:
//! `{"timestamp":"…","level":"INFO","request_id":"…","target":"nser_gateway::server","fields":{"message":"served",…}}`
//!
//! Paths are logged as the matched route's pattern, never as requested: a
//! requested path holds a CNIC.

use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use crate::server::REQUEST_ID;

/// The event formatter (`tracing_subscriber`'s `FormatEvent`). For JSON
/// lines its fields must be formatted by `JsonFields`.
#[derive(Debug, Clone, Copy)]
pub struct Line {
    pub json: bool,
}

impl<S, N> FormatEvent<S, N> for Line
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut w: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        if self.json {
            w.write_str("{\"timestamp\":\"")?;
            timestamp(&mut w)?;
            write!(w, "\",\"level\":\"{}\",", meta.level())?;
            // Request ids are our own UUIDs: nothing in them to escape.
            REQUEST_ID
                .try_with(|id| write!(w, "\"request_id\":\"{id}\","))
                .unwrap_or(Ok(()))?;
            write!(w, "\"target\":{},\"fields\":", json_string(meta.target()))?;
            ctx.format_fields(w.by_ref(), event)?;
            w.write_str("}\n")
        } else {
            let ansi = w.has_ansi_escapes();
            if ansi {
                w.write_str(DIM)?;
            }
            timestamp(&mut w)?;
            if ansi {
                write!(
                    w,
                    "{RESET} {}{:>5}{RESET} ",
                    colour(*meta.level()),
                    meta.level()
                )?;
            } else {
                write!(w, " {:>5} ", meta.level())?;
            }
            REQUEST_ID
                .try_with(|id| write!(w, "request_id={id} "))
                .unwrap_or(Ok(()))?;
            if ansi {
                write!(w, "{DIM}{}:{RESET} ", meta.target())?;
            } else {
                write!(w, "{}: ", meta.target())?;
            }
            ctx.format_fields(w.by_ref(), event)?;
            w.write_char('\n')
        }
    }
}

/// The time as `2026-12-03T12:00:00.123456Z` (UTC, microseconds), as
/// `tracing_subscriber`'s own clock writes it. The part up to the second is
/// kept per thread and written again only when the second changes.
fn timestamp(w: &mut Writer<'_>) -> fmt::Result {
    thread_local! {
        static SECOND: std::cell::Cell<(u64, [u8; 19])> = const { std::cell::Cell::new((u64::MAX, [0; 19])) };
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let (secs, micros) = (now.as_secs(), now.subsec_micros());
    let (cached, mut text) = SECOND.get();
    if cached != secs {
        let at = i64::try_from(secs)
            .ok()
            .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
            .unwrap_or_default();
        let mut buf = Vec::with_capacity(32);
        store::timetext::write(&mut buf, at.naive_utc(), b'T');
        if buf.len() != text.len() {
            // A year past 9999: not worth keeping.
            return write!(w, "{}.{micros:06}Z", String::from_utf8_lossy(&buf));
        }
        text.copy_from_slice(&buf);
        SECOND.set((secs, text));
    }
    // Digits, dashes, colons and a `T`: always UTF-8.
    w.write_str(std::str::from_utf8(&text).unwrap_or_default())?;
    write!(w, ".{micros:06}Z")
}

/// The human line's fields (`tracing_subscriber`'s `FormatFields`): the
/// message, then ` name=value` for each field, values as `Debug` writes
/// them, so strings are quoted and escaped. A value written with `%`
/// (`Display`) has its control characters escaped here: a newline in an
/// error from outside must not start a forged line of its own. Written
/// without the default fields' styling, which cost ~2,000 instructions an
/// event even with colours off (stop 22).
#[derive(Debug, Clone, Copy, Default)]
pub struct Fields;

impl<'w> FormatFields<'w> for Fields {
    fn format_fields<R: RecordFields>(&self, w: Writer<'w>, fields: R) -> fmt::Result {
        let mut visitor = FieldWriter {
            ansi: w.has_ansi_escapes(),
            w,
            first: true,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.result
    }
}

struct FieldWriter<'w> {
    w: Writer<'w>,
    ansi: bool,
    first: bool,
    result: fmt::Result,
}

impl FieldWriter<'_> {
    /// The separator and `name=` of the next field; `false` after an error.
    fn name(&mut self, field: &Field) -> bool {
        if self.result.is_err() {
            return false;
        }
        let pad = if std::mem::take(&mut self.first) {
            ""
        } else {
            " "
        };
        let name = field.name();
        let name = name.strip_prefix("r#").unwrap_or(name);
        self.result = if name == "message" {
            self.w.write_str(pad)
        } else if self.ansi {
            write!(self.w, "{pad}\x1b[3m{name}\x1b[0m{DIM}={RESET}")
        } else {
            write!(self.w, "{pad}{name}=")
        };
        self.result.is_ok()
    }
}

impl Visit for FieldWriter<'_> {
    fn record_u64(&mut self, field: &Field, value: u64) {
        if self.name(field) {
            self.result = write!(self.w, "{value}");
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        if self.name(field) {
            self.result = write!(self.w, "{value}");
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        if self.name(field) {
            self.result = self.w.write_str(if value { "true" } else { "false" });
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if !self.name(field) {
            return;
        }
        self.result = if field.name() == "message" {
            Escaped(&mut self.w).write_str(value)
        } else {
            write!(self.w, "{value:?}")
        };
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.name(field) {
            self.result = write!(Escaped(&mut self.w), "{value:?}");
        }
    }
}

/// Writes through, with control characters (C0, DEL, C1) as escapes.
struct Escaped<'a, 'w>(&'a mut Writer<'w>);

impl fmt::Write for Escaped<'_, '_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // C1 controls are U+0080-U+009F, encoded as 0xC2 0x80-0x9F.
        if !s.bytes().any(|b| b < 0x20 || b == 0x7f || b == 0xc2) {
            return self.0.write_str(s);
        }
        for c in s.chars() {
            if c.is_control() {
                write!(self.0, "{}", c.escape_default())?;
            } else {
                self.0.write_char(c)?;
            }
        }
        Ok(())
    }
}

const DIM: &str = "\x1b[2m";
const RESET: &str = "\x1b[0m";

/// The level's colour, as `tracing_subscriber`'s own format has it.
fn colour(level: Level) -> &'static str {
    match level {
        Level::TRACE => "\x1b[35m",
        Level::DEBUG => "\x1b[34m",
        Level::INFO => "\x1b[32m",
        Level::WARN => "\x1b[33m",
        Level::ERROR => "\x1b[31m",
    }
}

/// A target (a module path, or a name given in the macro) as a JSON string.
fn json_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::fmt::format::JsonFields;
    use tracing_subscriber::fmt::MakeWriter;

    use super::*;

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);

    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("buffer").extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Buf {
        type Writer = Buf;
        fn make_writer(&'a self) -> Buf {
            self.clone()
        }
    }

    impl Buf {
        fn lines(&self) -> Vec<String> {
            String::from_utf8(self.0.lock().expect("buffer").clone())
                .expect("UTF-8")
                .lines()
                .map(str::to_owned)
                .collect()
        }
    }

    /// Log one event outside a request and one inside, as the server does.
    fn log_both(json: bool, ansi: bool) -> Vec<String> {
        let buf = Buf::default();
        let builder = tracing_subscriber::fmt()
            .with_ansi(ansi)
            .with_writer(buf.clone());
        let dispatch = if json {
            tracing::Dispatch::new(
                builder
                    .fmt_fields(JsonFields::new())
                    .event_format(Line { json })
                    .finish(),
            )
        } else {
            tracing::Dispatch::new(
                builder
                    .fmt_fields(Fields)
                    .event_format(Line { json })
                    .finish(),
            )
        };
        tracing::dispatcher::with_default(&dispatch, || {
            tracing::info!(port = 8443, "listening");
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .expect("runtime");
            rt.block_on(REQUEST_ID.scope("3f0c-id".into(), async {
                tracing::warn!(client = "till \"7\"", "refused: client system disabled");
            }));
        });
        buf.lines()
    }

    #[test]
    fn human_lines_carry_the_request_id_inside_a_request_only() {
        let lines = log_both(false, false);
        assert_eq!(lines.len(), 2, "{lines:?}");
        let (time, rest) = lines[0].split_once(' ').expect("a time");
        let at = chrono::DateTime::parse_from_rfc3339(time).expect(time);
        let late = chrono::Utc::now().signed_duration_since(at);
        assert!(
            late >= chrono::TimeDelta::zero() && late < chrono::TimeDelta::seconds(5),
            "{time}"
        );
        assert_eq!(time.len(), "2026-12-03T12:00:00.123456Z".len(), "{time}");
        assert_eq!(
            rest,
            " INFO nser_gateway::logfmt::tests: listening port=8443"
        );
        let (_, rest) = lines[1].split_once(' ').expect("a time");
        assert_eq!(
            rest,
            " WARN request_id=3f0c-id nser_gateway::logfmt::tests: refused: client system disabled client=\"till \\\"7\\\"\""
        );
    }

    #[test]
    fn json_lines_are_json_objects_with_the_request_id() {
        let lines = log_both(true, false);
        assert_eq!(lines.len(), 2, "{lines:?}");
        let outside: serde_json::Value = serde_json::from_str(&lines[0]).expect("JSON");
        assert_eq!(outside["level"], "INFO");
        assert_eq!(outside["target"], module_path!());
        assert_eq!(outside["fields"]["message"], "listening");
        assert_eq!(outside["fields"]["port"], 8443);
        assert!(outside.get("request_id").is_none(), "{outside}");
        let inside: serde_json::Value = serde_json::from_str(&lines[1]).expect("JSON");
        assert_eq!(inside["level"], "WARN");
        assert_eq!(inside["request_id"], "3f0c-id");
        assert_eq!(inside["fields"]["client"], "till \"7\"");
        let time = inside["timestamp"].as_str().expect("a time");
        assert!(chrono::DateTime::parse_from_rfc3339(time).is_ok(), "{time}");
    }

    #[test]
    fn control_characters_in_values_cannot_forge_lines() {
        let buf = Buf::default();
        let dispatch = tracing::Dispatch::new(
            tracing_subscriber::fmt()
                .with_ansi(false)
                .with_writer(buf.clone())
                .fmt_fields(Fields)
                .event_format(Line { json: false })
                .finish(),
        );
        let outside = "bad\n2026-12-03T00:00:00.000000Z  INFO forged \x1b[31mred\u{9b}";
        tracing::dispatcher::with_default(&dispatch, || {
            tracing::warn!(reason = %outside, "refused token: {}", outside);
        });
        let lines = buf.lines();
        assert_eq!(lines.len(), 1, "{lines:?}");
        let escaped = "bad\\n2026-12-03T00:00:00.000000Z  INFO forged \\u{1b}[31mred\\u{9b}";
        assert!(
            lines[0].ends_with(&format!("refused token: {escaped} reason={escaped}")),
            "{}",
            lines[0]
        );
    }

    #[test]
    fn colours_only_when_asked() {
        let plain = log_both(false, false).concat();
        assert!(!plain.contains('\x1b'), "{plain}");
        let coloured = log_both(false, true);
        assert!(coloured[1].contains("\x1b[33m WARN\x1b[0m"), "{coloured:?}");
    }
}
