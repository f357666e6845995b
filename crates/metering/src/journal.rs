//! The access log's journal, on SQLite: a preallocated file beside the
//! database into which the writer appends each batch, already numbered and
//! chained, with one `O_DSYNC` write. A request is answered once its batch
//! is in the journal; a second thread then applies the journal's batches to
//! the database in large transactions (see `docs/access-log.md`, "The
//! journal").
//!
//! A frame is `NSJ1`, the payload's length (u32, little-endian) and the
//! payload: the batch as one JSON line, then each of its records as one JSON
//! line. Frames carry their own proof of integrity: the batch's hash covers
//! its records' digests and the previous batch's hash, so a torn or stale
//! frame is told from a good one without a separate checksum.
//!
//! Frames are written one after another from the start of the file; when
//! every frame written so far has been applied (and the database has
//! fsynced it), the next frame goes back to the start. Reading stops at the
//! first frame that is not whole, or that does not continue the chain of
//! the one before: what lies beyond the newest frame was written earlier,
//! with lower batch ids.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use store::audit::{AccessRow, BatchRow};
use store::DatabaseUrl;

use crate::chain;

const MAGIC: [u8; 4] = *b"NSJ1";
/// Magic and payload length.
const FRAME_HEADER: u64 = 8;

/// The journal file of the SQLite database at `url`; `None` on PostgreSQL,
/// where replicas share the log and each batch commits directly.
#[must_use]
pub fn path_for(url: &DatabaseUrl) -> Option<PathBuf> {
    match url {
        DatabaseUrl::Sqlite(p) if !p.as_os_str().is_empty() && p.as_os_str() != ":memory:" => {
            let mut name = p.as_os_str().to_owned();
            name.push(".access-journal");
            Some(PathBuf::from(name))
        }
        _ => None,
    }
}

/// Why the journal cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// Another process (a running gateway) holds it.
    #[error("another process holds the access journal {0}")]
    Locked(PathBuf),
    #[error("access journal {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    /// Frames not yet applied fill it.
    #[error("the access journal is full: the log's database has not kept up")]
    Full,
}

/// One batch as journaled.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub batch: BatchRow,
    pub rows: Vec<AccessRow>,
}

/// An open, locked journal.
pub struct Journal {
    file: File,
    path: PathBuf,
    capacity: u64,
    /// Where the next frame goes.
    offset: u64,
}

impl Journal {
    /// Open (creating and preallocating to `capacity` bytes when needed)
    /// and lock the journal at `path`. Fails with [`JournalError::Locked`]
    /// when another process holds it.
    pub fn open(path: &Path, capacity: u64) -> Result<Self, JournalError> {
        let io = |source| JournalError::Io {
            path: path.to_owned(),
            source,
        };
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            // Each write returns once its data is on stable storage.
            .custom_flags(libc::O_DSYNC)
            .open(path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(JournalError::Locked(path.to_owned()))
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
        let len = file.metadata().map_err(io)?.len();
        if len < capacity {
            // Written zeros, not a sparse or `fallocate`d file: overwriting
            // blocks already written needs no metadata update, so each
            // frame costs one data write.
            let zeros = vec![0u8; 1 << 20];
            let mut at = len;
            while at < capacity {
                let n = usize::try_from((capacity - at).min(1 << 20)).unwrap_or(1 << 20);
                file.write_all_at(&zeros[..n], at).map_err(io)?;
                at += n as u64;
            }
        }
        Ok(Self {
            file,
            path: path.to_owned(),
            capacity: capacity.max(len),
            offset: 0,
        })
    }

    /// The journal's file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io(&self, source: io::Error) -> JournalError {
        JournalError::Io {
            path: self.path.clone(),
            source,
        }
    }

    /// Every whole frame from the start that continues the chain of the one
    /// before it, in order.
    pub fn scan(&self) -> Result<Vec<Entry>, JournalError> {
        let len = self.file.metadata().map_err(|e| self.io(e))?.len();
        let mut entries: Vec<Entry> = Vec::new();
        let mut at = 0;
        while let Some((entry, next)) = self.read_frame(at, len).map_err(|e| self.io(e))? {
            if let Some(prev) = entries.last() {
                if entry.batch.id != prev.batch.id + 1
                    || entry.batch.prev_hash != prev.batch.batch_hash
                {
                    break;
                }
            }
            entries.push(entry);
            at = next;
        }
        Ok(entries)
    }

