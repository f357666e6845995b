//! Administration until the data-request workflow exists: organisations,
//! client systems, users and grants, written straight to the database.
//! Values are parsed into the policy's types here, so nothing unknown is stored.
// Doc comments here are the CLI's help text, read by operators, not rustdoc.
#![allow(clippy::doc_markdown, reason = "doc comments are CLI help text")]

use std::path::PathBuf;

use anyhow::Context;
use chrono::NaiveDate;
use clap::{Args, Subcommand};
use sha2::{Digest, Sha256};
use store::DbConn;

use crate::identity::parse_enum;

#[derive(Args)]
pub struct Db {
    /// The registry database (`sqlite://PATH`, a file path or `postgres://...`).
    #[arg(
        long,
        env = "NSER__DATABASE__URL",
        default_value = "sqlite://var/demo/registry.db"
    )]
    pub database: String,
}

impl Db {
    fn connect(&self) -> anyhow::Result<DbConn> {
        let url = store::DatabaseUrl::parse(&self.database)?;
        let mut conn = url.connect()?;
        store::migrate::run(&mut conn)?;
        Ok(conn)
    }
}

#[derive(Subcommand)]
pub enum Orgs {
    /// Register an organisation.
    Add {
        #[command(flatten)]
        db: Db,
        #[arg(long)]
        name: String,
        /// federal_government, provincial_government, local_government,
        /// international_donor, local_ngo, ingo, private_business, citizen, other
        #[arg(long = "type")]
        org_type: String,
    },
    List {
        #[command(flatten)]
        db: Db,
    },
    /// Suspend (or with --active, restore) an organisation.
    Suspend {
        #[command(flatten)]
        db: Db,
        #[arg(long)]
        name: String,
        #[arg(long)]
        active: bool,
    },
}

#[derive(Subcommand)]
pub enum Clients {
    /// Register a client system by its certificate.
    Add(ClientAdd),
    List {
        #[command(flatten)]
        db: Db,
    },
    /// Disable (or with --enable, enable) a client system.
    Disable {
        #[command(flatten)]
        db: Db,
        #[arg(long)]
        name: String,
        #[arg(long)]
        enable: bool,
    },
    /// Bind a client system to a new certificate (rotation).
    Rotate {
        #[command(flatten)]
        db: Db,
        #[arg(long)]
        name: String,
        #[arg(long)]
        cert: PathBuf,
    },
}

#[derive(Args)]
pub struct ClientAdd {
    #[command(flatten)]
    pub db: Db,
    #[arg(long)]
    pub name: String,
    /// The organisation (created with --org-type if it does not exist).
    #[arg(long)]
    pub organisation: String,
    #[arg(long)]
    pub org_type: Option<String>,
    /// The client's PEM certificate; its SHA-256 identifies the client.
    #[arg(long)]
    pub cert: PathBuf,
    /// machine (acts as its service account) or portal (carries users).
    #[arg(long)]
    pub kind: String,
    /// The role a machine client acts with.
    #[arg(long, default_value = "standard")]
    pub service_role: String,
    /// Sustained requests per second.
    #[arg(long, default_value_t = 100)]
    pub rate: i32,
    /// Burst allowed above the rate.
    #[arg(long, default_value_t = 200)]
    pub burst: i32,
}

#[derive(Subcommand)]
pub enum Users {
    /// Register a user of an organisation; the password is read from standard
    /// input (one line) unless --password is given.
    Add(UserAdd),
    List {
        #[command(flatten)]
        db: Db,
    },
    /// Disable (or with --enable, enable) a user.
    Disable {
        #[command(flatten)]
        db: Db,
        #[arg(long)]
        username: String,
        #[arg(long)]
        enable: bool,
    },
}

#[derive(Args)]
pub struct UserAdd {
    #[command(flatten)]
    pub db: Db,
    #[arg(long)]
    pub username: String,
    #[arg(long)]
    pub organisation: String,
    /// power, standard or basic.
    #[arg(long)]
    pub role: String,
    #[arg(long)]
    pub full_name: String,
    #[arg(long)]
    pub designation: String,
    /// Level-3 scope: a district code.
    #[arg(long)]
    pub district: Option<i32>,
    /// Level-3 scope: a tehsil code.
    #[arg(long)]
    pub tehsil: Option<i32>,
    /// Comma-separated duties: finance, oversight.
    #[arg(long, default_value = "")]
    pub duties: String,
    #[arg(long, env = "NSER_USER_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
}

#[derive(Subcommand)]
pub enum Grants {
    /// Record an approved data-sharing grant.
    Add(GrantAdd),
    List {
        #[command(flatten)]
        db: Db,
    },
    Revoke {
        #[command(flatten)]
        db: Db,
        #[arg(long)]
        id: i64,
    },
}

