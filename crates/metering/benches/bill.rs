//! How long a month's bill takes to export from a large access log.
//!
//! `cargo bench -p metering --bench bill` fills a SQLite registry with
//! `NSER_BILL_BENCH_RECORDS` access records (default 10 million) spread over
//! October 2026, with the usage roll-up filled to match, once (kept in
//! `NSER_BILL_BENCH_DB`, default `$TMPDIR/nser-bill-bench/registry.db`), then
//! times the export exactly as `nser-gateway bills export` runs it: one
//! snapshot read (usage, organisations, client systems, log totals), the
//! pure bill, and its CSV. Target: under 10 seconds for 10 million records.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a benchmark stops on the first failure"
)]

use std::path::PathBuf;
use std::time::Instant;

use diesel::connection::SimpleConnection;
use metering::bills::{open_bill, Period};
use metering::rates::RateCard;
use store::access::{self, NewClientSystem};
use store::{DatabaseUrl, DbConn};

const SAMPLE: &str = include_str!("../../../deploy/rates.sample.toml");

/// Organisations of every rate class, two client systems each (machine and portal).
const ORGS: &[(&str, &str)] = &[
    ("Utility Stores Corporation", "federal_government"),
    (
        "Ministry of Poverty Alleviation and Social Safety",
        "federal_government",
    ),
    (
        "Punjab Social Protection Authority",
        "provincial_government",
    ),
    ("Sindh Social Protection Authority", "provincial_government"),
    ("District Government Multan", "local_government"),
    ("World Food Programme", "international_donor"),
    ("Akhuwat Foundation", "local_ngo"),
    ("Save the Children", "ingo"),
    ("HBL Microfinance Bank", "private_business"),
    ("Telenor Microfinance Bank", "private_business"),
    (
        "National Database and Registration Authority",
        "federal_government",
    ),
    ("Benazir Income Support Programme", "federal_government"),
];

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

fn fill(conn: &mut DbConn, records: u64) {
    store::migrate::run(conn).unwrap();
    let mut clients = Vec::new();
    for (name, org_type) in ORGS {
        let org = access::ensure_organisation(conn, name, org_type).unwrap();
        for kind in ["machine", "portal"] {
            let client = format!("{}-{kind}", org.id);
            let c = access::add_client_system(
                conn,
                &NewClientSystem {
                    name: &client,
                    organisation_id: org.id,
                    kind,
                    service_role: "standard",
                    cert_sha256: &client,
                    status: "active",
                    rate_per_second: 100,
                    burst: 100,
                    created_at: chrono::Utc::now().naive_utc(),
                },
            )
            .unwrap();
            clients.push((c.id, org.id));
        }
    }
    let values = clients
        .iter()
        .enumerate()
        .map(|(k, (c, o))| format!("({k}, {c}, {o})"))
        .collect::<Vec<_>>()
        .join(", ");
    let n_clients = clients.len();
    let batches = records.div_ceil(1_000);
    // One transaction; the log's indexes are dropped and rebuilt around the
    // insert (sorting once is far faster than 10 million random index inserts).
    let sql = format!(
        "PRAGMA synchronous = OFF;
         PRAGMA cache_size = -1000000;
         BEGIN;
         CREATE TEMP TABLE bench_clients (k INTEGER PRIMARY KEY, client_id INTEGER, org_id INTEGER);
         INSERT INTO bench_clients VALUES {values};
         DROP INDEX access_log_batch;
         DROP INDEX access_log_at;
         DROP INDEX access_log_organisation_at;
         DROP INDEX access_log_subject_bucket;
         INSERT INTO access_batches (id, committed_at, record_count, records_hash, prev_hash, batch_hash)
         WITH RECURSIVE b(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM b WHERE i < {batches})
         SELECT i, datetime('2026-10-01', '+' || ((i - 1) * 2678400 / {batches}) || ' seconds'),
                1000, 'bench', 'bench', 'bench' FROM b;
         INSERT INTO access_log (id, batch_id, at, request_id, client_ip, organisation_id,
                organisation_name, org_type, client_system_id, client_name, user_id, user_name,
                search_type, endpoint, parameters, subject_hash, rows_returned, status,
                grant_id, purpose, withheld)
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {records})
         SELECT i, (i - 1) / 1000 + 1,
                datetime('2026-10-01', '+' || ((i - 1) * 2678400 / {records}) || ' seconds'),
                'req-' || i, '10.0.0.1',
                CASE WHEN i % 100 = 99 THEN NULL ELSE c.org_id END, NULL, NULL,
                CASE WHEN i % 100 = 99 THEN NULL ELSE c.client_id END, NULL, NULL, NULL,
                CASE i % 10 WHEN 0 THEN 'cnic' WHEN 1 THEN 'address_parameters'
                            WHEN 2 THEN 'pmt_range_address' ELSE 'pmt_by_cnic' END,
                '/v1/bench', '{{}}', printf('%064x', (i * 2654435761) % 4294967296),
                CASE i % 10 WHEN 1 THEN i % 50 WHEN 2 THEN i % 200 ELSE 1 END,
                200, 1, 'bench', '[]'
         FROM n JOIN bench_clients c ON c.k = i % {n_clients};
         CREATE INDEX access_log_batch ON access_log (batch_id);
         CREATE INDEX access_log_at ON access_log (at);
         CREATE INDEX access_log_organisation_at ON access_log (organisation_id, at);
         CREATE INDEX access_log_subject_bucket ON access_log (id >> 12, subject_key)
             WHERE subject_key IS NOT NULL;
         INSERT INTO usage_daily (day, organisation_id, client_system_id, search_type, grant_id, requests, rows_returned)
         SELECT date(at), organisation_id, client_system_id, search_type, COALESCE(grant_id, 0),
                COUNT(*), SUM(rows_returned)
         FROM access_log WHERE organisation_id IS NOT NULL AND client_system_id IS NOT NULL
         GROUP BY 1, 2, 3, 4, 5;
         UPDATE access_chain_head SET last_batch_id = {batches}, last_hash = 'bench';
         COMMIT;
         PRAGMA synchronous = NORMAL;
         ANALYZE;"
    );
    conn.batch_execute(&sql).unwrap();
}

