//! Property tests over random callers, grants and households: nothing Secret
//! leaks, Basic never sees a CNIC or contact number nor any record key but
//! the household's pseudonym, no field outside the grant's classes, and
//! pseudonyms are per client and stable.
//!
//! Leaks are looked for in the parsed output (every string and number of the
//! `serde_json::Value`, keys included), not only in the raw text: a value
//! holding a quote, a backslash or a control character is written escaped,
//! so its raw text never appears in the output even when it leaks.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test"
)]

mod common;

use chrono::{DateTime, NaiveDate};
use common::{Fixture, Owned, Row};
use policy::{
    Caller, Category, Class, Entity, FieldType, Forum, Grant, Household, Organisation,
    OrganisationType, Request, Role, SearchType, Standing,
};
use proptest::prelude::*;
use proptest::sample::{select, subsequence};

const ROLES: [Role; 3] = [Role::Power, Role::Standard, Role::Basic];
const SEARCHES: [SearchType; 5] = [
    SearchType::Cnic,
    SearchType::AddressParameters,
    SearchType::PmtRangeAddress,
    SearchType::PmtByCnic,
    SearchType::CompleteExport,
];
const ORGS: [OrganisationType; 9] = [
    OrganisationType::FederalGovernment,
    OrganisationType::ProvincialGovernment,
    OrganisationType::LocalGovernment,
    OrganisationType::InternationalDonor,
    OrganisationType::LocalNgo,
    OrganisationType::Ingo,
    OrganisationType::PrivateBusiness,
    OrganisationType::Citizen,
    OrganisationType::Other,
];
const CLASSES: [Class; 3] = [Class::Public, Class::Confidential, Class::Secret];

/// Now and then a character JSON must escape, or one outside ASCII.
const SPICE: [&str; 8] = ["", "", "", "\"", "\\", "\n", "\u{1}", "\u{e9}\u{0628}"];

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 6, 1).unwrap()
}

prop_compose! {
    fn request()(
        role in select(&ROLES[..]),
        kind in select(&ORGS[..]),
        search_type in select(&SEARCHES[..]),
        others in subsequence(&SEARCHES[..], 0..=4),
        classes in subsequence(&CLASSES[..], 0..=3),
        client_id in "[a-z]{3,8}-[0-9]{1,4}",
        row_quota in 1u64..1_000_000,
    ) -> Request {
        let mut search_types = others;
        search_types.push(search_type);
        Request {
            caller: Caller {
                role,
                organisation: Organisation { kind, standing: Standing::Active },
                client_id,
            },
            search_type,
            grant: Grant {
                search_types,
                classes,
                purpose: "property test".into(),
                row_quota,
                valid_from: NaiveDate::from_ymd_opt(2025, 1, 1).unwrap(),
                valid_to: NaiveDate::from_ymd_opt(2025, 12, 31).unwrap(),
                approved_by: Forum::BispBoard,
            },
        }
    }
}

/// splitmix64: cheap deterministic values from a proptest seed.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn spice(&mut self) -> &'static str {
        SPICE[usize::try_from(self.next() % 8).unwrap()]
    }

    fn digits(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b'0' + u8::try_from(self.next() % 10).unwrap()))
            .collect()
    }

    fn row(&mut self, entity: Entity) -> Row {
        Row(common::specs(entity)
            .map(|spec| {
                if spec.nullable && self.next().is_multiple_of(4) {
                    return Owned::Null;
                }
                // The values the leak checks look for get the spice too (a
                // store may hold dirty data): a leak must be caught however
                // JSON escapes it.
                match (spec.ty, spec.name) {
                    (_, "cnic" | "beneficiary_cnic") => {
                        Owned::Text(format!("{}{}", self.digits(13), self.spice()))
                    }
                    (_, "contact_number") => {
                        Owned::Text(format!("03{}{}", self.digits(9), self.spice()))
                    }
                    (_, "sensitive_answers") => Owned::Text(format!(
                        "{{\"q17\":\"secret-{}{}\"}}",
                        self.digits(12),
                        self.spice()
                    )),
                    (FieldType::Int, _) => Owned::Int(i64::try_from(self.next() >> 20).unwrap()),
                    #[allow(clippy::cast_precision_loss, reason = "test data")]
                    (FieldType::Float, _) => Owned::Float((self.next() % 10_000) as f64 / 100.0),
                    (FieldType::Bool, _) => Owned::Bool(self.next().is_multiple_of(2)),
                    (FieldType::Text, _) => {
                        Owned::Text(format!("t{}{}", self.digits(6), self.spice()))
                    }
                    (FieldType::Date, _) => Owned::Date(
                        NaiveDate::from_num_days_from_ce_opt(
                            700_000 + i32::try_from(self.next() % 30_000).unwrap(),
                        )
                        .unwrap(),
                    ),
                    (FieldType::Timestamp, _) => Owned::Timestamp(
                        DateTime::from_timestamp(
                            1_600_000_000 + i64::try_from(self.next() % 100_000_000).unwrap(),
                            0,
                        )
                        .unwrap()
                        .naive_utc(),
                    ),
                }
            })
            .collect())
    }

    fn household(&mut self) -> Fixture {
        let n = |g: &mut Gen, max: u64| usize::try_from(g.next() % max).unwrap();
        let members = n(self, 9);
        let payments = n(self, 4);
        let flags = n(self, 3);
        Fixture {
            id: i64::try_from(self.next() >> 4).unwrap(),
            household: self.row(Entity::Household),
            members: (0..members).map(|_| self.row(Entity::Member)).collect(),
            payments: (0..payments).map(|_| self.row(Entity::Payment)).collect(),
            flags: (0..flags).map(|_| self.row(Entity::Flag)).collect(),
        }
    }
}

