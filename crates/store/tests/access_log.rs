//! The access log's subject query, on SQLite and (with `DATABASE_URL`)
//! PostgreSQL: it finds exactly one subject's records, even beside another
//! subject whose hash shares the 64-bit prefix the index keys on, and on
//! SQLite it is answered from the subject index, not by a scan.

#![allow(clippy::unwrap_used, reason = "test helpers stop the test on failure")]

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::Text;
use store::audit::{self, AccessQuery, AccessRow, BatchRow};
use store::testing::TestDb;
use store::DbConn;

fn record(id: i64, subject: Option<&str>) -> AccessRow {
    let at = chrono::NaiveDate::from_ymd_opt(2026, 11, 27)
        .unwrap()
        .and_hms_opt(10, 0, 0)
        .unwrap();
    store::testing::access_row(id, 1, at, subject)
}

fn ids(conn: &mut DbConn, subject: &str, before: Option<i64>, limit: i64) -> Vec<i64> {
    let q = AccessQuery {
        subject_hash: Some(subject.to_owned()),
        before_id: before,
        limit,
        ..AccessQuery::default()
    };
    audit::query(conn, &q)
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect()
}

#[test]
fn the_subject_query_finds_exactly_one_subjects_records() {
    let a = format!("{}{}", "ab".repeat(8), "1".repeat(48));
    // Shares a's first 16 hex digits, the subject index's key.
    let b = format!("{}{}", "ab".repeat(8), "2".repeat(48));
    let c = "cd".repeat(32);
    for db in TestDb::all() {
        let backend = db.backend();
        let mut conn = db.url.connect().unwrap();
        store::migrate::run(&mut conn).unwrap();
        let subjects = [
            Some(&a),
            Some(&b),
            None,
            Some(&a),
            Some(&c),
            Some(&b),
            Some(&a),
        ];
        // Ids across the subject index's buckets of 4,096
        // (`audit::SUBJECT_BUCKET_BITS`), either side of their edges.
        let record_ids = [1, 4095, 4096, 4097, 9000, 12288, 20000];
        let rows: Vec<AccessRow> = subjects
            .iter()
            .zip(record_ids)
            .map(|(s, id)| record(id, s.map(String::as_str)))
            .collect();
        let batch = BatchRow {
            id: 1,
            committed_at: rows[0].at,
            record_count: 7,
            records_hash: "0".repeat(64),
            prev_hash: "0".repeat(64),
            batch_hash: "0".repeat(64),
        };
        audit::write_transaction(&mut conn, |c| {
            audit::append(c, std::slice::from_ref(&batch), &rows)
        })
        .unwrap();
        assert_eq!(ids(&mut conn, &a, None, 100), [20000, 4097, 1], "{backend}");
        assert_eq!(ids(&mut conn, &b, None, 100), [12288, 4095], "{backend}");
        assert_eq!(ids(&mut conn, &c, None, 100), [9000], "{backend}");
        assert!(
            ids(&mut conn, &"ef".repeat(32), None, 100).is_empty(),
            "{backend}"
        );
        // Newest first, a page at a time, pages ending on either side of
        // a bucket's edge.
        assert_eq!(ids(&mut conn, &a, None, 2), [20000, 4097], "{backend}");
        assert_eq!(ids(&mut conn, &a, Some(4097), 2), [1], "{backend}");
        assert_eq!(ids(&mut conn, &a, Some(4098), 1), [4097], "{backend}");
        assert_eq!(ids(&mut conn, &b, Some(12288), 5), [4095], "{backend}");
        assert_eq!(
            ids(&mut conn, &b, Some(12289), 5),
            [12288, 4095],
            "{backend}"
        );
        assert!(ids(&mut conn, &a, Some(1), 5).is_empty(), "{backend}");
        // `before` is the client's: the extremes neither overflow nor
        // loop over buckets that hold nothing.
        assert_eq!(
            ids(&mut conn, &a, Some(i64::MAX), 5),
            [20000, 4097, 1],
            "{backend}"
        );
        assert!(
            ids(&mut conn, &a, Some(i64::MIN), 5).is_empty(),
            "{backend}"
        );
        assert!(ids(&mut conn, &a, Some(-5000), 5).is_empty(), "{backend}");
    }
}

#[derive(QueryableByName)]
struct PlanRow {
    #[diesel(sql_type = Text)]
    detail: String,
}

