//! Migrations, one set per backend, embedded in the binary.

use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::db::DbConn;
use crate::error::{Result, StoreError};

const SQLITE: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");
const POSTGRES: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");

/// The last SQLite migration written while the access log's tables were in
/// the registry's file. Later SQLite migrations find them in the log's own
/// file, the schema `log` ([`crate::logfile`]): the move runs between this
/// migration and the next, on a new database as on an old one, so every
/// later migration sees one layout (`CREATE INDEX log.name ON access_log
/// (...)`; unqualified names are enough for everything else).
const LOG_FILE_AFTER: &str = "20261202000008";

/// Apply every pending migration; returns the versions applied (empty when
/// the database was already up to date). On SQLite, the access log moves
/// into its own file once ([`crate::logfile::relocate`]), reported as
/// `access-log-file`, right after [`LOG_FILE_AFTER`].
///
/// Run it before opening the connections that will serve: a connection
/// opened before the move does not have the log's file attached.
pub fn run(conn: &mut DbConn) -> Result<Vec<String>> {
    let failed = |e: Box<dyn std::error::Error + Send + Sync>| StoreError::Migration(e.to_string());
    let c = match conn {
        DbConn::Pg(c) => {
            return c
                .run_pending_migrations(POSTGRES)
                .map(versions)
                .map_err(failed)
        }
        DbConn::Sqlite(c) => c,
    };
    let mut applied = Vec::new();
    let mut moved = false;
    for migration in c.pending_migrations(SQLITE).map_err(failed)? {
        let version = migration.name().version().to_string();
        if !moved && digits(&version).as_str() > LOG_FILE_AFTER {
            relocate(c, &mut applied)?;
            moved = true;
        }
        applied.push(c.run_migration(&*migration).map_err(failed)?.to_string());
    }
    if !moved {
        relocate(c, &mut applied)?;
    }
    Ok(applied)
}

fn relocate(c: &mut diesel::SqliteConnection, applied: &mut Vec<String>) -> Result<()> {
    if crate::logfile::relocate(c)? == crate::logfile::Relocation::Moved {
        applied.push("access-log-file".to_owned());
    }
    Ok(())
}

/// A migration's version without its dashes (`2026-12-02-000008` ->
/// `20261202000008`), to compare as text: every version has as many digits.
fn digits(version: &str) -> String {
    version.chars().filter(char::is_ascii_digit).collect()
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

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a test stops on failure")]
mod tests {
    use diesel::migration::MigrationSource;

    /// The move's place in the sequence is a migration that exists, and
    /// every version compares as text of the same length.
    #[test]
    fn the_log_moves_after_a_migration_that_exists() {
        let versions: Vec<String> =
            MigrationSource::<diesel::sqlite::Sqlite>::migrations(&super::SQLITE)
                .unwrap()
                .iter()
                .map(|m| super::digits(&m.name().version().to_string()))
                .collect();
        assert!(versions.iter().all(|v| v.len() == 14), "{versions:?}");
        assert!(
            versions.contains(&super::LOG_FILE_AFTER.to_owned()),
            "{versions:?}"
        );
    }
}
