//! Malformed paths, bodies and headers and oversized requests get a 4xx
//! (never a 5xx), and the gateway keeps serving afterwards.

use serde_json::{json, Value};
use store::testing::TestDb;

use crate::helpers::{raw_status, Gateway, Options, Setup};

const USC: &str = "Utility Stores Corporation";
const ORG: &str = "Ministry of Planning";
const BODY_LIMIT: usize = 64 * 1024;

fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").into_bytes()
}

fn get_with(path: &str, header: &[u8]) -> Vec<u8> {
    let mut r =
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n").into_bytes();
    r.extend_from_slice(header);
    r.extend_from_slice(b"\r\n\r\n");
    r
}

fn post_raw(path: &str, headers: &str, body: &[u8]) -> Vec<u8> {
    let mut r =
        format!("POST {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{headers}\r\n")
            .into_bytes();
    r.extend_from_slice(body);
    r
}

/// `[[[ ... ]]]`, `depth` deep.
fn nested(depth: usize) -> String {
    "[".repeat(depth) + &"]".repeat(depth)
}

/// Send each raw request as client `name` and check the status it gets
/// (`None`: the connection is closed without an answer).
fn check_raw(gw: &Gateway, backend: &str, name: &str, cases: &[(&str, Vec<u8>, Option<u16>)]) {
    for (what, request, want) in cases {
        let got = gw.raw(name, request).map(|answer| raw_status(&answer));
        assert!(got.is_none_or(|s| s < 500), "{backend}: {what}: {got:?}");
        assert_eq!(got, *want, "{backend}: {what}");
    }
}

