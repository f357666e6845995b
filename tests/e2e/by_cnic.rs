//! `GET /v1/households/by-cnic/{cnic}` for every role x organisation type x
//! grant answers exactly what the policy crate decides for the same request,
//! shaped from the same store record; a search type outside the grant is 403,
//! a CNIC that does not exist 404 and a malformed one 400.

use policy::{Class, Forum, Grant, Organisation, OrganisationType, Role, SearchType, Standing};
use serde_json::Value;
use store::testing::TestDb;

use crate::helpers::{expect_problem, grant_validity, Options, Setup};

const ORG_TYPES: &[(&str, OrganisationType)] = &[
    ("federal_government", OrganisationType::FederalGovernment),
    ("local_ngo", OrganisationType::LocalNgo),
    ("private_business", OrganisationType::PrivateBusiness),
];
const ROLES: &[(&str, Role)] = &[
    ("power", Role::Power),
    ("standard", Role::Standard),
    ("basic", Role::Basic),
];

/// One organisation of the matrix: its type and the grant it holds.
struct Org {
    kind: OrganisationType,
    name: String,
    client: String,
    secret: bool,
    cnic: bool,
}

impl Org {
    fn search_types(&self) -> Vec<SearchType> {
        if self.cnic {
            vec![SearchType::Cnic, SearchType::AddressParameters]
        } else {
            vec![SearchType::AddressParameters, SearchType::PmtRangeAddress]
        }
    }

    fn classes(&self) -> Vec<Class> {
        if self.secret {
            vec![Class::Confidential, Class::Secret]
        } else {
            vec![Class::Confidential]
        }
    }

    /// The grant as the policy sees it: what was given to `grants add`.
    fn grant(&self) -> Grant {
        let (valid_from, valid_to) = grant_validity();
        Grant {
            search_types: self.search_types(),
            classes: self.classes(),
            purpose: "end-to-end test".into(),
            row_quota: 1000,
            valid_from,
            valid_to,
            approved_by: Forum::DgNser,
        }
    }
}

fn list<T: Copy>(items: &[T], name: fn(T) -> &'static str) -> String {
    items.iter().map(|i| name(*i)).collect::<Vec<_>>().join(",")
}

/// Register the matrix through the CLI: per organisation a portal client,
/// one user per role and one grant.
fn register(setup: &Setup) -> Vec<Org> {
    let mut orgs = Vec::new();
    for (type_name, org_type) in ORG_TYPES {
        for secret in [false, true] {
            for cnic in [false, true] {
                let client = format!(
                    "{type_name}-{}-{}",
                    if secret { "secret" } else { "conf" },
                    if cnic { "cnic" } else { "nocnic" }
                );
                let org = Org {
                    kind: *org_type,
                    name: format!("Org {client}"),
                    client,
                    secret,
                    cnic,
                };
                setup.new_client(&org.client, &org.name, type_name, "portal", &[]);
                for (role, _) in ROLES {
                    setup.add_user(&format!("{}.{role}", org.client), &org.name, role);
                }
                setup.add_grant(
                    &org.name,
                    &list(&org.search_types(), SearchType::name),
                    &list(&org.classes(), Class::name),
                );
                orgs.push(org);
            }
        }
    }
    orgs
}

/// The policy as the server loads it: the repository's catalogue and the
/// test PKI's pseudonym key.
pub fn load_policy(setup: &Setup) -> policy::Policy {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../policy/catalogue.toml"
    ))
    .unwrap();
    let catalogue = policy::Catalogue::from_toml(&text, &store::registry_fields()).unwrap();
    let key = std::fs::read_to_string(setup.pki().join("pseudonym.key")).unwrap();
    let key = hex::decode(key.trim()).unwrap();
    policy::Policy::new(catalogue, policy::Pseudonymiser::new(&key).unwrap())
}

