//! Bills: `nser-gateway bills export|close|adjust`. The export itself
//! (`metering::bills::export`) is shared with `GET /v1/billing/bills`: an
//! open period is priced from the usage roll-up; a closed one is read back
//! from its stored lines.
// Doc comments here are the CLI's help text, read by operators, not rustdoc.
#![allow(clippy::doc_markdown, reason = "doc comments are CLI help text")]

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Subcommand, ValueEnum};
use metering::bills::{export, Period};
use metering::rates::RateCard;
use store::DbConn;

use crate::admin;

/// The sample rate card, built in: used when the default path is absent
/// (a gateway started outside the repository), never for a path configured
/// explicitly.
const SAMPLE_RATES: &str = include_str!("../../../deploy/rates.sample.toml");
/// The default `[billing] rates`.
pub const DEFAULT_RATES: &str = "deploy/rates.sample.toml";

/// Read and validate the rate card at `path`.
pub fn load_rate_card(path: &Path) -> anyhow::Result<RateCard> {
    match std::fs::read_to_string(path) {
        Ok(text) => RateCard::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && path == Path::new(DEFAULT_RATES) => {
            tracing::warn!(
                "{DEFAULT_RATES} not found: using the built-in SAMPLE rate card (not Board-approved)"
            );
            RateCard::parse(SAMPLE_RATES).map_err(|e| anyhow::anyhow!("built-in rate card: {e}"))
        }
        Err(e) => anyhow::bail!("cannot read rate card {}: {e}", path.display()),
    }
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    Csv,
    Json,
}

#[derive(Subcommand)]
pub enum Bills {
    /// Print a period's bill: one line per organisation, service and rate,
    /// totals, and the reconciliation with the access log.
    Export {
        #[command(flatten)]
        db: admin::Db,
        /// The month, YYYY-MM (UTC).
        #[arg(long)]
        period: String,
        #[arg(long, value_enum, default_value = "csv")]
        format: Format,
        /// Only this organisation (its id).
        #[arg(long)]
        organisation: Option<i64>,
        /// The rate card (TOML) for open periods.
        #[arg(long, env = "NSER__BILLING__RATES", default_value = DEFAULT_RATES)]
        rates: PathBuf,
    },
    /// Close a period that has ended: its bill is written and never changes again.
    Close {
        #[command(flatten)]
        db: admin::Db,
        #[arg(long)]
        period: String,
        #[arg(long, env = "NSER__BILLING__RATES", default_value = DEFAULT_RATES)]
        rates: PathBuf,
    },
    /// Add an adjustment line to a closed period (negative for a credit).
    Adjust {
        #[command(flatten)]
        db: admin::Db,
        #[arg(long)]
        period: String,
        /// The organisation's id.
        #[arg(long)]
        organisation: i64,
        #[arg(long, allow_hyphen_values = true)]
        amount_paisa: i64,
        /// Why: kept on the line for auditors.
        #[arg(long)]
        note: String,
    },
}

fn connect(db: &admin::Db) -> anyhow::Result<DbConn> {
    let url = store::DatabaseUrl::parse(&db.database)?;
    let mut conn = url.connect()?;
    store::migrate::run(&mut conn)?;
    crate::audit::replay_journal(&url)?;
    Ok(conn)
}

fn period(s: &str) -> anyhow::Result<Period> {
    Ok(Period::parse(s)?)
}

pub fn run(command: Bills) -> anyhow::Result<()> {
    match command {
        Bills::Export {
            db,
            period: p,
            format,
            organisation,
            rates,
        } => {
            let period = period(&p)?;
            let card = load_rate_card(&rates)?;
            let bill = export(&mut connect(&db)?, &card, period, organisation)?;
            match format {
                Format::Csv => print!("{}", bill.to_csv()),
                Format::Json => println!("{}", serde_json::to_string_pretty(&bill)?),
            }
            for w in &bill.warnings {
                eprintln!("warning: {w}");
            }
            Ok(())
        }
        Bills::Close {
            db,
            period: p,
            rates,
        } => {
            let period = period(&p)?;
            let today = chrono::Utc::now().date_naive();
            if period.end() > today {
                anyhow::bail!(
                    "period {period} has not ended (it ends {} 00:00 UTC); close it after that",
                    period.end()
                );
            }
            let card = load_rate_card(&rates)?;
            let mut conn = connect(&db)?;
            let bill = export(&mut conn, &card, period, None)?;
            if bill.closed_at.is_some() {
                anyhow::bail!("period {period} is already closed; correct it with `bills adjust`");
            }
            if !bill.warnings.is_empty() {
                anyhow::bail!(
                    "period {period} has usage the rate card does not price; fix the card and close again:\n  {}",
                    bill.warnings.join("\n  ")
                );
            }
            let closed = store::billing::close_period(
                &mut conn,
                &period.to_string(),
                &bill.charge_lines(),
                &bill.close_snapshot(),
            )?;
            println!(
                "closed {period}: {} lines, {} rows, {} paisa; {}",
                bill.lines.len(),
                closed.billed_rows,
                bill.totals.total_paisa,
                bill.reconciliation.statement
            );
            Ok(())
        }
        Bills::Adjust {
            db,
            period: p,
            organisation,
            amount_paisa,
            note,
        } => {
            let period = period(&p)?;
            if note.trim().is_empty() {
                anyhow::bail!("--note: say why the bill is adjusted");
            }
            if amount_paisa == 0 {
                anyhow::bail!("--amount-paisa: an adjustment of 0 changes nothing");
            }
            let line = store::billing::add_adjustment(
                &mut connect(&db)?,
                &period.to_string(),
                organisation,
                amount_paisa,
                note.trim(),
            )
            .context("adjustment refused")?;
            println!(
                "line {}: {period}, {} ({}), {} paisa: {}",
                line.id, line.organisation_name, line.organisation_id, line.amount_paisa, line.note
            );
            Ok(())
        }
    }
}
