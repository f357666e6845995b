//! Bills from usage, without a database: rate changes within a period,
//! gratis organisations, rounding, empty periods, and the CSV form.

#![allow(clippy::unwrap_used, reason = "test helpers stop the test on failure")]

use chrono::{NaiveDate, NaiveDateTime};
use metering::bills::{closed_bill, open_bill, Bill, LineKind, Period, Status};
use metering::rates::RateCard;
use store::access::{ClientSystem, Organisation};
use store::audit::UsageRow;
use store::billing::{ClosedPeriod, LogTotals, StoredLine};

const SAMPLE: &str = include_str!("../../../deploy/rates.sample.toml");

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn at() -> NaiveDateTime {
    day("2026-07-01").and_hms_opt(0, 0, 0).unwrap()
}

fn org(id: i64, name: &str, org_type: &str) -> Organisation {
    Organisation {
        id,
        name: name.into(),
        org_type: org_type.into(),
        standing: "active".into(),
        created_at: at(),
    }
}

fn client(id: i64, organisation_id: i64, kind: &str) -> ClientSystem {
    ClientSystem {
        id,
        name: format!("client-{id}"),
        organisation_id,
        kind: kind.into(),
        service_role: "standard".into(),
        cert_sha256: String::new(),
        status: "active".into(),
        rate_per_second: 10,
        burst: 10,
        created_at: at(),
    }
}

fn usage(
    d: &str,
    organisation_id: i64,
    client_system_id: i64,
    search: &str,
    requests: i64,
    rows: i64,
) -> UsageRow {
    UsageRow {
        day: day(d),
        organisation_id,
        client_system_id,
        search_type: search.into(),
        grant_id: 1,
        requests,
        rows_returned: rows,
    }
}

struct World {
    orgs: Vec<Organisation>,
    clients: Vec<ClientSystem>,
}

/// USC (government, a machine till), HBL (private, portal), NADRA (gratis feed).
fn world() -> World {
    World {
        orgs: vec![
            org(1, "Utility Stores Corporation", "federal_government"),
            org(2, "HBL Microfinance Bank", "private_business"),
            org(
                3,
                "National Database and Registration Authority",
                "federal_government",
            ),
        ],
        clients: vec![
            client(10, 1, "machine"),
            client(20, 2, "portal"),
            client(30, 3, "machine"),
        ],
    }
}

fn log_of(rows: &[UsageRow]) -> LogTotals {
    LogTotals {
        requests: rows.iter().map(|u| u.requests).sum(),
        rows: rows.iter().map(|u| u.rows_returned).sum(),
    }
}

/// The open bill of `rows` for `w`'s organisations, with the log agreeing.
fn open_bill_of(period: Period, card: &RateCard, w: &World, rows: &[UsageRow]) -> Bill {
    open_bill(period, card, rows, &w.orgs, &w.clients, log_of(rows), None).unwrap()
}

fn november() -> Period {
    Period::parse("2026-11").unwrap()
}

#[test]
fn a_rate_change_mid_period_gives_two_lines() {
    let card = RateCard::parse(SAMPLE).unwrap();
    let w = world();
    // The sample card lowers the government API rate from 50 to 40 paisa on 16 November.
    let rows = vec![
        usage("2026-11-01", 1, 10, "pmt_by_cnic", 3, 100),
        usage("2026-11-15", 1, 10, "pmt_by_cnic", 2, 20),
        usage("2026-11-16", 1, 10, "pmt_by_cnic", 4, 200),
        usage("2026-11-30", 1, 10, "pmt_by_cnic", 1, 5),
    ];
    let bill = open_bill_of(november(), &card, &w, &rows);
    assert_eq!(bill.status, Status::Open);
    assert_eq!(bill.lines.len(), 2, "{bill:#?}");
    let (a, b) = (&bill.lines[0], &bill.lines[1]);
    assert_eq!(
        (a.service.as_str(), a.rate_class.as_str()),
        ("api_access", "government")
    );
    assert_eq!(
        (a.from, a.to),
        (Some(day("2026-11-01")), Some(day("2026-11-15")))
    );
    assert_eq!(
        (a.requests, a.rows, a.rate_paisa, a.amount_paisa),
        (5, 120, 50, 6_000)
    );
    assert_eq!(
        (b.from, b.to),
        (Some(day("2026-11-16")), Some(day("2026-11-30")))
    );
    assert_eq!(
        (b.requests, b.rows, b.rate_paisa, b.amount_paisa),
        (5, 205, 40, 8_200)
    );
    assert_eq!(bill.totals.rows, 325);
    assert_eq!(bill.totals.charges_paisa, 14_200);
    assert_eq!(bill.totals.total_paisa, 14_200);
    assert!(bill.reconciliation.equal, "{:?}", bill.reconciliation);
    assert!(bill.warnings.is_empty(), "{:?}", bill.warnings);
    assert!(bill.sample_rates);
}

