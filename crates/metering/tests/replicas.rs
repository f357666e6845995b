//! Two gateways writing one PostgreSQL access log (replicas): each writer
//! locks the chain head and reads the log's next id in its transaction, so
//! records never share an id and the chain stays whole however their
//! batches interleave.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers stop the test on failure"
)]

mod common;

use metering::verify::{verify, Verdict};
use metering::writer::{LogWriter, WriterConfig};
use store::audit::AccessRow;
use store::testing::TestDb;

fn record(request: &str) -> AccessRow {
    common::record(request, None)
}

#[test]
fn two_writers_on_one_postgresql_log_interleave_without_sharing_an_id() {
    let Some(db) = TestDb::postgres() else {
        return;
    };
    store::migrate::run(&mut db.url.connect().unwrap()).unwrap();
    let a = LogWriter::start(db.url.clone(), WriterConfig::default()).unwrap();
    let b = LogWriter::start(db.url.clone(), WriterConfig::default()).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut ids = rt.block_on(async {
        let mut ids = Vec::new();
        // Strictly alternating: every commit finds the other's batch on top.
        for i in 0..20 {
            ids.push(a.append(record(&format!("a{i}"))).await.unwrap());
            ids.push(b.append(record(&format!("b{i}"))).await.unwrap());
        }
        // Then both at once, and one writer alone for a while.
        let both: Vec<_> = (0..40)
            .map(|i| {
                let w = if i % 2 == 0 { a.clone() } else { b.clone() };
                async move { w.append(record(&format!("c{i}"))).await.unwrap() }
            })
            .collect();
        for task in both {
            ids.push(task.await);
        }
        for i in 0..10 {
            ids.push(a.append(record(&format!("d{i}"))).await.unwrap());
        }
        ids
    });
    ids.sort_unstable();
    assert_eq!(ids, (1..=90).collect::<Vec<i64>>());
    match verify(&mut db.url.connect().unwrap(), None).unwrap() {
        Verdict::Intact { records, .. } => assert_eq!(records, 90),
        Verdict::Broken { batch_id, reason } => panic!("broken at {batch_id}: {reason}"),
    }
}
