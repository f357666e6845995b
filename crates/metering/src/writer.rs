//! The access-log writer: one thread owns one connection and commits records
//! in batches (group commit). A request hands its record over and waits for
//! the commit of the batch that holds it; while one batch commits, the next
//! one fills, so under load many records share one commit and at low load a
//! record waits for nothing but its own commit. If the commit fails, every
//! waiter of that batch is told, and the request must not be answered.
//!
//! On SQLite with a journal (the default), "committed" means written to the
//! journal ([`crate::journal`]): one `O_DSYNC` write per batch, where a
//! SQLite commit costs several page writes and fsyncs. A second thread
//! applies the journal to the database in large transactions; a database
//! that falls more than `max_lag` behind (locked, read-only, full) stops
//! the answers as a failed commit would, and at start-up whatever the
//! journal holds that the database lacks is applied first.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use store::audit::{AccessRow, BatchRow, Head};
use store::{DatabaseUrl, DbConn, StoreError};
use tokio::sync::{oneshot, watch};

use crate::chain;
use crate::journal::{self, Journal, JournalError};

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
    done: Waiter,
}

type Waiter = Option<oneshot::Sender<Result<i64, LogError>>>;

/// A handle to the writer; cheap to clone.
#[derive(Clone)]
pub struct LogWriter {
    tx: mpsc::Sender<Job>,
    /// With a journal: how far the database has caught up with it.
    progress: Option<Arc<Progress>>,
}

/// How the writer batches.
#[derive(Debug, Clone, Copy)]
pub struct WriterConfig {
    /// The most records in one batch.
    pub max_batch: usize,
    /// How long the first record of a batch waits for company when the
    /// previous batch had company too (0: never; commit what has arrived, at
    /// once). A lone request is never held: the window only gathers load
    /// that is already there.
    pub window: Duration,
    /// On SQLite, fsync every commit (`FULL`: a committed record survives
    /// power loss) or only at checkpoints (`NORMAL`: it survives a crash of
    /// the process, not of the machine).
    pub sqlite_full_sync: bool,
    /// On SQLite, answer once the batch is in the journal (see
    /// [`crate::journal`]) rather than once the database has committed it.
    pub journal: Option<JournalConfig>,
}

/// The journal's size and how far the database may fall behind it.
#[derive(Debug, Clone, Copy)]
pub struct JournalConfig {
    /// Bytes preallocated; batches not yet applied must fit.
    pub capacity: u64,
    /// When the oldest batch not yet applied is older than this, requests
    /// are refused (503) until the database catches up: a database that
    /// cannot be written stops the answers, as without a journal.
    pub max_lag: Duration,
    /// How long the applier lets batches gather before it applies them:
    /// one transaction (and one fsync) for all of them, and each page of
    /// the log's indexes written once for many records. A reader of the log
    /// ([`LogWriter::flush`]) cuts it short.
    pub apply_interval: Duration,
}

impl Default for JournalConfig {
    fn default() -> Self {
        Self {
            // 8,192 one-block frames a segment: over 1.5 s at 5,000 batches
            // a second (this VM gave ~2,600 a second with no window, of
            // ~3 records each; the window makes them fewer and fuller).
            capacity: 64 << 20,
            max_lag: Duration::from_secs(10),
            apply_interval: Duration::from_millis(20),
        }
    }
}

impl Default for WriterConfig {
    fn default() -> Self {
        Self {
            max_batch: 1_000,
            window: Duration::from_micros(200),
            sqlite_full_sync: true,
            journal: None,
        }
    }
}

/// Journaled batches and how far the database has applied them.
struct Progress {
    /// The newest batch in the journal.
    journaled: AtomicI64,
    /// The newest batch the database has committed.
    applied: watch::Sender<i64>,
    /// The last attempt to apply failed.
    failing: AtomicBool,
    /// Rows per grant journaled and not yet applied (for quotas, which are
    /// read from the database's usage roll-up).
    pending: Mutex<HashMap<i64, i64>>,
    /// A reader waits for the database to catch up: apply now, not at the
    /// end of the interval.
    hurry: Mutex<bool>,
    hurried: Condvar,
}