#[test]
fn a_period_before_the_change_has_one_line_per_service() {
    let card = RateCard::parse(SAMPLE).unwrap();
    let w = world();
    let rows = vec![
        usage("2026-10-03", 1, 10, "pmt_by_cnic", 1, 10),
        usage("2026-10-31", 1, 10, "pmt_by_cnic", 1, 10),
        usage("2026-10-31", 2, 20, "cnic", 2, 2),
    ];
    let october = Period::parse("2026-10").unwrap();
    let bill = open_bill_of(october, &card, &w, &rows);
    let summary: Vec<_> = bill
        .lines
        .iter()
        .map(|l| {
            (
                l.organisation_id,
                l.service.as_str(),
                l.rows,
                l.rate_paisa,
                l.amount_paisa,
                l.to,
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (1, "api_access", 20, 50, 1_000, Some(day("2026-10-31"))),
            (2, "portal_access", 2, 500, 1_000, Some(day("2026-10-31"))),
        ]
    );
}

#[test]
fn gratis_organisations_are_counted_at_zero() {
    let card = RateCard::parse(SAMPLE).unwrap();
    let w = world();
    let rows = vec![
        usage("2026-11-02", 3, 30, "cnic", 500, 500),
        usage("2026-11-20", 3, 30, "cnic", 700, 700),
        usage("2026-11-20", 2, 20, "cnic", 1, 1),
    ];
    let bill = open_bill_of(november(), &card, &w, &rows);
    let nadra: Vec<_> = bill
        .lines
        .iter()
        .filter(|l| l.organisation_id == 3)
        .collect();
    // One line for the whole period even though the card's rates change in it.
    assert_eq!(nadra.len(), 1, "{nadra:#?}");
    assert_eq!(nadra[0].rate_class, "gratis");
    assert_eq!(
        (nadra[0].requests, nadra[0].rows, nadra[0].amount_paisa),
        (1_200, 1_200, 0)
    );
    assert_eq!(
        (nadra[0].from, nadra[0].to),
        (Some(day("2026-11-01")), Some(day("2026-11-30")))
    );
    // Counted on the bill, so the bill still equals the log.
    assert_eq!(bill.totals.rows, 1_201);
    assert_eq!(bill.totals.total_paisa, 500);
    assert!(bill.reconciliation.equal);
}

#[test]
fn amounts_round_half_up_per_line() {
    let card =
        RateCard::parse(&SAMPLE.replace("paisa = 250\n", "paisa = 25\nper_rows = 1000\n")).unwrap();
    let w = world();
    let orgs = vec![
        w.orgs[1].clone(),
        org(4, "Bank B", "private_business"),
        org(5, "Bank C", "private_business"),
        org(6, "Bank D", "private_business"),
    ];
    let clients = vec![
        client(20, 2, "machine"),
        client(40, 4, "machine"),
        client(50, 5, "machine"),
        client(60, 6, "machine"),
    ];
    let rows = vec![
        usage("2026-11-05", 2, 20, "cnic", 1, 1_500), // 37.5 -> 38
        usage("2026-11-05", 4, 40, "cnic", 1, 1_499), // 37.475 -> 37
        usage("2026-11-05", 5, 50, "cnic", 1, 19),    // 0.475 -> 0
        usage("2026-11-05", 6, 60, "cnic", 1, 20),    // 0.5 -> 1
    ];
    let bill = open_bill(
        november(),
        &card,
        &rows,
        &orgs,
        &clients,
        log_of(&rows),
        None,
    )
    .unwrap();
    let amounts: Vec<_> = bill
        .lines
        .iter()
        .map(|l| (l.rows, l.per_rows, l.amount_paisa))
        .collect();
    assert_eq!(
        amounts,
        vec![
            (1_500, 1_000, 38),
            (1_499, 1_000, 37),
            (19, 1_000, 0),
            (20, 1_000, 1)
        ]
    );
    // Rounded per line, not on the sum (3038 rows would make 76).
    assert_eq!(bill.totals.total_paisa, 76);
}

#[test]
fn an_empty_period_has_no_lines_and_reconciles() {
    let card = RateCard::parse(SAMPLE).unwrap();
    let w = world();
    let bill = open_bill(
        november(),
        &card,
        &[],
        &w.orgs,
        &w.clients,
        LogTotals::default(),
        None,
    )
    .unwrap();
    assert!(bill.lines.is_empty());
    assert_eq!(bill.totals, metering::bills::Totals::default());
    assert!(bill.reconciliation.equal);
    let csv = bill.to_csv();
    assert_eq!(csv.lines().count(), 3, "{csv}");
    assert!(csv.starts_with("period,status,kind,organisation_id,"));
    assert!(csv.contains("2026-11,open,reconciliation,"), "{csv}");
}

#[test]
fn a_bill_that_differs_from_the_log_says_by_how_much() {
    let card = RateCard::parse(SAMPLE).unwrap();
    let w = world();
    let rows = vec![usage("2026-11-05", 1, 10, "pmt_by_cnic", 2, 2)];
    let log = LogTotals {
        requests: 5,
        rows: 9,
    };
    let bill = open_bill(november(), &card, &rows, &w.orgs, &w.clients, log, None).unwrap();
    let r = &bill.reconciliation;
    assert!(!r.equal);
    assert_eq!((r.requests_difference, r.rows_difference), (3, 7));
    assert!(
        r.statement.contains("7 rows and 3 requests more"),
        "{}",
        r.statement
    );
}

#[test]
fn unpriced_usage_is_billed_at_zero_with_a_warning() {
    let card = RateCard::parse(SAMPLE).unwrap();
    let w = world();
    let rows = vec![
        usage("2026-11-05", 1, 10, "subject_access", 1, 4),
        usage("2026-11-05", 1, 99, "cnic", 1, 1), // a client system the store no longer has
    ];
    let bill = open_bill_of(november(), &card, &w, &rows);
    assert_eq!(bill.totals.rows, 5);
    assert_eq!(bill.totals.total_paisa, 0);
    assert_eq!(bill.warnings.len(), 2, "{:?}", bill.warnings);
    assert!(bill
        .lines
        .iter()
        .any(|l| l.service == "unpriced:subject_access"));
    assert!(bill.reconciliation.equal);
}

#[test]
fn one_organisation_and_other_periods_are_left_out() {
    let card = RateCard::parse(SAMPLE).unwrap();
    let w = world();
    let rows = vec![
        usage("2026-11-05", 1, 10, "pmt_by_cnic", 1, 1),
        usage("2026-11-05", 2, 20, "cnic", 1, 1),
        usage("2026-12-01", 2, 20, "cnic", 1, 1),
    ];
    let log = LogTotals {
        requests: 1,
        rows: 1,
    };
    let bill = open_bill(november(), &card, &rows, &w.orgs, &w.clients, log, Some(2)).unwrap();
    assert_eq!(bill.lines.len(), 1);
    assert_eq!(bill.lines[0].organisation_id, 2);
    assert!(bill.reconciliation.equal);
}

#[test]
fn a_closed_bill_adds_its_adjustments() {
    let closed = ClosedPeriod {
        period: "2026-10".into(),
        closed_at: day("2026-11-01").and_hms_opt(6, 0, 0).unwrap(),
        log_rows: 100,
        billed_rows: 100,
        log_requests: 10,
        billed_requests: 10,
        rate_card: "card".into(),
        sample_rates: false,
    };
    let line = |id: i64, kind: &str, rows: i64, amount: i64| StoredLine {
        id,
        period: "2026-10".into(),
        organisation_id: 2,
        service: if kind == "charge" {
            "portal_access"
        } else {
            "adjustment"
        }
        .into(),
        kind: kind.into(),
        rows,
        rate_paisa: 500,
        amount_paisa: amount,
        note: "=cmd, \"quoted\"".into(),
        created_at: closed.closed_at,
        organisation_name: "HBL Microfinance Bank".into(),
        rate_class: "private".into(),
        per_rows: 1,
        requests: rows / 10,
        segment_from: None,
        segment_to: None,
    };
    let stored = vec![
        line(1, "charge", 100, 50_000),
        line(2, "adjustment", 0, -5_000),
    ];
    // Two rows arrived for October after the close.
    let log = LogTotals {
        requests: 11,
        rows: 102,
    };
    let bill = closed_bill(
        Period::parse("2026-10").unwrap(),
        &closed,
        &stored,
        log,
        None,
    );
    assert_eq!(bill.status, Status::Closed);
    assert_eq!(bill.lines[1].kind, LineKind::Adjustment);
    assert_eq!(bill.totals.charges_paisa, 50_000);
    assert_eq!(bill.totals.adjustments_paisa, -5_000);
    assert_eq!(bill.totals.total_paisa, 45_000);
    assert_eq!(bill.totals.rows, 100);
    assert!(!bill.reconciliation.equal);
    assert!(
        bill.reconciliation.statement.contains("logged since"),
        "{}",
        bill.reconciliation.statement
    );
    let csv = bill.to_csv();
    // Quoted, and never a formula.
    assert!(csv.contains(",\"'=cmd, \"\"quoted\"\"\"\n"), "{csv}");
}

#[test]
fn periods_parse_strictly() {
    let p = Period::parse("2026-02").unwrap();
    assert_eq!(p.last_day(), day("2026-02-28"));
    assert_eq!(p.end(), day("2026-03-01"));
    assert_eq!(Period::parse("2026-12").unwrap().end(), day("2027-01-01"));
    assert_eq!(p.to_string(), "2026-02");
    for bad in [
        "2026-13",
        "2026-1",
        "26-01",
        "2026/01",
        "2026-00",
        "",
        "2026-01-01",
    ] {
        assert!(Period::parse(bad).is_err(), "{bad:?}");
    }
}
