//! Who is refused: callers without a usable certificate (none, another CA's,
//! expired, revoked), with a certificate that is not (or no longer) a
//! registered active client, and users with a forged, expired or foreign
//! token; and the login lockout.

use std::path::Path;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use store::testing::{TempDir, TestDb};

use crate::helpers::{cert_der, client_with, expect_problem, run_ok, Gateway, Options, Setup};

const ORG: &str = "Ministry of Planning";

/// GET /v1/whoami as client `name`, optionally with a bearer token.
fn whoami(gw: &Gateway, name: &str, token: Option<&str>) -> reqwest::blocking::Response {
    let mut req = gw.client(Some(name)).get(format!("{}/v1/whoami", gw.base));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().unwrap()
}

/// A refused TLS handshake: no HTTP answer at all.
fn assert_handshake_refused(gw: &Gateway, name: &str, what: &str) {
    let res = gw
        .client(Some(name))
        .get(format!("{}/v1/whoami", gw.base))
        .send();
    assert!(
        res.is_err(),
        "{what}: answered {:?}",
        res.map(|r| r.status())
    );
    let raw = gw.raw(
        name,
        b"GET /v1/whoami HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    );
    assert!(raw.is_none(), "{what}: an HTTP answer came back");
}

/// Poll `check` for up to 5 s (the gateway caches registrations ~2 s).
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{what}: not within 5 s"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn certificates_that_are_absent_foreign_expired_revoked_unknown_or_disabled_are_refused() {
    for db in TestDb::all() {
        let backend = db.backend();
        let setup = Setup::new(db, 50);
        // Each refused certificate is registered, so only the check under
        // test can refuse it.
        setup.new_client("good", ORG, "federal_government", "machine", &[]);
        setup.issue("expired", ORG, -400, 30);
        setup.add_client("expired", ORG, "federal_government", "machine", &[]);
        setup.new_client("revoked", ORG, "federal_government", "machine", &[]);
        run_ok(
            &[
                "pki",
                "revoke",
                "--dir",
                setup.pki().to_str().unwrap(),
                "--name",
                "revoked",
            ],
            &setup.dir.0,
        );
        let other = TempDir::new("other-ca");
        run_ok(
            &["pki", "init", "--dir", other.0.to_str().unwrap()],
            &other.0,
        );
        setup.cli(&[
            "clients",
            "add",
            "--name",
            "foreign",
            "--organisation",
            ORG,
            "--cert",
            other.0.join("ngo.crt").to_str().unwrap(),
            "--kind",
            "machine",
        ]);
        setup.issue("stranger", ORG, 0, 365);
        setup.new_client("to-disable", ORG, "federal_government", "machine", &[]);
        setup.new_client("suspended", "Suspended Trust", "local_ngo", "machine", &[]);
        let gw = setup.serve(&Options {
            tls: "crl = \"{pki}/crl.pem\"".into(),
            ..Options::default()
        });

        // The control: a valid registered certificate is served.
        let res = whoami(&gw, "good", None);
        assert_eq!(res.status(), 200, "{backend}");
        let me: Value = res.json().unwrap();
        assert_eq!(me["client"]["name"], "good", "{backend}");

        // No certificate: the handshake is refused.
        assert!(
            gw.client(None)
                .get(format!("{}/v1/whoami", gw.base))
                .send()
                .is_err(),
            "{backend}: no certificate"
        );
        // Another CA's certificate (registered by fingerprint all the same).
        let foreign = client_with(
            &gw.pki(),
            Some((other.0.join("ngo.crt"), other.0.join("ngo.key"))),
        );
        assert!(
            foreign
                .get(format!("{}/v1/whoami", gw.base))
                .send()
                .is_err(),
            "{backend}: another CA"
        );
        assert_handshake_refused(&gw, "expired", &format!("{backend}: expired"));
        assert_handshake_refused(&gw, "revoked", &format!("{backend}: revoked"));

        // From the right CA but registered to no client system.
        expect_problem(
            whoami(&gw, "stranger", None),
            403,
            "client-not-registered",
            backend,
        );

        // Disabled through the CLI: refused within the cache's lifetime,
        // and served again once enabled.
        assert_eq!(whoami(&gw, "to-disable", None).status(), 200, "{backend}");
        gw.cli(&["clients", "disable", "--name", "to-disable"]);
        eventually(&format!("{backend}: disable"), || {
            whoami(&gw, "to-disable", None).status() == 403
        });
        expect_problem(
            whoami(&gw, "to-disable", None),
            403,
            "client-disabled",
            backend,
        );
        gw.cli(&["clients", "disable", "--name", "to-disable", "--enable"]);
        eventually(&format!("{backend}: enable"), || {
            whoami(&gw, "to-disable", None).status() == 200
        });

        // A suspended organisation's clients are refused.
        assert_eq!(whoami(&gw, "suspended", None).status(), 200, "{backend}");
        gw.cli(&["orgs", "suspend", "--name", "Suspended Trust"]);
        eventually(&format!("{backend}: suspend"), || {
            whoami(&gw, "suspended", None).status() == 403
        });
        expect_problem(
            whoami(&gw, "suspended", None),
            403,
            "organisation-suspended",
            backend,
        );
        // ... and nobody else is.
        assert_eq!(whoami(&gw, "good", None).status(), 200, "{backend}");
    }
}

