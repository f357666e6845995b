//! Migrations, one set per backend, embedded in the binary.

use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::db::DbConn;
use crate::error::{Result, StoreError};

const SQLITE: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");
const POSTGRES: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");

/// Apply every pending migration; returns the versions applied (empty when
/// the database was already up to date).
pub fn run(conn: &mut DbConn) -> Result<Vec<String>> {
    let applied = match conn {
        DbConn::Sqlite(c) => c.run_pending_migrations(SQLITE).map(versions),
        DbConn::Pg(c) => c.run_pending_migrations(POSTGRES).map(versions),
    };
    applied.map_err(|e| StoreError::Migration(e.to_string()))
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
