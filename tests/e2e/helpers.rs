//! Start the real binary on free ports with its own PKI and database, and
//! register clients, users and grants through its own CLI.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use store::testing::{TempDir, TestDb};

pub const BIN: &str = env!("CARGO_BIN_EXE_nser-gateway");

/// A password every test user gets (at least 12 characters).
pub const PASSWORD: &str = "correct horse battery staple";

/// Run the binary to completion; panic with its output if it fails.
pub fn run_ok(args: &[&str], cwd: &Path) -> String {
    let out = Command::new(BIN)
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Extra configuration for a gateway; `{pki}` in any of the strings is
/// replaced by the PKI directory.
#[derive(Default)]
pub struct Options {
    /// Lines added to `[server]`.
    pub server: String,
    /// Lines added to `[tls]`.
    pub tls: String,
    /// TOML appended at the end (e.g. `[[programmes]]`).
    pub tail: String,
}

/// A PKI and a generated registry, before the gateway serves them; the CLI
/// helpers register clients, users and grants into its database.
pub struct Setup {
    pub dir: TempDir,
    pub db: TestDb,
    /// The admin address of the gateway serving this database, if one runs.
    admin: std::sync::Mutex<Option<String>>,
}

impl Setup {
    /// `pki init` in a temp dir and `generate` a registry of `households`.
    pub fn new(db: TestDb, households: u64) -> Self {
        Self::with_layout(db, households, "survey")
    }

    /// The same with `generate --layout layout` (survey or scattered).
    pub fn with_layout(db: TestDb, households: u64, layout: &str) -> Self {
        let dir = TempDir::new("e2e");
        let pki = dir.0.join("pki");
        run_ok(&["pki", "init", "--dir", pki.to_str().unwrap()], &dir.0);
        run_ok(
            &[
                "generate",
                "--households",
                &households.to_string(),
                "--seed",
                "11",
                "--layout",
                layout,
                "--database",
                &db.url_string,
            ],
            &dir.0,
        );
        Self {
            dir,
            db,
            admin: std::sync::Mutex::new(None),
        }
    }

    /// With a gateway running: wait until its access log's database holds
    /// every record answered so far (the access journal applied), so that
    /// reading the database directly sees them.
    pub fn settle(&self) {
        let Some(admin) = self.admin.lock().unwrap().clone() else {
            return;
        };
        let Ok(res) = reqwest::blocking::Client::new()
            .post(format!("{admin}/log/flush"))
            .send()
        else {
            // Not running (killed by the test): its successor replays the journal.
            return;
        };
        assert_eq!(res.status(), 200, "log flush: {}", res.text().unwrap());
    }

    pub fn pki(&self) -> PathBuf {
        self.dir.0.join("pki")
    }

    /// Run an administration command against this database.
    pub fn cli(&self, args: &[&str]) -> String {
        self.settle();
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--database", &self.db.url_string]);
        run_ok(&all, &self.dir.0)
    }

    /// A database connection for oracles (after [`Setup::settle`]).
    pub fn conn(&self) -> store::DbConn {
        self.settle();
        self.db.url.connect().unwrap()
    }

    /// `pki issue` a client certificate `name` valid from `from_days` for `days`.
    pub fn issue(&self, name: &str, org: &str, from_days: i64, days: i64) {
        run_ok(
            &[
                "pki",
                "issue",
                "--dir",
                self.pki().to_str().unwrap(),
                "--name",
                name,
                "--organisation",
                org,
                "--from-days",
                &from_days.to_string(),
                "--days",
                &days.to_string(),
            ],
            &self.dir.0,
        );
    }

    /// `clients add` for the certificate `pki/NAME.crt`, creating the
    /// organisation; `extra` adds options (`--rate`, `--service-role`, ...).
    /// Returns the client's id.
    pub fn add_client(
        &self,
        name: &str,
        org: &str,
        org_type: &str,
        kind: &str,
        extra: &[&str],
    ) -> i64 {
        let cert = self.pki().join(format!("{name}.crt"));
        let mut args = vec![
            "clients",
            "add",
            "--name",
            name,
            "--organisation",
            org,
            "--org-type",
            org_type,
            "--cert",
            cert.to_str().unwrap(),
            "--kind",
            kind,
        ];
        args.extend(extra);
        let out = self.cli(&args);
        // "client ID (NAME), certificate sha256 ..."
        out.strip_prefix("client ")
            .and_then(|s| s.split_whitespace().next())
            .and_then(|id| id.parse().ok())
            .unwrap_or_else(|| panic!("unexpected clients add output: {out}"))
    }

    /// Issue a certificate and register it as a client (see [`Setup::add_client`]).
    pub fn new_client(
        &self,
        name: &str,
        org: &str,
        org_type: &str,
        kind: &str,
        extra: &[&str],
    ) -> i64 {
        self.issue(name, org, 0, 365);
        self.add_client(name, org, org_type, kind, extra)
    }

    /// `users add` with [`PASSWORD`].
    pub fn add_user(&self, username: &str, org: &str, role: &str) {
        self.cli(&[
            "users",
            "add",
            "--username",
            username,
            "--organisation",
            org,
            "--role",
            role,
            "--full-name",
            "Test User",
            "--designation",
            "Tester",
            "--password",
            PASSWORD,
        ]);
    }

    /// `grants add`, valid from 30 days ago for a year; returns the grant id.
    pub fn add_grant(&self, org: &str, search_types: &str, classes: &str) -> i64 {
        self.add_grant_with(org, search_types, classes, 1000, "dg_nser")
    }

    /// `grants add` with a row quota and approving forum of the caller's choosing.
    pub fn add_grant_with(
        &self,
        org: &str,
        search_types: &str,
        classes: &str,
        quota: u64,
        forum: &str,
    ) -> i64 {
        let (from, to) = grant_validity();
        let out = self.cli(&[
            "grants",
            "add",
            "--organisation",
            org,
            "--search-types",
            search_types,
            "--classes",
            classes,
            "--purpose",
            "end-to-end test",
            "--row-quota",
            &quota.to_string(),
            "--valid-from",
            &from.to_string(),
            "--valid-to",
            &to.to_string(),
            "--approved-by",
            forum,
        ]);
        out.trim()
            .strip_prefix("grant ")
            .and_then(|id| id.parse().ok())
            .unwrap_or_else(|| panic!("unexpected grants add output: {out}"))
    }

    /// An HTTPS client trusting the test CA and presenting `pki/NAME.crt`.
    pub fn client(&self, name: Option<&str>) -> reqwest::blocking::Client {
        client_with(
            &self.pki(),
            name.map(|n| {
                (
                    self.pki().join(format!("{n}.crt")),
                    self.pki().join(format!("{n}.key")),
                )
            }),
        )
    }

    /// Write the configuration and `serve` it on free ports.
    pub fn serve(self, opts: &Options) -> Gateway {
        let pki = self.pki();
        let p = pki.display().to_string();
        let config = self.dir.0.join("gateway.toml");
        let text = format!(
            "[server]\nlisten = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\nworkers = 2\n{server}\n\n\
             [database]\nurl = \"{url}\"\npool_size = 4\n\n\
             [tls]\ncert = \"{p}/server.crt\"\nkey = \"{p}/server.key\"\nclient_ca = \"{p}/ca.crt\"\n{tls}\n\n\
             [auth]\nsigning_key = \"{p}/token-signing.key\"\n\n\
             [policy]\npseudonym_key = \"{p}/pseudonym.key\"\n\n{tail}\n",
            server = opts.server,
            tls = opts.tls,
            tail = opts.tail,
            url = self.db.url_string,
        )
        .replace("{pki}", &p);
        std::fs::write(&config, text).unwrap();
        let mut child = Command::new(BIN)
            .args(["serve", "--config", config.to_str().unwrap()])
            .current_dir(&self.dir.0)
            .stdout(Stdio::piped())
            .stderr(log_file(&self.dir.0))
            .spawn()
            .unwrap();
        let (base, admin) = read_addresses(&mut child);
        *self.admin.lock().unwrap() = Some(admin.clone());
        Gateway {
            setup: self,
            base,
            admin,
            child,
        }
    }
}

/// The gateway's stderr (its operational log), appended to across restarts.
fn log_file(dir: &Path) -> std::fs::File {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("gateway.err"))
        .unwrap()
}