/// The PKCS#8 DER of a PEM private key.
fn pkcs8(path: &Path) -> Vec<u8> {
    match rustls_pemfile::private_key(&mut std::fs::read(path).unwrap().as_slice())
        .unwrap()
        .unwrap()
    {
        rustls::pki_types::PrivateKeyDer::Pkcs8(k) => k.secret_pkcs8_der().to_vec(),
        other => panic!("not PKCS#8: {other:?}"),
    }
}

/// Claims for user `sub` bound to the certificate `cert`, valid from
/// `from` seconds from now for `secs` seconds.
fn claims(sub: i64, cert: &Path, from: i64, secs: i64) -> Value {
    let now = chrono::Utc::now().timestamp() + from;
    json!({
        "iss": "nser-gateway",
        "aud": "nser-gateway",
        "sub": sub.to_string(),
        "iat": now,
        "nbf": now,
        "exp": now + secs,
        "jti": "e2e-crafted",
        "cnf": { "x5t#S256": URL_SAFE_NO_PAD.encode(Sha256::digest(cert_der(cert))) },
    })
}

fn sign(claims: &Value, key: &Path, kid: &str) -> String {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(
        &header,
        claims,
        &jsonwebtoken::EncodingKey::from_ed_der(&pkcs8(key)),
    )
    .unwrap()
}

fn assert_unauthenticated(res: reqwest::blocking::Response, what: &str) {
    let www = res
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    expect_problem(res, 401, "unauthenticated", what);
    assert_eq!(www.as_deref(), Some("Bearer"), "{what}");
}

