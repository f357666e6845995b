//! The access-log writer: one thread owns one connection and commits records
//! in batches (group commit). A request hands its record over and waits for
//! the commit of the batch that holds it; while one batch commits, the next
//! one fills, so under load many records share one commit and at low load a
//! record waits for nothing but its own commit. If the commit fails, every
//! waiter of that batch is told, and the request must not be answered.

use std::sync::mpsc;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use store::audit::{AccessRow, BatchRow, Head};
use store::{DatabaseUrl, DbConn, StoreError};
use tokio::sync::oneshot;

use crate::chain;

/// Why a record could not be committed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LogError {
    /// The database refused or is unreachable: nothing may be served.
    #[error("the access log cannot be written: {0}")]
    Unavailable(String),
    /// The writer thread has stopped.
    #[error("the access-log writer has stopped")]
    Stopped,
}

struct Job {
    row: AccessRow,
    /// `None`: nobody waits for this record's commit.
    done: Option<oneshot::Sender<Result<i64, LogError>>>,
}

/// A handle to the writer; cheap to clone.
#[derive(Clone)]
pub struct LogWriter {
    tx: mpsc::Sender<Job>,
}

/// How the writer batches.
#[derive(Debug, Clone, Copy)]
pub struct WriterConfig {
    /// The most records in one batch.
    pub max_batch: usize,
    /// How long the first record of a batch waits for company (0: commit what
    /// has arrived, at once).
    pub window: Duration,
    /// On SQLite, fsync every commit (`FULL`: a committed record survives
    /// power loss) or only at checkpoints (`NORMAL`: it survives a crash of
    /// the process, not of the machine).
    pub sqlite_full_sync: bool,
}

impl Default for WriterConfig {
    fn default() -> Self {
        Self {
            max_batch: 1_000,
            window: Duration::ZERO,
            sqlite_full_sync: true,
        }
    }
}

impl LogWriter {
    /// Start the writer thread on its own connection to `url`.
    pub fn start(url: DatabaseUrl, config: WriterConfig) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("access-log".into())
            .spawn(move || run(&url, config, &rx))?;
        Ok(Self { tx })
    }

    /// Commit `row` (its `id`, `batch_id` are assigned here); returns its
    /// record id once the batch holding it is committed.
    pub async fn append(&self, row: AccessRow) -> Result<i64, LogError> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Job {
                row,
                done: Some(done),
            })
            .map_err(|_| LogError::Stopped)?;
        wait.await.map_err(|_| LogError::Stopped)?
    }

    /// Queue `row` without waiting for its commit (a correction no answer
    /// depends on); a failure is only logged.
    pub fn submit(&self, row: AccessRow) {
        if self.tx.send(Job { row, done: None }).is_err() {
            tracing::error!("access-log writer stopped; a correction record was lost");
        }
    }
}

fn connect(url: &DatabaseUrl, config: WriterConfig) -> Result<DbConn, StoreError> {
    let mut conn = url.connect()?;
    if let (DbConn::Sqlite(_), true) = (&conn, config.sqlite_full_sync) {
        // The log must survive power loss, not only a crash of this process.
        conn.batch_execute("PRAGMA synchronous = FULL")
            .map_err(StoreError::Query)?;
    }
    Ok(conn)
}

fn run(url: &DatabaseUrl, config: WriterConfig, rx: &mpsc::Receiver<Job>) {
    let mut conn: Option<DbConn> = None;
    // The chain head after our last commit, on SQLite (one process writes
    // the log); forgotten on any error. PostgreSQL re-reads it under a lock
    // every time, since replicas share the chain.
    let mut head: Option<Head> = None;
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        if !config.window.is_zero() {
            // Sleep through the window rather than waking for every record.
            std::thread::sleep(config.window);
        }
        while jobs.len() < config.max_batch {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        let result = match conn.as_mut() {
            Some(c) => commit(c, &mut jobs, &mut head),
            None => match connect(url, config) {
                Ok(c) => commit(conn.insert(c), &mut jobs, &mut head),
                Err(e) => Err(e),
            },
        };
        match result {
            Ok(first_id) => {
                for (job, id) in jobs.into_iter().zip(first_id..) {
                    if let Some(done) = job.done {
                        let _ = done.send(Ok(id));
                    }
                }
            }
            Err(e) => {
                tracing::error!(error = %e, records = jobs.len(), "access log commit failed");
                // Reconnect for the next batch: the failure may be the connection.
                conn = None;
                head = None;
                let err = LogError::Unavailable(e.to_string());
                for done in jobs.into_iter().filter_map(|j| j.done) {
                    let _ = done.send(Err(err.clone()));
                }
            }
        }
    }
}

/// One transaction: lock the chain head (or, on SQLite, use the one this
/// writer left), number the records, hash, append.
fn commit(
    conn: &mut DbConn,
    jobs: &mut [Job],
    cached: &mut Option<Head>,
) -> Result<i64, StoreError> {
    let known = match conn {
        DbConn::Sqlite(_) => cached.take(),
        DbConn::Pg(_) => None,
    };
    let (first, next) = store::audit::write_transaction(conn, |conn| {
        let head = match known {
            Some(h) => h,
            None => store::audit::lock_head(conn)?,
        };
        let batch_id = head.last_batch_id + 1;
        let committed_at = chain::to_micros(chrono::Utc::now().naive_utc());
        let rows: Vec<AccessRow> = jobs
            .iter_mut()
            .zip(head.next_record_id..)
            .map(|(job, id)| {
                let mut row = job.row.clone();
                row.id = id;
                row.batch_id = batch_id;
                row.at = chain::to_micros(row.at);
                row
            })
            .collect();
        let records_hash = chain::records_hash(&rows);
        let count = i32::try_from(rows.len()).unwrap_or(i32::MAX);
        let batch = BatchRow {
            id: batch_id,
            committed_at,
            record_count: count,
            batch_hash: chain::batch_hash(
                &head.last_hash,
                batch_id,
                committed_at,
                count,
                &records_hash,
            ),
            records_hash,
            prev_hash: head.last_hash,
        };
        store::audit::append(conn, &batch, &rows)?;
        let next = Head {
            last_batch_id: batch_id,
            last_hash: batch.batch_hash.clone(),
            next_record_id: head.next_record_id + i64::try_from(rows.len()).unwrap_or(i64::MAX),
        };
        Ok((head.next_record_id, next))
    })?;
    *cached = Some(next);
    Ok(first)
}
