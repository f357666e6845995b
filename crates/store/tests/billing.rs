//! Closing periods, adjusting closed bills and reconciling with the log, on
//! SQLite and (with `DATABASE_URL`) PostgreSQL. Log records are written with
//! the same `audit::append` the access-log writer uses, so the usage roll-up
//! is the real one.

#![allow(clippy::unwrap_used, reason = "test helpers stop the test on failure")]

use chrono::{NaiveDate, NaiveDateTime};
use metering::bills::{Bill, Period};
use metering::rates::RateCard;
use store::access::{self, NewClientSystem};
use store::audit::{self, AccessRow, BatchRow};
use store::billing::{self, BillingError};
use store::testing::TestDb;
use store::DbConn;

const SAMPLE: &str = include_str!("../../../deploy/rates.sample.toml");

struct Fixture {
    conn: DbConn,
    backend: &'static str,
    usc: (i64, i64),
    bank: (i64, i64),
    nadra: (i64, i64),
}

fn ts(s: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
}

fn fixture(db: &TestDb) -> Fixture {
    let mut conn = db.url.connect().unwrap();
    store::migrate::run(&mut conn).unwrap();
    let register = |conn: &mut DbConn, client: &str, name: &str, org_type: &str, kind: &str| {
        let org = access::ensure_organisation(conn, name, org_type).unwrap();
        let c = access::add_client_system(
            conn,
            &NewClientSystem {
                name: client,
                organisation_id: org.id,
                kind,
                service_role: "standard",
                cert_sha256: client,
                status: "active",
                rate_per_second: 10,
                burst: 10,
                created_at: ts("2026-01-01 00:00:00"),
            },
        )
        .unwrap();
        (org.id, c.id)
    };
    let usc = register(
        &mut conn,
        "usc-till",
        "Utility Stores Corporation",
        "federal_government",
        "machine",
    );
    let bank = register(
        &mut conn,
        "bank",
        "HBL Microfinance Bank",
        "private_business",
        "portal",
    );
    let nadra = register(
        &mut conn,
        "nadra-feed",
        "National Database and Registration Authority",
        "federal_government",
        "machine",
    );
    Fixture {
        conn,
        backend: db.backend(),
        usc,
        bank,
        nadra,
    }
}

/// Commit one batch of records: (time, organisation and client, search type, rows).
fn log(conn: &mut DbConn, records: &[(&str, (i64, i64), &str, i64)]) {
    audit::write_transaction(conn, |conn| {
        let head = audit::lock_head(conn)?;
        let batch = BatchRow {
            id: head.last_batch_id + 1,
            committed_at: ts(records[0].0),
            record_count: i32::try_from(records.len()).unwrap(),
            records_hash: "r".into(),
            prev_hash: head.last_hash.clone(),
            batch_hash: format!("b{}", head.last_batch_id + 1),
        };
        let rows: Vec<AccessRow> = records
            .iter()
            .zip(head.next_record_id..)
            .map(|((at, (org, client), search, rows), id)| AccessRow {
                id,
                batch_id: batch.id,
                at: ts(at),
                request_id: format!("req-{id}"),
                client_ip: "127.0.0.1".into(),
                organisation_id: Some(*org),
                organisation_name: None,
                org_type: None,
                client_system_id: Some(*client),
                client_name: None,
                user_id: None,
                user_name: None,
                search_type: (*search).into(),
                endpoint: "/v1/test".into(),
                parameters: "{}".into(),
                subject_hash: None,
                rows_returned: *rows,
                status: 200,
                grant_id: Some(1),
                purpose: None,
                withheld: "[]".into(),
            })
            .collect();
        audit::append(conn, std::slice::from_ref(&batch), &rows)
    })
    .unwrap();
}

/// Export `period` the way the CLI and the API do.
fn export(conn: &mut DbConn, card: &RateCard, period: &str, organisation: Option<i64>) -> Bill {
    metering::bills::export(conn, card, Period::parse(period).unwrap(), organisation).unwrap()
}

