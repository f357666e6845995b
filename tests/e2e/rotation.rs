//! Certificate material reloads on SIGHUP without a restart: a client
//! certificate revoked after start is refused once the new CRL is loaded,
//! while other clients keep being served on the same process.

use std::time::{Duration, Instant};

use store::testing::TestDb;

use crate::helpers::{run_ok, Options, Setup};

#[test]
fn a_certificate_revoked_after_start_is_refused_after_sighup() {
    let s = Setup::new(TestDb::sqlite(), 50);
    s.new_client(
        "till-a",
        "Utility Stores Corporation",
        "federal_government",
        "machine",
        &[],
    );
    s.new_client(
        "till-b",
        "Utility Stores Corporation",
        "federal_government",
        "machine",
        &[],
    );
    s.add_grant("Utility Stores Corporation", "pmt_by_cnic", "confidential");
    // A CRL must exist at start: revoke a certificate nobody uses.
    s.issue("retired", "Utility Stores Corporation", 0, 365);
    let pki = s.pki();
    let pki_arg = pki.to_str().unwrap().to_owned();
    run_ok(
        &["pki", "revoke", "--dir", &pki_arg, "--name", "retired"],
        &s.dir.0,
    );
    let gw = s.serve(&Options {
        tls: "crl = \"{pki}/crl.pem\"".into(),
        ..Options::default()
    });
    let whoami = |name: &str| {
        // A fresh client each time: a new TLS handshake.
        gw.client(Some(name))
            .get(format!("{}/v1/whoami", gw.base))
            .send()
            .map(|r| r.status().as_u16())
    };
    assert_eq!(whoami("till-a").unwrap(), 200);
    run_ok(
        &["pki", "revoke", "--dir", &pki_arg, "--name", "till-a"],
        &gw.dir.0,
    );
    // Not yet reloaded: still accepted.
    assert_eq!(whoami("till-a").unwrap(), 200);
    gw.hangup();
    let deadline = Instant::now() + Duration::from_secs(10);
    while whoami("till-a").is_ok() {
        assert!(
            Instant::now() < deadline,
            "revoked certificate still accepted 10 s after SIGHUP"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        whoami("till-b").unwrap(),
        200,
        "the other till is still served"
    );
}