impl Progress {
    /// Have the applier apply what it holds now, not at the end of its
    /// interval.
    fn hurry(&self) {
        *self.hurry.lock().unwrap_or_else(PoisonError::into_inner) = true;
        self.hurried.notify_one();
    }

    fn add_pending(&self, rows: &[AccessRow], sign: i64) {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        for r in rows {
            if let (Some(g), n @ 1..) = (r.grant_id, r.rows_returned) {
                let e = pending.entry(g).or_default();
                *e += sign * n;
                if *e == 0 {
                    pending.remove(&g);
                }
            }
        }
    }
}

/// What a replay of the journal found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replay {
    /// There is no journal (PostgreSQL, or none was ever written).
    NoJournal,
    /// A running gateway holds the journal and applies it itself.
    HeldByGateway,
    /// This many batches were applied from the journal.
    Applied(usize),
}

impl LogWriter {
    /// Start the writer on its own connection to `url`. With a journal
    /// (SQLite), first apply whatever the journal holds that the database
    /// lacks (a crash), then start the journal's writer and the thread that
    /// applies it.
    pub fn start(url: DatabaseUrl, config: WriterConfig) -> Result<Self, StartError> {
        let (tx, rx) = mpsc::channel::<Job>();
        let journal_path = config.journal.zip(journal::path_for(&url));
        let Some((jc, path)) = journal_path else {
            std::thread::Builder::new()
                .name("access-log".into())
                .spawn(move || run(&url, config, &rx))?;
            return Ok(Self { tx, progress: None });
        };
        let mut journal = Journal::open(&path, jc.capacity)?;
        let mut conn = connect(&url, config)?;
        let (replayed, head) = recover(&mut journal, &mut conn)?;
        journal.resize(jc.capacity)?;
        if replayed > 0 {
            tracing::warn!(
                batches = replayed,
                "access log: applied batches the journal held"
            );
        }
        let (applied, _) = watch::channel(head.last_batch_id);
        let progress = Arc::new(Progress {
            journaled: AtomicI64::new(head.last_batch_id),
            applied,
            failing: AtomicBool::new(false),
            pending: Mutex::new(HashMap::new()),
            hurry: Mutex::new(false),
            hurried: Condvar::new(),
        });
        let (apply_tx, apply_rx) = mpsc::channel();
        {
            let progress = Arc::clone(&progress);
            std::thread::Builder::new()
                .name("access-apply".into())
                .spawn(move || {
                    run_applier(&url, config, jc, Some(conn), &apply_rx, &progress);
                })?;
        }
        {
            let progress = Arc::clone(&progress);
            std::thread::Builder::new()
                .name("access-log".into())
                .spawn(move || {
                    run_journaled(journal, head, config, jc, &rx, &apply_tx, &progress);
                })?;
        }
        Ok(Self {
            tx,
            progress: Some(progress),
        })
    }

    /// Commit `row` (its `id`, `batch_id` are assigned here); returns its
    /// record id once the batch holding it is committed (with a journal:
    /// written to the journal).
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

    /// Wait until the database holds every batch journaled before this
    /// call, so that reading the database sees every answered request.
    /// Without a journal, committed is already in the database.
    pub async fn flush(&self) -> Result<i64, LogError> {
        let Some(p) = &self.progress else {
            return Ok(0);
        };
        let target = p.journaled.load(Ordering::Acquire);
        let mut applied = p.applied.subscribe();
        if *applied.borrow() < target {
            p.hurry();
        }
        let reached = applied
            .wait_for(|a| *a >= target)
            .await
            .map_err(|_| LogError::Stopped)?;
        Ok(*reached)
    }

