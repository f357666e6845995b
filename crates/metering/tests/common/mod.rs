//! Fixtures shared by the metering crate's integration tests.

use store::audit::AccessRow;

/// A till's answered request, under `grant` when it has one.
pub fn record(request: &str, grant: Option<i64>) -> AccessRow {
    AccessRow {
        id: 0,
        batch_id: 0,
        at: chrono::Utc::now().naive_utc(),
        request_id: request.into(),
        client_ip: "127.0.0.1".into(),
        organisation_id: Some(1),
        organisation_name: Some("Utility Stores Corporation".into()),
        org_type: Some("federal_government".into()),
        client_system_id: Some(1),
        client_name: Some("till".into()),
        user_id: None,
        user_name: None,
        search_type: "pmt_by_cnic".into(),
        endpoint: "/v1/pmt/{cnic}".into(),
        parameters: "{}".into(),
        subject_hash: Some("ab".repeat(32)),
        rows_returned: 1,
        status: 200,
        grant_id: grant,
        purpose: Some("subsidy".into()),
        withheld: String::new(),
    }
}
