//! Configuration: one TOML file plus `NSER__SECTION__KEY` environment
//! overrides. Every key has a default that makes the demo work with no file;
//! unknown keys are an error, so a typo never silently falls back to a default.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The whole configuration.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: Server,
    pub database: Database,
    pub tls: Tls,
    pub auth: Auth,
    pub policy: PolicyConfig,
    pub log: Log,
    pub billing: Billing,
    /// Programmes whose PMT cut-off the till's answer reports eligibility for.
    pub programmes: Vec<Programme>,
}

/// Users' sign-in and tokens.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Auth {
    /// PKCS#8 PEM Ed25519 key that signs tokens (`pki init` makes one).
    pub signing_key: PathBuf,
    pub token_ttl_seconds: i64,
    /// Consecutive wrong passwords that lock an account.
    pub max_failed_logins: i32,
    pub lockout_minutes: i64,
}

/// The policy's inputs.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    /// The classification catalogue; the one built into the binary when absent.
    pub catalogue: Option<PathBuf>,
    /// The server secret that keys pseudonyms and Basic samples (at least 32
    /// bytes, hex); `pki init` makes one.
    pub pseudonym_key: PathBuf,
}

/// Billing.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Billing {
    /// The rate card (TOML) open periods are billed by; see docs/billing.md.
    pub rates: PathBuf,
}

impl Default for Billing {
    fn default() -> Self {
        Self {
            rates: PathBuf::from(crate::bills::DEFAULT_RATES),
        }
    }
}

/// A programme and its eligibility cut-off on the PMT score.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Programme {
    pub name: String,
    pub pmt_cutoff: f64,
}

/// The listeners.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Server {
    /// The mutual-TLS API listener.
    pub listen: SocketAddr,
    /// The plain-HTTP listener for `/healthz` and `/readyz` (keep it on loopback
    /// or a cluster-internal interface).
    pub admin_listen: SocketAddr,
    /// HTTP worker threads; 0 means one per core.
    pub workers: usize,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
}

/// The registry database.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Database {
    /// `sqlite://PATH`, a file path, or `postgres://...`.
    pub url: String,
    pub pool_size: u32,
}

/// Certificates: the server's own, and the trust anchors client certificates
/// must chain to.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Tls {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub client_ca: PathBuf,
    /// Certificate revocation lists (PEM), checked for every client certificate.
    pub crl: Option<PathBuf>,
}

/// Application logs (never the access log, which lives in the database).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Log {
    /// `human` or `json`.
    pub format: LogFormat,
    /// A `tracing` filter such as `info` or `api=debug,info`.
    pub filter: String,
    /// Access log: the most records committed in one batch.
    pub access_batch_max: usize,
    /// Access log: how long (µs) the first record of a batch waits for
    /// others while requests arrive together (a batch before held more than
    /// one); 0 commits whatever has arrived at once (group commit).
    pub access_window_micros: u64,
    /// Access log on SQLite: `full` fsyncs every commit (survives power
    /// loss); `normal` survives a crash of the process only.
    pub access_sqlite_synchronous: SqliteSync,
    /// Access log on SQLite: answer once the record is in the journal beside
    /// the database (one synchronous write per batch), which a second thread
    /// applies to the database; `false` answers once the database has
    /// committed it. Ignored on PostgreSQL.
    pub access_journal: bool,
    /// Bytes preallocated for the journal (records not yet applied must fit).
    pub access_journal_bytes: u64,
    /// When the database has not applied a journaled batch for this long
    /// (locked, read-only, full), requests are refused with 503.
    pub access_journal_max_lag_millis: u64,
    /// How long journaled batches gather before the database applies them
    /// in one transaction (a reader of the log cuts it short).
    pub access_journal_apply_millis: u64,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SqliteSync {
    Full,
    Normal,
}

impl Log {
    pub fn writer(&self) -> metering::writer::WriterConfig {
        metering::writer::WriterConfig {
            max_batch: self.access_batch_max.max(1),
            window: std::time::Duration::from_micros(self.access_window_micros),
            sqlite_full_sync: self.access_sqlite_synchronous == SqliteSync::Full,
            journal: self
                .access_journal
                .then(|| metering::writer::JournalConfig {
                    capacity: self.access_journal_bytes.max(1 << 20),
                    max_lag: std::time::Duration::from_millis(
                        self.access_journal_max_lag_millis.max(1),
                    ),
                    apply_interval: std::time::Duration::from_millis(
                        self.access_journal_apply_millis,
                    ),
                }),
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Human,
    Json,
}

impl Default for Server {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8443)),
            admin_listen: SocketAddr::from(([127, 0, 0, 1], 9090)),
            workers: 0,
            max_body_bytes: 1024 * 1024,
        }
    }
}