/// The validity every test grant gets.
pub fn grant_validity() -> (chrono::NaiveDate, chrono::NaiveDate) {
    let today = chrono::Utc::now().date_naive();
    (
        today - chrono::Duration::days(30),
        today + chrono::Duration::days(365),
    )
}

/// A running gateway, killed on drop.
pub struct Gateway {
    pub setup: Setup,
    pub base: String,
    pub admin: String,
    child: Child,
}

impl Deref for Gateway {
    type Target = Setup;
    fn deref(&self) -> &Setup {
        &self.setup
    }
}

impl Gateway {
    /// PKI in a temp dir, a small registry, then `serve` on free ports.
    pub fn start(db: TestDb) -> Self {
        Setup::new(db, 300).serve(&Options::default())
    }

    /// Kill the process with SIGKILL (no shutdown of any kind), wait for it,
    /// and start it again on the same configuration and database.
    pub fn crash_and_restart(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        let config = self.setup.dir.0.join("gateway.toml");
        let mut child = Command::new(BIN)
            .args(["serve", "--config", config.to_str().unwrap()])
            .current_dir(&self.setup.dir.0)
            .stdout(Stdio::piped())
            .stderr(log_file(&self.setup.dir.0))
            .spawn()
            .unwrap();
        let (base, admin) = read_addresses(&mut child);
        *self.setup.admin.lock().unwrap() = Some(admin.clone());
        self.child = child;
        self.base = base;
        self.admin = admin;
    }