fn close(conn: &mut DbConn, card: &RateCard, period: &str) -> Result<Bill, BillingError> {
    let bill = export(conn, card, period, None);
    billing::close_period(conn, period, &bill.charge_lines(), &bill.close_snapshot())?;
    Ok(bill)
}

fn october(f: &mut Fixture) {
    let (usc, bank, nadra) = (f.usc, f.bank, f.nadra);
    log(
        &mut f.conn,
        &[
            ("2026-10-01 00:00:00", usc, "pmt_by_cnic", 1),
            ("2026-10-15 12:00:00", usc, "pmt_by_cnic", 1),
            ("2026-10-20 08:30:00", bank, "cnic", 7),
            ("2026-10-20 08:31:00", bank, "address_parameters", 0),
            ("2026-10-31 23:59:59", nadra, "cnic", 40),
        ],
    );
    // Either side of October: not on its bill, not in its reconciliation.
    log(
        &mut f.conn,
        &[
            ("2026-09-30 23:59:59", usc, "pmt_by_cnic", 1),
            ("2026-11-01 00:00:00", usc, "pmt_by_cnic", 1),
        ],
    );
}

#[test]
fn an_open_period_reconciles_with_the_log() {
    let card = RateCard::parse(SAMPLE).unwrap();
    for db in TestDb::all() {
        let mut f = fixture(&db);
        october(&mut f);
        let bill = export(&mut f.conn, &card, "2026-10", None);
        let b = f.backend;
        assert!(bill.reconciliation.equal, "{b}: {:?}", bill.reconciliation);
        assert_eq!(
            (
                bill.reconciliation.log_requests,
                bill.reconciliation.log_rows
            ),
            (5, 49),
            "{b}"
        );
        assert_eq!((bill.totals.requests, bill.totals.rows), (5, 49), "{b}");
        // USC 2 rows at 50; HBL 7 rows at 500 (portal); NADRA gratis.
        assert_eq!(bill.totals.total_paisa, 2 * 50 + 7 * 500, "{b}: {bill:#?}");
        assert!(bill.warnings.is_empty(), "{b}: {:?}", bill.warnings);
        let one = export(&mut f.conn, &card, "2026-10", Some(f.bank.0));
        assert!(one.reconciliation.equal, "{b}: {:?}", one.reconciliation);
        assert_eq!((one.totals.requests, one.totals.rows), (2, 7), "{b}");
    }
}

#[test]
fn closing_writes_the_bill_once() {
    let card = RateCard::parse(SAMPLE).unwrap();
    for db in TestDb::all() {
        let mut f = fixture(&db);
        let b = f.backend;
        october(&mut f);
        let open = close(&mut f.conn, &card, "2026-10").unwrap();
        let closed = billing::closed_period(&mut f.conn, "2026-10")
            .unwrap()
            .unwrap();
        assert_eq!((closed.log_rows, closed.billed_rows), (49, 49), "{b}");
        assert_eq!((closed.log_requests, closed.billed_requests), (5, 5), "{b}");
        assert!(closed.sample_rates);

        let again = close(&mut f.conn, &card, "2026-10");
        assert!(
            matches!(again, Err(BillingError::AlreadyClosed(ref p)) if p == "2026-10"),
            "{b}: {again:?}"
        );
        let stored = billing::lines(&mut f.conn, "2026-10", None).unwrap();
        assert_eq!(stored.len(), open.lines.len(), "{b}: no line written twice");

        // Read back, the closed bill has the same lines and totals as the open one.
        let read = export(&mut f.conn, &card, "2026-10", None);
        assert_eq!(read.lines, open.lines, "{b}");
        assert_eq!(read.totals, open.totals, "{b}");
        assert!(read.reconciliation.equal, "{b}: {:?}", read.reconciliation);
        assert_eq!(read.closed_at, Some(closed.closed_at));
    }
}