impl Default for Database {
    fn default() -> Self {
        Self {
            url: "sqlite://var/demo/registry.db".into(),
            pool_size: 8,
        }
    }
}

impl Default for Tls {
    fn default() -> Self {
        let pki = Path::new("var/demo/pki");
        Self {
            cert: pki.join("server.crt"),
            key: pki.join("server.key"),
            client_ca: pki.join("ca.crt"),
            crl: None,
        }
    }
}

impl Default for Auth {
    fn default() -> Self {
        Self {
            signing_key: Path::new("var/demo/pki").join("token-signing.key"),
            token_ttl_seconds: 600,
            max_failed_logins: 5,
            lockout_minutes: 15,
        }
    }
}

impl Default for PolicyConfig {
    fn default() -> Self {
        Self {
            catalogue: None,
            pseudonym_key: Path::new("var/demo/pki").join("pseudonym.key"),
        }
    }
}

impl Default for Log {
    fn default() -> Self {
        Self {
            format: LogFormat::Human,
            filter: "info".into(),
            access_batch_max: 1_000,
            access_window_micros: u64::try_from(
                metering::writer::WriterConfig::default().window.as_micros(),
            )
            .unwrap_or(0),
            access_sqlite_synchronous: SqliteSync::Full,
            access_journal: true,
            access_journal_bytes: metering::writer::JournalConfig::default().capacity,
            access_journal_max_lag_millis: 10_000,
            access_journal_apply_millis: 20,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            server: Server::default(),
            database: Database::default(),
            tls: Tls::default(),
            auth: Auth::default(),
            policy: PolicyConfig::default(),
            log: Log::default(),
            billing: Billing::default(),
            // The Kafaalat cut-off in force; the demo needs no file.
            programmes: vec![Programme {
                name: "kafaalat".into(),
                pmt_cutoff: 32.0,
            }],
        }
    }
}

const ENV_PREFIX: &str = "NSER__";

impl Config {
    /// Read `path` (if given), then apply `NSER__SECTION__KEY` overrides from `env`.
    pub fn load(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> anyhow::Result<Self> {
        let mut table = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| anyhow::anyhow!("cannot read config {}: {e}", p.display()))?;
                text.parse::<toml::Table>()
                    .map_err(|e| anyhow::anyhow!("config {}: {e}", p.display()))?
            }
            None => toml::Table::new(),
        };
        for (key, value) in env {
            let Some(rest) = key.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            let parts: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
            let [section, field] = parts.as_slice() else {
                anyhow::bail!("environment variable {key}: expected NSER__SECTION__KEY");
            };
            let entry = table
                .entry(section.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            let toml::Value::Table(section_table) = entry else {
                anyhow::bail!("environment variable {key}: [{section}] is not a section");
            };
            section_table.insert(field.clone(), env_value(&value));
        }
        Config::deserialize(toml::Value::Table(table))
            .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))
    }
}

/// Environment values are strings; numbers and booleans are recognised so
/// `NSER__SERVER__WORKERS=4` works.
fn env_value(v: &str) -> toml::Value {
    if let Ok(i) = v.parse::<i64>() {
        toml::Value::Integer(i)
    } else if let Ok(b) = v.parse::<bool>() {
        toml::Value::Boolean(b)
    } else {
        toml::Value::String(v.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_need_no_file() {
        let c = Config::load(None, env(&[])).unwrap();
        assert_eq!(c, Config::default());
    }

    #[test]
    fn environment_overrides_file_values() {
        let c = Config::load(
            None,
            env(&[
                ("NSER__DATABASE__URL", "postgres://h/db"),
                ("NSER__SERVER__WORKERS", "3"),
            ]),
        )
        .unwrap();
        assert_eq!(c.database.url, "postgres://h/db");
        assert_eq!(c.server.workers, 3);
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = Config::load(None, env(&[("NSER__DATABASE__URLL", "x")])).unwrap_err();
        assert!(err.to_string().contains("urll"), "{err}");
    }
}