/// The shaped household as JSON text (`write_json`'s, checked to be what the
/// serde path writes too), or `None` when refused. For a sampled view the
/// household gets the next id the caller's sample admits, so that Basic list
/// searches are exercised too.
fn shape(request: &Request, fixture: &Fixture, searched: Option<usize>) -> Option<String> {
    let policy = common::policy();
    let view = policy.decide(request, today()).ok()?;
    let id = (fixture.id..fixture.id + 1_000_000).find(|&id| view.admits(id))?;
    let household = Household::new(id, &fixture.household)
        .with_members(&fixture.members, searched)
        .with_payments(&fixture.payments)
        .with_flags(&fixture.flags);
    let shaped = view.shape(household)?;
    let mut written = Vec::new();
    shaped.write_json(&mut written);
    let written = String::from_utf8(written).unwrap();
    assert_eq!(written, serde_json::to_string(&shaped).unwrap());
    Some(written)
}

/// Every (entity, field) key present in the shaped output.
fn keys(output: &str) -> Vec<(Entity, String)> {
    let v: serde_json::Value = serde_json::from_str(output).unwrap();
    let mut out = Vec::new();
    for (entity, key) in [
        (Entity::Household, "household"),
        (Entity::Member, "members"),
        (Entity::Payment, "payments"),
        (Entity::Flag, "flags"),
    ] {
        let records = match &v[key] {
            serde_json::Value::Array(a) => a.clone(),
            serde_json::Value::Null => vec![],
            other => vec![other.clone()],
        };
        for r in records {
            out.extend(r.as_object().unwrap().keys().map(|k| (entity, k.clone())));
        }
    }
    out
}

/// Whether `value` appears anywhere in the output: within any string (key or
/// value) or number of the parsed JSON, or in the raw text either as it is or
/// as JSON escapes it.
fn leaks(output: &str, value: &str) -> bool {
    fn within(json: &serde_json::Value, value: &str) -> bool {
        match json {
            serde_json::Value::Null | serde_json::Value::Bool(_) => false,
            serde_json::Value::Number(n) => n.to_string().contains(value),
            serde_json::Value::String(s) => s.contains(value),
            serde_json::Value::Array(a) => a.iter().any(|j| within(j, value)),
            serde_json::Value::Object(o) => {
                o.iter().any(|(k, j)| k.contains(value) || within(j, value))
            }
        }
    }
    let parsed: serde_json::Value = serde_json::from_str(output).unwrap();
    let escaped = serde_json::to_string(value).unwrap();
    let escaped = &escaped[1..escaped.len() - 1];
    within(&parsed, value) || output.contains(value) || output.contains(escaped)
}

/// Every number in the parsed output, as `i64` where it is one.
fn ints(json: &serde_json::Value, out: &mut Vec<i64>) {
    match json {
        serde_json::Value::Number(n) => out.extend(n.as_i64()),
        serde_json::Value::Array(a) => a.iter().for_each(|j| ints(j, out)),
        serde_json::Value::Object(o) => o.values().for_each(|j| ints(j, out)),
        _ => {}
    }
}

fn int_values(fixture: &Fixture, entity: Entity, names: &[&str]) -> Vec<i64> {
    let rows: Vec<&Row> = match entity {
        Entity::Household => vec![&fixture.household],
        Entity::Member => fixture.members.iter().collect(),
        Entity::Payment => fixture.payments.iter().collect(),
        Entity::Flag => fixture.flags.iter().collect(),
    };
    let indices: Vec<usize> = common::specs(entity)
        .enumerate()
        .filter(|(_, s)| names.contains(&s.name))
        .map(|(i, _)| i)
        .collect();
    rows.iter()
        .flat_map(|r| {
            indices.iter().filter_map(|&i| match &r.0[i] {
                Owned::Int(n) => Some(*n),
                _ => None,
            })
        })
        .collect()
}

