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

use std::fmt;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
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
            SystemTime.format_time(&mut w)?;
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
            SystemTime.format_time(&mut w)?;
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
            tracing::Dispatch::new(builder.event_format(Line { json }).finish())
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
        assert!(time.ends_with('Z') && time.contains('T'), "{time}");
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
    fn colours_only_when_asked() {
        let plain = log_both(false, false).concat();
        assert!(!plain.contains('\x1b'), "{plain}");
        let coloured = log_both(false, true);
        assert!(coloured[1].contains("\x1b[33m WARN\x1b[0m"), "{coloured:?}");
    }
}
