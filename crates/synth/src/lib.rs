//! The synthetic registry generator: a deterministic registry of any size for
//! the demo, the tests and the benchmarks. Same seed, same registry.
//!
//! It lives in its own crate because it is neither persistence (`store`) nor
//! serving (`api`): it produces rows and hands them to the store.

mod geo;
#[allow(clippy::all, clippy::pedantic, reason = "a data table")]
mod geo_data;
mod household;
mod names;

use std::path::{Path, PathBuf};
use std::sync::mpsc;

use diesel::connection::SimpleConnection;
use diesel::Connection;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use store::registry::{self, Batch};
use store::{DatabaseUrl, DbConn, StoreError};

pub use geo::Geography;
pub use household::{Generated, KAFAALAT_CUTOFF, REFERENCE};

/// The largest registry the generator agrees to write (the real NSER holds
/// about 35 million households).
pub const MAX_HOUSEHOLDS: u64 = 100_000_000;

/// What can stop the generator.
#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    /// The requested size is zero or beyond [`MAX_HOUSEHOLDS`].
    #[error("--households must be between 1 and {MAX_HOUSEHOLDS}, not {0}")]
    BadCount(u64),
    /// The database already holds households: the generator never mixes registries.
    #[error("{url} already holds a registry of {count} households; use a new --database or delete it first")]
    NotEmpty { url: String, count: i64 },
    /// One CNIC prefix ran out of serial numbers (10 million per prefix).
    #[error("CNIC serials exhausted for prefix {0:05}; generate a smaller registry")]
    CnicSpace(u32),
    /// The database refused something.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A transaction could not begin or commit.
    #[error("database transaction failed: {0}")]
    Transaction(#[from] diesel::result::Error),
    /// Preparing or moving the SQLite file failed.
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// The order in which household ids are given out.
///
/// A real registry's ids follow its survey: enumerators go area by area, so
/// the households of a union council (and so of a tehsil, a district, a
/// province) hold neighbouring ids, and an area's records sit together in
/// the database (docs/search.md, "The registry's order"). `Scattered` gives
/// every household a union council drawn at random, so an area's records are
/// spread over the whole id range: the worst case for an area's export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Layout {
    /// Area by area, in the geography's order (the default).
    #[default]
    Survey,
    /// Each household in a union council drawn at random.
    Scattered,
}

/// How many households each union council still gets, in the geography's
/// order (survey layout).
struct Plan {
    left: Vec<u64>,
    uc: usize,
}

/// A deterministic stream of households.
pub struct Generator {
    rng: ChaCha8Rng,
    geo: Geography,
    counters: household::Counters,
    next_id: i64,
    plan: Option<Plan>,
}

impl Generator {
    #[must_use]
    pub fn new(seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let cnic_offset = u32::try_from(rng.next_u64() % 10_000_000).unwrap_or(0);
        Self {
            rng,
            geo: Geography::build(),
            counters: household::Counters {
                next_member: 1,
                next_payment: 1,
                next_flag: 1,
                cnic_serials: std::collections::HashMap::new(),
                cnic_offset,
            },
            next_id: 1,
            plan: None,
        }
    }

    /// A registry of `households` households in `layout`: with
    /// [`Layout::Survey`] the union councils' sizes are drawn first (the same
    /// population weights as the scattered layout), then each union council's
    /// households are generated one after another, union councils in the
    /// geography's order. Past `households` the stream goes on scattered.
    #[must_use]
    pub fn with_layout(seed: u64, households: u64, layout: Layout) -> Self {
        let mut g = Self::new(seed);
        if layout == Layout::Survey {
            // A stream of its own, so drawing the sizes does not shift what
            // the households themselves are drawn from.
            let mut sizes = ChaCha8Rng::seed_from_u64(seed);
            sizes.set_stream(1);
            let mut left = vec![0u64; g.geo.ucs.len()];
            for _ in 0..households {
                left[g.geo.pick_index(sizes.next_u64())] += 1;
            }
            g.plan = Some(Plan { left, uc: 0 });
        }
        g
    }