    /// Rows served under `grant_id` so far (for its quota): the database's
    /// usage roll-up plus the rows answered whose records the database has
    /// not yet applied. The pending rows are read first: a batch applied in
    /// between is then counted twice, never missed.
    pub fn rows_served_under_grant(
        &self,
        conn: &mut DbConn,
        grant_id: i64,
    ) -> Result<i64, StoreError> {
        let pending = self.pending_rows(grant_id);
        Ok(pending + store::audit::rows_served_under_grant(conn, grant_id)?)
    }

    /// Rows under `grant_id` answered but not yet in the database's usage
    /// roll-up.
    #[must_use]
    pub fn pending_rows(&self, grant_id: i64) -> i64 {
        self.progress.as_ref().map_or(0, |p| {
            p.pending
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get(&grant_id)
                .copied()
                .unwrap_or(0)
        })
    }

    /// With a journal: (newest batch journaled, newest applied, failing).
    #[must_use]
    pub fn journal_status(&self) -> Option<(i64, i64, bool)> {
        self.progress.as_ref().map(|p| {
            (
                p.journaled.load(Ordering::Acquire),
                *p.applied.borrow(),
                p.failing.load(Ordering::Acquire),
            )
        })
    }
}

/// Why the writer could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the access journal does not continue the log's chain: {0}")]
    Chain(String),
    #[error("cannot start the access-log thread: {0}")]
    Thread(#[from] std::io::Error),
}

/// Apply what the journal of the database at `url` holds and the database
/// lacks, unless a running gateway holds the journal (it applies it
/// itself). For commands that read the log (`audit verify`, bills) after a
/// gateway may have crashed.
pub fn replay(url: &DatabaseUrl) -> Result<Replay, StartError> {
    let Some(path) = journal::path_for(url) else {
        return Ok(Replay::NoJournal);
    };
    if !path.exists() {
        return Ok(Replay::NoJournal);
    }
    let mut journal = match Journal::open(&path, 0) {
        Ok(j) => j,
        Err(JournalError::Locked(_)) => return Ok(Replay::HeldByGateway),
        Err(e) => return Err(e.into()),
    };
    let mut conn = connect(url, WriterConfig::default())?;
    Ok(Replay::Applied(recover(&mut journal, &mut conn)?.0))
}

/// Apply the journal's batches the database lacks, then empty the journal;
/// the number applied and the chain head after them.
fn recover(journal: &mut Journal, conn: &mut DbConn) -> Result<(usize, Head), StartError> {
    let mut head = store::audit::write_transaction(conn, store::audit::lock_head)?;
    let entries = journal.scan()?;
    // The frames read are one chain; its first frame places it against the
    // database's: a batch the database has (the same one), or the next.
    if let Some(first) = entries.first() {
        let id = first.batch.id;
        let belongs = if id <= head.last_batch_id {
            store::audit::batch(conn, id)?.is_some_and(|b| b.batch_hash == first.batch.batch_hash)
        } else {
            id == head.last_batch_id + 1 && first.batch.prev_hash == head.last_hash
        };
        if !belongs {
            return Err(StartError::Chain(format!(
                "{}: its batch {id} is not the database's (whose newest is {}); \
                 a journal belongs to one database: if this database was replaced on purpose, \
                 move the journal aside",
                journal.path().display(),
                head.last_batch_id
            )));
        }
    }
    // Large transactions, as the applier makes them.
    let mut applied = 0;
    let mut batches: Vec<BatchRow> = Vec::new();
    let mut rows: Vec<AccessRow> = Vec::new();
    let newest = head.last_batch_id;
    let mut missing = entries
        .into_iter()
        .filter(|e| e.batch.id > newest)
        .peekable();
    while let Some(entry) = missing.next() {
        batches.push(entry.batch);
        rows.extend(entry.rows);
        if rows.len() >= APPLY_MAX_RECORDS || missing.peek().is_none() {
            store::audit::write_transaction(conn, |c| store::audit::append(c, &batches, &rows))?;
            applied += batches.len();
            if let Some(last) = batches.last() {
                head = Head {
                    last_batch_id: last.id,
                    last_hash: last.batch_hash.clone(),
                    next_record_id: head.next_record_id
                        + i64::try_from(rows.len()).unwrap_or(i64::MAX),
                };
            }
            batches.clear();
            rows.clear();
        }
    }
    journal.clear()?;
    Ok((applied, head))
}