#[test]
fn malformed_requests_get_4xx_and_the_gateway_keeps_serving() {
    for db in TestDb::all() {
        let backend = db.backend();
        let setup = Setup::new(db, 50);
        setup.new_client("till", USC, "federal_government", "machine", &[]);
        setup.add_grant(USC, "pmt_by_cnic", "confidential");
        setup.new_client("portal", ORG, "federal_government", "portal", &[]);
        setup.add_grant(ORG, "cnic", "confidential,secret");
        setup.add_user("planning.power", ORG, "power");
        let cnic = store::registry::household(&mut setup.conn(), 1)
            .unwrap()
            .unwrap()
            .members[0]
            .cnic
            .clone();
        let mut gw = setup.serve(&Options {
            server: format!("max_body_bytes = {BODY_LIMIT}"),
            ..Options::default()
        });
        let long_cnic = "3".repeat(10_000);

        // Paths.
        check_raw(
            &gw,
            backend,
            "till",
            &[
                ("control", get(&format!("/v1/pmt/{cnic}")), Some(200)),
                ("percent junk", get("/v1/pmt/%ff%fe%00"), Some(400)),
                ("bad escape", get("/v1/pmt/%zz%"), Some(400)),
                (
                    "very long CNIC",
                    get(&format!("/v1/pmt/{long_cnic}")),
                    Some(400),
                ),
                ("dot-dot", get("/v1/pmt/.."), Some(400)),
                (
                    "encoded traversal",
                    get("/v1/pmt/%2e%2e%2f%2e%2e%2fetc%2fpasswd"),
                    Some(400),
                ),
                (
                    "traversal",
                    get(&format!("/v1/../v1/pmt/{cnic}")),
                    Some(404),
                ),
                (
                    "extra segment",
                    get(&format!("/v1/pmt/{cnic}/extra")),
                    Some(404),
                ),
                ("empty CNIC", get("/v1/pmt/"), Some(404)),
                (
                    "raw non-ASCII",
                    get("/v1/pmt/\u{0663}\u{0665}\u{0662}"),
                    Some(400),
                ),
                ("asterisk", get("*"), Some(404)),
                (
                    "bad explain",
                    get(&format!("/v1/households/by-cnic/{cnic}?explain=maybe")),
                    Some(400),
                ),
                (
                    "unknown query",
                    get(&format!("/v1/households/by-cnic/{cnic}?debug=1")),
                    Some(400),
                ),
                (
                    "long query",
                    get(&format!("/v1/pmt/{cnic}?{}", "a=b&".repeat(2000))),
                    Some(200),
                ),
                (
                    "garbage request line",
                    b"\x16\x03\x01 nonsense\r\n\r\n".to_vec(),
                    Some(400),
                ),
            ],
        );

        // Headers.
        // Over the server's header limit (128 KiB) yet small enough to sit
        // in the socket buffers whole: a larger one can be cut off by the
        // server's close while the client is still writing it.
        let huge = format!("X-Junk: {}", "j".repeat(140_000));
        let many = (0..300)
            .map(|i| format!("X-H{i}: v\r\n"))
            .collect::<Vec<_>>()
            .concat();
        let pmt = format!("/v1/pmt/{cnic}");
        check_raw(
            &gw,
            backend,
            "till",
            &[
                (
                    "empty bearer",
                    get_with(&pmt, b"Authorization: Bearer"),
                    Some(401),
                ),
                (
                    "basic auth",
                    get_with(&pmt, b"Authorization: Basic Zm9vOmJhcg=="),
                    Some(401),
                ),
                (
                    "junk token",
                    get_with(&pmt, b"Authorization: Bearer a.b.c"),
                    Some(401),
                ),
                (
                    "binary token",
                    get_with(&pmt, b"Authorization: Bearer \xff\xfe\x80"),
                    Some(401),
                ),
                (
                    "long token",
                    get_with(
                        &pmt,
                        format!("Authorization: Bearer {}", "A".repeat(8000)).as_bytes(),
                    ),
                    Some(401),
                ),
                ("huge header", get_with(&pmt, huge.as_bytes()), Some(431)),
                (
                    "many headers",
                    get_with(&pmt, many.trim_end().as_bytes()),
                    Some(431),
                ),
                (
                    "bad content-length",
                    post_raw(
                        "/v1/pos/transactions",
                        "Content-Type: application/json\r\nContent-Length: abc\r\n",
                        b"{}",
                    ),
                    Some(400),
                ),
                (
                    "absurd content-length",
                    post_raw(
                        "/v1/pos/transactions",
                        "Content-Type: application/json\r\nContent-Length: 99999999999999\r\n",
                        b"{}",
                    ),
                    Some(413),
                ),
                (
                    "bad chunk",
                    post_raw(
                        "/v1/pos/transactions",
                        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n",
                        b"zz\r\n{}\r\n0\r\n\r\n",
                    ),
                    Some(400),
                ),
            ],
        );

        // Bodies.
        let till = gw.client(Some("till"));
        let pos = |body: Vec<u8>, content_type: Option<&str>| {
            let mut req = till
                .post(format!("{}/v1/pos/transactions", gw.base))
                .body(body);
            if let Some(ct) = content_type {
                req = req.header("content-type", ct);
            }
            req.send().unwrap()
        };
        let json_ct = Some("application/json");
        let bodies: Vec<(&str, Vec<u8>, Option<&str>, u16)> = vec![
            ("not JSON", b"hello, gateway".to_vec(), json_ct, 400),
            (
                "no content type",
                b"{\"transactions\":[]}".to_vec(),
                None,
                400,
            ),
            (
                "text/plain",
                b"{\"transactions\":[]}".to_vec(),
                Some("text/plain"),
                400,
            ),
            ("truncated", b"{\"transactions\":[{".to_vec(), json_ct, 400),
            (
                "wrong type",
                b"{\"transactions\":\"all of them\"}".to_vec(),
                json_ct,
                400,
            ),
            ("top-level array", b"[1,2,3]".to_vec(), json_ct, 400),
            ("null", b"null".to_vec(), json_ct, 400),
            ("deeply nested", nested(20_000).into_bytes(), json_ct, 400),
            (
                "deeply nested inside",
                format!("{{\"transactions\":{}}}", nested(20_000)).into_bytes(),
                json_ct,
                400,
            ),
            (
                "number out of range",
                b"{\"transactions\":[1e999]}".to_vec(),
                json_ct,
                400,
            ),
            (
                "invalid UTF-8",
                b"{\"transactions\":[\"\xff\xfe\"]}".to_vec(),
                json_ct,
                400,
            ),
            ("oversized", vec![b' '; BODY_LIMIT + 1], json_ct, 413),
        ];
        for (what, body, ct, want) in bodies {
            let res = pos(body, ct);
            assert_eq!(res.status(), want, "{backend}: {what}");
            assert_eq!(
                res.headers()["content-type"],
                "application/problem+json",
                "{backend}: {what}"
            );
        }
        // Wrongly typed sales are each rejected, none stored, none fatal.
        let odd = json!({ "transactions": [
            1, "a", null, [], { "transaction_id": 5 },
            { "transaction_id": "x", "store_id": "s", "terminal_id": "t", "cnic": cnic,
              "occurred_at": "9999-99-99", "items": [] },
            { "transaction_id": "y", "store_id": "s", "terminal_id": "t", "cnic": cnic,
              "occurred_at": "2025-01-01T00:00:00Z",
              "items": [{ "sku": "s", "category": "c", "quantity": 1e308, "unit_price": 1e308, "subsidy": -0.0 }] },
            { "transaction_id": "z", "store_id": "s", "terminal_id": "t", "cnic": cnic,
              "occurred_at": "2025-01-01T00:00:00Z",
              "items": vec![json!({ "sku": "s", "category": "c", "quantity": 1, "unit_price": 1, "subsidy": 0 }); 501] },
            { "transaction_id": "\u{0000}\u{202e}", "store_id": "s", "terminal_id": "t", "cnic": cnic,
              "occurred_at": "2025-01-01T00:00:00Z",
              "items": [{ "sku": "s", "category": "c\u{0007}", "quantity": 1, "unit_price": 0.001, "subsidy": 0 }] },
        ] });
        let res = pos(serde_json::to_vec(&odd).unwrap(), json_ct);
        assert_eq!(res.status(), 200, "{backend}");
        let answer: Value = res.json().unwrap();
        assert_eq!(answer["accepted"], 0, "{backend}: {answer}");
        assert_eq!(answer["rejected"], 9, "{backend}: {answer}");

        // The token endpoint's body.
        let portal = gw.client(Some("portal"));
        let token = |body: Value| {
            portal
                .post(format!("{}/v1/auth/token", gw.base))
                .json(&body)
                .send()
                .unwrap()
                .status()
        };
        assert_eq!(
            token(json!({ "username": 5, "password": [] })),
            400,
            "{backend}"
        );
        assert_eq!(token(json!({})), 400, "{backend}");
        assert_eq!(
            token(json!({ "username": "planning.power", "password": "x", "otp": 1 })),
            400,
            "{backend}"
        );
        assert_eq!(
            token(json!({ "username": "u".repeat(5000), "password": "p" })),
            401,
            "{backend}"
        );
        assert_eq!(
            token(json!({ "username": "planning.power", "password": "p".repeat(50_000) })),
            401,
            "{backend}"
        );

        // Still alive and serving.
        assert!(gw.is_running(), "{backend}: the gateway died");
        let http_token = gw.login(&portal, "planning.power");
        let res = portal
            .get(format!("{}/v1/whoami", gw.base))
            .bearer_auth(&http_token)
            .send()
            .unwrap();
        assert_eq!(res.status(), 200, "{backend}");
        let me: Value = res.json().unwrap();
        assert_eq!(me["user"]["username"], "planning.power", "{backend}");
        assert_eq!(
            till.get(format!("{}/v1/whoami", gw.base))
                .send()
                .unwrap()
                .status(),
            200,
            "{backend}"
        );
    }
}