#[test]
fn sqlite_answers_the_subject_query_from_the_subject_index() {
    let db = TestDb::sqlite();
    let mut conn = db.url.connect().unwrap();
    store::migrate::run(&mut conn).unwrap();
    let DbConn::Sqlite(c) = &mut conn else {
        unreachable!()
    };
    // The query's shape (`store::audit::query`): the ids from one probe of
    // the index per bucket (the query's own SQL, without `before`: a NULL
    // top bucket), the subject's hash, newest first, a page.
    let [open, middle, close] = audit::subject_ids_sql(true);
    let sql = format!(
        "EXPLAIN QUERY PLAN SELECT id FROM access_log \
         WHERE {open}NULL{middle}?{close} AND access_log.subject_hash = ? \
         ORDER BY access_log.id DESC LIMIT 100"
    );
    let hash = "ab".repeat(32);
    let plan: Vec<PlanRow> = diesel::sql_query(&sql)
        .bind::<diesel::sql_types::BigInt, _>(audit::subject_key(&hash).unwrap())
        .bind::<Text, _>(hash)
        .load(c)
        .unwrap();
    let plan: Vec<String> = plan.into_iter().map(|r| r.detail).collect();
    assert!(
        plan.iter().any(|d| d.contains(
            "USING COVERING INDEX access_log_subject_bucket (<expr>=? AND subject_key=?)"
        )),
        "{plan:?}"
    );
}

#[test]
fn subject_keys_are_the_hashs_first_64_bits() {
    assert_eq!(audit::subject_key(&"0".repeat(64)), Some(0));
    assert_eq!(
        audit::subject_key(&format!("0123456789abcdef{}", "f".repeat(48))),
        Some(0x0123_4567_89ab_cdef)
    );
    assert_eq!(audit::subject_key(&"f".repeat(64)), Some(-1));
    assert_eq!(
        audit::subject_key(&format!("8{}", "0".repeat(63))),
        Some(i64::MIN)
    );
    // Not what the gateway writes: no key, so no match.
    for bad in ["", "abc", &"F".repeat(64), &format!("{}g", "0".repeat(15))] {
        assert_eq!(audit::subject_key(bad), None, "{bad:?}");
    }
}

#[derive(QueryableByName)]
struct Keyed {
    #[diesel(sql_type = Text)]
    subject_hash: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    subject_key: i64,
}

#[test]
fn the_migration_gives_earlier_records_the_writers_keys() {
    // Records written before the subject key existed get it from the
    // migration's SQL; it must be the key the writer computes.
    let hashes = [
        "0123456789abcdef".to_owned() + &"0".repeat(48),
        "f".repeat(64),
        "8".to_owned() + &"0".repeat(63),
        "7fffffffffffffff".to_owned() + &"1".repeat(48),
    ];
    for db in TestDb::all() {
        let backend = db.backend();
        let mut conn = db.url.connect().unwrap();
        store::migrate::run(&mut conn).unwrap();
        let values: Vec<String> = hashes.iter().map(|h| format!("('{h}')")).collect();
        let migration = if backend == "sqlite" {
            include_str!(
                "../../../migrations/sqlite/2026-12-02-000007_access_log_subject_key/up.sql"
            )
        } else {
            include_str!(
                "../../../migrations/postgres/2026-12-02-000007_access_log_subject_key/up.sql"
            )
        };
        // The migration's UPDATE, run over a scratch table of the hashes.
        let update = migration
            .split(';')
            .find(|s| s.contains("UPDATE access_log"))
            .unwrap()
            .replace("UPDATE access_log", "UPDATE scratch");
        conn.batch_execute(&format!(
            "CREATE TEMPORARY TABLE scratch (subject_hash TEXT, subject_key BIGINT); \
             INSERT INTO scratch (subject_hash) VALUES {}; {update};",
            values.join(", ")
        ))
        .unwrap();
        let keyed: Vec<Keyed> = diesel::sql_query("SELECT subject_hash, subject_key FROM scratch")
            .load(&mut conn)
            .unwrap();
        assert_eq!(keyed.len(), hashes.len(), "{backend}");
        for k in keyed {
            assert_eq!(
                Some(k.subject_key),
                audit::subject_key(&k.subject_hash),
                "{backend}: {}",
                k.subject_hash
            );
        }
    }
}
