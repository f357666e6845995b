//! `nser-gateway demo`: everything a newcomer needs under `var/demo/`, then
//! the gateway itself.

use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::config::Config;
use crate::pki;

const DEMO_DIR: &str = "var/demo";
const DEMO_SEED: u64 = 2026;

/// Create the PKI and registry if missing; return the configuration to serve.
pub fn prepare(households: u64) -> anyhow::Result<Config> {
    let dir = Path::new(DEMO_DIR);
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {DEMO_DIR}"))?;
    let pki_dir = dir.join("pki");
    if pki::ensure_demo_pki(&pki_dir)? {
        println!("demo PKI created in {}", pki_dir.display());
    }
    let config = Config::load(None, std::env::vars())?;
    let url = store::DatabaseUrl::parse(&config.database.url)?;
    let existing = match &url {
        store::DatabaseUrl::Sqlite(p) if !p.exists() => 0,
        _ => {
            let mut conn = url.connect()?;
            store::migrate::run(&mut conn)?;
            store::registry::household_count(&mut conn)?
        }
    };
    if existing == 0 {
        generate(&url, households, DEMO_SEED)?;
    } else {
        println!("registry {}: {existing} households", url.redacted());
    }
    print_guide(&config);
    Ok(config)
}

/// Generate with a progress bar on a terminal.
pub fn generate(url: &store::DatabaseUrl, households: u64, seed: u64) -> anyhow::Result<()> {
    let bar = ProgressBar::with_draw_target(Some(households), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} generating [{bar:40}] {pos}/{len} households ({per_sec}, eta {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    let started = Instant::now();
    let summary = synth::write_registry(url, households, seed, &mut |done| bar.set_position(done));
    bar.finish_and_clear();
    let summary = summary?;
    let secs = started.elapsed().as_secs_f64();
    #[allow(clippy::cast_precision_loss, reason = "a rate for display")]
    let rate = summary.households as f64 / secs.max(1e-9);
    println!(
        "generated {} households, {} members into {} in {secs:.1}s ({rate:.0} households/s)",
        summary.households,
        summary.members,
        url.redacted()
    );
    Ok(())
}

fn print_guide(config: &Config) {
    let pki = "var/demo/pki";
    let base = format!("https://{}", config.server.listen);
    println!();
    println!("Try it (from the repository root, in another terminal):");
    println!(
        "  curl --cacert {pki}/ca.crt --cert {pki}/usc-till.crt --key {pki}/usc-till.key {base}/v1/status"
    );
    println!("  curl http://{}/readyz", config.server.admin_listen);
    println!("Without a client certificate the TLS handshake is refused:");
    println!("  curl --cacert {pki}/ca.crt {base}/v1/status");
    println!();
}
