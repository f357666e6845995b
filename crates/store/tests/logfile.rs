//! On SQLite the access log lives in its own file (`store::logfile`): a
//! migrated registry keeps no log table in its own file; a registry from
//! before keeps every record through the move, also when a move was cut
//! short between its copy and its drop; a lost log file is refused, never
//! replaced by an empty log.

#![allow(clippy::unwrap_used, reason = "test helpers stop the test on failure")]

use std::path::Path;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use store::audit::{self, AccessRow, BatchRow};
use store::logfile::{self, TABLES};
use store::testing::TestDb;
use store::{DatabaseUrl, DbConn};

fn path(db: &TestDb) -> &Path {
    let DatabaseUrl::Sqlite(p) = &db.url else {
        unreachable!()
    };
    p
}

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// The tables and indexes of one SQLite file, opened alone.
fn objects(file: &Path) -> Vec<String> {
    let mut c = SqliteConnection::establish(file.to_str().unwrap()).unwrap();
    diesel::sql_query("SELECT name FROM sqlite_master ORDER BY name")
        .load::<Name>(&mut c)
        .unwrap()
        .into_iter()
        .map(|n| n.name)
        .collect()
}

fn count(conn: &mut DbConn, table: &str) -> i64 {
    diesel::sql_query(format!("SELECT count(*) AS n FROM {table}"))
        .load::<Count>(conn)
        .unwrap()[0]
        .n
}

/// Append `n` records in one batch after the chain's head, with usage.
fn append(conn: &mut DbConn, n: i64) {
    let (last, _) = audit::head(conn).unwrap();
    let first = count(conn, "access_log") + 1;
    let at = chrono::NaiveDate::from_ymd_opt(2026, 12, 3)
        .unwrap()
        .and_hms_opt(10, 0, 0)
        .unwrap();
    let rows: Vec<AccessRow> = (first..first + n)
        .map(|id| {
            let subject = format!("{id:064x}");
            store::testing::access_row(id, last + 1, at, Some(&subject))
        })
        .collect();
    let batch = BatchRow {
        id: last + 1,
        committed_at: at,
        record_count: i32::try_from(n).unwrap(),
        records_hash: "1".repeat(64),
        prev_hash: "2".repeat(64),
        batch_hash: format!("{:064x}", last + 1),
    };
    audit::write_transaction(conn, |c| {
        audit::append(c, std::slice::from_ref(&batch), &rows)
    })
    .unwrap();
}

/// Everything the log holds, in order, as text: what must survive a move.
fn dump(conn: &mut DbConn) -> Vec<String> {
    let mut out = Vec::new();
    for (table, key) in [
        ("access_batches", "id"),
        ("access_log", "id"),
        ("access_chain_head", "id"),
        (
            "usage_daily",
            "day, organisation_id, client_system_id, search_type, grant_id",
        ),
    ] {
        let columns: Vec<Name> =
            diesel::sql_query(format!("SELECT name FROM pragma_table_info('{table}')"))
                .load(conn)
                .unwrap();
        assert!(!columns.is_empty(), "{table}");
        let row = columns
            .iter()
            .map(|c| format!("quote({})", c.name))
            .collect::<Vec<_>>()
            .join(" || ',' || ");
        let rows: Vec<Name> =
            diesel::sql_query(format!("SELECT {row} AS name FROM {table} ORDER BY {key}"))
                .load(conn)
                .unwrap();
        out.extend(rows.into_iter().map(|r| format!("{table} {}", r.name)));
    }
    out
}

/// Put the log back into the registry's file, as it was before the log had
/// a file of its own; with `keep_file`, leave the log's file as well (a
/// move that copied and stopped before dropping).
fn move_back(db: &TestDb, keep_file: bool) {
    let log = logfile::path_for(path(db));
    let mut c = SqliteConnection::establish(path(db).to_str().unwrap()).unwrap();
    diesel::sql_query("ATTACH DATABASE ? AS l")
        .bind::<Text, _>(log.to_str().unwrap())
        .execute(&mut c)
        .unwrap();
    let mut indexes = Vec::new();
    for table in TABLES {
        #[derive(QueryableByName)]
        struct Ddl {
            #[diesel(sql_type = Text)]
            kind: String,
            #[diesel(sql_type = Text)]
            sql: String,
        }
        let ddl: Vec<Ddl> = diesel::sql_query(
            "SELECT type AS kind, sql FROM l.sqlite_master WHERE tbl_name = ? AND sql IS NOT NULL",
        )
        .bind::<Text, _>(table)
        .load(&mut c)
        .unwrap();
        for Ddl { kind, sql } in ddl {
            if kind == "table" {
                // Unqualified, CREATE makes it in main.
                c.batch_execute(&sql).unwrap();
                c.batch_execute(&format!("INSERT INTO main.{table} SELECT * FROM l.{table}"))
                    .unwrap();
            } else {
                indexes.push(sql);
            }
        }
    }
    for index in indexes {
        c.batch_execute(&index).unwrap();
    }
    c.batch_execute("DETACH DATABASE l").unwrap();
    drop(c);
    if !keep_file {
        std::fs::remove_file(&log).unwrap();
    }
}

