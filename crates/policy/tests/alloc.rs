//! Applying a compiled view allocates nothing beyond the output buffer: a
//! counting global allocator watches a shaping into a reused `Vec<u8>`, by
//! `Shaped::write_json` and by the serde path.
//! (One test in this binary, so no other test thread allocates meanwhile.)
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test"
)]

mod common;

use std::alloc::System;

use chrono::NaiveDate;
use policy::{Household, Request};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

fn request(role: &str, org: &str, search: &str, classes: &[&str]) -> Request {
    serde_json::from_value(serde_json::json!({
        "caller": {"role": role, "organisation": {"type": org, "standing": "active"}, "client_id": "alloc-test"},
        "search_type": search,
        "grant": {"search_types": [search], "classes": classes, "purpose": "test", "row_quota": 10,
                  "valid_from": "2025-01-01", "valid_to": "2025-12-31", "approved_by": "bisp_board"}
    }))
    .unwrap()
}

#[test]
fn shaping_allocates_nothing_beyond_the_output() {
    let policy = common::policy();
    let today = NaiveDate::from_ymd_opt(2025, 6, 1).unwrap();
    let requests = [
        request(
            "power",
            "federal_government",
            "cnic",
            &["confidential", "secret"],
        ),
        request(
            "standard",
            "provincial_government",
            "pmt_range_address",
            &["confidential"],
        ),
        request(
            "basic",
            "local_ngo",
            "address_parameters",
            &["confidential"],
        ),
        request("basic", "local_ngo", "cnic", &["confidential"]),
        request(
            "basic",
            "private_business",
            "pmt_by_cnic",
            &["confidential"],
        ),
    ];
    let mut buf = Vec::with_capacity(64 * 1024);
    for request in &requests {
        let view = policy.decide(request, today).unwrap();
        let id = (1247..1_000_000).find(|&id| view.admits(id)).unwrap();
        let fixture = common::Fixture::from_json(&common::sample_household_json(id));
        let household = Household::new(id, &fixture.household)
            .with_members(&fixture.members, Some(1))
            .with_payments(&fixture.payments)
            .with_flags(&fixture.flags);

        let region = Region::new(GLOBAL);
        buf.clear();
        let shaped = view.shape(household).unwrap();
        shaped.write_json(&mut buf);
        let stats = region.change();

        assert!(buf.len() > 20, "{request:?}");
        assert_eq!(
            (stats.allocations, stats.reallocations),
            (0, 0),
            "{:?} x {:?} allocated",
            request.caller.role,
            request.search_type
        );

        let region = Region::new(GLOBAL);
        buf.clear();
        let shaped = view.shape(household).unwrap();
        serde_json::to_writer(&mut buf, &shaped).unwrap();
        let stats = region.change();

        assert!(buf.len() > 20, "{request:?}");
        assert_eq!(
            (stats.allocations, stats.reallocations),
            (0, 0),
            "{:?} x {:?} allocated (serde)",
            request.caller.role,
            request.search_type
        );
    }
}