#[test]
fn forged_expired_and_foreign_tokens_are_refused() {
    for db in TestDb::all() {
        let backend = db.backend();
        let setup = Setup::new(db, 50);
        setup.new_client("portal-a", ORG, "federal_government", "portal", &[]);
        setup.new_client("portal-b", ORG, "federal_government", "portal", &[]);
        setup.add_user("planning.power", ORG, "power");
        setup.add_user("planning.leaver", ORG, "standard");
        setup.new_client(
            "other-portal",
            "Akhuwat Foundation",
            "local_ngo",
            "portal",
            &[],
        );
        setup.add_user("akhuwat.power", "Akhuwat Foundation", "power");
        setup.new_client("till", ORG, "federal_government", "machine", &[]);
        let other = TempDir::new("other-keys");
        run_ok(
            &["pki", "init", "--dir", other.0.to_str().unwrap()],
            &other.0,
        );
        let gw = setup.serve(&Options::default());
        let pki = gw.pki();
        let cert_a = pki.join("portal-a.crt");
        let key = pki.join("token-signing.key");

        let http_a = gw.client(Some("portal-a"));
        let token = gw.login(&http_a, "planning.power");
        let res = whoami(&gw, "portal-a", Some(&token));
        assert_eq!(res.status(), 200, "{backend}");
        let me: Value = res.json().unwrap();
        assert_eq!(me["user"]["username"], "planning.power", "{backend}");
        assert_eq!(me["role"], "power", "{backend}");
        let user_id = me["user"]["id"].as_i64().unwrap();

        let jwks: Value = http_a
            .get(format!("{}/.well-known/jwks.json", gw.base))
            .send()
            .unwrap()
            .json()
            .unwrap();
        let kid = jwks["keys"][0]["kid"].as_str().unwrap().to_owned();
        let header: Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(token.split('.').next().unwrap())
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            header["kid"], kid,
            "{backend}: the token names the JWKS key"
        );
        assert_eq!(header["alg"], "EdDSA", "{backend}");

        // The control: a token crafted here with the gateway's key and the
        // right claims is accepted, so the refusals below are about what
        // each one changes.
        let crafted = sign(&claims(user_id, &cert_a, 0, 300), &key, &kid);
        let res = whoami(&gw, "portal-a", Some(&crafted));
        assert_eq!(res.status(), 200, "{backend}: crafted control token");
        assert_eq!(res.json::<Value>().unwrap()["user"]["id"], user_id);

        // Issued over portal-a, presented over portal-b (same organisation).
        assert_unauthenticated(
            whoami(&gw, "portal-b", Some(&token)),
            &format!("{backend}: token over another certificate"),
        );
        // alg: none, unsigned.
        let none_header = URL_SAFE_NO_PAD.encode(
            serde_json::to_vec(&json!({ "alg": "none", "typ": "JWT", "kid": kid })).unwrap(),
        );
        let body =
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims(user_id, &cert_a, 0, 300)).unwrap());
        for unsigned in [
            format!("{none_header}.{body}."),
            format!("{none_header}.{body}"),
        ] {
            assert_unauthenticated(
                whoami(&gw, "portal-a", Some(&unsigned)),
                &format!("{backend}: alg none"),
            );
        }
        // The real header and claims with a forged signature.
        let mut parts: Vec<&str> = crafted.split('.').collect();
        let forged_sig = URL_SAFE_NO_PAD.encode([7u8; 64]);
        parts[2] = &forged_sig;
        assert_unauthenticated(
            whoami(&gw, "portal-a", Some(&parts.join("."))),
            &format!("{backend}: forged signature"),
        );
        // Signed with another key, under the gateway's key id and under its own.
        let wrong_key = other.0.join("token-signing.key");
        for k in [kid.as_str(), "0011223344556677"] {
            let forged = sign(&claims(user_id, &cert_a, 0, 300), &wrong_key, k);
            assert_unauthenticated(
                whoami(&gw, "portal-a", Some(&forged)),
                &format!("{backend}: wrong key, kid {k}"),
            );
        }
        // Expired an hour ago; not valid for another hour.
        for (from, what) in [(-7200, "expired"), (3600, "not yet valid")] {
            let t = sign(&claims(user_id, &cert_a, from, 3600), &key, &kid);
            assert_unauthenticated(
                whoami(&gw, "portal-a", Some(&t)),
                &format!("{backend}: {what}"),
            );
        }
        // Crafted with the right key but bound to portal-b's certificate,
        // presented over portal-a.
        let t = sign(
            &claims(user_id, &pki.join("portal-b.crt"), 0, 300),
            &key,
            &kid,
        );
        assert_unauthenticated(
            whoami(&gw, "portal-a", Some(&t)),
            &format!("{backend}: bound to portal-b"),
        );
        // ... which is accepted over portal-b.
        assert_eq!(
            whoami(&gw, "portal-b", Some(&t)).status(),
            200,
            "{backend}: bound to portal-b, over portal-b"
        );
        // A well-signed token for a user of another organisation, bound to
        // this certificate, is refused.
        let other_user = gw.login(&gw.client(Some("other-portal")), "akhuwat.power");
        let res = whoami(&gw, "other-portal", Some(&other_user));
        let other_id = res.json::<Value>().unwrap()["user"]["id"].as_i64().unwrap();
        let t = sign(&claims(other_id, &cert_a, 0, 300), &key, &kid);
        assert_unauthenticated(
            whoami(&gw, "portal-a", Some(&t)),
            &format!("{backend}: user of another organisation"),
        );
        // A disabled user's token stops working.
        let leaver = gw.login(&http_a, "planning.leaver");
        assert_eq!(whoami(&gw, "portal-a", Some(&leaver)).status(), 200);
        gw.cli(&["users", "disable", "--username", "planning.leaver"]);
        assert_unauthenticated(
            whoami(&gw, "portal-a", Some(&leaver)),
            &format!("{backend}: disabled user"),
        );
        // Users sign in through a portal client, not a machine one.
        let res = gw
            .client(Some("till"))
            .post(format!("{}/v1/auth/token", gw.base))
            .json(&json!({ "username": "planning.power", "password": crate::helpers::PASSWORD }))
            .send()
            .unwrap();
        expect_problem(res, 403, "not-a-portal", backend);
    }
}

#[test]
fn five_wrong_passwords_lock_the_account() {
    for db in TestDb::all() {
        let backend = db.backend();
        let setup = Setup::new(db, 50);
        setup.new_client("portal", ORG, "federal_government", "portal", &[]);
        setup.add_user("planning.locked", ORG, "standard");
        setup.add_user("planning.other", ORG, "standard");
        let gw = setup.serve(&Options::default());
        let http = gw.client(Some("portal"));
        let login = |username: &str, password: &str| {
            http.post(format!("{}/v1/auth/token", gw.base))
                .json(&json!({ "username": username, "password": password }))
                .send()
                .unwrap()
        };
        // Four wrong passwords do not lock; the right one then works and
        // starts the count again.
        for i in 0..4 {
            assert_unauthenticated(
                login("planning.locked", "wrong password here"),
                &format!("{backend}: wrong password {i}"),
            );
        }
        gw.login(&http, "planning.locked");
        for i in 0..5 {
            assert_unauthenticated(
                login("planning.locked", "wrong password here"),
                &format!("{backend}: wrong password {i}"),
            );
        }
        // Locked: the right password is refused too, with the same answer.
        let body = expect_problem(
            login("planning.locked", crate::helpers::PASSWORD),
            401,
            "unauthenticated",
            backend,
        );
        let unknown = expect_problem(
            login("nobody.at.all", crate::helpers::PASSWORD),
            401,
            "unauthenticated",
            backend,
        );
        assert_eq!(body["detail"], unknown["detail"], "{backend}");
        // Another user of the same organisation is not locked out.
        gw.login(&http, "planning.other");
    }
}