    /// What the gateway has written to stderr so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.setup.dir.0.join("gateway.err")).unwrap_or_default()
    }

    /// Kill the process with SIGKILL and wait for it; it is not restarted.
    pub fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        *self.setup.admin.lock().unwrap() = None;
    }

    /// Send SIGHUP (reload certificates, CA and CRL).
    pub fn hangup(&self) {
        let ok = Command::new("kill")
            .args(["-HUP", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process is still running (it has not crashed).
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// `host:port` of the API listener.
    pub fn authority(&self) -> &str {
        self.base.strip_prefix("https://").unwrap()
    }

    /// Sign `username` in over client `cert`'s connection; the bearer token.
    pub fn login(&self, http: &reqwest::blocking::Client, username: &str) -> String {
        let res = http
            .post(format!("{}/v1/auth/token", self.base))
            .json(&serde_json::json!({ "username": username, "password": PASSWORD }))
            .send()
            .unwrap();
        assert_eq!(res.status(), 200, "login {username}");
        let body: serde_json::Value = res.json().unwrap();
        assert_eq!(body["token_type"], "Bearer");
        body["access_token"].as_str().unwrap().to_owned()
    }

    /// Send raw bytes over a mutual-TLS connection presenting `pki/NAME.crt`
    /// and read until the server closes. `None` when the connection failed
    /// before any byte of an answer arrived.
    pub fn raw(&self, name: &str, request: &[u8]) -> Option<Vec<u8>> {
        let pki = self.pki();
        let config = rustls_client_config(
            &pki,
            &pki.join(format!("{name}.crt")),
            &pki.join(format!("{name}.key")),
        );
        let server_name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let conn = rustls::ClientConnection::new(Arc::new(config), server_name).unwrap();
        let tcp = TcpStream::connect(self.authority()).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        // A server that refuses a request early may close while it is still
        // being written: read whatever answer it sent before closing.
        let _ = tls.write_all(request).and_then(|()| tls.flush());
        let mut out = Vec::new();
        let mut buf = [0u8; 16 * 1024];
        loop {
            match tls.read(&mut buf) {
                // Err: a peer that closes without close_notify, or resets
                // after answering.
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
        (!out.is_empty()).then_some(out)
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The status code of a raw HTTP/1.1 answer.
pub fn raw_status(answer: &[u8]) -> u16 {
    let text = String::from_utf8_lossy(answer);
    text.strip_prefix("HTTP/1.1 ")
        .and_then(|s| s.get(..3))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP/1.1 answer: {text:.200}"))
}

fn rustls_client_config(pki: &Path, crt: &Path, key: &Path) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    for ca in rustls_pemfile::certs(&mut std::fs::read(pki.join("ca.crt")).unwrap().as_slice()) {
        roots.add(ca.unwrap()).unwrap();
    }
    let chain: Vec<_> = rustls_pemfile::certs(&mut std::fs::read(crt).unwrap().as_slice())
        .map(Result::unwrap)
        .collect();
    let key = rustls_pemfile::private_key(&mut std::fs::read(key).unwrap().as_slice())
        .unwrap()
        .unwrap();
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .unwrap()
}

/// The DER of the first certificate in a PEM file.
pub fn cert_der(path: &Path) -> Vec<u8> {
    rustls_pemfile::certs(&mut std::fs::read(path).unwrap().as_slice())
        .next()
        .unwrap()
        .unwrap()
        .to_vec()
}

/// Read "listening on https://..." and "admin on http://..." from stdout.
pub fn read_addresses(child: &mut Child) -> (String, String) {
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let (mut base, mut admin) = (None, None);
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(a) = line.strip_prefix("nser-gateway listening on ") {
                base = Some(a.to_owned());
            } else if let Some(a) = line.strip_prefix("nser-gateway admin on ") {
                admin = Some(a.to_owned());
            }
            if let (Some(b), Some(a)) = (&base, &admin) {
                let _ = tx.send((b.clone(), a.clone()));
                base = None;
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("the gateway did not start within 60 s")
}

pub fn client_with(pki: &Path, identity: Option<(PathBuf, PathBuf)>) -> reqwest::blocking::Client {
    let ca = reqwest::Certificate::from_pem(&std::fs::read(pki.join("ca.crt")).unwrap()).unwrap();
    let mut builder = reqwest::blocking::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(ca)
        .timeout(Duration::from_secs(20));
    if let Some((crt, key)) = identity {
        let mut pem = std::fs::read(crt).unwrap();
        pem.extend(std::fs::read(key).unwrap());
        builder = builder.identity(reqwest::Identity::from_pem(&pem).unwrap());
    }
    builder.build().unwrap()
}

/// Assert a problem+json answer with `status` whose type ends `/slug`; the body.
pub fn expect_problem(
    res: reqwest::blocking::Response,
    status: u16,
    slug: &str,
    what: &str,
) -> serde_json::Value {
    assert_eq!(res.status(), status, "{what}");
    assert_eq!(
        res.headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap()),
        Some("application/problem+json"),
        "{what}"
    );
    let body: serde_json::Value = res.json().unwrap();
    let ty = body["type"].as_str().unwrap_or_default();
    assert!(ty.ends_with(&format!("/{slug}")), "{what}: type {ty}");
    assert_eq!(body["status"], status, "{what}");
    body
}