/// The most records the applier commits in one transaction.
const APPLY_MAX_RECORDS: usize = 20_000;

fn connect(url: &DatabaseUrl, config: WriterConfig) -> Result<DbConn, StoreError> {
    let mut conn = url.connect()?;
    if let DbConn::Sqlite(c) = &mut conn {
        // Without foreign-key enforcement an insert of many records needs
        // no statement journal (store::audit's `SqliteInsert` says why);
        // this connection writes only the log, each record after its batch.
        c.batch_execute("PRAGMA foreign_keys = OFF")
            .map_err(StoreError::Query)?;
        // The log's pragmas name its schema: its own file once attached
        // (store::logfile); a pragma without one sets only `main`.
        let schema = store::logfile::schema(c)?;
        if schema == store::logfile::SCHEMA {
            c.batch_execute(store::logfile::WRITER_CACHE)
                .map_err(StoreError::Query)?;
        }
        if config.sqlite_full_sync {
            // The log must survive power loss, not only a crash of this
            // process (with a journal: before the journal is reused).
            c.batch_execute(&format!("PRAGMA {schema}.synchronous = FULL"))
                .map_err(StoreError::Query)?;
        }
    }
    Ok(conn)
}

/// Take the jobs waiting after `first`, up to a batch; when `busy` (the
/// previous batch held more than one record), first let the window pass.
fn gather(first: Job, config: WriterConfig, rx: &mpsc::Receiver<Job>, busy: bool) -> Vec<Job> {
    let mut jobs = vec![first];
    if busy && !config.window.is_zero() {
        // Sleep through the window rather than waking for every record.
        std::thread::sleep(config.window);
    }
    while jobs.len() < config.max_batch {
        match rx.try_recv() {
            Ok(j) => jobs.push(j),
            Err(_) => break,
        }
    }
    jobs
}

fn refuse(jobs: Vec<Job>, err: &LogError) {
    refuse_waiters(jobs.into_iter().map(|j| j.done).collect(), err);
}

/// Answer `waiters` (those that wait) with `err`.
fn refuse_waiters(waiters: Vec<Waiter>, err: &LogError) {
    for done in waiters.into_iter().flatten() {
        let _ = done.send(Err(err.clone()));
    }
}

fn run(url: &DatabaseUrl, config: WriterConfig, rx: &mpsc::Receiver<Job>) {
    let mut conn: Option<DbConn> = None;
    // The chain head after our last commit, on SQLite (one process writes
    // the log); forgotten on any error. PostgreSQL re-reads it under a lock
    // every time, since replicas share the chain.
    let mut head: Option<Head> = None;
    let mut busy = false;
    while let Ok(first) = rx.recv() {
        let jobs = gather(first, config, rx, busy);
        busy = jobs.len() > 1;
        let result = match conn.as_mut() {
            Some(c) => commit(c, &jobs, &mut head),
            None => match connect(url, config) {
                Ok(c) => commit(conn.insert(c), &jobs, &mut head),
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
                refuse(jobs, &LogError::Unavailable(e.to_string()));
            }
        }
    }
}

/// A batch chained after `head`, and the head after it.
struct Chained {
    batch: BatchRow,
    rows: Vec<AccessRow>,
    /// The records' canonical JSON, as hashed.
    json: Vec<Vec<u8>>,
    next: Head,
}