#[test]
fn a_closed_bill_is_unchanged_by_later_usage() {
    let card = RateCard::parse(SAMPLE).unwrap();
    for db in TestDb::all() {
        let mut f = fixture(&db);
        let b = f.backend;
        october(&mut f);
        close(&mut f.conn, &card, "2026-10").unwrap();
        let before = export(&mut f.conn, &card, "2026-10", None);
        let before_csv = before.to_csv();

        // November's usage arrives: October's bill does not move.
        let (usc, bank) = (f.usc, f.bank);
        log(
            &mut f.conn,
            &[
                ("2026-11-02 10:00:00", usc, "pmt_by_cnic", 1),
                ("2026-11-02 10:00:01", bank, "cnic", 3),
            ],
        );
        assert_eq!(
            export(&mut f.conn, &card, "2026-10", None).to_csv(),
            before_csv,
            "{b}"
        );

        // A record for October committed after the close (a late batch): the
        // bill's lines stay as closed; the reconciliation says by how much the
        // log now differs.
        log(&mut f.conn, &[("2026-10-31 23:00:00", bank, "cnic", 5)]);
        let after = export(&mut f.conn, &card, "2026-10", None);
        assert_eq!(after.lines, before.lines, "{b}");
        assert_eq!(after.totals, before.totals, "{b}");
        let r = &after.reconciliation;
        assert!(!r.equal, "{b}");
        assert_eq!((r.requests_difference, r.rows_difference), (1, 5), "{b}");
        assert!(r.statement.contains("adjustment"), "{b}: {}", r.statement);
    }
}

#[test]
fn adjustments_go_to_closed_periods_only() {
    let card = RateCard::parse(SAMPLE).unwrap();
    for db in TestDb::all() {
        let mut f = fixture(&db);
        let b = f.backend;
        october(&mut f);
        let bank = f.bank.0;
        let refused = billing::add_adjustment(&mut f.conn, "2026-10", bank, -500, "early");
        assert!(
            matches!(refused, Err(BillingError::NotClosed(_))),
            "{b}: {refused:?}"
        );

        let open = close(&mut f.conn, &card, "2026-10").unwrap();
        let line = billing::add_adjustment(
            &mut f.conn,
            "2026-10",
            bank,
            -500,
            "credit: 1 row served twice",
        )
        .unwrap();
        assert_eq!(
            (line.kind.as_str(), line.amount_paisa, line.rows),
            ("adjustment", -500, 0),
            "{b}"
        );
        assert_eq!(line.organisation_name, "HBL Microfinance Bank");
        let unknown = billing::add_adjustment(&mut f.conn, "2026-10", 999_999, 1, "x");
        assert!(
            matches!(unknown, Err(BillingError::NoOrganisation(999_999))),
            "{b}: {unknown:?}"
        );

        let read = export(&mut f.conn, &card, "2026-10", None);
        // The charge lines are untouched; the adjustment is added after them.
        assert_eq!(read.lines[..open.lines.len()], open.lines[..], "{b}");
        assert_eq!(read.lines.len(), open.lines.len() + 1, "{b}");
        assert_eq!(read.totals.adjustments_paisa, -500, "{b}");
        assert_eq!(
            read.totals.total_paisa,
            open.totals.total_paisa - 500,
            "{b}"
        );
        // Adjustments move money, not rows: the bill still equals the log.
        assert!(read.reconciliation.equal, "{b}: {:?}", read.reconciliation);
        let csv = read.to_csv();
        assert!(csv.contains(",adjustment,"), "{b}: {csv}");
        let bank_only = export(&mut f.conn, &card, "2026-10", Some(bank));
        assert_eq!(bank_only.totals.total_paisa, 7 * 500 - 500, "{b}");
        assert!(
            bank_only.reconciliation.equal,
            "{b}: {:?}",
            bank_only.reconciliation
        );
    }
}

#[test]
fn log_totals_count_the_period_only() {
    for db in TestDb::all() {
        let mut f = fixture(&db);
        october(&mut f);
        let day = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let t =
            billing::log_totals(&mut f.conn, day("2026-10-01"), day("2026-11-01"), None).unwrap();
        assert_eq!((t.requests, t.rows), (5, 49), "{}", f.backend);
        let t = billing::log_totals(
            &mut f.conn,
            day("2026-09-01"),
            day("2026-12-01"),
            Some(f.usc.0),
        )
        .unwrap();
        assert_eq!((t.requests, t.rows), (4, 4), "{}", f.backend);
    }
}
