//! Errors of the store. Each says what went wrong and, where it can, what to do.

/// What can go wrong talking to the registry database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database URL is not one the gateway understands.
    #[error("invalid database URL {url:?}: {reason}; use sqlite://PATH, a file path, or postgres://USER@HOST:PORT/DB")]
    BadUrl { url: String, reason: String },
    /// The directory that should hold the SQLite file does not exist or cannot be written.
    #[error("cannot use SQLite file {path}: {reason}")]
    SqlitePath { path: String, reason: String },
    /// Connecting to the database failed.
    #[error("cannot connect to {url}: {source}")]
    Connect {
        url: String,
        #[source]
        source: diesel::ConnectionError,
    },
    /// The access log's own SQLite file (`PATH.access-log`) is missing, or
    /// cannot be made from the registry's log.
    #[error("access log file {path}: {reason}")]
    AccessLogFile { path: String, reason: String },
    /// Migrations could not be applied or inspected.
    #[error("migrations failed: {0}")]
    Migration(String),
    /// The pool could not hand out a connection in time.
    #[error("database pool: {0}")]
    Pool(#[from] diesel::r2d2::PoolError),
    /// A query failed.
    #[error("database query failed: {0}")]
    Query(#[from] diesel::result::Error),
    /// A read of the export path (`sqlite_read`, rusqlite) failed.
    #[error("database read failed: {0}")]
    Read(#[from] rusqlite::Error),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