#[derive(Args)]
pub struct GrantAdd {
    #[command(flatten)]
    pub db: Db,
    #[arg(long)]
    pub organisation: String,
    /// Comma-separated: cnic, address_parameters, pmt_range_address, pmt_by_cnic.
    #[arg(long)]
    pub search_types: String,
    /// Comma-separated: public, confidential, secret.
    #[arg(long)]
    pub classes: String,
    #[arg(long)]
    pub purpose: String,
    #[arg(long)]
    pub row_quota: i64,
    #[arg(long)]
    pub valid_from: NaiveDate,
    #[arg(long)]
    pub valid_to: NaiveDate,
    /// dg_nser, secretary_bisp or bisp_board.
    #[arg(long)]
    pub approved_by: String,
}

/// `key=value` lines, for `list` commands.
fn print_json<T: serde::Serialize>(rows: &[T]) {
    for r in rows {
        println!("{}", serde_json::to_string(r).unwrap_or_default());
    }
}

fn check<T: serde::de::DeserializeOwned>(what: &str, value: &str) -> anyhow::Result<()> {
    parse_enum::<T>(value)
        .map(|_| ())
        .map_err(|e| anyhow::anyhow!("{what}: {e}"))
}

fn check_list<T: serde::de::DeserializeOwned>(what: &str, value: &str) -> anyhow::Result<String> {
    let items: Vec<&str> = value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    anyhow::ensure!(!items.is_empty(), "{what}: give at least one");
    for i in &items {
        check::<T>(what, i)?;
    }
    Ok(items.join(","))
}

pub fn orgs(cmd: Orgs) -> anyhow::Result<()> {
    match cmd {
        Orgs::Add { db, name, org_type } => {
            check::<policy::OrganisationType>("--type", &org_type)?;
            let o = store::access::ensure_organisation(&mut db.connect()?, &name, &org_type)?;
            println!("organisation {} ({})", o.id, o.name);
        }
        Orgs::List { db } => print_json(&store::access::organisations(&mut db.connect()?)?),
        Orgs::Suspend { db, name, active } => {
            let standing = if active { "active" } else { "suspended" };
            anyhow::ensure!(
                store::access::set_organisation_standing(&mut db.connect()?, &name, standing)?,
                "no organisation {name:?}"
            );
            println!("{name}: {standing}");
        }
    }
    Ok(())
}

/// SHA-256 (hex) of the first certificate in a PEM file.
pub fn fingerprint(path: &std::path::Path) -> anyhow::Result<String> {
    let pem = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let der = rustls_pemfile::certs(&mut pem.as_slice())
        .next()
        .with_context(|| format!("{}: no PEM certificate", path.display()))??;
    Ok(hex::encode(Sha256::digest(&der)))
}

pub fn add_client(a: &ClientAdd) -> anyhow::Result<store::access::ClientSystem> {
    anyhow::ensure!(
        matches!(a.kind.as_str(), "machine" | "portal"),
        "--kind: machine or portal"
    );
    check::<policy::Role>("--service-role", &a.service_role)?;
    anyhow::ensure!(
        a.rate > 0 && a.burst > 0,
        "--rate and --burst must be positive"
    );
    let fp = fingerprint(&a.cert)?;
    let mut conn = a.db.connect()?;
    let org = match (
        store::access::organisation_by_name(&mut conn, &a.organisation)?,
        &a.org_type,
    ) {
        (Some(o), _) => o,
        (None, Some(t)) => {
            check::<policy::OrganisationType>("--org-type", t)?;
            store::access::ensure_organisation(&mut conn, &a.organisation, t)?
        }
        (None, None) => anyhow::bail!(
            "no organisation {:?}; give --org-type to create it",
            a.organisation
        ),
    };
    let client = store::access::add_client_system(
        &mut conn,
        &store::access::NewClientSystem {
            name: &a.name,
            organisation_id: org.id,
            kind: &a.kind,
            service_role: &a.service_role,
            cert_sha256: &fp,
            status: "active",
            rate_per_second: a.rate,
            burst: a.burst,
            created_at: chrono::Utc::now().naive_utc(),
        },
    )
    .with_context(|| {
        format!(
            "cannot register client {:?} (name or certificate already registered?)",
            a.name
        )
    })?;
    Ok(client)
}

