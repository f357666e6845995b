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
//! The file is two segments (halves). Frames are written one after another
//! from the start of a segment; when the next frame does not fit, writing
//! moves to the start of the other segment, which is allowed only once
//! every frame in it has been applied (and the database has fsynced it);
//! otherwise the journal is full and the request is refused. Reading a
//! segment stops at the first frame that is not whole, or that does not
//! continue the chain of the one before it: what lies beyond the newest
//! frame of a segment was written earlier, with lower batch ids. The two
//! segments' frames, in batch order, are the journal.

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
    /// Bytes per segment.
    segment: u64,
    /// The segment written to (0 or 1).
    current: usize,
    /// Where the next frame goes, within the current segment.
    offset: u64,
    /// The newest batch id written to each segment since the journal was
    /// last cleared (0: none).
    newest: [i64; 2],
}

impl Journal {
    /// Open and lock the journal at `path`, creating it with `capacity`
    /// bytes when it does not exist or is empty; an existing journal keeps
    /// its size (its segments' frames are where that size put them) until
    /// [`Journal::resize`]. Fails with [`JournalError::Locked`] when another
    /// process holds it.
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
            // Access records: who looked at whose data. Not for other users.
            .mode(0o600)
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
        let mut journal = Self {
            file,
            path: path.to_owned(),
            segment: len / 2,
            current: 0,
            offset: 0,
            newest: [0, 0],
        };
        if len == 0 {
            journal.resize(capacity)?;
        }
        Ok(journal)
    }

    /// Make an empty journal (just [`Journal::clear`]ed) `capacity` bytes.
    pub fn resize(&mut self, capacity: u64) -> Result<(), JournalError> {
        let capacity = capacity / 2 * 2;
        if capacity == self.segment * 2 {
            return Ok(());
        }
        self.file.set_len(0).map_err(|e| self.io(e))?;
        // Written zeros, not a sparse or `fallocate`d file: overwriting
        // blocks already written needs no metadata update, so each frame
        // costs one data write.
        let zeros = vec![0u8; 1 << 20];
        let mut at = 0;
        while at < capacity {
            let n = usize::try_from((capacity - at).min(1 << 20)).unwrap_or(1 << 20);
            self.file
                .write_all_at(&zeros[..n], at)
                .map_err(|e| self.io(e))?;
            at += n as u64;
        }
        self.segment = capacity / 2;
        self.current = 0;
        self.offset = 0;
        self.newest = [0, 0];
        Ok(())
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

    /// Every whole frame of both segments, in batch order: in each segment,
    /// the frames from its start that each continue the chain of the one
    /// before.
    pub fn scan(&self) -> Result<Vec<Entry>, JournalError> {
        let mut entries: Vec<Entry> = Vec::new();
        for seg in 0..2 {
            let base = self.segment * seg;
            let end = base + self.segment;
            let mut run: Vec<Entry> = Vec::new();
            let mut at = base;
            while let Some((entry, next)) = self.read_frame(at, end).map_err(|e| self.io(e))? {
                if let Some(prev) = run.last() {
                    if entry.batch.id != prev.batch.id + 1
                        || entry.batch.prev_hash != prev.batch.batch_hash
                    {
                        break;
                    }
                }
                run.push(entry);
                at = next;
            }
            entries.extend(run);
        }
        entries.sort_by_key(|e| e.batch.id);
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

    /// Append the frame of batch `id` made by [`encode`], after the frames
    /// before it, or at the start of the other segment when it does not fit
    /// and every frame there is applied (`applied`: the newest batch the
    /// database has committed). Returns once the frame is on stable storage.
    pub fn append(&mut self, frame: &[u8], id: i64, applied: i64) -> Result<(), JournalError> {
        let len = frame.len() as u64;
        if len > self.segment {
            return Err(JournalError::Full);
        }
        if self.offset + len > self.segment {
            let other = 1 - self.current;
            if self.newest[other] > applied {
                return Err(JournalError::Full);
            }
            self.current = other;
            self.offset = 0;
        }
        let at = self.segment * self.current as u64 + self.offset;
        self.file.write_all_at(frame, at).map_err(|e| self.io(e))?;
        self.offset += len;
        self.newest[self.current] = id;
        Ok(())
    }

    /// Mark the journal empty (every frame in it has been applied).
    pub fn clear(&mut self) -> Result<(), JournalError> {
        for at in [0, self.segment] {
            self.file
                .write_all_at(&[0u8; 8], at)
                .map_err(|e| self.io(e))?;
        }
        self.current = 0;
        self.offset = 0;
        self.newest = [0, 0];
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

    fn ids(j: &Journal) -> Vec<i64> {
        j.scan().unwrap().iter().map(|e| e.batch.id).collect()
    }

    #[test]
    fn frames_read_back_in_order_across_segments_and_stop_at_a_torn_or_stale_one() {
        let dir = tempdir();
        let path = dir.join("log.access-journal");
        let mut j = Journal::open(&path, 1 << 13).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 1 << 13);
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(j.scan().unwrap().is_empty());
        let (b1, f1) = batch(&genesis(), 3);
        j.append(&f1, 1, 0).unwrap();
        let entries = j.scan().unwrap();
        assert_eq!(entries[0].batch, b1);
        assert_eq!(entries[0].rows.len(), 3);
        assert_eq!(entries[0].rows[0].purpose.as_deref(), Some("line\nbreak"));

        // A second process cannot take it.
        assert!(matches!(
            Journal::open(&path, 1 << 13),
            Err(JournalError::Locked(_))
        ));

        // Fill both segments while nothing is applied: then it is full.
        let mut last = b1;
        loop {
            let (b, f) = batch(&last, 1);
            match j.append(&f, b.id, 0) {
                Ok(()) => last = b,
                Err(JournalError::Full) => break,
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(j.current, 1);
        assert_eq!(ids(&j), (1..=last.id).collect::<Vec<_>>());

        // Once the first segment is applied, writing goes back to its start;
        // its older frames beyond the new one are not read.
        let (b, f) = batch(&last, 1);
        let first_segment_last = j.newest[0];
        j.append(&f, b.id, first_segment_last).unwrap();
        assert_eq!(j.current, 0);
        assert!(first_segment_last >= 2);
        let expected: Vec<i64> = (first_segment_last + 1..=b.id).collect();
        assert_eq!(ids(&j), expected);

        // A torn frame (its end not written) ends its segment.
        let (_, mut torn) = batch(&b, 2);
        let n = torn.len();
        torn[n - 20..].fill(0);
        j.append(&torn, b.id + 1, b.id).unwrap();
        assert_eq!(ids(&j), expected);

        // An edited record breaks its frame.
        j.clear().unwrap();
        assert!(j.scan().unwrap().is_empty());
        let mut bad = f1.clone();
        let pos = bad.windows(7).position(|w| w == b"req-100").unwrap();
        bad[pos + 6] = b'9';
        j.append(&bad, 1, 0).unwrap();
        assert!(j.scan().unwrap().is_empty());

        // A frame larger than a segment is refused, nothing written.
        j.clear().unwrap();
        j.append(&f1, 1, 0).unwrap();
        let big = vec![b'x'; 1 << 13];
        assert!(matches!(j.append(&big, 2, 1), Err(JournalError::Full)));
        drop(j);

        // Reopened with another capacity, it keeps its size (and frames)
        // until resized.
        let mut j = Journal::open(&path, 1 << 14).unwrap();
        assert_eq!(ids(&j), [1]);
        j.clear().unwrap();
        j.resize(1 << 14).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 1 << 14);
        assert!(j.scan().unwrap().is_empty());
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
