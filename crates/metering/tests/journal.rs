//! The access journal on a real SQLite file: the writer answers from the
//! journal and its applier brings the database up to date; a journal left
//! by a gateway that stopped before applying it is applied by the next
//! reader of the log, once, and a journal that does not continue the
//! database's chain is refused.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers stop the test on failure"
)]

mod common;

use diesel::prelude::*;
use metering::journal::{self, Journal};
use metering::verify::{verify, Verdict};
use metering::writer::{JournalConfig, LogWriter, Replay, StartError, WriterConfig};
use store::audit::{AccessRow, BatchRow};
use store::schema::access_log;
use store::testing::TestDb;

fn record(request: &str, grant: i64) -> AccessRow {
    common::record(request, Some(grant))
}

fn journaled() -> WriterConfig {
    WriterConfig {
        journal: Some(JournalConfig {
            capacity: 1 << 20,
            ..JournalConfig::default()
        }),
        ..WriterConfig::default()
    }
}

fn request_ids(db: &TestDb) -> Vec<String> {
    access_log::table
        .select(access_log::request_id)
        .order(access_log::id)
        .load(&mut db.url.connect().unwrap())
        .unwrap()
}

fn intact(db: &TestDb) -> (u64, u64) {
    match verify(&mut db.url.connect().unwrap(), None).unwrap() {
        Verdict::Intact { batches, records } => (batches, records),
        Verdict::Broken { batch_id, reason } => panic!("broken at {batch_id}: {reason}"),
    }
}

fn migrated() -> TestDb {
    let db = TestDb::sqlite();
    store::migrate::run(&mut db.url.connect().unwrap()).unwrap();
    db
}

#[test]
fn answers_come_from_the_journal_and_the_database_catches_up() {
    let db = migrated();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let writer = LogWriter::start(db.url.clone(), journaled()).unwrap();
    rt.block_on(async {
        let tasks: Vec<_> = (0..40)
            .map(|i| {
                let w = writer.clone();
                async move { w.append(record(&format!("r{i}"), 7)).await.unwrap() }
            })
            .collect();
        let ids = futures_join(tasks).await;
        let mut sorted = ids.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (1..=40).collect::<Vec<i64>>());
        // Answered, maybe not yet applied: quotas count them either way.
        let (journaled, _, failing) = writer.journal_status().unwrap();
        assert!(journaled >= 1 && !failing);
        let served = writer
            .rows_served_under_grant(&mut db.url.connect().unwrap(), 7)
            .unwrap();
        assert!(served >= 40, "{served}");
        writer.flush().await.unwrap();
    });
    assert_eq!(writer.pending_rows(7), 0);
    assert_eq!(request_ids(&db).len(), 40);
    assert_eq!(intact(&db).1, 40);
    let served = store::audit::rows_served_under_grant(&mut db.url.connect().unwrap(), 7).unwrap();
    assert_eq!(served, 40);
    // The journal is locked while the writer runs: a reader leaves it alone.
    assert_eq!(
        metering::writer::replay(&db.url).unwrap(),
        Replay::HeldByGateway
    );
}

#[test]
fn a_small_journal_carries_many_times_its_size_through_its_two_segments() {
    let db = migrated();
    let config = WriterConfig {
        journal: Some(JournalConfig {
            // 16 frames a segment where frames take a block each (direct
            // writes), about 80 records where they follow each other.
            capacity: 128 << 10,
            ..JournalConfig::default()
        }),
        ..WriterConfig::default()
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let writer = LogWriter::start(db.url.clone(), config).unwrap();
    rt.block_on(async {
        // Rounds of 10: no more than 10 frames unapplied at a time.
        for round in 0..200 {
            let tasks: Vec<_> = (0..10)
                .map(|i| {
                    let w = writer.clone();
                    async move { w.append(record(&format!("r{round}-{i}"), 7)).await.unwrap() }
                })
                .collect();
            futures_join(tasks).await;
            writer.flush().await.unwrap();
        }
    });
    assert_eq!(intact(&db).1, 2_000);
    assert_eq!(request_ids(&db).len(), 2_000);
}

/// Await all, in order, on the current thread.
async fn futures_join<F: std::future::Future<Output = i64> + 'static>(tasks: Vec<F>) -> Vec<i64> {
    let set = tokio::task::LocalSet::new();
    let handles: Vec<_> = tasks.into_iter().map(|t| set.spawn_local(t)).collect();
    set.run_until(async {
        let mut out = Vec::new();
        for h in handles {
            out.push(h.await.unwrap());
        }
        out
    })
    .await
}

