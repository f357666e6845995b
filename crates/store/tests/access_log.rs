//! The access log's subject query, on SQLite and (with `DATABASE_URL`)
//! PostgreSQL: it finds exactly one subject's records, even beside another
//! subject whose hash shares the 64-bit prefix the index keys on, and on
//! SQLite it is answered from the subject index, not by a scan.

#![allow(clippy::unwrap_used, reason = "test helpers stop the test on failure")]

use diesel::prelude::*;
use diesel::sql_types::Text;
use store::audit::{self, AccessQuery, AccessRow, BatchRow};
use store::testing::TestDb;
use store::DbConn;

fn record(id: i64, subject: Option<&str>) -> AccessRow {
    AccessRow {
        id,
        batch_id: 1,
        at: chrono::NaiveDate::from_ymd_opt(2026, 11, 27)
            .unwrap()
            .and_hms_opt(10, 0, 0)
            .unwrap(),
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
        let rows: Vec<AccessRow> = subjects
            .iter()
            .zip(1..)
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
        assert_eq!(ids(&mut conn, &a, None, 100), [7, 4, 1], "{backend}");
        assert_eq!(ids(&mut conn, &b, None, 100), [6, 2], "{backend}");
        assert_eq!(ids(&mut conn, &c, None, 100), [5], "{backend}");
        assert!(
            ids(&mut conn, &"ef".repeat(32), None, 100).is_empty(),
            "{backend}"
        );
        // Newest first, a page at a time.
        assert_eq!(ids(&mut conn, &a, None, 2), [7, 4], "{backend}");
        assert_eq!(ids(&mut conn, &a, Some(4), 2), [1], "{backend}");
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
    // The query's shape: the subject terms, newest first, a page.
    let sql = format!(
        "EXPLAIN QUERY PLAN SELECT id FROM access_log WHERE {}? AND {}? ORDER BY id DESC LIMIT 100",
        audit::SUBJECT_TERMS[0],
        audit::SUBJECT_TERMS[1]
    );
    let plan: Vec<PlanRow> = diesel::sql_query(sql)
        .bind::<Text, _>("abababababababab")
        .bind::<Text, _>("ab".repeat(32))
        .load(c)
        .unwrap();
    let plan: Vec<String> = plan.into_iter().map(|r| r.detail).collect();
    assert!(
        plan.iter()
            .any(|d| d.contains("USING INDEX access_log_subject")),
        "{plan:?}"
    );
}