/// Number and chain the jobs' records as the batch after `head`.
fn chain_batch(mut rows: Vec<AccessRow>, head: &Head) -> Chained {
    let batch_id = head.last_batch_id + 1;
    let committed_at = chain::to_micros(chrono::Utc::now().naive_utc());
    for (row, id) in rows.iter_mut().zip(head.next_record_id..) {
        row.id = id;
        row.batch_id = batch_id;
        row.at = chain::to_micros(row.at);
    }
    let json: Vec<Vec<u8>> = rows.iter().map(chain::record_json).collect();
    let records_hash = chain::records_hash_of_json(&json);
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
        prev_hash: head.last_hash.clone(),
    };
    let next = Head {
        last_batch_id: batch.id,
        last_hash: batch.batch_hash.clone(),
        next_record_id: head.next_record_id + i64::try_from(rows.len()).unwrap_or(i64::MAX),
    };
    Chained {
        batch,
        rows,
        json,
        next,
    }
}

/// The journal's writer: chain each batch, write it to the journal, answer
/// its waiters, hand it to the applier.
fn run_journaled(
    mut journal: Journal,
    mut head: Head,
    config: WriterConfig,
    jc: JournalConfig,
    rx: &mpsc::Receiver<Job>,
    apply: &mpsc::Sender<(BatchRow, Vec<AccessRow>)>,
    progress: &Progress,
) {
    // Batches journaled and not yet applied, with when.
    let mut unapplied: VecDeque<(i64, Instant)> = VecDeque::new();
    let mut busy = false;
    while let Ok(first) = rx.recv() {
        let (rows, waiters): (Vec<AccessRow>, Vec<_>) = gather(first, config, rx, busy)
            .into_iter()
            .map(|j| (j.row, j.done))
            .unzip();
        busy = rows.len() > 1;
        let applied = *progress.applied.borrow();
        while unapplied.front().is_some_and(|(id, _)| *id <= applied) {
            unapplied.pop_front();
        }
        let behind = unapplied.front().map(|(_, at)| at.elapsed());
        if progress.failing.load(Ordering::Acquire) || behind.is_some_and(|b| b > jc.max_lag) {
            let lag = behind.unwrap_or_default().as_millis();
            tracing::error!(
                records = waiters.len(),
                lag_ms = lag,
                "access log: the database is not applying the journal; refusing"
            );
            refuse_waiters(
                waiters,
                &LogError::Unavailable(format!(
                    "the log's database has not applied the journal for {lag} ms"
                )),
            );
            continue;
        }
        let Chained {
            batch,
            rows,
            json,
            next,
        } = chain_batch(rows, &head);
        let frame = journal::encode(&batch, &json);
        let mut written = journal.append(&frame, batch.id, applied);
        if matches!(written, Err(JournalError::Full)) {
            // The database is a segment behind (a long checkpoint, a burst):
            // hold the batch and hurry the applier, for as long as the
            // database may lag, rather than refuse at once.
            progress.hurry();
            let since = unapplied.front().map_or_else(Instant::now, |(_, at)| *at);
            while matches!(written, Err(JournalError::Full))
                && since.elapsed() < jc.max_lag
                && !progress.failing.load(Ordering::Acquire)
            {
                std::thread::sleep(Duration::from_millis(1));
                written = journal.append(&frame, batch.id, *progress.applied.borrow());
            }
        }
        if let Err(e) = written {
            tracing::error!(error = %e, records = waiters.len(), "access journal write failed");
            refuse_waiters(waiters, &LogError::Unavailable(e.to_string()));
            continue;
        }
        head = next;
        unapplied.push_back((batch.id, Instant::now()));
        progress.add_pending(&rows, 1);
        progress.journaled.store(batch.id, Ordering::Release);
        for (done, row) in waiters.into_iter().zip(&rows) {
            if let Some(done) = done {
                let _ = done.send(Ok(row.id));
            }
        }
        if apply.send((batch, rows)).is_err() {
            tracing::error!("access-log applier stopped");
            return;
        }
    }
}

