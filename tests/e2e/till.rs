//! The USC till: `GET /v1/pmt/{cnic}` answers exactly the PMT facts of the
//! registry, and `POST /v1/pos/transactions` stores each sale once however
//! often it is sent, reports invalid sales by item and field without losing
//! the valid ones, and refuses oversized batches and bodies.

use serde_json::{json, Value};
use store::testing::TestDb;

use crate::helpers::{expect_problem, Gateway, Options, Setup};

const USC: &str = "Utility Stores Corporation";
const BODY_LIMIT: usize = 64 * 1024;
const PROGRAMMES: &[(&str, f64)] = &[("kafaalat", 32.0), ("e2e-programme", 50.5)];

fn options() -> Options {
    Options {
        server: format!("max_body_bytes = {BODY_LIMIT}"),
        tail: PROGRAMMES
            .iter()
            .map(|(n, c)| format!("[[programmes]]\nname = \"{n}\"\npmt_cutoff = {c:?}\n"))
            .collect::<Vec<_>>()
            .concat(),
        ..Options::default()
    }
}

/// The till clients: `till-1` and `till-2` of USC (machine, `pmt_by_cnic`),
/// `till-nogrant` of an organisation without a till grant, `usc-portal`.
fn register(setup: &Setup) -> (i64, i64) {
    let till1 = setup.new_client("till-1", USC, "federal_government", "machine", &[]);
    let till2 = setup.new_client("till-2", USC, "federal_government", "machine", &[]);
    setup.new_client("usc-portal", USC, "federal_government", "portal", &[]);
    setup.add_grant(USC, "pmt_by_cnic", "confidential");
    setup.new_client(
        "till-nogrant",
        "Sasta Bazaar Pvt Ltd",
        "private_business",
        "machine",
        &[],
    );
    setup.add_grant("Sasta Bazaar Pvt Ltd", "cnic", "confidential");
    (till1, till2)
}

#[test]
fn the_till_gets_exactly_the_pmt_facts() {
    for db in TestDb::all() {
        let backend = db.backend();
        let setup = Setup::new(db, 200);
        register(&setup);
        // CNICs of households on either side of the first cut-off.
        let mut conn = setup.conn();
        let mut cnics = Vec::new();
        let (mut below, mut above) = (0, 0);
        for id in 1..=200 {
            let rec = store::registry::household(&mut conn, id).unwrap().unwrap();
            let low = rec.household.pmt_score <= PROGRAMMES[0].1;
            if (low && below < 3) || (!low && above < 3) {
                *(if low { &mut below } else { &mut above }) += 1;
                cnics.push(rec.members.last().unwrap().cnic.clone());
            }
        }
        assert_eq!((below, above), (3, 3), "{backend}: registry spread");
        let gw = setup.serve(&options());
        let till = gw.client(Some("till-1"));
        for cnic in &cnics {
            let facts = store::registry::pmt_by_cnic(&mut conn, cnic)
                .unwrap()
                .unwrap();
            let res = till
                .get(format!("{}/v1/pmt/{cnic}", gw.base))
                .send()
                .unwrap();
            assert_eq!(res.status(), 200, "{backend}");
            let got: Value = res.json().unwrap();
            let eligibility: Vec<Value> = PROGRAMMES
                .iter()
                .map(|(name, cutoff)| {
                    json!({
                        "programme": name,
                        "pmt_cutoff": cutoff,
                        "eligible": facts.pmt_score <= *cutoff,
                    })
                })
                .collect();
            assert_eq!(
                got,
                json!({
                    "pmt_score": facts.pmt_score,
                    "eligibility": eligibility,
                    "household_size": facts.size,
                    "survey_date": facts.survey_date.to_string(),
                }),
                "{backend}"
            );
        }
        // Missing and malformed CNICs.
        let missing = (0..1000)
            .map(|i| format!("{}", 6_110_100_000_001_u64 + i * 2))
            .find(|c| {
                store::registry::pmt_by_cnic(&mut conn, c)
                    .unwrap()
                    .is_none()
            })
            .unwrap();
        let get = |name: &str, cnic: &str| {
            gw.client(Some(name))
                .get(format!("{}/v1/pmt/{cnic}", gw.base))
                .send()
                .unwrap()
        };
        expect_problem(get("till-1", &missing), 404, "not-found", backend);
        let body = expect_problem(get("till-1", "61101-123"), 400, "bad-request", backend);
        assert!(body["detail"].as_str().unwrap().contains("12345-1234567-1"));
        // Without a till grant: refused whether or not the CNIC exists.
        expect_problem(
            get("till-nogrant", &cnics[0]),
            403,
            "search-not-granted",
            backend,
        );
        expect_problem(
            get("till-nogrant", &missing),
            403,
            "search-not-granted",
            backend,
        );
    }
}

