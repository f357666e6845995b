//! `nser-gateway`: the NSER data-sharing gateway and its administration
//! commands.

mod admin;
mod audit;
mod auth;
mod bills;
mod cnic;
mod config;
mod demo;
mod error;
mod identity;
mod logfmt;
mod logsink;
mod openapi;
mod pki;
mod ratelimit;
mod routes;
mod search;
mod server;
mod tls;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{Config, LogFormat};

#[derive(Parser)]
#[command(
    name = "nser-gateway",
    version,
    about = "The NSER data-sharing gateway"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// `generate --layout` (synth's own enum stays free of clap).
#[derive(Clone, Copy, clap::ValueEnum)]
enum Layout {
    Survey,
    Scattered,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (mutual TLS) and the admin listener.
    Serve {
        /// A TOML configuration file; `NSER__SECTION__KEY` variables override it.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Run the demo: PKI, a generated registry and the gateway, all under var/demo/.
    Demo {
        /// Households to generate when var/demo/ holds no registry yet.
        #[arg(long, default_value_t = 100_000, value_parser = parse_households, allow_hyphen_values = true)]
        households: u64,
    },
    /// Apply pending migrations and exit.
    Migrate {
        #[arg(long)]
        database: String,
    },
    /// Write a synthetic registry (deterministic for a given seed).
    Generate {
        #[arg(long, value_parser = parse_households, allow_hyphen_values = true)]
        households: u64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long)]
        database: String,
        /// `survey`: ids given out area by area, as a survey gives them;
        /// `scattered`: each household in a union council drawn at random.
        #[arg(long, value_enum, default_value = "survey")]
        layout: Layout,
    },
    /// Demo certificates.
    Pki {
        #[command(subcommand)]
        command: PkiCommand,
    },
    /// Organisations (clientage levels 1-2).
    #[command(subcommand)]
    Orgs(admin::Orgs),
    /// Client systems, identified by their certificate.
    #[command(subcommand)]
    Clients(admin::Clients),
    /// Users of partner agencies.
    #[command(subcommand)]
    Users(admin::Users),
    /// Approved data-sharing grants.
    #[command(subcommand)]
    Grants(admin::Grants),
    /// Print the OpenAPI document.
    Openapi,
    /// The access log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Bills: export, close and adjust billing periods.
    #[command(subcommand)]
    Bills(bills::Bills),
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check the hash chain; names the first broken batch (exit code 1).
    Verify {
        #[command(flatten)]
        db: admin::Db,
        /// Start from the first batch committed on or after this day (UTC).
        #[arg(long)]
        from: Option<chrono::NaiveDate>,
    },
}

#[derive(Subcommand)]
enum PkiCommand {
    /// Create a demo CA, a localhost server certificate and the sample client
    /// certificates in DIR (kept if already complete).
    Init {
        #[arg(long)]
        dir: PathBuf,
    },
    /// Issue a client certificate NAME.crt/NAME.key from the CA in DIR.
    Issue {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        name: String,
        #[arg(long)]
        organisation: String,
        /// First valid day, relative to today (negative for the past).
        #[arg(long, default_value_t = 0, allow_hyphen_values = true)]
        from_days: i64,
        #[arg(long, default_value_t = 365)]
        days: i64,
    },
    /// Revoke DIR/NAME.crt: (re)write DIR/crl.pem.
    Revoke {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        name: String,
    },
}

/// Household counts: a clear one-line refusal for 0, negatives and absurd sizes.
fn parse_households(s: &str) -> Result<u64, String> {
    let n: i128 = s
        .trim()
        .replace('_', "")
        .parse()
        .map_err(|_| format!("{s:?} is not a whole number"))?;
    if n < 1 || n > i128::from(synth::MAX_HOUSEHOLDS) {
        return Err(format!(
            "must be between 1 and {} (got {n})",
            synth::MAX_HOUSEHOLDS
        ));
    }
    u64::try_from(n).map_err(|e| e.to_string())
}

/// Log to stderr through [`logsink`]; the returned guard writes out what
/// is still queued when dropped.
fn init_logging(format: LogFormat, filter: &str) -> logsink::Flush {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_env("NSER_LOG")
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(filter))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours for a person at a terminal, not escape codes in a log file.
    let ansi = std::io::stderr().is_terminal();
    let (sink, flush) = logsink::start();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(sink);
    match format {
        LogFormat::Json => builder
            .fmt_fields(tracing_subscriber::fmt::format::JsonFields::new())
            .event_format(logfmt::Line { json: true })
            .init(),
        LogFormat::Human => builder
            .fmt_fields(logfmt::Fields)
            .event_format(logfmt::Line { json: false })
            .init(),
    }
    flush
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve { config } => {
            let config = Config::load(config.as_deref(), std::env::vars())?;
            let _log = init_logging(config.log.format, &config.log.filter);
            serve(config)
        }
        Command::Demo { households } => {
            let _log = init_logging(LogFormat::Human, "info");
            let config = demo::prepare(households)?;
            serve(config)
        }
        Command::Migrate { database } => {
            let url = store::DatabaseUrl::parse(&database)?;
            let mut conn = url.connect()?;
            let applied = store::migrate::run(&mut conn)?;
            if applied.is_empty() {
                println!("{}: up to date", url.redacted());
            } else {
                println!("{}: applied {}", url.redacted(), applied.join(", "));
            }
            Ok(())
        }
        Command::Generate {
            households,
            seed,
            database,
            layout,
        } => {
            let url = store::DatabaseUrl::parse(&database)?;
            let layout = match layout {
                Layout::Survey => synth::Layout::Survey,
                Layout::Scattered => synth::Layout::Scattered,
            };
            demo::generate(&url, households, seed, layout)
        }
        Command::Pki { command } => match command {
            PkiCommand::Init { dir } => {
                let created = pki::ensure_demo_pki(&dir)?;
                let what = if created {
                    "created"
                } else {
                    "already complete"
                };
                println!("{}: {what}", dir.display());
                Ok(())
            }
            PkiCommand::Issue {
                dir,
                name,
                organisation,
                from_days,
                days,
            } => pki::issue(&dir, &name, &organisation, from_days, days),
            PkiCommand::Revoke { dir, name } => pki::revoke(&dir, &name),
        },
        Command::Orgs(c) => admin::orgs(c),
        Command::Clients(c) => admin::clients(c),
        Command::Users(c) => admin::users(c),
        Command::Grants(c) => admin::grants(c),
        Command::Audit(AuditCommand::Verify { db, from }) => {
            let url = store::DatabaseUrl::parse(&db.database)?;
            let mut conn = url.connect()?;
            if let store::DbConn::Sqlite(c) = &mut conn {
                store::logfile::require(c)?;
            }
            audit::replay_journal(&url)?;
            let from = from.and_then(|d| d.and_hms_opt(0, 0, 0));
            match metering::verify::verify(&mut conn, from)? {
                metering::verify::Verdict::Intact { batches, records } => {
                    println!("intact: {batches} batches, {records} records");
                    Ok(())
                }
                metering::verify::Verdict::Broken { batch_id, reason } => {
                    anyhow::bail!("the access log is broken at batch {batch_id}: {reason}")
                }
            }
        }
        Command::Bills(c) => bills::run(c),
        Command::Openapi => {
            print!("{}", openapi::document());
            Ok(())
        }
    }
}

fn serve(config: Config) -> anyhow::Result<()> {
    actix_web::rt::System::new().block_on(server::run(config))
}