    /// The frame at `at`, if one is whole there, and where the next begins.
    fn read_frame(&self, at: u64, len: u64) -> io::Result<Option<(Entry, u64)>> {
        if at + FRAME_HEADER > len {
            return Ok(None);
        }
        let mut header = [0u8; 8];
        self.file.read_exact_at(&mut header, at)?;
        if header[..4] != MAGIC {
            return Ok(None);
        }
        let size = u64::from(u32::from_le_bytes([
            header[4], header[5], header[6], header[7],
        ]));
        let next = at + FRAME_HEADER + size;
        if next > len {
            return Ok(None);
        }
        let mut payload = vec![0u8; usize::try_from(size).unwrap_or(0)];
        self.file.read_exact_at(&mut payload, at + FRAME_HEADER)?;
        Ok(decode(&payload).map(|e| (e, next)))
    }

    /// Append one frame made by [`encode`]; with `restart`, at the start of
    /// the file (every frame before has been applied). Returns once the
    /// frame is on stable storage.
    pub fn append(&mut self, frame: &[u8], restart: bool) -> Result<(), JournalError> {
        if restart {
            self.offset = 0;
        }
        let end = self.offset + frame.len() as u64;
        if end > self.capacity {
            return Err(JournalError::Full);
        }
        self.file
            .write_all_at(frame, self.offset)
            .map_err(|e| self.io(e))?;
        self.offset = end;
        Ok(())
    }

    /// Mark the journal empty (every frame in it has been applied).
    pub fn clear(&mut self) -> Result<(), JournalError> {
        self.file
            .write_all_at(&[0u8; 8], 0)
            .map_err(|e| self.io(e))?;
        self.offset = 0;
        Ok(())
    }
}

/// The frame of a batch whose records' JSON (`chain::record_json`) is
/// `records`, one per record in id order.
#[must_use]
pub fn encode(batch: &BatchRow, records: &[Vec<u8>]) -> Vec<u8> {
    let head = serde_json::to_vec(batch).unwrap_or_default();
    let size = head.len() + records.iter().map(|r| r.len() + 1).sum::<usize>();
    let mut frame = Vec::with_capacity(8 + size);
    frame.extend_from_slice(&MAGIC);
    frame.extend_from_slice(&u32::try_from(size).unwrap_or(u32::MAX).to_le_bytes());
    frame.extend_from_slice(&head);
    for r in records {
        frame.push(b'\n');
        frame.extend_from_slice(r);
    }
    frame
}