pub fn clients(cmd: Clients) -> anyhow::Result<()> {
    match cmd {
        Clients::Add(a) => {
            let c = add_client(&a)?;
            println!(
                "client {} ({}), certificate sha256 {}",
                c.id, c.name, c.cert_sha256
            );
        }
        Clients::List { db } => {
            let rows: Vec<_> = store::access::client_systems(&mut db.connect()?)?
                .into_iter()
                .map(|(c, o)| serde_json::json!({ "client": c, "organisation": o.name }))
                .collect();
            print_json(&rows);
        }
        Clients::Disable { db, name, enable } => {
            let status = if enable { "active" } else { "disabled" };
            anyhow::ensure!(
                store::access::set_client_status(&mut db.connect()?, &name, status)?,
                "no client {name:?}"
            );
            println!("{name}: {status}");
        }
        Clients::Rotate { db, name, cert } => {
            let fp = fingerprint(&cert)?;
            anyhow::ensure!(
                store::access::set_client_certificate(&mut db.connect()?, &name, &fp)?,
                "no client {name:?}"
            );
            println!("{name}: certificate sha256 {fp}");
        }
    }
    Ok(())
}

pub fn add_user(a: &UserAdd, password: &str) -> anyhow::Result<store::access::User> {
    check::<policy::Role>("--role", &a.role)?;
    anyhow::ensure!(
        password.chars().count() >= 12,
        "passwords have at least 12 characters"
    );
    for d in a.duties.split(',').filter(|d| !d.is_empty()) {
        anyhow::ensure!(
            matches!(d, "finance" | "oversight"),
            "--duties: finance, oversight"
        );
    }
    let mut conn = a.db.connect()?;
    let org = store::access::organisation_by_name(&mut conn, &a.organisation)?
        .with_context(|| format!("no organisation {:?}", a.organisation))?;
    let hash = crate::auth::hash_password(password)?;
    let user = store::access::add_user(
        &mut conn,
        &store::access::NewUser {
            username: &a.username,
            password_hash: &hash,
            organisation_id: org.id,
            role: &a.role,
            duties: &a.duties,
            full_name: &a.full_name,
            designation: &a.designation,
            district_code: a.district,
            tehsil_code: a.tehsil,
            status: "active",
            failed_logins: 0,
            created_at: chrono::Utc::now().naive_utc(),
        },
    )
    .with_context(|| format!("cannot add user {:?} (already exists?)", a.username))?;
    Ok(user)
}

pub fn users(cmd: Users) -> anyhow::Result<()> {
    match cmd {
        Users::Add(a) => {
            let password = if let Some(p) = &a.password {
                p.clone()
            } else {
                let mut line = String::new();
                std::io::stdin().read_line(&mut line)?;
                line.trim_end_matches(['\r', '\n']).to_owned()
            };
            let u = add_user(&a, &password)?;
            println!("user {} ({})", u.id, u.username);
        }
        Users::List { db } => print_json(&store::access::users(&mut db.connect()?)?),
        Users::Disable {
            db,
            username,
            enable,
        } => {
            let status = if enable { "active" } else { "disabled" };
            anyhow::ensure!(
                store::access::set_user_status(&mut db.connect()?, &username, status)?,
                "no user {username:?}"
            );
            println!("{username}: {status}");
        }
    }
    Ok(())
}

pub fn add_grant(a: &GrantAdd) -> anyhow::Result<store::access::Grant> {
    let search_types = check_list::<policy::SearchType>("--search-types", &a.search_types)?;
    let classes = check_list::<policy::Class>("--classes", &a.classes)?;
    check::<policy::Forum>("--approved-by", &a.approved_by)?;
    anyhow::ensure!(
        a.valid_from <= a.valid_to,
        "--valid-from is after --valid-to"
    );
    anyhow::ensure!(a.row_quota >= 0, "--row-quota cannot be negative");
    anyhow::ensure!(!a.purpose.trim().is_empty(), "--purpose is required");
    let mut conn = a.db.connect()?;
    let org = store::access::organisation_by_name(&mut conn, &a.organisation)?
        .with_context(|| format!("no organisation {:?}", a.organisation))?;
    Ok(store::access::add_grant(
        &mut conn,
        &store::access::NewGrant {
            organisation_id: org.id,
            search_types: &search_types,
            classes: &classes,
            purpose: &a.purpose,
            row_quota: a.row_quota,
            valid_from: a.valid_from,
            valid_to: a.valid_to,
            approved_by: &a.approved_by,
            status: "active",
            created_at: chrono::Utc::now().naive_utc(),
        },
    )?)
}

pub fn grants(cmd: Grants) -> anyhow::Result<()> {
    match cmd {
        Grants::Add(a) => {
            let g = add_grant(&a)?;
            println!("grant {}", g.id);
        }
        Grants::List { db } => print_json(&store::access::grants(&mut db.connect()?)?),
        Grants::Revoke { db, id } => {
            anyhow::ensure!(
                store::access::revoke_grant(&mut db.connect()?, id)?,
                "no grant {id}"
            );
            println!("grant {id}: revoked");
        }
    }
    Ok(())
}
