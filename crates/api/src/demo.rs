//! `nser-gateway demo`: everything a newcomer needs under `var/demo/`, then
//! the gateway itself.

use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::config::Config;
use crate::{admin, pki};

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
        store::DatabaseUrl::Sqlite(p) if !p.exists() => {
            // The demo registry was deleted to start afresh: its access
            // journal and its access log's file go with it (a gateway
            // refuses a journal that is not its database's chain, and a
            // log's file without its registry). Only the demo does this.
            let files = metering::journal::path_for(&url).into_iter();
            for file in files.chain(url.access_log_path()) {
                if file.exists() {
                    std::fs::remove_file(&file)
                        .with_context(|| format!("cannot remove {}", file.display()))?;
                    println!("removed {} (its registry is gone)", file.display());
                }
            }
            0
        }
        _ => {
            let mut conn = url.connect()?;
            store::migrate::run(&mut conn)?;
            store::registry::household_count(&mut conn)?
        }
    };
    if existing == 0 {
        generate(&url, households, DEMO_SEED, synth::Layout::Survey)?;
    } else {
        println!("registry {}: {existing} households", url.redacted());
    }
    register(
        &config.database.url,
        &pki_dir,
        &dir.join("credentials.json"),
    )?;
    print_guide(&config, &dir.join("credentials.json"));
    Ok(config)
}

/// The sample client systems: certificate name, organisation, its type,
/// kind. `pki init` issues their certificates; the demo registers them.
pub const CLIENTS: &[(&str, &str, &str, &str)] = &[
    (
        "usc-till",
        "Utility Stores Corporation",
        "federal_government",
        "machine",
    ),
    (
        "fed-ministry",
        "Ministry of Poverty Alleviation and Social Safety",
        "federal_government",
        "portal",
    ),
    ("ngo", "Akhuwat Foundation", "local_ngo", "portal"),
    (
        "bank",
        "HBL Microfinance Bank",
        "private_business",
        "portal",
    ),
    (
        "bisp-finance",
        "Benazir Income Support Programme",
        "federal_government",
        "portal",
    ),
    (
        "nadra-feed",
        "National Database and Registration Authority",
        "federal_government",
        "machine",
    ),
];

/// A sample user: username, role, duties, full name, designation, client certificate.
const USERS: &[(&str, &str, &str, &str, &str, &str)] = &[
    (
        "fed.power",
        "power",
        "",
        "Ayesha Siddiqa",
        "Deputy Secretary (Social Protection)",
        "fed-ministry",
    ),
    (
        "ngo.standard",
        "standard",
        "",
        "Kamran Ashraf",
        "Programme Officer",
        "ngo",
    ),
    (
        "bank.basic",
        "basic",
        "",
        "Sana Javed",
        "Analyst, Financial Inclusion",
        "bank",
    ),
    (
        "bisp.finance",
        "standard",
        "finance",
        "Tariq Mehmood",
        "Deputy Director (Finance)",
        "bisp-finance",
    ),
    (
        "bisp.auditor",
        "standard",
        "oversight",
        "Nighat Parveen",
        "Director (Internal Audit)",
        "bisp-finance",
    ),
];

/// A sample grant: organisation, search types, classes, approving forum, row quota, purpose.
const GRANTS: &[(&str, &str, &str, &str, i64, &str)] = &[
    (
        "Utility Stores Corporation",
        "pmt_by_cnic",
        "confidential",
        "secretary_bisp",
        10_000_000,
        "targeted subsidy at USC outlets",
    ),
    (
        "Ministry of Poverty Alleviation and Social Safety",
        "cnic,address_parameters,pmt_range_address",
        "confidential,secret",
        "secretary_bisp",
        100_000,
        "social protection policy and programme design",
    ),
    (
        "Akhuwat Foundation",
        "cnic,address_parameters,pmt_range_address",
        "confidential",
        "dg_nser",
        10_000,
        "interest-free microfinance targeting",
    ),
    (
        "HBL Microfinance Bank",
        "cnic,address_parameters",
        "confidential",
        "dg_nser",
        1_000,
        "financial inclusion of beneficiaries",
    ),
    (
        "Benazir Income Support Programme",
        "cnic,address_parameters,pmt_range_address,pmt_by_cnic",
        "confidential,secret",
        "bisp_board",
        1_000_000,
        "BISP operations, finance and oversight",
    ),
];

#[derive(serde::Serialize, serde::Deserialize)]
struct Credential {
    username: String,
    password: String,
    role: String,
    organisation: String,
    client_certificate: String,
}

