//! Throwaway databases for tests: a fresh SQLite file always, and a fresh
//! PostgreSQL database when `DATABASE_URL` points at a server, so tests never
//! see each other's rows. Not used by the gateway itself.

#![allow(
    clippy::panic,
    reason = "test support: an unusable test database must stop the test"
)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use diesel::connection::SimpleConnection;

use crate::db::DatabaseUrl;

/// A database that lives as long as the value.
pub struct TestDb {
    pub url: DatabaseUrl,
    /// The URL as a string, for passing to the binary.
    pub url_string: String,
    cleanup: Cleanup,
}

enum Cleanup {
    Dir(#[allow(dead_code, reason = "held for its Drop")] TempDir),
    Postgres { admin_url: String, name: String },
}

/// A temporary directory removed on drop (no dependency on `tempfile` here).
pub struct TempDir(pub PathBuf);

impl TempDir {
    #[must_use]
    pub fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(unique_name(&format!("nser-{tag}")));
        let _ = std::fs::create_dir_all(&dir);
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn unique_name(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "{tag}_{}_{}_{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

impl TestDb {
    /// A fresh, empty SQLite file (not yet migrated).
    #[must_use]
    pub fn sqlite() -> Self {
        let dir = TempDir::new("sqlite");
        let path = dir.0.join("registry.db");
        let url_string = format!("sqlite://{}", path.display());
        Self {
            url: DatabaseUrl::Sqlite(path),
            url_string,
            cleanup: Cleanup::Dir(dir),
        }
    }

    /// A fresh, empty PostgreSQL database on the server `DATABASE_URL` names,
    /// or `None` when it names none.
    #[must_use]
    pub fn postgres() -> Option<Self> {
        let admin_url = std::env::var("DATABASE_URL").ok()?;
        if !(admin_url.starts_with("postgres://") || admin_url.starts_with("postgresql://")) {
            return None;
        }
        let name = unique_name("nser_test");
        let mut admin = DatabaseUrl::Postgres(admin_url.clone())
            .connect()
            .unwrap_or_else(|e| panic!("DATABASE_URL is set but unusable: {e}"));
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap_or_else(|e| panic!("cannot create test database {name}: {e}"));
        let url_string = with_database(&admin_url, &name);
        Some(Self {
            url: DatabaseUrl::Postgres(url_string.clone()),
            url_string,
            cleanup: Cleanup::Postgres { admin_url, name },
        })
    }

    /// SQLite, and PostgreSQL too when `DATABASE_URL` names a server.
    #[must_use]
    pub fn all() -> Vec<Self> {
        let mut dbs = vec![Self::sqlite()];
        dbs.extend(Self::postgres());
        dbs
    }

    /// `sqlite` or `postgres`, for assertion messages.
    #[must_use]
    pub fn backend(&self) -> &'static str {
        match self.url {
            DatabaseUrl::Sqlite(_) => "sqlite",
            DatabaseUrl::Postgres(_) => "postgres",
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Cleanup::Postgres { admin_url, name } = &self.cleanup {
            if let Ok(mut admin) = DatabaseUrl::Postgres(admin_url.clone()).connect() {
                let _ =
                    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
            }
        }
    }
}

/// Replace the database name in a PostgreSQL URL.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

/// An access record for tests of the log's storage: request `req-{id}`, one
/// row served to organisation, client system and grant 1 with status 200.
#[must_use]
pub fn access_row(
    id: i64,
    batch_id: i64,
    at: chrono::NaiveDateTime,
    subject: Option<&str>,
) -> crate::audit::AccessRow {
    crate::audit::AccessRow {
        id,
        batch_id,
        at,
        request_id: format!("req-{id}"),
        client_ip: "127.0.0.1".into(),
        organisation_id: Some(1),
        organisation_name: None,
        org_type: None,
        client_system_id: Some(1),
        client_name: None,
        user_id: None,
        user_name: None,
        search_type: "pmt_by_cnic".into(),
        endpoint: "/v1/test".into(),
        parameters: "{}".into(),
        subject_hash: subject.map(str::to_owned),
        rows_returned: 1,
        status: 200,
        grant_id: Some(1),
        purpose: None,
        withheld: "[]".into(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn replaces_the_database_name() {
        assert_eq!(
            super::with_database("postgres://u@h:5432/test", "x"),
            "postgres://u@h:5432/x"
        );
        assert_eq!(super::with_database("postgres://h", "x"), "postgres://h/x");
        assert_eq!(
            super::with_database("postgres://h/a?sslmode=disable", "x"),
            "postgres://h/x?sslmode=disable"
        );
    }
}