fn text_values(fixture: &Fixture, entity: Entity, names: &[&str]) -> Vec<String> {
    let rows: Vec<&Row> = match entity {
        Entity::Household => vec![&fixture.household],
        Entity::Member => fixture.members.iter().collect(),
        Entity::Payment => fixture.payments.iter().collect(),
        Entity::Flag => fixture.flags.iter().collect(),
    };
    let indices: Vec<usize> = common::specs(entity)
        .enumerate()
        .filter(|(_, s)| names.contains(&s.name))
        .map(|(i, _)| i)
        .collect();
    rows.iter()
        .flat_map(|r| {
            indices.iter().filter_map(|&i| match &r.0[i] {
                Owned::Text(s) => Some(s.clone()),
                _ => None,
            })
        })
        .collect()
}

fn class_of(entity: Entity, field: &str) -> Class {
    common::catalogue().get(entity, field).unwrap().class
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn no_secret_unless_power_government_and_granted(
        request in request(), seed in any::<u64>(), searched in 0usize..8,
    ) {
        let fixture = Gen(seed).household();
        let caller = &request.caller;
        let allowed = caller.role == Role::Power
            && caller.organisation.kind.is_government()
            && request.grant.classes.contains(&Class::Secret);
        if let Some(output) = shape(&request, &fixture, Some(searched)) {
            if !allowed {
                for (entity, field) in keys(&output) {
                    prop_assert_ne!(class_of(entity, &field), Class::Secret, "{}.{}", entity, field);
                }
                let secrets = [
                    text_values(&fixture, Entity::Household, &["beneficiary_cnic"]),
                    text_values(&fixture, Entity::Member, &["sensitive_answers"]),
                ];
                for secret in secrets.iter().flatten() {
                    prop_assert!(!leaks(&output, secret), "{:?} leaked", secret);
                }
            }
        }
    }

    #[test]
    fn basic_never_sees_a_cnic_or_contact_number(
        request in request(), seed in any::<u64>(), searched in 0usize..8,
    ) {
        let mut request = request;
        request.caller.role = Role::Basic;
        let fixture = Gen(seed).household();
        if let Some(output) = shape(&request, &fixture, Some(searched)) {
            for (_, field) in keys(&output) {
                prop_assert!(!["cnic", "beneficiary_cnic", "contact_number"].contains(&field.as_str()));
            }
            let values = [
                text_values(&fixture, Entity::Member, &["cnic", "contact_number"]),
                text_values(&fixture, Entity::Household, &["beneficiary_cnic"]),
            ];
            for value in values.iter().flatten() {
                prop_assert!(!leaks(&output, value), "{:?} leaked", value);
            }
        }
    }

    #[test]
    fn basic_sees_no_record_key_but_the_household_pseudonym(
        request in request(), seed in any::<u64>(), searched in 0usize..8,
    ) {
        let mut request = request;
        request.caller.role = Role::Basic;
        let fixture = Gen(seed).household();
        if let Some(output) = shape(&request, &fixture, Some(searched)) {
            let catalogue = common::catalogue();
            for (entity, field) in keys(&output) {
                let category = catalogue.get(entity, &field).unwrap().category;
                prop_assert!(
                    category != Category::Key || entity == Entity::Household,
                    "{}.{}", entity, field
                );
                prop_assert!(
                    !(entity != Entity::Household && ["id", "household_id"].contains(&field.as_str())),
                    "{}.{}", entity, field
                );
            }
            // Nor any of their values: no number of the output is a record's
            // id, nor the household id as stored.
            let parsed: serde_json::Value = serde_json::from_str(&output).unwrap();
            let mut numbers = Vec::new();
            ints(&parsed, &mut numbers);
            let mut keys = vec![fixture.id];
            keys.extend(int_values(&fixture, Entity::Household, &["id"]));
            for entity in [Entity::Member, Entity::Payment, Entity::Flag] {
                keys.extend(int_values(&fixture, entity, &["id", "household_id"]));
            }
            for key in keys {
                prop_assert!(!numbers.contains(&key), "{} leaked", key);
            }
        }
    }

    #[test]
    fn nothing_outside_the_grants_classes(
        request in request(), seed in any::<u64>(), searched in 0usize..8,
    ) {
        let fixture = Gen(seed).household();
        if let Some(output) = shape(&request, &fixture, Some(searched)) {
            for (entity, field) in keys(&output) {
                let class = class_of(entity, &field);
                prop_assert!(request.grant.classes.contains(&class), "{}.{} ({})", entity, field, class);
            }
        }
    }

    #[test]
    fn refused_unless_active_in_force_and_search_granted(
        request in request(), days in -400i64..400, suspended in any::<bool>(), drop_search in any::<bool>(),
    ) {
        let mut request = request;
        if suspended {
            request.caller.organisation.standing = Standing::Suspended;
        }
        if drop_search {
            let search = request.search_type;
            request.grant.search_types.retain(|s| *s != search);
        }
        let day = today() + chrono::Duration::days(days);
        let in_force = request.grant.valid_from <= day && day <= request.grant.valid_to;
        let policy = common::policy();
        if suspended || drop_search || !in_force {
            prop_assert!(policy.decide(&request, day).is_err());
        }
    }

    #[test]
    fn pseudonyms_differ_between_clients_and_are_stable(
        a in "[a-z0-9-]{1,16}", b in "[a-z0-9-]{1,16}", value in "[0-9]{13}|[A-Za-z ]{1,30}",
    ) {
        prop_assume!(a != b);
        let p = common::pseudonymiser();
        let again = common::pseudonymiser();
        prop_assert_eq!(p.pseudonym(&a, &value), again.pseudonym(&a, &value));
        prop_assert_ne!(p.pseudonym(&a, &value), p.pseudonym(&b, &value));
        let pseudonym = p.pseudonym(&a, &value);
        prop_assert!(pseudonym.as_str().len() == 16 && pseudonym.as_str().bytes().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn shaping_is_deterministic_per_client(request in request(), seed in any::<u64>()) {
        let fixture = Gen(seed).household();
        prop_assert_eq!(shape(&request, &fixture, Some(0)), shape(&request, &fixture, Some(0)));
    }
}

/// The leak check finds a value however JSON escapes it, where a raw
/// substring search would not.
#[test]
fn leak_check_sees_through_json_escapes() {
    for value in [
        "36302\"1234567",
        "3630212345\\67",
        "03001234567\n",
        "0300\u{1}1234567",
        "{\"q17\":\"secret-123456789012\"}",
        "\u{e9}\u{0628}3630212345671",
    ] {
        let output =
            serde_json::json!({ "members": [{ "note": format!("x{value}y") }] }).to_string();
        assert!(leaks(&output, value), "{value:?} not found in {output}");
        let clean = serde_json::json!({ "members": [{ "note": "x" }] }).to_string();
        assert!(!leaks(&clean, value));
    }
    // Why the raw check alone is not enough.
    let value = "{\"q17\":\"secret-123456789012\"}";
    let output = serde_json::json!({ "household": { "note": value } }).to_string();
    assert!(!output.contains(value));
}

#[test]
fn basic_list_sample_is_about_one_percent_and_query_independent() {
    let policy = common::policy();
    let mut request = Request {
        caller: Caller {
            role: Role::Basic,
            organisation: Organisation {
                kind: OrganisationType::LocalNgo,
                standing: Standing::Active,
            },
            client_id: "ngo-basic".into(),
        },
        search_type: SearchType::AddressParameters,
        grant: Grant {
            search_types: vec![SearchType::AddressParameters, SearchType::PmtRangeAddress],
            classes: vec![Class::Confidential],
            purpose: "sample".into(),
            row_quota: 100,
            valid_from: NaiveDate::from_ymd_opt(2025, 1, 1).unwrap(),
            valid_to: NaiveDate::from_ymd_opt(2025, 12, 31).unwrap(),
            approved_by: Forum::DgNser,
        },
    };
    let by_address: Vec<i64> = {
        let view = policy.decide(&request, today()).unwrap();
        assert!(view.is_sampled());
        (0..50_000).filter(|&id| view.admits(id)).collect()
    };
    request.search_type = SearchType::PmtRangeAddress;
    let view = policy.decide(&request, today()).unwrap();
    let by_pmt: Vec<i64> = (0..50_000).filter(|&id| view.admits(id)).collect();
    assert_eq!(
        by_address, by_pmt,
        "the sample must not depend on the query"
    );
    assert!(
        (400..=600).contains(&by_address.len()),
        "{} of 50000",
        by_address.len()
    );

    request.caller.client_id = "ngo-other".into();
    let other = policy.decide(&request, today()).unwrap();
    let overlap = by_address.iter().filter(|&&id| other.admits(id)).count();
    assert!(
        overlap < 30,
        "another client's sample overlaps by {overlap}"
    );
}
