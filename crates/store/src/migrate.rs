//! Migrations, one set per backend, embedded in the binary.

use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::db::DbConn;
use crate::error::{Result, StoreError};

const SQLITE: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");
const POSTGRES: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");

/// Apply every pending migration; returns the versions applied (empty when
/// the database was already up to date). On SQLite, then move the access
/// log into its own file if it is still in the registry's
/// ([`crate::logfile::relocate`]); reported as `access-log-file`.
///
/// Run it before opening the connections that will serve: a connection
/// opened before the move does not have the log's file attached.
pub fn run(conn: &mut DbConn) -> Result<Vec<String>> {
    let applied = match conn {
        DbConn::Sqlite(c) => c.run_pending_migrations(SQLITE).map(versions),
        DbConn::Pg(c) => c.run_pending_migrations(POSTGRES).map(versions),
    };
    let mut applied = applied.map_err(|e| StoreError::Migration(e.to_string()))?;
    if let DbConn::Sqlite(c) = conn {
        if crate::logfile::relocate(c)? == crate::logfile::Relocation::Moved {
            applied.push("access-log-file".to_owned());
        }
    }
    Ok(applied)
}

/// Whether migrations are still to be applied (for `/readyz`).
pub fn pending(conn: &mut DbConn) -> Result<usize> {
    let pending = match conn {
        DbConn::Sqlite(c) => c.pending_migrations(SQLITE).map(|p| p.len()),
        DbConn::Pg(c) => c.pending_migrations(POSTGRES).map(|p| p.len()),
    };
    pending.map_err(|e| StoreError::Migration(e.to_string()))
}

fn versions(v: Vec<diesel::migration::MigrationVersion<'_>>) -> Vec<String> {
    v.into_iter().map(|m| m.to_string()).collect()
}