/// Chain `n` batches of two records after the database's head, as the
/// writer would have journaled them.
fn frames_after(db: &TestDb, n: i64, first_request: i64) -> Vec<Vec<u8>> {
    let mut conn = db.url.connect().unwrap();
    let mut head = store::audit::write_transaction(&mut conn, store::audit::lock_head).unwrap();
    let mut frames = Vec::new();
    for _ in 0..n {
        let id = head.last_batch_id + 1;
        let rows: Vec<AccessRow> = (0..2)
            .map(|k| {
                let mut r = record(&format!("j{}", first_request + (id - 1) * 2 + k), 9);
                r.id = head.next_record_id + k;
                r.batch_id = id;
                r.at = metering::chain::to_micros(r.at);
                r
            })
            .collect();
        let json: Vec<Vec<u8>> = rows.iter().map(metering::chain::record_json).collect();
        let records_hash = metering::chain::records_hash_of_json(&json);
        let at = metering::chain::to_micros(chrono::Utc::now().naive_utc());
        let batch = BatchRow {
            id,
            committed_at: at,
            record_count: 2,
            batch_hash: metering::chain::batch_hash(&head.last_hash, id, at, 2, &records_hash),
            records_hash,
            prev_hash: head.last_hash.clone(),
        };
        frames.push(journal::encode(&batch, &json));
        head = store::audit::Head {
            last_batch_id: id,
            last_hash: batch.batch_hash,
            next_record_id: head.next_record_id + 2,
        };
    }
    frames
}

/// Leave a journal at `path` holding `frames`, as a gateway that stopped
/// before applying them would (the lock is released on return).
fn journal_holding(path: &std::path::Path, frames: &[Vec<u8>]) {
    let mut j = Journal::open(path, 1 << 20).unwrap();
    for f in frames {
        j.append(f, 1, 0).unwrap();
    }
}

#[test]
fn a_journal_left_unapplied_is_applied_once_by_the_next_reader() {
    let db = migrated();
    let path = journal::path_for(&db.url).unwrap();
    let frames = frames_after(&db, 3, 0);
    journal_holding(&path, &frames);
    assert!(request_ids(&db).is_empty());
    assert_eq!(
        metering::writer::replay(&db.url).unwrap(),
        Replay::Applied(3)
    );
    assert_eq!(request_ids(&db), ["j0", "j1", "j2", "j3", "j4", "j5"]);
    assert_eq!(intact(&db), (3, 6));
    // Applied once: the journal is empty now.
    assert_eq!(
        metering::writer::replay(&db.url).unwrap(),
        Replay::Applied(0)
    );
    assert_eq!(intact(&db), (3, 6));

    // A writer started on a journal the database partly has applies the rest
    // and continues the chain.
    let frames = frames_after(&db, 2, 100);
    journal_holding(&path, &frames);
    let mut conn = db.url.connect().unwrap();
    // The first of the two is already in the database (applied, then a crash
    // before the journal was reused).
    let entry = Journal::open(&path, 0).unwrap().scan().unwrap().remove(0);
    store::audit::write_transaction(&mut conn, |c| {
        store::audit::append(c, std::slice::from_ref(&entry.batch), &entry.rows)
    })
    .unwrap();
    let writer = LogWriter::start(db.url.clone(), journaled()).unwrap();
    assert_eq!(intact(&db), (5, 10));
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        assert_eq!(writer.append(record("after", 9)).await.unwrap(), 11);
        writer.flush().await.unwrap();
    });
    assert_eq!(intact(&db), (6, 11));
}

#[test]
fn a_journal_that_does_not_continue_the_chain_is_refused() {
    let db = migrated();
    let path = journal::path_for(&db.url).unwrap();
    // Two batches, of which only the second is journaled: a gap.
    let frames = frames_after(&db, 2, 0);
    journal_holding(&path, std::slice::from_ref(&frames[1]));
    let err = metering::writer::replay(&db.url).unwrap_err();
    assert!(matches!(err, StartError::Chain(_)), "{err}");
    assert!(LogWriter::start(db.url.clone(), journaled()).is_err());
    assert!(request_ids(&db).is_empty());

    // The journal of another database: its batch 1 is not this one's.
    let other = migrated();
    let theirs = frames_after(&other, 1, 50);
    std::fs::remove_file(&path).unwrap();
    journal_holding(&path, std::slice::from_ref(&frames[0]));
    assert_eq!(
        metering::writer::replay(&db.url).unwrap(),
        Replay::Applied(1)
    );
    journal_holding(&path, std::slice::from_ref(&theirs[0]));
    let err = metering::writer::replay(&db.url).unwrap_err();
    assert!(err.to_string().contains("move the journal aside"), "{err}");
    assert_eq!(request_ids(&db), ["j0", "j1"]);
}