fn main() {
    // `cargo test --benches` passes --bench-less flags; only run under `cargo bench`.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let records: u64 = env_or("NSER_BILL_BENCH_RECORDS", 10_000_000);
    let path: PathBuf = std::env::var_os("NSER_BILL_BENCH_DB").map_or_else(
        || {
            std::env::temp_dir()
                .join("nser-bill-bench")
                .join("registry.db")
        },
        PathBuf::from,
    );
    let url = DatabaseUrl::Sqlite(path.clone());
    let fresh = !path.exists();
    if fresh {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let started = Instant::now();
        fill(&mut url.connect().unwrap(), records);
        println!(
            "filled {} with {records} access records in {:.1} s",
            path.display(),
            started.elapsed().as_secs_f64()
        );
    }
    let card = RateCard::parse(SAMPLE).unwrap();
    let period = Period::parse("2026-10").unwrap();
    for run in 1..=3 {
        let started = Instant::now();
        let mut conn = url.connect().unwrap();
        let data = store::billing::period_data(
            &mut conn,
            &period.to_string(),
            period.first_day(),
            period.end(),
            None,
        )
        .unwrap();
        let read = started.elapsed();
        let bill = open_bill(
            period,
            &card,
            &data.usage,
            &data.organisations,
            &data.clients,
            data.log,
            None,
        )
        .unwrap();
        let csv = bill.to_csv();
        let total = started.elapsed();
        assert!(bill.reconciliation.equal, "{:?}", bill.reconciliation);
        println!(
            "run {run}: a month's bill from a log of {records} records ({} billable; \
             {} usage rows) in {:.2} s (database {:.2} s); {} lines, {} rows, {} paisa, \
             {} bytes of CSV",
            bill.reconciliation.log_requests,
            data.usage.len(),
            total.as_secs_f64(),
            read.as_secs_f64(),
            bill.lines.len(),
            bill.totals.rows,
            bill.totals.total_paisa,
            csv.len()
        );
    }
}
