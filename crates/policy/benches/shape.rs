//! Applying a compiled view to a household (head + 6 members, 2 payments,
//! 1 flag) into a reused buffer with `Shaped::write_json`, and compiling a
//! view. Targets: shape < 2 us,
//! compile < 20 us (median).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "bench"
)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;

use chrono::NaiveDate;
use criterion::{criterion_group, criterion_main, Criterion};
use policy::{Household, Request};

fn request(role: &str, org: &str, search: &str) -> Request {
    serde_json::from_value(serde_json::json!({
        "caller": {"role": role, "organisation": {"type": org, "standing": "active"}, "client_id": "bench-client-01"},
        "search_type": search,
        "grant": {"search_types": [search], "classes": ["confidential", "secret"], "purpose": "bench",
                  "row_quota": 1000, "valid_from": "2025-01-01", "valid_to": "2025-12-31",
                  "approved_by": "bisp_board"}
    }))
    .unwrap()
}

fn bench(c: &mut Criterion) {
    let policy = common::policy();
    let today = NaiveDate::from_ymd_opt(2025, 6, 1).unwrap();
    let cases = [
        (
            "power_cnic_full",
            request("power", "federal_government", "cnic"),
        ),
        (
            "standard_pmt_range",
            request("standard", "provincial_government", "pmt_range_address"),
        ),
        (
            "basic_address_pseudonyms",
            request("basic", "local_ngo", "address_parameters"),
        ),
        (
            "till_pmt_by_cnic",
            request("basic", "private_business", "pmt_by_cnic"),
        ),
    ];

    let mut group = c.benchmark_group("shape");
    let mut buf = Vec::with_capacity(16 * 1024);
    for (name, request) in &cases {
        let view = policy.decide(request, today).unwrap();
        let id = (1247..1_000_000).find(|&id| view.admits(id)).unwrap();
        let fixture = common::Fixture::from_json(&common::sample_household_json(id));
        let household = Household::new(id, &fixture.household)
            .with_members(&fixture.members, Some(1))
            .with_payments(&fixture.payments)
            .with_flags(&fixture.flags);
        group.bench_function(*name, |b| {
            b.iter(|| {
                buf.clear();
                let shaped = view.shape(black_box(household)).unwrap();
                shaped.write_json(&mut buf);
                black_box(buf.len())
            });
        });
    }
    group.finish();

    let mut group = c.benchmark_group("compile");
    for (name, request) in &cases {
        group.bench_function(*name, |b| {
            b.iter(|| {
                policy
                    .decide(black_box(request), today)
                    .map(|v| v.row_limit())
            });
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
