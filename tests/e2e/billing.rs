//! Bills and usage over HTTP: the finance user's bill equals what the tills
//! were served (and reconciles with the log); others may not read bills; a
//! client sees only its own usage.

use store::testing::TestDb;

use crate::helpers::{expect_problem, Options, Setup, PASSWORD};

const USC: &str = "Utility Stores Corporation";
const BISP: &str = "Benazir Income Support Programme";
const BANK: &str = "HBL Microfinance Bank";

#[test]
fn the_bill_counts_the_rows_served_and_only_finance_reads_it() {
    for db in TestDb::all() {
        let backend = db.backend();
        let s = Setup::new(db, 60);
        s.new_client("till", USC, "federal_government", "machine", &[]);
        s.add_grant(USC, "pmt_by_cnic", "confidential");
        s.new_client("bank-till", BANK, "private_business", "machine", &[]);
        s.add_grant(BANK, "pmt_by_cnic", "confidential");
        s.new_client("bisp-portal", BISP, "federal_government", "portal", &[]);
        for (user, duties) in [("bisp.finance", "finance"), ("bisp.clerk", "")] {
            s.cli(&[
                "users",
                "add",
                "--username",
                user,
                "--organisation",
                BISP,
                "--role",
                "standard",
                "--full-name",
                "Test",
                "--designation",
                "Tester",
                "--duties",
                duties,
                "--password",
                PASSWORD,
            ]);
        }
        let gw = s.serve(&Options::default());
        let cnics: Vec<String> = (1..=5)
            .map(|id| {
                store::registry::household(&mut gw.conn(), id)
                    .unwrap()
                    .unwrap()
                    .members[0]
                    .cnic
                    .clone()
            })
            .collect();
        let till = gw.client(Some("till"));
        for c in &cnics[..3] {
            assert_eq!(
                till.get(format!("{}/v1/pmt/{c}", gw.base))
                    .send()
                    .unwrap()
                    .status(),
                200,
                "{backend}"
            );
        }
        let bank = gw.client(Some("bank-till"));
        for c in &cnics[..2] {
            assert_eq!(
                bank.get(format!("{}/v1/pmt/{c}", gw.base))
                    .send()
                    .unwrap()
                    .status(),
                200,
                "{backend}"
            );
        }
        let period = chrono::Utc::now().format("%Y-%m").to_string();

        // Each client sees its own usage, and only its own.
        let usage: serde_json::Value = till
            .get(format!("{}/v1/metering/usage", gw.base))
            .send()
            .unwrap()
            .json()
            .unwrap();
        assert_eq!(usage["client_system"], "till", "{backend}: {usage}");
        assert_eq!(usage["total"]["rows"], 3, "{backend}: {usage}");
        let usage: serde_json::Value = bank
            .get(format!("{}/v1/metering/usage", gw.base))
            .send()
            .unwrap()
            .json()
            .unwrap();
        assert_eq!(usage["total"]["rows"], 2, "{backend}: {usage}");

        // The finance user's bill: one charge line per organisation with its rows, reconciled.
        let portal = gw.client(Some("bisp-portal"));
        let token = gw.login(&portal, "bisp.finance");
        let bill: serde_json::Value = portal
            .get(format!("{}/v1/billing/bills?period={period}", gw.base))
            .bearer_auth(&token)
            .send()
            .unwrap()
            .json()
            .unwrap();
        let rows_of = |org: &str| -> i64 {
            bill["lines"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|l| l["organisation"] == org && l["kind"] == "charge")
                .map(|l| l["rows"].as_i64().unwrap())
                .sum()
        };
        assert_eq!(rows_of(USC), 3, "{backend}: {bill}");
        assert_eq!(rows_of(BANK), 2, "{backend}: {bill}");
        assert_eq!(bill["reconciliation"]["equal"], true, "{backend}: {bill}");
        assert_eq!(bill["reconciliation"]["log_rows"], 5, "{backend}: {bill}");
        // Private organisations pay more per row than government under the sample card.
        let amount_per_row = |org: &str| {
            let l = bill["lines"]
                .as_array()
                .unwrap()
                .iter()
                .find(|l| l["organisation"] == org)
                .unwrap();
            l["amount_paisa"].as_i64().unwrap() / l["rows"].as_i64().unwrap()
        };
        assert!(
            amount_per_row(BANK) > amount_per_row(USC),
            "{backend}: {bill}"
        );

        // A BISP user without the finance duty, and a till, may not read bills.
        let clerk = gw.login(&portal, "bisp.clerk");
        let res = portal
            .get(format!("{}/v1/billing/bills?period={period}", gw.base))
            .bearer_auth(&clerk)
            .send()
            .unwrap();
        expect_problem(res, 403, "not-finance", backend);
        let res = till
            .get(format!("{}/v1/billing/bills?period={period}", gw.base))
            .send()
            .unwrap();
        expect_problem(res, 403, "not-finance", backend);
        // A malformed period is a 400.
        let res = portal
            .get(format!("{}/v1/billing/bills?period=2026-13", gw.base))
            .bearer_auth(&token)
            .send()
            .unwrap();
        assert_eq!(res.status(), 400, "{backend}");
    }
}