/// A payload whose records and batch hash check out; `None` otherwise.
fn decode(payload: &[u8]) -> Option<Entry> {
    let mut lines = payload.split(|b| *b == b'\n');
    let batch: BatchRow = serde_json::from_slice(lines.next()?).ok()?;
    let rows: Vec<AccessRow> = lines
        .map(serde_json::from_slice)
        .collect::<Result<_, _>>()
        .ok()?;
    let records_hash = chain::records_hash(&rows);
    let whole = i32::try_from(rows.len()).ok()? == batch.record_count
        && records_hash == batch.records_hash
        && chain::batch_hash(
            &batch.prev_hash,
            batch.id,
            batch.committed_at,
            batch.record_count,
            &records_hash,
        ) == batch.batch_hash;
    whole.then_some(Entry { batch, rows })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64, batch_id: i64) -> AccessRow {
        let at = chain::to_micros(chrono::Utc::now().naive_utc());
        AccessRow {
            id,
            batch_id,
            at,
            request_id: format!("req-{id}"),
            client_ip: "127.0.0.1".into(),
            organisation_id: Some(1),
            organisation_name: Some("Org".into()),
            org_type: Some("federal_government".into()),
            client_system_id: Some(2),
            client_name: Some("till".into()),
            user_id: None,
            user_name: None,
            search_type: "pmt_by_cnic".into(),
            endpoint: "/v1/pmt/{cnic}".into(),
            parameters: "{\"cnic\":\"x\"}".into(),
            subject_hash: Some("ab".repeat(32)),
            rows_returned: 1,
            status: 200,
            grant_id: Some(3),
            purpose: Some("line\nbreak".into()),
            withheld: String::new(),
        }
    }

    /// A chained batch of `n` records after `prev`, and its frame.
    fn batch(prev: &BatchRow, n: i64) -> (BatchRow, Vec<u8>) {
        let id = prev.id + 1;
        let first = id * 100;
        let rows: Vec<AccessRow> = (first..first + n).map(|i| row(i, id)).collect();
        let records_hash = chain::records_hash(&rows);
        let at = chain::to_micros(chrono::Utc::now().naive_utc());
        let count = i32::try_from(n).unwrap();
        let b = BatchRow {
            id,
            committed_at: at,
            record_count: count,
            batch_hash: chain::batch_hash(&prev.batch_hash, id, at, count, &records_hash),
            records_hash,
            prev_hash: prev.batch_hash.clone(),
        };
        let json: Vec<Vec<u8>> = rows.iter().map(chain::record_json).collect();
        let frame = encode(&b, &json);
        (b, frame)
    }

    fn genesis() -> BatchRow {
        BatchRow {
            id: 0,
            committed_at: chrono::NaiveDateTime::default(),
            record_count: 0,
            records_hash: String::new(),
            prev_hash: String::new(),
            batch_hash: chain::GENESIS.into(),
        }
    }

    #[test]
    fn frames_read_back_stop_at_a_torn_one_and_ignore_what_lies_beyond_a_restart() {
        let dir = tempdir();
        let path = dir.join("log.access-journal");
        let mut j = Journal::open(&path, 1 << 16).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 1 << 16);
        assert!(j.scan().unwrap().is_empty());
        let (b1, f1) = batch(&genesis(), 3);
        let (b2, f2) = batch(&b1, 1);
        let (b3, f3) = batch(&b2, 2);
        j.append(&f1, false).unwrap();
        j.append(&f2, false).unwrap();
        j.append(&f3, false).unwrap();
        let ids: Vec<i64> = j.scan().unwrap().iter().map(|e| e.batch.id).collect();
        assert_eq!(ids, [1, 2, 3]);
        let entries = j.scan().unwrap();
        assert_eq!(entries[0].batch, b1);
        assert_eq!(entries[0].rows.len(), 3);
        assert_eq!(entries[0].rows[0].purpose.as_deref(), Some("line\nbreak"));

        // A second process cannot take it.
        assert!(matches!(
            Journal::open(&path, 1 << 16),
            Err(JournalError::Locked(_))
        ));

        // Back to the start: frames 1-3 lie beyond frame 4 and are not read.
        let (b4, f4) = batch(&b3, 1);
        j.append(&f4, true).unwrap();
        let ids: Vec<i64> = j.scan().unwrap().iter().map(|e| e.batch.id).collect();
        assert_eq!(ids, [4]);

        // A torn frame (its end not written) ends the journal.
        let (_, mut f5) = batch(&b4, 2);
        let n = f5.len();
        f5[n - 20..].fill(0);
        j.append(&f5, false).unwrap();
        let ids: Vec<i64> = j.scan().unwrap().iter().map(|e| e.batch.id).collect();
        assert_eq!(ids, [4]);

        // An edited record breaks its frame.
        let mut bad = f4.clone();
        let pos = bad.windows(7).position(|w| w == b"req-400").unwrap();
        bad[pos + 6] = b'9';
        j.append(&bad, true).unwrap();
        assert!(j.scan().unwrap().is_empty());

        j.clear().unwrap();
        assert!(j.scan().unwrap().is_empty());
        // Full: a frame that does not fit is refused, nothing written.
        let big = vec![b'x'; 1 << 17];
        assert!(matches!(j.append(&big, true), Err(JournalError::Full)));
        drop(j);
        std::fs::remove_dir_all(dir).unwrap();
    }

    fn tempdir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "nser-journal-{}-{}",
            std::process::id(),
            chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
