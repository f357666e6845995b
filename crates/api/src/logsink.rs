//! The operational log's writer: each line is formatted on the thread that
//! logs it and written to stderr by a thread of its own, which writes
//! whatever has queued up in 5 ms in one go. Written directly, the `served` line of
//! every request cost the workers a `write` each, ~17 us an answer on the
//! till's hot path (docs/performance.md, stop 13).
//!
//! Lossless: when the queue is full the logging thread waits, no line is
//! dropped. The queue is written out as soon as the writer gets to it, and
//! [`Flush`] (held by `main` while serving) writes out the rest on the way
//! out. A line still queued when the process is killed is lost; the access
//! log, which is the record of who saw what, does not go through here.

use std::io::{BufWriter, Write};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

/// Lines queued before a logging thread waits for the writer.
const QUEUE: usize = 16_384;
/// How long the writer lets lines gather once one has arrived.
const GATHER: std::time::Duration = std::time::Duration::from_millis(5);

enum Msg {
    Line(Vec<u8>),
    /// Write out everything queued before this, then answer.
    Flush(SyncSender<()>),
}

/// Hands out a [`Line`] per event (`tracing_subscriber`'s `MakeWriter`).
pub struct Sink {
    tx: SyncSender<Msg>,
}

/// Writes out the queue when dropped.
pub struct Flush {
    tx: SyncSender<Msg>,
}

/// Start the writer thread. If it cannot start, its queue is gone and each
/// [`Line`] writes itself to stderr (see its `Drop`).
pub fn start() -> (Sink, Flush) {
    let (tx, rx) = sync_channel(QUEUE);
    let _ = std::thread::Builder::new()
        .name("log-writer".into())
        .spawn(move || write_out(&rx));
    (Sink { tx: tx.clone() }, Flush { tx })
}

fn write_out(rx: &Receiver<Msg>) {
    let mut out = BufWriter::with_capacity(64 << 10, std::io::stderr());
    while let Ok(first) = rx.recv() {
        // Let lines gather rather than be woken for each: a thread that is
        // not waiting in `recv` costs the loggers no wake-up.
        std::thread::sleep(GATHER);
        let mut next = Some(first);
        while let Some(msg) = next {
            match msg {
                Msg::Line(line) => {
                    let _ = out.write_all(&line);
                }
                Msg::Flush(done) => {
                    let _ = out.flush();
                    let _ = done.send(());
                }
            }
            next = rx.try_recv().ok();
        }
        // Nothing more queued: out it goes.
        let _ = out.flush();
    }
}

impl Drop for Flush {
    fn drop(&mut self) {
        let (done, wait) = sync_channel(1);
        if self.tx.send(Msg::Flush(done)).is_ok() {
            let _ = wait.recv();
        }
    }
}

/// One event's line, queued when the formatter is done with it.
pub struct Line {
    buf: Vec<u8>,
    tx: SyncSender<Msg>,
}

impl Write for Line {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for Line {
    fn drop(&mut self) {
        if !self.buf.is_empty() {
            let line = std::mem::take(&mut self.buf);
            if let Err(e) = self.tx.send(Msg::Line(line)) {
                // The writer is gone: write it here rather than lose it.
                if let Msg::Line(line) = e.0 {
                    let _ = std::io::stderr().write_all(&line);
                }
            }
        }
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Sink {
    type Writer = Line;

    fn make_writer(&'a self) -> Line {
        Line {
            buf: Vec::with_capacity(256),
            tx: self.tx.clone(),
        }
    }
}