fn sale(tid: &str, cnic: &str) -> Value {
    json!({
        "transaction_id": tid,
        "store_id": "USC-LHR-0042",
        "terminal_id": "T-3",
        "cnic": cnic,
        "occurred_at": "2025-06-01T10:15:00Z",
        "items": [
            { "sku": "FLOUR-10KG", "category": "flour", "quantity": 1.0, "unit_price": 1250.0, "subsidy": 400.0 },
            { "sku": "GHEE-1KG", "category": "ghee", "quantity": 2.0, "unit_price": 560.5, "subsidy": 100.0 },
        ],
    })
}

/// POST a batch as client `name`: status, raw body and parsed body.
fn post(gw: &Gateway, name: &str, body: &Value) -> (reqwest::StatusCode, Vec<u8>, Value) {
    let res = gw
        .client(Some(name))
        .post(format!("{}/v1/pos/transactions", gw.base))
        .json(body)
        .send()
        .unwrap();
    let status = res.status();
    let bytes = res.bytes().unwrap();
    let value = serde_json::from_slice(&bytes).unwrap();
    (status, bytes.to_vec(), value)
}

fn statuses(answer: &Value) -> Vec<&str> {
    answer["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect()
}

fn error_fields(result: &Value) -> Vec<String> {
    result["errors"]
        .as_array()
        .map(|e| {
            e.iter()
                .map(|e| e["field"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn sales_are_stored_once_and_invalid_ones_reported_by_field() {
    for db in TestDb::all() {
        let backend = db.backend();
        let setup = Setup::new(db, 100);
        let (till1, till2) = register(&setup);
        let cnic = store::registry::household(&mut setup.conn(), 1)
            .unwrap()
            .unwrap()
            .members[0]
            .cnic
            .clone();
        let gw = setup.serve(&options());
        let count = |id| store::pos::sale_count(&mut gw.conn(), id).unwrap();

        // A batch is stored; the same batch again is answered byte for byte
        // the same and stored once.
        let batch =
            json!({ "transactions": [sale("t-1", &cnic), sale("t-2", &cnic), sale("t-3", &cnic)] });
        let (status, first, answer) = post(&gw, "till-1", &batch);
        assert_eq!(status, 200, "{backend}: {answer}");
        assert_eq!(answer["accepted"], 3, "{backend}");
        assert_eq!(answer["rejected"], 0, "{backend}");
        assert_eq!(statuses(&answer), ["accepted"; 3], "{backend}");
        assert_eq!(answer["results"][1]["transaction_id"], "t-2");
        assert_eq!(count(till1), 3, "{backend}");
        let (status, again, _) = post(&gw, "till-1", &batch);
        assert_eq!(status, 200, "{backend}");
        assert_eq!(
            String::from_utf8_lossy(&again),
            String::from_utf8_lossy(&first),
            "{backend}: replay answered differently"
        );
        assert_eq!(count(till1), 3, "{backend}: replay stored again");

        // Half invalid: each bad sale names its item and field; the good
        // ones are stored.
        let mut bad_cnic = sale("t-5", &cnic);
        bad_cnic["cnic"] = json!("1234-567");
        let mut negative = sale("t-6", &cnic);
        negative["items"][1]["quantity"] = json!(-2.0);
        let mut subsidy = sale("t-7", &cnic);
        subsidy["items"][0]["subsidy"] = json!(1300.0);
        let mut unknown = sale("t-8", &cnic);
        unknown["loyalty_points"] = json!(12);
        let half = json!({ "transactions": [
            sale("t-4", &cnic), bad_cnic, negative, subsidy, unknown, sale("t-9", &cnic),
        ] });
        let (status, first, answer) = post(&gw, "till-1", &half);
        assert_eq!(status, 200, "{backend}: {answer}");
        assert_eq!(
            statuses(&answer),
            ["accepted", "rejected", "rejected", "rejected", "rejected", "accepted"],
            "{backend}: {answer}"
        );
        assert_eq!(answer["accepted"], 2, "{backend}");
        assert_eq!(answer["rejected"], 4, "{backend}");
        let results = &answer["results"];
        for (i, r) in results.as_array().unwrap().iter().enumerate() {
            assert_eq!(r["index"], i, "{backend}");
            assert_eq!(r["transaction_id"], format!("t-{}", i + 4), "{backend}");
        }
        assert_eq!(error_fields(&results[1]), ["cnic"], "{backend}");
        assert_eq!(
            error_fields(&results[2]),
            ["items[1].quantity"],
            "{backend}"
        );
        assert_eq!(error_fields(&results[3]), ["items[0].subsidy"], "{backend}");
        let unknown_error = results[4]["errors"].to_string();
        assert!(
            unknown_error.contains("loyalty_points"),
            "{backend}: {unknown_error}"
        );
        assert!(results[0].get("errors").is_none(), "{backend}");
        assert_eq!(count(till1), 5, "{backend}");
        let (_, again, _) = post(&gw, "till-1", &half);
        assert_eq!(
            String::from_utf8_lossy(&again),
            String::from_utf8_lossy(&first),
            "{backend}: half-invalid replay"
        );
        assert_eq!(count(till1), 5, "{backend}");

        // The same transaction id with other content: a conflict, nothing
        // stored; a new sale beside it is stored.
        let mut changed = sale("t-1", &cnic);
        changed["items"][0]["quantity"] = json!(3.0);
        let (status, _, answer) = post(
            &gw,
            "till-1",
            &json!({ "transactions": [changed, sale("t-10", &cnic)] }),
        );
        assert_eq!(status, 200, "{backend}");
        assert_eq!(statuses(&answer), ["conflict", "accepted"], "{backend}");
        assert_eq!(
            error_fields(&answer["results"][0]),
            ["transaction_id"],
            "{backend}"
        );
        assert_eq!(answer["accepted"], 1, "{backend}");
        assert_eq!(answer["rejected"], 1, "{backend}");
        assert_eq!(count(till1), 6, "{backend}");

        // Transaction ids are per till: another till's t-1 is its own sale.
        let (status, _, answer) = post(&gw, "till-2", &batch);
        assert_eq!(status, 200, "{backend}");
        assert_eq!(answer["accepted"], 3, "{backend}");
        assert_eq!(count(till2), 3, "{backend}");
        assert_eq!(count(till1), 6, "{backend}");

        // 1,000 sales are taken (each rejected here), 1,001 are refused.
        let many = |n: usize| json!({ "transactions": vec![json!({}); n] });
        let (status, _, answer) = post(&gw, "till-1", &many(1000));
        assert_eq!(status, 200, "{backend}");
        assert_eq!(answer["rejected"], 1000, "{backend}");
        let res = gw
            .client(Some("till-1"))
            .post(format!("{}/v1/pos/transactions", gw.base))
            .json(&many(1001))
            .send()
            .unwrap();
        let body = expect_problem(res, 400, "bad-request", backend);
        assert!(
            body["detail"].as_str().unwrap().contains("1000"),
            "{backend}: {body}"
        );
        let res = gw
            .client(Some("till-1"))
            .post(format!("{}/v1/pos/transactions", gw.base))
            .json(&many(0))
            .send()
            .unwrap();
        expect_problem(res, 400, "bad-request", backend);

        // A body over the configured limit: 413, with a known length and chunked.
        let mut big = sale("t-big", &cnic);
        big["store_id"] = json!("x".repeat(BODY_LIMIT));
        let big = serde_json::to_vec(&json!({ "transactions": [big] })).unwrap();
        let res = gw
            .client(Some("till-1"))
            .post(format!("{}/v1/pos/transactions", gw.base))
            .header("content-type", "application/json")
            .body(big.clone())
            .send()
            .unwrap();
        expect_problem(res, 413, "payload-too-large", backend);
        let res = gw
            .client(Some("till-1"))
            .post(format!("{}/v1/pos/transactions", gw.base))
            .header("content-type", "application/json")
            .body(reqwest::blocking::Body::new(std::io::Cursor::new(big)))
            .send()
            .unwrap();
        expect_problem(res, 413, "payload-too-large", backend);
        assert_eq!(count(till1), 6, "{backend}");

        // Only till systems send sales.
        let res = gw
            .client(Some("usc-portal"))
            .post(format!("{}/v1/pos/transactions", gw.base))
            .json(&batch)
            .send()
            .unwrap();
        expect_problem(res, 403, "not-a-till", backend);
    }
}
