//! Spare buffers of streamed reads, kept for the next chunk.
//!
//! A chunk of an export reads ~7,600 rows into arenas of a few MB and
//! shapes them into an answer of ~4 MB; a whole-registry export does that a
//! thousand times. Allocated and freed per chunk, those blocks end up in
//! glibc's per-thread arenas once its dynamic mmap threshold has risen past
//! them (the first freed one raises it), and the arenas keep them: the
//! server's peak RSS after complete exports grew to ~200-240 MB where one
//! district's export needs ~90 MB (docs/performance.md, stop 18). Kept
//! here instead and handed to the next chunk, no multi-MB block is freed
//! and allocated again, and what the process holds between exports is at
//! most `keep` buffers of the largest size a chunk needed.

use std::sync::{Mutex, PoisonError};

/// Buffers of one kind, at most `keep` of them, newest last.
pub struct Spare<T> {
    list: Mutex<Vec<T>>,
    keep: usize,
}

/// A buffer that can be emptied and reports its size.
pub trait Buffer {
    /// Bytes held.
    fn held(&self) -> usize;
    /// Emptied, capacity kept.
    fn empty(&mut self);
}

impl<T: Buffer> Spare<T> {
    /// None kept yet; at most `keep`.
    #[must_use]
    pub const fn new(keep: usize) -> Self {
        Spare {
            list: Mutex::new(Vec::new()),
            keep,
        }
    }

    /// The most recently given buffer, empty; `None` when there is none.
    pub fn take(&self) -> Option<T> {
        self.list
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
    }

    /// Keep `buffer` for a later [`Spare::take`], unless `keep` are kept
    /// already or it holds more than `most` bytes (one oversized answer
    /// must not stay for the life of the process).
    pub fn give(&self, mut buffer: T, most: usize) {
        if buffer.held() == 0 || buffer.held() > most {
            return;
        }
        buffer.empty();
        let mut list = self.list.lock().unwrap_or_else(PoisonError::into_inner);
        if list.len() < self.keep {
            list.push(buffer);
        }
    }
}

impl<T> std::fmt::Debug for Spare<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kept = self.list.lock().map_or(0, |l| l.len());
        f.debug_struct("Spare")
            .field("kept", &kept)
            .field("keep", &self.keep)
            .finish()
    }
}

impl<E> Buffer for Vec<E> {
    fn held(&self) -> usize {
        self.capacity() * std::mem::size_of::<E>()
    }
    fn empty(&mut self) {
        self.clear();
    }
}

impl Buffer for String {
    fn held(&self) -> usize {
        self.capacity()
    }
    fn empty(&mut self) {
        self.clear();
    }
}

impl<A: Buffer, B: Buffer> Buffer for (A, B) {
    fn held(&self) -> usize {
        self.0.held() + self.1.held()
    }
    fn empty(&mut self) {
        self.0.empty();
        self.1.empty();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_at_most_keep_emptied_buffers_and_none_too_large() {
        let spare: Spare<Vec<u8>> = Spare::new(2);
        assert!(spare.take().is_none());
        for n in [10, 20, 30] {
            spare.give(vec![1; n], 100);
        }
        spare.give(vec![1; 200], 100);
        spare.give(Vec::new(), 100);
        let b = spare.take().expect("kept");
        assert!(b.is_empty());
        assert_eq!(
            b.capacity(),
            20,
            "newest kept first; the third was over keep"
        );
        assert_eq!(spare.take().map(|b| b.capacity()), Some(10));
        assert!(
            spare.take().is_none(),
            "the oversized and the empty one were not kept"
        );
    }
}
