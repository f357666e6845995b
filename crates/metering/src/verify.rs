//! `audit verify`: walk the chain from a batch, recompute every hash, and
//! name the first batch that does not match.

use chrono::NaiveDateTime;
use store::{DbConn, StoreError};

use crate::chain;

/// The outcome of a verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every batch checked matches, and the head names the last one.
    Intact { batches: u64, records: u64 },
    /// The first batch that does not match, and why.
    Broken { batch_id: i64, reason: String },
}

/// Verify the chain from the first batch committed at or after `from`
/// (the whole chain when `None`).
pub fn verify(conn: &mut DbConn, from: Option<NaiveDateTime>) -> Result<Verdict, StoreError> {
    let start = match from {
        Some(at) => match store::audit::first_batch_since(conn, at)? {
            Some(id) => id,
            None => {
                return Ok(Verdict::Intact {
                    batches: 0,
                    records: 0,
                })
            }
        },
        None => 1,
    };
    let mut prev_hash = if start <= 1 {
        chain::GENESIS.to_owned()
    } else {
        match store::audit::batch(conn, start - 1)? {
            Some(b) => b.batch_hash,
            None => {
                return Ok(Verdict::Broken {
                    batch_id: start - 1,
                    reason: "batch missing".into(),
                })
            }
        }
    };
    let (mut expected_id, mut batches, mut records) = (start, 0u64, 0u64);
    loop {
        let page = store::audit::batches(conn, expected_id, 500)?;
        let Some(last) = page.last() else { break };
        let (rows, keys): (Vec<_>, Vec<_>) =
            store::audit::records_of_batches(conn, expected_id, last.id)?
                .into_iter()
                .unzip();
        let mut rows = rows.as_slice();
        let mut keys = keys.as_slice();
        for b in &page {
            if b.id != expected_id {
                return Ok(Verdict::Broken {
                    batch_id: expected_id,
                    reason: "batch missing".into(),
                });
            }
            let n = rows.iter().take_while(|r| r.batch_id == b.id).count();
            let (mine, rest) = rows.split_at(n);
            rows = rest;
            let (my_keys, rest) = keys.split_at(n);
            keys = rest;
            if i64::try_from(n).unwrap_or(-1) != i64::from(b.record_count) {
                return Ok(Verdict::Broken {
                    batch_id: b.id,
                    reason: format!("holds {n} records, committed with {}", b.record_count),
                });
            }
            if let Some(reason) = batch_fault(b, mine, my_keys, &prev_hash) {
                return Ok(Verdict::Broken {
                    batch_id: b.id,
                    reason,
                });
            }
            prev_hash.clone_from(&b.batch_hash);
            expected_id += 1;
            batches += 1;
            records += n as u64;
        }
        if let Some(stray) = rows.first() {
            return Ok(Verdict::Broken {
                batch_id: stray.batch_id,
                reason: "records outside their batch".into(),
            });
        }
    }
    let (head_id, head_hash) = store::audit::head(conn)?;
    if head_id != expected_id - 1 || (head_id >= start && head_hash != prev_hash) {
        return Ok(Verdict::Broken {
            batch_id: expected_id,
            reason: format!(
                "the chain head names batch {head_id}; batches after {} are missing",
                expected_id - 1
            ),
        });
    }
    Ok(Verdict::Intact { batches, records })
}

/// What is wrong with batch `b`, holding records `mine` (with their stored
/// subject keys) and following a batch whose hash is `prev_hash`, if anything.
fn batch_fault(
    b: &store::audit::BatchRow,
    mine: &[store::audit::AccessRow],
    keys: &[Option<i64>],
    prev_hash: &str,
) -> Option<String> {
    if b.prev_hash != prev_hash {
        return Some("does not follow the previous batch".into());
    }
    let records_hash = chain::records_hash(mine);
    if records_hash != b.records_hash {
        return Some("a record was changed".into());
    }
    // The subject index's key is not hashed (it is derived from the hash,
    // which is): one that does not match its hash would hide the record
    // from the subject query.
    if mine.iter().zip(keys).any(|(r, k)| *k != r.subject_key()) {
        return Some("a record's subject key does not match its subject".into());
    }
    if chain::batch_hash(
        &b.prev_hash,
        b.id,
        b.committed_at,
        b.record_count,
        &records_hash,
    ) != b.batch_hash
    {
        return Some("the batch itself was changed".into());
    }
    None
}
