//! What the access-log writer costs, without TLS, HTTP or a load generator
//! in the way: `cargo run --release -p metering --example writer_cost`.
//!
//! Starts the real writer on a fresh SQLite log (`synchronous = FULL`, as
//! served) and appends records from 1, 4, 8, 16 and 32 concurrent waiters;
//! prints records/s and the writer thread's CPU per record (from
//! `/proc/self/task`). `--bulk N` instead appends 50,000 records in
//! transactions of N with `synchronous = NORMAL`: the cost of a record
//! itself, its inserts and indexes, with the per-commit cost spread thin.
//! `--dir D` puts the database in D (default: a new temporary directory).
//! `--json` instead times a record's canonical JSON (`chain::record_json`,
//! which the writer makes of every record) against `serde_json::to_vec`,
//! whose bytes it must equal.

use std::error::Error;
use std::time::{Duration, Instant};

use metering::writer::{LogWriter, WriterConfig};
use store::audit::{AccessRow, BatchRow};

type Res<T> = Result<T, Box<dyn Error>>;

/// User + system clock ticks of this process's threads called `name` (all threads: `None`).
fn cpu_ticks(name: Option<&str>) -> Res<u64> {
    let mut ticks = 0;
    for task in std::fs::read_dir("/proc/self/task")? {
        let path = task?.path();
        let comm = std::fs::read_to_string(path.join("comm"))?;
        if name.is_some_and(|n| comm.trim() != n) {
            continue;
        }
        let stat = std::fs::read_to_string(path.join("stat"))?;
        let fields: Vec<&str> = stat
            .rsplit(')')
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .collect();
        for i in [11, 12] {
            ticks += fields.get(i).ok_or("short stat")?.parse::<u64>()?;
        }
    }
    Ok(ticks)
}

/// A record like the till's: a keyed subject hash, a grant, one row.
fn record(i: u64) -> AccessRow {
    let hash = format!(
        "{:064x}",
        u128::from(i).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835)
    );
    AccessRow {
        id: 0,
        batch_id: 0,
        at: chrono::Utc::now().naive_utc(),
        request_id: format!("{i:032x}"),
        client_ip: "127.0.0.1".into(),
        organisation_id: Some(1),
        organisation_name: Some("Utility Stores Corporation".into()),
        org_type: Some("federal_government".into()),
        client_system_id: Some(1),
        client_name: Some("bench-till".into()),
        user_id: None,
        user_name: None,
        search_type: "pmt_by_cnic".into(),
        endpoint: "GET /v1/pmt/{cnic}".into(),
        parameters: format!("{{\"cnic\":\"hmac:{hash}\"}}"),
        subject_hash: Some(hash),
        rows_returned: 1,
        status: 200,
        grant_id: Some(1),
        purpose: Some("benchmark".into()),
        withheld: "v1/machine/pmt_by_cnic/federal_government/confidential".into(),
    }
}

/// ns a record: `chain::record_json` against `serde_json::to_vec`, three rounds.
#[allow(clippy::cast_precision_loss, reason = "a printed ratio")]
fn json() -> Res<()> {
    let rows: Vec<AccessRow> = (0..1_000).map(record).collect();
    for row in &rows {
        assert_eq!(metering::chain::record_json(row), serde_json::to_vec(row)?);
    }
    let n = 1_000_000;
    for round in 1..=3 {
        let mut bytes = 0;
        let t = Instant::now();
        for i in 0..n {
            bytes += serde_json::to_vec(std::hint::black_box(&rows[i % rows.len()]))?.len();
        }
        let theirs = t.elapsed().as_nanos() as f64 / n as f64;
        let t = Instant::now();
        for i in 0..n {
            bytes +=
                metering::chain::record_json(std::hint::black_box(&rows[i % rows.len()])).len();
        }
        let ours = t.elapsed().as_nanos() as f64 / n as f64;
        println!(
            "round {round}: serde_json::to_vec {theirs:.0} ns a record, chain::record_json {ours:.0} ns ({} bytes a record)",
            bytes / (2 * n)
        );
    }
    Ok(())
}

#[allow(clippy::cast_precision_loss, reason = "a printed ratio")]
fn per_record(ticks: u64, records: u64) -> f64 {
    ticks as f64 * 10_000.0 / records as f64
}

fn bulk(url: &store::DatabaseUrl, per: u64) -> Res<()> {
    use diesel::connection::SimpleConnection;
    let mut conn = url.connect()?;
    conn.batch_execute("PRAGMA synchronous = NORMAL")?;
    let total = 50_000 / per * per;
    let (c0, t0) = (cpu_ticks(None)?, Instant::now());
    for b in 0..total / per {
        let batch_id = i64::try_from(b + 1)?;
        let rows = (0..per)
            .map(|k| {
                let mut r = record(b * per + k);
                r.id = i64::try_from(b * per + k + 1)?;
                r.batch_id = batch_id;
                Ok(r)
            })
            .collect::<Res<Vec<_>>>()?;
        let batch = BatchRow {
            id: batch_id,
            committed_at: chrono::Utc::now().naive_utc(),
            record_count: i32::try_from(per)?,
            records_hash: "0".repeat(64),
            prev_hash: "0".repeat(64),
            batch_hash: "0".repeat(64),
        };
        store::audit::write_transaction(&mut conn, |c| {
            store::audit::append(c, std::slice::from_ref(&batch), &rows)
        })?;
    }
    println!(
        "{per} records per transaction: {:.1} us CPU per record, {:.1} us wall",
        per_record(cpu_ticks(None)? - c0, total),
        t0.elapsed().as_secs_f64() * 1e6 / f64::from(u32::try_from(total)?)
    );
    Ok(())
}

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--json") {
        return json();
    }
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
    };
    let temp = store::testing::TempDir::new("writer-cost");
    let dir = arg("--dir").map_or_else(|| temp.0.clone(), std::path::PathBuf::from);
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("log.db");
    let _ = std::fs::remove_file(&path);
    let url = store::DatabaseUrl::parse(&format!("sqlite://{}", path.display()))?;
    store::migrate::run(&mut url.connect()?)?;
    if let Some(per) = arg("--bulk") {
        return bulk(&url, per.parse()?);
    }
    let writer = LogWriter::start(url, WriterConfig::default())?;
    let rt = tokio::runtime::Builder::new_current_thread().build()?;
    let records = 3_000u64;
    for waiters in [1u64, 4, 8, 16, 32] {
        let (c0, t0) = (cpu_ticks(Some("access-log"))?, Instant::now());
        rt.block_on(async {
            let tasks: Vec<_> = (0..waiters)
                .map(|w| {
                    let writer = writer.clone();
                    tokio::spawn(async move {
                        for i in 0..records / waiters {
                            writer.append(record(w << 32 | i)).await?;
                        }
                        Ok::<_, metering::writer::LogError>(())
                    })
                })
                .collect();
            for t in tasks {
                t.await??;
            }
            Ok::<_, Box<dyn Error>>(())
        })?;
        let n = records / waiters * waiters;
        println!(
            "{waiters:>2} concurrent waiters: {:>6.0} records/s, writer CPU {:>5.1} us per record",
            f64::from(u32::try_from(n)?) / t0.elapsed().max(Duration::from_micros(1)).as_secs_f64(),
            per_record(cpu_ticks(Some("access-log"))? - c0, n)
        );
    }
    Ok(())
}