/// Apply journaled batches to the database, as many per transaction as
/// have arrived; on failure keep them, retry, and say so (the journal's
/// writer refuses requests meanwhile).
fn run_applier(
    url: &DatabaseUrl,
    config: WriterConfig,
    jc: JournalConfig,
    mut conn: Option<DbConn>,
    rx: &mpsc::Receiver<(BatchRow, Vec<AccessRow>)>,
    progress: &Progress,
) {
    let mut batches: Vec<BatchRow> = Vec::new();
    let mut rows: Vec<AccessRow> = Vec::new();
    loop {
        if batches.is_empty() {
            let Ok((b, r)) = rx.recv() else { return };
            batches.push(b);
            rows.extend(r);
            // Let batches gather for the interval, unless a reader hurries us.
            let hurry = progress
                .hurry
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let (mut hurry, _) = progress
                .hurried
                .wait_timeout_while(hurry, jc.apply_interval, |h| !*h)
                .unwrap_or_else(PoisonError::into_inner);
            *hurry = false;
        }
        while rows.len() < APPLY_MAX_RECORDS {
            match rx.try_recv() {
                Ok((b, r)) => {
                    batches.push(b);
                    rows.extend(r);
                }
                Err(_) => break,
            }
        }
        let result = match conn.as_mut() {
            Some(c) => Ok(c),
            None => connect(url, config).map(|c| conn.insert(c)),
        }
        .and_then(|c| {
            store::audit::write_transaction(c, |c| store::audit::append(c, &batches, &rows))
        });
        match result {
            Ok(()) => {
                progress.failing.store(false, Ordering::Release);
                progress.add_pending(&rows, -1);
                let last = batches.last().map_or(0, |b| b.id);
                progress.applied.send_replace(last);
                batches.clear();
                rows.clear();
            }
            Err(e) => {
                tracing::error!(error = %e, batches = batches.len(), "access log: applying the journal failed; retrying");
                progress.failing.store(true, Ordering::Release);
                conn = None;
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
}

/// One transaction: lock the chain head (or, on SQLite, use the one this
/// writer left), number the records, hash, append.
fn commit(conn: &mut DbConn, jobs: &[Job], cached: &mut Option<Head>) -> Result<i64, StoreError> {
    let known = match conn {
        DbConn::Sqlite(_) => cached.take(),
        DbConn::Pg(_) => None,
    };
    let (first, next) = store::audit::write_transaction(conn, |conn| {
        let head = match known {
            Some(h) => h,
            None => store::audit::lock_head(conn)?,
        };
        let chained = chain_batch(jobs.iter().map(|j| j.row.clone()).collect(), &head);
        store::audit::append(conn, std::slice::from_ref(&chained.batch), &chained.rows)?;
        Ok((head.next_record_id, chained.next))
    })?;
    *cached = Some(next);
    Ok(first)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a test stops on failure")]
mod tests {
    use diesel::sql_types::BigInt;
    use diesel::{QueryableByName, RunQueryDsl};

    #[derive(QueryableByName)]
    struct Value {
        #[diesel(sql_type = BigInt)]
        v: i64,
    }

    /// `PRAGMA log.<name>`, read as a table.
    fn pragma(conn: &mut super::DbConn, name: &str) -> i64 {
        diesel::sql_query(format!(
            "SELECT {name} AS v FROM pragma_{name} WHERE schema = 'log'"
        ))
        .load::<Value>(conn)
        .map(|rows| rows[0].v)
        .unwrap()
    }

    /// The writer's durability and cache pragmas reach the log's own file,
    /// not only the registry's (a pragma without a schema sets `main`).
    #[test]
    fn the_writer_syncs_and_caches_the_logs_own_file() {
        let db = store::testing::TestDb::sqlite();
        store::migrate::run(&mut db.url.connect().unwrap()).unwrap();
        let mut conn = super::connect(&db.url, super::WriterConfig::default()).unwrap();
        assert_eq!(pragma(&mut conn, "synchronous"), 2, "FULL");
        assert_eq!(pragma(&mut conn, "cache_size"), -16_000);
        // An ordinary connection keeps SQLite's defaults on the log.
        let mut other = db.url.connect().unwrap();
        assert_eq!(pragma(&mut other, "synchronous"), 1, "NORMAL");
        assert_eq!(pragma(&mut other, "cache_size"), -2_000);
    }
}
