//! Start the real binary on free ports with its own PKI and database.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use store::testing::{TempDir, TestDb};

pub const BIN: &str = env!("CARGO_BIN_EXE_nser-gateway");

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

/// A running gateway, killed on drop.
pub struct Gateway {
    pub dir: TempDir,
    #[allow(
        dead_code,
        reason = "held so the database outlives the gateway; oracles query it"
    )]
    pub db: TestDb,
    pub base: String,
    pub admin: String,
    child: Child,
}

impl Gateway {
    /// PKI in a temp dir, a small registry, then `serve` on free ports.
    pub fn start(db: TestDb) -> Self {
        let dir = TempDir::new("e2e");
        let pki = dir.0.join("pki");
        run_ok(&["pki", "init", "--dir", pki.to_str().unwrap()], &dir.0);
        run_ok(
            &[
                "generate",
                "--households",
                "300",
                "--seed",
                "11",
                "--database",
                &db.url_string,
            ],
            &dir.0,
        );
        let config = dir.0.join("gateway.toml");
        std::fs::write(
            &config,
            format!(
                "[server]\nlisten = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\nworkers = 2\n\n\
                 [database]\nurl = \"{}\"\npool_size = 4\n\n\
                 [tls]\ncert = \"{p}/server.crt\"\nkey = \"{p}/server.key\"\nclient_ca = \"{p}/ca.crt\"\n\n\
                 [auth]\nsigning_key = \"{p}/token-signing.key\"\n\n\
                 [policy]\npseudonym_key = \"{p}/pseudonym.key\"\n",
                db.url_string,
                p = pki.display()
            ),
        )
        .unwrap();
        let mut child = Command::new(BIN)
            .args(["serve", "--config", config.to_str().unwrap()])
            .current_dir(&dir.0)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let (base, admin) = read_addresses(&mut child);
        Self {
            dir,
            db,
            base,
            admin,
            child,
        }
    }

    pub fn pki(&self) -> PathBuf {
        self.dir.0.join("pki")
    }

    /// An HTTPS client trusting the demo CA and presenting client `name`'s certificate.
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
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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
