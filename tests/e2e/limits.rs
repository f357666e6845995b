//! Per-client rate limits: a client over its burst gets 429 with
//! `Retry-After` and the IETF `RateLimit-Policy`/`RateLimit` headers; other
//! clients, even of the same organisation, keep being served.

use store::testing::TestDb;

use crate::helpers::{expect_problem, Options, Setup};

const USC: &str = "Utility Stores Corporation";

fn header(res: &reqwest::blocking::Response, name: &str) -> Option<String> {
    res.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
}

#[test]
fn a_client_over_its_burst_gets_429_with_the_headers_and_others_do_not() {
    for db in TestDb::all() {
        let backend = db.backend();
        let setup = Setup::new(db, 50);
        setup.new_client(
            "slow-till",
            USC,
            "federal_government",
            "machine",
            &["--rate", "1", "--burst", "3"],
        );
        setup.new_client("busy-till", USC, "federal_government", "machine", &[]);
        setup.new_client("ngo", "Akhuwat Foundation", "local_ngo", "machine", &[]);
        setup.add_grant(USC, "pmt_by_cnic", "confidential");
        let cnic = store::registry::household(&mut setup.conn(), 1)
            .unwrap()
            .unwrap()
            .members[0]
            .cnic
            .clone();
        let gw = setup.serve(&Options::default());
        let slow = gw.client(Some("slow-till"));
        let url = format!("{}/v1/pmt/{cnic}", gw.base);

        // The first answer of a fresh limiter: two of the burst of three left.
        let res = slow.get(&url).send().unwrap();
        assert_eq!(res.status(), 200, "{backend}");
        assert_eq!(
            header(&res, "ratelimit-policy").as_deref(),
            Some("\"client\";q=3;w=3"),
            "{backend}"
        );
        assert_eq!(
            header(&res, "ratelimit").as_deref(),
            Some("\"client\";r=2;t=0"),
            "{backend}"
        );
        // Keep asking until refused: at least the burst is served first.
        let mut served = 1;
        let refused = loop {
            let res = slow.get(&url).send().unwrap();
            if res.status() == 429 {
                break res;
            }
            assert_eq!(res.status(), 200, "{backend}");
            assert!(header(&res, "ratelimit").is_some(), "{backend}");
            served += 1;
            assert!(served < 30, "{backend}: never limited");
        };
        assert!(served >= 3, "{backend}: refused after {served}");
        let retry_after = header(&refused, "retry-after");
        assert_eq!(retry_after.as_deref(), Some("1"), "{backend}");
        assert_eq!(
            header(&refused, "ratelimit-policy").as_deref(),
            Some("\"client\";q=3;w=3"),
            "{backend}"
        );
        assert_eq!(
            header(&refused, "ratelimit").as_deref(),
            Some("\"client\";r=0;t=1"),
            "{backend}"
        );
        expect_problem(refused, 429, "rate-limited", backend);

        // Others are unaffected: a till of the same organisation and another
        // organisation's client.
        for other in ["busy-till", "ngo"] {
            let http = gw.client(Some(other));
            for _ in 0..5 {
                let res = http.get(format!("{}/v1/whoami", gw.base)).send().unwrap();
                assert_eq!(res.status(), 200, "{backend}: {other}");
            }
        }
        let res = gw.client(Some("busy-till")).get(&url).send().unwrap();
        assert_eq!(res.status(), 200, "{backend}");

        // After the wait it asked for, the limited client is served again.
        std::thread::sleep(std::time::Duration::from_millis(1200));
        assert_eq!(slow.get(&url).send().unwrap().status(), 200, "{backend}");
    }
}