/// Register the sample clients, users and grants (once) through the same
/// functions the `clients`, `users` and `grants` commands use, and write the
/// users' credentials for scripts.
fn register(database: &str, pki: &Path, credentials: &Path) -> anyhow::Result<()> {
    let url = store::DatabaseUrl::parse(database)?;
    if !store::access::client_systems(&mut url.connect()?)?.is_empty() {
        return Ok(());
    }
    let db = || admin::Db {
        database: database.to_owned(),
    };
    for (name, org, org_type, kind) in CLIENTS {
        admin::add_client(&admin::ClientAdd {
            db: db(),
            name: (*name).into(),
            organisation: (*org).into(),
            org_type: Some((*org_type).into()),
            cert: pki.join(format!("{name}.crt")),
            kind: (*kind).into(),
            service_role: "standard".into(),
            rate: 1_000,
            burst: 2_000,
        })?;
    }
    let mut creds = Vec::new();
    for (username, role, duties, full_name, designation, client) in USERS {
        let org = CLIENTS.iter().find(|c| c.0 == *client).map_or("", |c| c.1);
        let password = random_password();
        admin::add_user(
            &admin::UserAdd {
                db: db(),
                username: (*username).into(),
                organisation: org.into(),
                role: (*role).into(),
                full_name: (*full_name).into(),
                designation: (*designation).into(),
                district: None,
                tehsil: None,
                duties: (*duties).into(),
                password: None,
            },
            &password,
        )?;
        creds.push(Credential {
            username: (*username).into(),
            password,
            role: (*role).into(),
            organisation: org.into(),
            client_certificate: (*client).into(),
        });
    }
    let today = chrono::Utc::now().date_naive();
    for (org, search_types, classes, approved_by, row_quota, purpose) in GRANTS {
        admin::add_grant(&admin::GrantAdd {
            db: db(),
            organisation: (*org).into(),
            search_types: (*search_types).into(),
            classes: (*classes).into(),
            purpose: (*purpose).into(),
            row_quota: *row_quota,
            valid_from: today - chrono::Duration::days(30),
            valid_to: today + chrono::Duration::days(365),
            approved_by: (*approved_by).into(),
        })?;
    }
    std::fs::write(credentials, serde_json::to_string_pretty(&creds)?)
        .with_context(|| format!("cannot write {}", credentials.display()))?;
    println!(
        "sample clients, users and grants registered; credentials in {}",
        credentials.display()
    );
    Ok(())
}

fn random_password() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rngs::OsRng;
    (0..20)
        .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
        .collect()
}

/// Generate with a progress bar on a terminal.
pub fn generate(
    url: &store::DatabaseUrl,
    households: u64,
    seed: u64,
    layout: synth::Layout,
) -> anyhow::Result<()> {
    let bar = ProgressBar::with_draw_target(Some(households), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} generating [{bar:40}] {pos}/{len} households ({per_sec}, eta {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    let started = Instant::now();
    let summary = synth::write_registry(url, households, seed, layout, &mut |done| {
        bar.set_position(done);
    });
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

fn print_guide(config: &Config, credentials: &Path) {
    let pki = "var/demo/pki";
    let base = format!("https://{}", config.server.listen);
    let cnic = sample_cnic(&config.database.url).unwrap_or_else(|| "35202-1234567-1".into());
    let creds: Vec<Credential> = std::fs::read(credentials)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let curl = |client: &str| {
        format!("curl -s --cacert {pki}/ca.crt --cert {pki}/{client}.crt --key {pki}/{client}.key")
    };
    println!();
    println!("Try it from the repository root, in another terminal:");
    println!("  # a USC till asks a PMT score (machine client: no password, no token)");
    println!("  {} {base}/v1/pmt/{cnic}", curl("usc-till"));
    for c in &creds {
        println!(
            "  # {} ({} user of {}) signs in, then pulls the household",
            c.username, c.role, c.organisation
        );
        println!(
            "  TOKEN=$({} -H 'content-type: application/json' -d '{{\"username\":\"{}\",\"password\":\"{}\"}}' {base}/v1/auth/token | sed 's/.*\"access_token\":\"\\([^\"]*\\)\".*/\\1/')",
            curl(&c.client_certificate),
            c.username,
            c.password
        );
        println!("  {} -H \"Authorization: Bearer $TOKEN\" '{base}/v1/households/by-cnic/{cnic}?explain=true'", curl(&c.client_certificate));
    }
    println!("  # health, on the plain-HTTP admin listener");
    println!("  curl http://{}/readyz", config.server.admin_listen);
    println!("  # without a client certificate the TLS handshake is refused");
    println!("  curl --cacert {pki}/ca.crt {base}/v1/whoami");
    println!(
        "Credentials of every sample user: {}",
        credentials.display()
    );
    println!();
}

/// The CNIC of the first registered member, to make the examples copy-paste.
fn sample_cnic(database: &str) -> Option<String> {
    let url = store::DatabaseUrl::parse(database).ok()?;
    let mut conn = url.connect().ok()?;
    let rec = store::registry::household(&mut conn, 1).ok()??;
    let d = &rec.members.first()?.cnic;
    Some(format!("{}-{}-{}", &d[..5], &d[5..12], &d[12..]))
}