    /// The geography households are placed in.
    #[must_use]
    pub fn geography(&self) -> &Geography {
        &self.geo
    }

    /// The next household.
    pub fn next_household(&mut self) -> Result<Generated, SynthError> {
        let planned = self.plan.as_mut().and_then(|p| {
            while p.left.get(p.uc) == Some(&0) {
                p.uc += 1;
            }
            let left = p.left.get_mut(p.uc)?;
            *left -= 1;
            Some(p.uc)
        });
        let uc = match planned {
            Some(i) => self.geo.ucs[i].clone(),
            None => self.geo.pick(self.rng.next_u64()).clone(),
        };
        let id = self.next_id;
        self.next_id += 1;
        household::generate(&mut self.rng, &mut self.counters, id, &uc)
            .map_err(SynthError::CnicSpace)
    }

    /// The next `n` households as one insert batch.
    pub fn next_batch(&mut self, n: usize) -> Result<Batch, SynthError> {
        let mut batch = Batch::default();
        for _ in 0..n {
            let g = self.next_household()?;
            batch.households.push(g.household);
            batch.members.extend(g.members);
            batch.payments.extend(g.payments);
            batch.flags.extend(g.flags);
        }
        Ok(batch)
    }
}

/// What was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub households: u64,
    pub members: u64,
}

const BATCH: usize = 2_000;

/// Planner statistics for the tables the generator fills (PostgreSQL).
const ANALYZE_REGISTRY: &str =
    "ANALYZE geo_units, households, members, cct_payments, household_flags";

/// Generate `households` households from `seed` into the database at `url`.
///
/// Nothing half-written is left behind: SQLite is written to a side file that
/// replaces the target only when complete; PostgreSQL is written in one
/// transaction. A database that already holds households is refused.
pub fn write_registry(
    url: &DatabaseUrl,
    households: u64,
    seed: u64,
    layout: Layout,
    progress: &mut dyn FnMut(u64),
) -> Result<Summary, SynthError> {
    if households == 0 || households > MAX_HOUSEHOLDS {
        return Err(SynthError::BadCount(households));
    }
    match url {
        DatabaseUrl::Sqlite(path) => write_sqlite(url, path, households, seed, layout, progress),
        DatabaseUrl::Postgres(_) => {
            let mut conn = url.connect()?;
            store::migrate::run(&mut conn)?;
            refuse_if_not_empty(url, &mut conn)?;
            // One transaction for the whole registry: all of it or none.
            let summary =
                conn.transaction(|conn| fill(conn, households, seed, layout, progress))?;
            // Planner statistics now, not whenever autovacuum gets to it: a
            // copy of this database (`CREATE DATABASE ... TEMPLATE`, as the
            // benchmarks make) starts with no activity counters, so
            // autovacuum never analyses it, and without statistics the
            // planner takes a household's members for 1 % of the table:
            // bitmap and parallel scans where one index probe does
            // (GET /v1/households/by-cnic on 1,000,000 households: 517
            // against 1,688 req/s; docs/performance.md, stop 16). The
            // registry's tables only: analysing every table (the empty
            // access log and its neighbours included) made the hot path
            // ~35 % slower until autovacuum caught up (measured; the plan
            // responsible was not found: `max(id)` keeps its index).
            conn.batch_execute(ANALYZE_REGISTRY)
                .map_err(StoreError::Query)?;
            Ok(summary)
        }
    }
}

