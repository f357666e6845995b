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
//!
//! Frames are written with `O_DIRECT | O_DSYNC` where the file system
//! allows it: each frame starts at a multiple of [`BLOCK`] and is padded
//! with zeros to the next, so the write goes from our buffer to the disk
//! without the page cache's buffered write-back, which cost the writer most
//! of its CPU (`docs/performance.md`). Where `O_DIRECT` is refused (tmpfs
//! before Linux 6.6), frames are written with `O_DSYNC` alone, one after
//! another. A reader looks for the next frame right after the one before
//! and, if none is there, at the next block boundary, so it reads either
//! layout.

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
/// The unit of a direct write: its offset, length and buffer address are
/// multiples of this (the page size, and a multiple of any disk's logical
/// block size).
pub const BLOCK: u64 = 4096;
/// [`BLOCK`] as a length in memory.
const BLOCK_LEN: usize = 4096;
const _: () = assert!(BLOCK_LEN as u64 == BLOCK);

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
    /// The frame is larger than a segment: it never fits.
    #[error("an access-log batch of {0} bytes is larger than half the access journal")]
    TooLarge(u64),
}

/// One batch as journaled.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub batch: BatchRow,
    pub rows: Vec<AccessRow>,
}

/// An open, locked journal.
pub struct Journal {
    /// Buffered: locked, read by [`Journal::scan`], sized by
    /// [`Journal::resize`].
    file: File,
    /// Frames are written through this one: `O_DIRECT | O_DSYNC`, or
    /// `O_DSYNC` where direct writes are refused.
    sync: File,
    /// `sync` is direct: frames go at block boundaries, padded.
    direct: bool,
    /// Block-aligned staging for direct writes (see [`Aligned`]).
    staging: Aligned,
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
        // Each write through `sync` returns once its data is on stable
        // storage.
        let open_sync = |flags| {
            OpenOptions::new()
                .write(true)
                .custom_flags(flags)
                .open(path)
        };
        let (sync, direct) = match open_sync(libc::O_DSYNC | libc::O_DIRECT) {
            Ok(f) => (f, true),
            // tmpfs before Linux 6.6, and some others, refuse O_DIRECT
            // with EINVAL.
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                (open_sync(libc::O_DSYNC).map_err(io)?, false)
            }
            Err(e) => return Err(io(e)),
        };
        let len = file.metadata().map_err(io)?.len();
        let mut journal = Self {
            file,
            sync,
            direct,
            staging: Aligned::default(),
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

    /// Make an empty journal (just [`Journal::clear`]ed) `capacity` bytes,
    /// rounded down to a whole number of blocks per segment (at least one).
    pub fn resize(&mut self, capacity: u64) -> Result<(), JournalError> {
        let capacity = (capacity / (2 * BLOCK)).max(1) * 2 * BLOCK;
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
        self.file.sync_all().map_err(|e| self.io(e))?;
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

    /// Frames are written with `O_DIRECT`, at block boundaries.
    #[must_use]
    pub fn is_direct(&self) -> bool {
        self.direct
    }

    /// Direct writes need segments of whole blocks; a journal left by an
    /// older build with another size is written buffered until resized.
    fn aligned(&self) -> bool {
        self.direct && self.segment.is_multiple_of(BLOCK)
    }

    /// Write `bytes` at `at` through the synchronous file: directly, padded
    /// with zeros to whole blocks, when `aligned`. Returns the bytes taken.
    fn write_sync(&mut self, bytes: &[u8], at: u64) -> io::Result<u64> {
        if self.aligned() {
            let block = self.staging.fill(bytes);
            self.sync.write_all_at(block, at)?;
            Ok(block.len() as u64)
        } else if self.direct {
            // A direct file cannot take this unaligned write.
            self.file.write_all_at(bytes, at)?;
            self.file.sync_data()?;
            Ok(bytes.len() as u64)
        } else {
            self.sync.write_all_at(bytes, at)?;
            Ok(bytes.len() as u64)
        }
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
            while let Some((entry, next)) = self
                .frame_after(at, end, run.last())
                .map_err(|e| self.io(e))?
            {
                run.push(entry);
                at = next;
            }
            entries.extend(run);
        }
        entries.sort_by_key(|e| e.batch.id);
        Ok(entries)
    }

    /// The frame that continues `prev` (any frame, at a segment's start),
    /// where the frame before ended at `at`: right there (written buffered)
    /// or at the next block boundary (written directly, padded).
    fn frame_after(
        &self,
        at: u64,
        end: u64,
        prev: Option<&Entry>,
    ) -> io::Result<Option<(Entry, u64)>> {
        let boundary = at.next_multiple_of(BLOCK);
        let candidates = if boundary == at {
            vec![at]
        } else {
            vec![at, boundary]
        };
        for candidate in candidates {
            if let Some((entry, next)) = self.read_frame(candidate, end)? {
                let continues = prev.is_none_or(|p| {
                    entry.batch.id == p.batch.id + 1 && entry.batch.prev_hash == p.batch.batch_hash
                });
                if continues {
                    return Ok(Some((entry, next)));
                }
            }
        }
        Ok(None)
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
        let mut len = frame.len() as u64;
        if self.aligned() {
            len = len.next_multiple_of(BLOCK);
        }
        if len > self.segment {
            return Err(JournalError::TooLarge(len));
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
        let taken = self.write_sync(frame, at).map_err(|e| self.io(e))?;
        self.offset += taken;
        self.newest[self.current] = id;
        Ok(())
    }

    /// Mark the journal empty (every frame in it has been applied).
    pub fn clear(&mut self) -> Result<(), JournalError> {
        for at in [0, self.segment] {
            // A zeroed frame header: no frame starts here.
            self.write_sync(&[0u8; 8], at).map_err(|e| self.io(e))?;
        }
        self.current = 0;
        self.offset = 0;
        self.newest = [0, 0];
        Ok(())
    }
}

/// A buffer whose contents start at a block boundary in memory, as direct
/// writes need: a vector a block longer than asked for, used from the first
/// aligned byte in it.
#[derive(Default)]
struct Aligned {
    buf: Vec<u8>,
}

impl Aligned {
    /// `bytes` followed by zeros to the next whole block, block-aligned.
    fn fill(&mut self, bytes: &[u8]) -> &[u8] {
        let len = usize::try_from((bytes.len() as u64).next_multiple_of(BLOCK).max(BLOCK))
            .unwrap_or(usize::MAX);
        let block = BLOCK_LEN;
        if self.buf.len() < len + block {
            self.buf = vec![0; len + block];
        }
        let start = self.buf.as_ptr().align_offset(block);
        let out = &mut self.buf[start..start + len];
        out[..bytes.len()].copy_from_slice(bytes);
        out[bytes.len()..].fill(0);
        out
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

    /// The store's sample record, with every text field set (a purpose
    /// with a newline, to be escaped in the frame) and an empty `withheld`.
    fn row(id: i64, batch_id: i64) -> AccessRow {
        let at = chain::to_micros(chrono::Utc::now().naive_utc());
        AccessRow {
            organisation_name: Some("Org".into()),
            org_type: Some("federal_government".into()),
            client_system_id: Some(2),
            client_name: Some("till".into()),
            endpoint: "/v1/pmt/{cnic}".into(),
            parameters: "{\"cnic\":\"x\"}".into(),
            grant_id: Some(3),
            purpose: Some("line\nbreak".into()),
            withheld: String::new(),
            ..store::testing::access_row(id, batch_id, at, Some(&"ab".repeat(32)))
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
        let mut j = Journal::open(&path, 1 << 15).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 1 << 15);
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
            Journal::open(&path, 1 << 15),
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
        let big = vec![b'x'; 1 << 15];
        assert!(matches!(
            j.append(&big, 2, 1),
            Err(JournalError::TooLarge(_))
        ));
        drop(j);

        // Reopened with another capacity, it keeps its size (and frames)
        // until resized.
        let mut j = Journal::open(&path, 1 << 16).unwrap();
        assert_eq!(ids(&j), [1]);
        j.clear().unwrap();
        j.resize(1 << 16).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 1 << 16);
        assert!(j.scan().unwrap().is_empty());
        drop(j);
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// Append `n` batches of two records after `last`; the last of them.
    fn append_n(j: &mut Journal, mut last: BatchRow, n: usize) -> BatchRow {
        for _ in 0..n {
            let (b, f) = batch(&last, 2);
            j.append(&f, b.id, 0).unwrap();
            last = b;
        }
        last
    }

    #[test]
    fn direct_frames_sit_on_block_boundaries_and_older_layouts_still_read() {
        let dir = tempdir();
        let path = dir.join("log.access-journal");
        let mut j = Journal::open(&path, 1 << 16).unwrap();
        // The test directory is on a disk here (not tmpfs): writes are direct.
        if !j.is_direct() {
            eprintln!(
                "O_DIRECT refused in {}: the aligned layout is not tested",
                dir.display()
            );
        }
        append_n(&mut j, genesis(), 3);
        if j.is_direct() {
            assert_eq!(j.offset % BLOCK, 0);
            assert_eq!(j.offset, 3 * BLOCK);
        }
        assert_eq!(ids(&j), [1, 2, 3]);
        drop(j);

        // A journal laid out by an older build: frames back to back, in a
        // file whose segments are not whole blocks. It reads, takes more
        // frames the same way, and is aligned once emptied and resized.
        std::fs::remove_file(&path).unwrap();
        let odd = 2 * (4 * BLOCK + 100);
        std::fs::write(&path, vec![0u8; usize::try_from(odd).unwrap()]).unwrap();
        let mut j = Journal::open(&path, 0).unwrap();
        assert_eq!(j.segment, 4 * BLOCK + 100);
        let (b1, f1) = batch(&genesis(), 2);
        j.append(&f1, 1, 0).unwrap();
        assert_eq!(j.offset, f1.len() as u64);
        let last_odd = append_n(&mut j, b1, 2);
        assert_eq!(ids(&j), [1, 2, 3]);
        drop(j);
        let mut j = Journal::open(&path, 0).unwrap();
        assert_eq!(ids(&j), [1, 2, 3]);
        j.clear().unwrap();
        assert!(j.scan().unwrap().is_empty());
        j.resize(odd).unwrap();
        assert_eq!(j.segment % BLOCK, 0);
        append_n(&mut j, last_odd, 2);
        assert_eq!(ids(&j), [4, 5]);
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
