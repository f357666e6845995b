//! The mutual-TLS listener refuses clients without a certificate from the
//! configured CA and accepts the demo clients; the admin listener reports
//! health and readiness.

use std::process::{Command, Stdio};

use store::testing::{TempDir, TestDb};

use crate::helpers::{client_with, read_addresses, run_ok, Gateway, BIN};

const DEMO_CLIENTS: &[&str] = &[
    "usc-till",
    "fed-ministry",
    "ngo",
    "bank",
    "bisp-finance",
    "nadra-feed",
];

#[test]
fn demo_clients_are_accepted_and_strangers_refused() {
    for db in TestDb::all() {
        let backend = db.backend();
        let gw = Gateway::start(db);
        for name in DEMO_CLIENTS {
            let res = gw
                .client(Some(name))
                .get(format!("{}/v1/status", gw.base))
                .send()
                .unwrap();
            assert_eq!(res.status(), 200, "{backend}: {name}");
            assert!(res.headers().contains_key("x-request-id"));
            let body: serde_json::Value = res.json().unwrap();
            assert_eq!(body["households"], 300, "{backend}");
            let subject = body["client_subject"].as_str().unwrap();
            assert!(subject.contains(&format!("CN={name}")), "{subject}");
        }
        // No certificate: the handshake is refused, nothing is served.
        assert!(
            gw.client(None)
                .get(format!("{}/v1/status", gw.base))
                .send()
                .is_err(),
            "{backend}"
        );
        // A certificate from another CA: refused too.
        let other = TempDir::new("other-pki");
        run_ok(
            &["pki", "init", "--dir", other.0.to_str().unwrap()],
            &other.0,
        );
        let stranger = client_with(
            &gw.pki(),
            Some((other.0.join("ngo.crt"), other.0.join("ngo.key"))),
        );
        assert!(
            stranger
                .get(format!("{}/v1/status", gw.base))
                .send()
                .is_err(),
            "{backend}"
        );
    }
}

#[test]
fn unknown_paths_get_problem_json_and_admin_reports_health() {
    let gw = Gateway::start(TestDb::sqlite());
    let res = gw
        .client(Some("ngo"))
        .get(format!("{}/v1/nothing-here", gw.base))
        .send()
        .unwrap();
    assert_eq!(res.status(), 404);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let res_id = res
        .headers()
        .get("x-request-id")
        .map(|v| v.to_str().unwrap().to_owned());
    let body: serde_json::Value = res.json().unwrap();
    assert_eq!(body["status"], 404);
    assert!(body["type"]
        .as_str()
        .unwrap()
        .ends_with("/no-such-resource"));
    assert_eq!(body["request_id"].as_str(), res_id.as_deref());

    let plain = reqwest::blocking::Client::new();
    assert_eq!(
        plain
            .get(format!("{}/healthz", gw.admin))
            .send()
            .unwrap()
            .status(),
        200
    );
    let ready = plain.get(format!("{}/readyz", gw.admin)).send().unwrap();
    assert_eq!(ready.status(), 200);

    // The request's line reaches the operational log while the gateway
    // runs (its writer thread does not wait for more), without a
    // terminal's colour codes in the file.
    let id = res_id.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let line = loop {
        let log = gw.log_text();
        if let Some(line) = log
            .lines()
            .find(|l| l.contains(&id) && l.contains("served"))
        {
            break line.to_owned();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no served line for {id} in:\n{log}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert!(line.contains("status=404"), "{line}");
    assert!(
        !gw.log_text().contains('\x1b'),
        "escape codes in the log file"
    );
}

#[test]
fn the_demo_creates_its_pki_and_registry_and_serves() {
    let dir = TempDir::new("demo");
    // The journal of a registry deleted to start afresh: a frame of batch 2
    // (a gap for a new registry). The demo removes it; a gateway alone would
    // refuse to start on it.
    let journal = dir.0.join("var/demo/registry.db.access-journal");
    std::fs::create_dir_all(journal.parent().unwrap()).unwrap();
    {
        let at = chrono::NaiveDate::from_ymd_opt(2026, 11, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap();
        let records_hash = metering::chain::records_hash_of_json(&[]);
        let prev = "ab".repeat(32);
        let batch = store::audit::BatchRow {
            id: 2,
            committed_at: at,
            record_count: 0,
            batch_hash: metering::chain::batch_hash(&prev, 2, at, 0, &records_hash),
            records_hash,
            prev_hash: prev,
        };
        let mut j = metering::journal::Journal::open(&journal, 1 << 20).unwrap();
        j.append(&metering::journal::encode(&batch, &[]), 2, 0)
            .unwrap();
        assert_eq!(j.scan().unwrap().len(), 1);
    }
    let mut child = Command::new(BIN)
        .args(["demo", "--households", "500"])
        .current_dir(&dir.0)
        .env("NSER__SERVER__LISTEN", "127.0.0.1:0")
        .env("NSER__SERVER__ADMIN_LISTEN", "127.0.0.1:0")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (base, _admin) = read_addresses(&mut child);
    let pki = dir.0.join("var/demo/pki");
    for f in [
        "ca.crt",
        "server.crt",
        "server.key",
        "usc-till.crt",
        "usc-till.key",
        "nadra-feed.crt",
    ] {
        assert!(pki.join(f).exists(), "{f} missing");
    }
    let client = client_with(
        &pki,
        Some((pki.join("usc-till.crt"), pki.join("usc-till.key"))),
    );
    let body: serde_json::Value = client
        .get(format!("{base}/v1/status"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(body["households"], 500);
    // A new journal, of the default size, beside the new registry.
    assert_eq!(std::fs::metadata(&journal).unwrap().len(), 64 << 20);
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn bad_input_to_the_cli_is_one_clear_line() {
    let dir = TempDir::new("cli");
    let cases: &[(&[&str], &str)] = &[
        (
            &["generate", "--households", "0", "--database", "x.db"],
            "between 1 and",
        ),
        (
            &["generate", "--households", "-5", "--database", "x.db"],
            "between 1 and",
        ),
        (
            &[
                "generate",
                "--households",
                "1000000000000",
                "--database",
                "x.db",
            ],
            "between 1 and",
        ),
        (
            &[
                "generate",
                "--households",
                "10",
                "--database",
                "mysql://h/db",
            ],
            "not supported",
        ),
        (
            &[
                "generate",
                "--households",
                "10",
                "--database",
                "/no/such/dir/r.db",
            ],
            "create it first",
        ),
        (
            &[
                "migrate",
                "--database",
                "postgres://nobody@127.0.0.1:1/none",
            ],
            "cannot connect",
        ),
    ];
    for (args, expect) in cases {
        let out = Command::new(BIN)
            .args(*args)
            .current_dir(&dir.0)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?} succeeded");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expect), "{args:?}: {err}");
    }
    assert_eq!(
        std::fs::read_dir(&dir.0).unwrap().count(),
        0,
        "files left behind"
    );
}