/// CNICs to search: the head and the last member of a household with
/// several members, of one with payments and of one with flags.
fn sample_cnics(setup: &Setup) -> Vec<String> {
    let mut conn = setup.conn();
    let mut picks: Vec<store::HouseholdRecord> = Vec::new();
    let wanted: [fn(&store::HouseholdRecord) -> bool; 3] = [
        |r| r.members.len() >= 3,
        |r| !r.payments.is_empty(),
        |r| !r.flags.is_empty(),
    ];
    for want in wanted {
        let found = (1..=300)
            .filter_map(|id| store::registry::household(&mut conn, id).unwrap())
            .find(|r| want(r) && r.members.len() >= 2)
            .expect("the generated registry has such a household");
        picks.push(found);
    }
    let mut cnics: Vec<String> = picks
        .iter()
        .flat_map(|r| {
            [
                r.members[0].cnic.clone(),
                r.members.last().unwrap().cnic.clone(),
            ]
        })
        .collect();
    cnics.dedup();
    cnics
}

fn dashed(cnic: &str) -> String {
    format!("{}-{}-{}", &cnic[..5], &cnic[5..12], &cnic[12..])
}

/// What the policy says the caller gets for `cnic`, and its explanation.
fn expected(
    policy: &policy::Policy,
    setup: &Setup,
    org: &Org,
    role: Role,
    cnic: &str,
) -> (Value, Value) {
    let request = policy::Request {
        caller: policy::Caller {
            role,
            organisation: Organisation {
                kind: org.kind,
                standing: Standing::Active,
            },
            client_id: org.client.clone(),
        },
        search_type: SearchType::Cnic,
        grant: org.grant(),
    };
    let view = policy
        .decide(&request, chrono::Utc::now().date_naive())
        .unwrap();
    let record = store::registry::household_by_cnic(&mut setup.conn(), cnic)
        .unwrap()
        .unwrap();
    let searched = record.members.iter().position(|m| m.cnic == cnic);
    let household = policy::Household::new(record.household.id, &record.household)
        .with_members(&record.members, searched)
        .with_payments(&record.payments)
        .with_flags(&record.flags);
    let shaped = serde_json::to_value(view.shape(household).unwrap()).unwrap();
    (shaped, serde_json::to_value(view.explain()).unwrap())
}

fn without_request_id(mut body: Value) -> Value {
    body.as_object_mut().unwrap().remove("request_id");
    body
}

#[test]
fn every_role_organisation_and_grant_sees_exactly_what_the_policy_says() {
    for db in TestDb::all() {
        let backend = db.backend();
        let setup = Setup::new(db, 300);
        let orgs = register(&setup);
        let policy = load_policy(&setup);
        let cnics = sample_cnics(&setup);
        let missing = (0..1000)
            .map(|i| format!("{}", 4_210_100_000_001_u64 + i * 2))
            .find(|c| {
                store::registry::household_by_cnic(&mut setup.conn(), c)
                    .unwrap()
                    .is_none()
            })
            .unwrap();
        let gw = setup.serve(&Options::default());

        let mut checked = 0;
        for org in &orgs {
            let http = gw.client(Some(&org.client));
            for (role_name, role) in ROLES {
                let what = format!("{backend}: {} {role_name}", org.client);
                let token = gw.login(&http, &format!("{}.{role_name}", org.client));
                let get = |path: &str| {
                    http.get(format!("{}/v1/households/by-cnic/{path}", gw.base))
                        .bearer_auth(&token)
                        .send()
                        .unwrap()
                };
                // Who the gateway takes the caller to be.
                let me: Value = http
                    .get(format!("{}/v1/whoami", gw.base))
                    .bearer_auth(&token)
                    .send()
                    .unwrap()
                    .json()
                    .unwrap();
                assert_eq!(me["role"], *role_name, "{what}");

                if !org.cnic {
                    // Refused before any lookup: an existing and a missing
                    // CNIC get the same answer.
                    let refused = without_request_id(expect_problem(
                        get(&cnics[0]),
                        403,
                        "search-not-granted",
                        &what,
                    ));
                    let refused_missing = without_request_id(expect_problem(
                        get(&missing),
                        403,
                        "search-not-granted",
                        &what,
                    ));
                    assert_eq!(refused, refused_missing, "{what}");
                    continue;
                }

                for (i, cnic) in cnics.iter().enumerate() {
                    let (want, _) = expected(&policy, &gw, org, *role, cnic);
                    // Both spellings of a CNIC are accepted.
                    let path = if i % 2 == 0 {
                        dashed(cnic)
                    } else {
                        cnic.clone()
                    };
                    let res = get(&path);
                    assert_eq!(res.status(), 200, "{what} {i}");
                    let got: Value = res.json().unwrap();
                    assert!(got.get("explanation").is_none(), "{what}");
                    assert_eq!(got, want, "{what}: CNIC #{i}");
                    checked += 1;
                }

                // ?explain=true adds exactly the policy's explanation.
                let (want, why) = expected(&policy, &gw, org, *role, &cnics[1]);
                let res = get(&format!("{}?explain=true", cnics[1]));
                assert_eq!(res.status(), 200, "{what}");
                let mut got: Value = res.json().unwrap();
                let explanation = got.as_object_mut().unwrap().remove("explanation");
                let explanation = explanation.expect("explain=true adds an explanation");
                assert!(explanation.is_array(), "{what}");
                assert_eq!(explanation, why, "{what}");
                assert_eq!(got, want, "{what}");

                // A CNIC nobody has: 404, the same body whatever the caller.
                let body = expect_problem(get(&missing), 404, "not-found", &what);
                assert_eq!(
                    without_request_id(body),
                    serde_json::json!({
                        "type": "https://nser.bisp.gov.pk/problems/not-found",
                        "title": "Not found",
                        "status": 404,
                        "detail": "no record the caller may see matches",
                    }),
                    "{what}"
                );
                // A malformed one: 400 saying what a CNIC looks like.
                for bad in [
                    "98765",
                    "abcde-1234567-1",
                    "0520212345671",
                    "35202-1234567-12",
                ] {
                    let body = expect_problem(get(bad), 400, "bad-request", &what);
                    let detail = body["detail"].as_str().unwrap();
                    assert!(detail.contains("12345-1234567-1"), "{what}: {detail}");
                    assert!(!detail.contains(bad), "{what}: input echoed: {detail}");
                }
            }
        }
        // 3 organisation types x 2 secret variants with cnic x 3 roles x CNICs.
        assert_eq!(checked, 3 * 2 * 3 * cnics.len(), "{backend}");
    }
}

