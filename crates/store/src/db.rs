//! Connecting to the registry: the backend is chosen by the database URL, and
//! SQLite connections get the pragmas the gateway relies on.

use std::path::{Path, PathBuf};
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{self, ManageConnection};

use crate::error::{Result, StoreError};

/// One connection to either backend; queries that compile on both run on it
/// directly, backend-specific ones match on the variant.
#[derive(diesel::MultiConnection)]
pub enum DbConn {
    Pg(diesel::PgConnection),
    Sqlite(diesel::SqliteConnection),
}

/// Where the registry lives, parsed from a database URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// A SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL connection string (`postgres://...`).
    Postgres(String),
}

impl DatabaseUrl {
    /// Parse `sqlite://PATH`, `sqlite:PATH`, a plain file path, or
    /// `postgres://...` / `postgresql://...`.
    pub fn parse(url: &str) -> Result<Self> {
        let bad = |reason: &str| StoreError::BadUrl {
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        let url_trimmed = url.trim();
        if url_trimmed.is_empty() {
            return Err(bad("it is empty"));
        }
        if url_trimmed.starts_with("postgres://") || url_trimmed.starts_with("postgresql://") {
            let rest = url_trimmed.split_once("://").map_or("", |(_, r)| r);
            if rest.is_empty() || rest.starts_with('/') && rest.len() == 1 {
                return Err(bad("it names no host or database"));
            }
            return Ok(Self::Postgres(url_trimmed.to_owned()));
        }
        let path = if let Some(p) = url_trimmed.strip_prefix("sqlite://") {
            p
        } else if let Some(p) = url_trimmed.strip_prefix("sqlite:") {
            p
        } else if let Some((scheme, _)) = url_trimmed.split_once("://") {
            return Err(bad(&format!("the scheme {scheme:?} is not supported")));
        } else {
            url_trimmed
        };
        if path.is_empty() {
            return Err(bad("it names no file"));
        }
        if path.contains('\0') {
            return Err(bad("it contains a NUL byte"));
        }
        Ok(Self::Sqlite(PathBuf::from(path)))
    }

    /// The URL with any password removed, for messages and logs.
    #[must_use]
    pub fn redacted(&self) -> String {
        match self {
            Self::Sqlite(p) => format!("sqlite://{}", p.display()),
            Self::Postgres(u) => redact_password(u),
        }
    }

    /// The SQLite file of the access log (`PATH.access-log`, see
    /// [`crate::logfile`]); `None` on PostgreSQL and in memory.
    #[must_use]
    pub fn access_log_path(&self) -> Option<PathBuf> {
        match self {
            Self::Sqlite(p) if p.as_os_str() != ":memory:" => Some(crate::logfile::path_for(p)),
            _ => None,
        }
    }

    /// Open one connection, with SQLite's pragmas set and the access log's
    /// file attached.
    pub fn connect(&self) -> Result<DbConn> {
        match self {
            Self::Sqlite(path) => {
                check_sqlite_dir(path)?;
                let target = path.to_string_lossy();
                let mut conn = diesel::SqliteConnection::establish(&target).map_err(|source| {
                    StoreError::Connect {
                        url: self.redacted(),
                        source,
                    }
                })?;
                conn.batch_execute(SQLITE_PRAGMAS)?;
                // The access log's file, once the migrations have moved the
                // log there (`store::logfile`); never created here.
                if let Some(log) = self.access_log_path().filter(|p| p.exists()) {
                    crate::logfile::attach(&mut conn, &log)?;
                }
                Ok(DbConn::Sqlite(conn))
            }
            Self::Postgres(url) => {
                let conn =
                    diesel::PgConnection::establish(url).map_err(|source| StoreError::Connect {
                        url: self.redacted(),
                        source,
                    })?;
                Ok(DbConn::Pg(conn))
            }
        }
    }
}

/// WAL so readers never wait for the writer; foreign keys on (SQLite's default
/// is off); a writer waits up to 5 s for the lock instead of failing at once.
const SQLITE_PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
     PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000; PRAGMA cache_size = -16000;";

fn check_sqlite_dir(path: &Path) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let fail = |reason: String| StoreError::SqlitePath {
        path: path.display().to_string(),
        reason,
    };
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(fail(format!("{} is not a directory", dir.display()))),
        Err(e) => {
            return Err(fail(format!(
                "directory {} is not usable ({e}); create it first",
                dir.display()
            )))
        }
    }
    if !path.exists() {
        let meta = std::fs::metadata(dir).map_err(|e| fail(e.to_string()))?;
        if meta.permissions().readonly() {
            return Err(fail(format!("directory {} is read-only", dir.display())));
        }
    }
    Ok(())
}

fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

/// Hands out pooled connections for either backend.
#[derive(Debug)]
pub struct Manager {
    url: DatabaseUrl,
}

impl ManageConnection for Manager {
    type Connection = DbConn;
    type Error = StoreError;

    fn connect(&self) -> Result<DbConn> {
        self.url.connect()
    }

    /// Run on every checkout. A PostgreSQL connection can have been closed
    /// by the server or the network while it sat in the pool: one round
    /// trip finds out before a request is served on it. An in-process
    /// SQLite connection cannot go stale, and `SELECT 1` touched nothing but
    /// SQLite's parser (6-7 % of a worker's time on the till's path).
    fn is_valid(&self, conn: &mut DbConn) -> Result<()> {
        match conn {
            DbConn::Sqlite(_) => Ok(()),
            DbConn::Pg(_) => conn.batch_execute("SELECT 1").map_err(StoreError::Query),
        }
    }

    fn has_broken(&self, _conn: &mut DbConn) -> bool {
        false
    }
}

/// A pool of connections to the registry.
pub type Pool = r2d2::Pool<Manager>;
/// A connection borrowed from the pool.
pub type PooledConn = r2d2::PooledConnection<Manager>;

/// Build a pool of `size` connections; fails at once if the database cannot be reached.
pub fn pool(url: &DatabaseUrl, size: u32) -> Result<Pool> {
    // Connect once outside the pool so the caller sees the real error, not a timeout.
    drop(url.connect()?);
    r2d2::Pool::builder()
        .max_size(size.max(1))
        .connection_timeout(Duration::from_secs(5))
        .build(Manager { url: url.clone() })
        .map_err(StoreError::Pool)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_url_forms() {
        assert_eq!(
            DatabaseUrl::parse("var/x.db").ok(),
            Some(DatabaseUrl::Sqlite("var/x.db".into()))
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:///tmp/x.db").ok(),
            Some(DatabaseUrl::Sqlite("/tmp/x.db".into()))
        );
        assert!(matches!(
            DatabaseUrl::parse("postgres://u@h/db"),
            Ok(DatabaseUrl::Postgres(_))
        ));
        for bad in ["", "mysql://h/db", "sqlite://", "postgres://"] {
            assert!(
                DatabaseUrl::parse(bad).is_err(),
                "{bad:?} should be refused"
            );
        }
    }

    #[test]
    fn redacts_passwords() {
        let u = DatabaseUrl::Postgres("postgres://me:secret@h/db".into());
        assert_eq!(u.redacted(), "postgres://me:***@h/db");
    }
}