#[test]
fn a_migrated_registry_keeps_its_log_in_a_file_of_its_own() {
    let db = TestDb::sqlite();
    let mut conn = db.url.connect().unwrap();
    let DbConn::Sqlite(c) = &mut conn else {
        unreachable!()
    };
    logfile::require(c).unwrap(); // not migrated: nothing to require yet
    let applied = store::migrate::run(&mut conn).unwrap();
    assert!(
        applied.contains(&"access-log-file".to_owned()),
        "{applied:?}"
    );
    append(&mut conn, 3);
    append(&mut conn, 2);
    let DbConn::Sqlite(c) = &mut conn else {
        unreachable!()
    };
    assert_eq!(logfile::schema(c).unwrap(), "log");
    logfile::require(c).unwrap();
    drop(conn);

    let registry = objects(path(&db));
    let log = objects(&db.url.access_log_path().unwrap());
    for table in TABLES {
        assert!(
            !registry.contains(&table.to_owned()),
            "{table} in {registry:?}"
        );
        assert!(log.contains(&table.to_owned()), "{table} not in {log:?}");
    }
    for index in [
        "access_log_batch",
        "access_log_subject_bucket",
        "usage_daily_grant",
    ] {
        assert!(log.contains(&index.to_owned()), "{index} not in {log:?}");
    }
    assert!(registry.contains(&"households".to_owned()));

    // A new connection finds the log without being told; migrating again
    // moves nothing.
    let mut conn = db.url.connect().unwrap();
    assert!(store::migrate::run(&mut conn).unwrap().is_empty());
    assert_eq!(count(&mut conn, "access_log"), 5);
    assert_eq!(audit::head(&mut conn).unwrap().0, 2);
}

#[test]
fn a_log_in_the_registrys_file_moves_with_every_row() {
    let db = TestDb::sqlite();
    let mut conn = db.url.connect().unwrap();
    store::migrate::run(&mut conn).unwrap();
    for n in [4, 1, 7] {
        append(&mut conn, n);
    }
    let before = dump(&mut conn);
    drop(conn);
    move_back(&db, false);
    assert!(!db.url.access_log_path().unwrap().exists());
    assert!(objects(path(&db)).contains(&"access_log".to_owned()));

    // Served as it is (nothing attached: the names find main's tables) ...
    let mut old = db.url.connect().unwrap();
    assert_eq!(dump(&mut old), before);
    // ... and moved by the next migration, every row and index with it.
    let applied = store::migrate::run(&mut old).unwrap();
    assert_eq!(applied, ["access-log-file"]);
    assert_eq!(dump(&mut old), before);
    append(&mut old, 2);
    drop(old);
    let mut conn = db.url.connect().unwrap();
    assert_eq!(count(&mut conn, "access_log"), 14);
    assert_eq!(audit::head(&mut conn).unwrap().0, 4);
    assert!(!objects(path(&db)).contains(&"access_log".to_owned()));
    assert!(objects(&db.url.access_log_path().unwrap())
        .contains(&"access_log_subject_bucket".to_owned()));
}

#[test]
fn a_move_cut_short_after_its_copy_finishes_and_a_differing_copy_is_refused() {
    let db = TestDb::sqlite();
    let mut conn = db.url.connect().unwrap();
    store::migrate::run(&mut conn).unwrap();
    append(&mut conn, 5);
    let before = dump(&mut conn);
    drop(conn);

    // Both files hold the same log: the registry's copy is dropped.
    move_back(&db, true);
    let mut conn = db.url.connect().unwrap();
    assert_eq!(store::migrate::run(&mut conn).unwrap(), ["access-log-file"]);
    assert_eq!(dump(&mut conn), before);
    drop(conn);
    assert!(!objects(path(&db)).contains(&"access_log".to_owned()));

    // They differ: refused, and neither is touched.
    move_back(&db, true);
    let mut plain = SqliteConnection::establish(path(&db).to_str().unwrap()).unwrap();
    plain
        .batch_execute("DELETE FROM access_log WHERE id = 5")
        .unwrap();
    drop(plain);
    let mut conn = db.url.connect().unwrap();
    let err = store::migrate::run(&mut conn).unwrap_err().to_string();
    assert!(
        err.contains("differ") && err.contains("access_log: 4 rows"),
        "{err}"
    );
    drop(conn);
    assert!(objects(path(&db)).contains(&"access_log".to_owned()));
    assert!(objects(&db.url.access_log_path().unwrap()).contains(&"access_log".to_owned()));
}

#[test]
fn a_lost_log_file_is_refused_not_started_again_empty() {
    let db = TestDb::sqlite();
    let mut conn = db.url.connect().unwrap();
    store::migrate::run(&mut conn).unwrap();
    append(&mut conn, 1);
    drop(conn);
    let log = db.url.access_log_path().unwrap();
    std::fs::remove_file(&log).unwrap();

    let mut conn = db.url.connect().unwrap();
    let err = store::migrate::run(&mut conn).unwrap_err().to_string();
    assert!(
        err.contains("access-log") && err.contains("missing"),
        "{err}"
    );
    assert!(!log.exists(), "a new, empty log file was made");
    // Readers that do not migrate (`audit verify`) say so too.
    let DbConn::Sqlite(c) = &mut conn else {
        unreachable!()
    };
    let err = logfile::require(c).unwrap_err().to_string();
    assert!(err.contains("missing"), "{err}");
    // Without the file nothing reads or writes a log.
    assert!(audit::head(&mut conn).is_err());
}