#[test]
fn the_policy_oracle_distinguishes_the_cells() {
    // Guard against a vacuous matrix: the cells really differ, so equality
    // with the oracle above says something.
    let setup = Setup::new(TestDb::sqlite(), 50);
    let policy = load_policy(&setup);
    let cnic = store::registry::household(&mut setup.conn(), 1)
        .unwrap()
        .unwrap()
        .members[0]
        .cnic
        .clone();
    let org = |kind, secret| Org {
        kind,
        name: String::new(),
        client: "c".into(),
        secret,
        cnic: true,
    };
    let fed = org(OrganisationType::FederalGovernment, true);
    let ngo = org(OrganisationType::LocalNgo, true);
    let (power_fed, _) = expected(&policy, &setup, &fed, Role::Power, &cnic);
    let (power_ngo, _) = expected(&policy, &setup, &ngo, Role::Power, &cnic);
    let (standard, _) = expected(&policy, &setup, &fed, Role::Standard, &cnic);
    let (basic, _) = expected(&policy, &setup, &fed, Role::Basic, &cnic);
    assert!(power_fed["household"].get("latitude").is_some());
    assert!(power_ngo["household"].get("latitude").is_none());
    assert_ne!(power_fed, standard);
    assert_ne!(standard, basic);
    assert_eq!(basic["members"].as_array().unwrap().len(), 1);
}

#[test]

fn a_portal_client_needs_a_user_token_for_household_data() {
    for db in TestDb::all() {
        let backend = db.backend();
        let setup = Setup::new(db, 50);
        setup.new_client(
            "agency-portal",
            "Punjab Social Protection Authority",
            "provincial_government",
            "portal",
            &[],
        );
        setup.add_grant(
            "Punjab Social Protection Authority",
            "cnic",
            "confidential,secret",
        );
        let cnic = store::registry::household(&mut setup.conn(), 1)
            .unwrap()
            .unwrap()
            .members[0]
            .cnic
            .clone();
        let gw = setup.serve(&Options::default());
        let res = gw
            .client(Some("agency-portal"))
            .get(format!("{}/v1/households/by-cnic/{cnic}", gw.base))
            .send()
            .unwrap();
        expect_problem(res, 401, "unauthenticated", backend);
    }
}