fn write_sqlite(
    url: &DatabaseUrl,
    path: &Path,
    households: u64,
    seed: u64,
    layout: Layout,
    progress: &mut dyn FnMut(u64),
) -> Result<Summary, SynthError> {
    if path.exists() {
        let mut conn = url.connect()?;
        store::migrate::run(&mut conn)?;
        refuse_if_not_empty(url, &mut conn)?;
    }
    let partial = side_path(path, "partial");
    remove_sqlite_files(&partial);
    let result = (|| {
        let side = DatabaseUrl::Sqlite(partial.clone());
        let mut conn = side.connect()?;
        store::migrate::run(&mut conn)?;
        // A fresh side file nobody else reads: no journal, no fsync, until done.
        conn.batch_execute(
            "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA foreign_keys = OFF; \
             PRAGMA cache_size = -262144; PRAGMA temp_store = MEMORY;",
        )
        .map_err(StoreError::Query)?;
        let summary = fill(&mut conn, households, seed, layout, progress)?;
        conn.batch_execute("PRAGMA analysis_limit = 1000; ANALYZE; PRAGMA journal_mode = WAL;")
            .map_err(StoreError::Query)?;
        drop(conn);
        remove_sqlite_files(path);
        // The migrations gave the side file its access log's file
        // (store::logfile): it moves first, so a registry never stands
        // without its log (a crash between the two leaves a log file that
        // the next generation removes).
        let log = store::logfile::path_for(path);
        std::fs::rename(store::logfile::path_for(&partial), &log).map_err(|source| {
            SynthError::Io {
                path: log.display().to_string(),
                source,
            }
        })?;
        std::fs::rename(&partial, path).map_err(|source| SynthError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Ok(summary)
    })();
    if result.is_err() {
        remove_sqlite_files(&partial);
    }
    result
}

/// Generate on one thread, insert on this one, so both cores work.
fn fill(
    conn: &mut DbConn,
    households: u64,
    seed: u64,
    layout: Layout,
    progress: &mut dyn FnMut(u64),
) -> Result<Summary, SynthError> {
    let mut generator = Generator::with_layout(seed, households, layout);
    registry::insert_geo_units(conn, &generator.geography().units)?;
    let (tx, rx) = mpsc::sync_channel::<Result<Batch, SynthError>>(4);
    let producer = std::thread::spawn(move || {
        let mut left = households;
        while left > 0 {
            let n = usize::try_from(left.min(BATCH as u64)).unwrap_or(BATCH);
            left -= n as u64;
            let batch = generator.next_batch(n);
            let stop = batch.is_err();
            if tx.send(batch).is_err() || stop {
                return;
            }
        }
    });
    let mut summary = Summary {
        households: 0,
        members: 0,
    };
    let mut outcome = Ok(());
    for batch in rx {
        let step = batch.and_then(|b| {
            insert_in_transaction(conn, &b)?;
            Ok(b)
        });
        match step {
            Ok(b) => {
                summary.households += b.households.len() as u64;
                summary.members += b.members.len() as u64;
                progress(summary.households);
            }
            Err(e) => {
                outcome = Err(e);
                break;
            }
        }
    }
    // Dropping the receiver (loop ended) lets the producer stop.
    let _ = producer.join();
    outcome.map(|()| summary)
}

/// Inside the whole-run transaction on PostgreSQL this is a savepoint; on
/// SQLite it commits one batch into the side file.
fn insert_in_transaction(conn: &mut DbConn, batch: &Batch) -> Result<(), SynthError> {
    conn.transaction(|conn| registry::insert_batch(conn, batch).map_err(SynthError::from))
}

fn refuse_if_not_empty(url: &DatabaseUrl, conn: &mut DbConn) -> Result<(), SynthError> {
    let count = registry::household_count(conn)?;
    if count > 0 {
        return Err(SynthError::NotEmpty {
            url: url.redacted(),
            count,
        });
    }
    Ok(())
}

fn side_path(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".");
    s.push(suffix);
    PathBuf::from(s)
}

/// A SQLite registry's files: its own, and its access log's
/// (`store::logfile`), each with its WAL and shared-memory index.
fn remove_sqlite_files(path: &Path) {
    let log = store::logfile::path_for(path);
    for p in [path, &log] {
        let _ = std::fs::remove_file(p);
        for suffix in ["-wal", "-shm"] {
            let mut f = p.as_os_str().to_owned();
            f.push(suffix);
            let _ = std::fs::remove_file(f);
        }
    }
}
