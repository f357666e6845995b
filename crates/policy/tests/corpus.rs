//! Runs every case of `tests/corpus/*.json` (households.json and grants.json
//! hold the inputs the cases name). For each case the compiled view must give
//! exactly the listed fields as shown / masked / shown for the searched member
//! only, every other field must be withheld, and the shaped JSON must carry
//! exactly that: shown values as in the input, masked values as the mask
//! makes them, withheld keys absent. The JSON is `Shaped::write_json`'s,
//! parsed by `serde_json`, and byte for byte what the serde path writes.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test"
)]

mod common;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use chrono::{Datelike, NaiveDate};
use policy::{Caller, Class, Effect, Entity, Grant, MaskKind, Refusal, SearchType, View};
use serde::Deserialize;
use serde_json::{json, Value as Json};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(rename = "_comment")]
    _comment: String,
    today: NaiveDate,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    caller: Caller,
    search_type: SearchType,
    grant: GrantRef,
    today: Option<NaiveDate>,
    household: String,
    #[serde(default)]
    searched_member: Option<usize>,
    expect: Expect,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum GrantRef {
    Named(String),
    Inline(Grant),
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Expect {
    refused: Option<String>,
    /// Per entity, the fields shown as stored: `"*"` is every field,
    /// `"*-secret"` every field that is not Secret.
    #[serde(default)]
    show: BTreeMap<Entity, Vec<String>>,
    #[serde(default)]
    mask: BTreeMap<Entity, BTreeMap<String, MaskKind>>,
    #[serde(default)]
    searched_member_only: BTreeMap<Entity, Vec<String>>,
    members: Option<usize>,
    row_limit: Option<u64>,
    #[serde(default)]
    sampled_out: bool,
    output: Option<Json>,
    /// `"entity.field"` -> the causes `explain` must give, in order.
    #[serde(default)]
    causes: BTreeMap<String, Vec<String>>,
}

fn read(path: &Path) -> Json {
    let text = std::fs::read_to_string(path).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn corpus() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let households = read(&dir.join("households.json"));
    let grants: BTreeMap<String, Json> =
        serde_json::from_value(read(&dir.join("grants.json"))).unwrap();
    let policy = common::policy();

    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .filter(|p| !p.ends_with("households.json") && !p.ends_with("grants.json"))
        .collect();
    paths.sort();
    let (mut ran, mut failures) = (0, String::new());
    for path in paths {
        let file: File = serde_json::from_value(read(&path))
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for case in file.cases {
            ran += 1;
            let input = &households[&case.household];
            assert!(
                input.is_object(),
                "{}: no household {}",
                case.name,
                case.household
            );
            let grant = match &case.grant {
                GrantRef::Inline(g) => g.clone(),
                GrantRef::Named(name) => serde_json::from_value(grants[name].clone())
                    .unwrap_or_else(|e| panic!("grant {name}: {e}")),
            };
            let request = policy::Request {
                caller: case.caller.clone(),
                search_type: case.search_type,
                grant,
            };
            let today = case.today.unwrap_or(file.today);
            let problems = match policy.decide(&request, today) {
                Err(refusal) => check_refusal(&case, &refusal),
                Ok(view) => check_view(&case, &view, input),
            };
            for p in problems {
                let _ = writeln!(failures, "{}: {}: {p}", path.display(), case.name);
            }
        }
    }
    assert!(failures.is_empty(), "corpus failures:\n{failures}");
    assert!(ran >= 30, "only {ran} corpus cases ran");
}

fn refusal_name(refusal: &Refusal) -> &'static str {
    match refusal {
        Refusal::OrganisationSuspended => "organisation_suspended",
        Refusal::GrantNotYetValid { .. } => "grant_not_yet_valid",
        Refusal::GrantExpired { .. } => "grant_expired",
        Refusal::SearchTypeNotGranted { .. } => "search_type_not_granted",
        Refusal::NothingVisible => "nothing_visible",
        Refusal::BoardApprovalRequired => "board_approval_required",
        Refusal::PowerRoleRequired => "power_role_required",
    }
}

fn check_refusal(case: &Case, refusal: &Refusal) -> Vec<String> {
    match &case.expect.refused {
        Some(expected) if expected == refusal_name(refusal) => vec![],
        _ => vec![format!(
            "refused ({refusal}), expected {:?}",
            case.expect.refused
        )],
    }
}

fn expected_effect(expect: &Expect, entity: Entity, field: &str, class: Class) -> Effect {
    let listed = |list: Option<&Vec<String>>| {
        list.is_some_and(|l| {
            l.iter()
                .any(|f| f == field || f == "*" || (f == "*-secret" && class != Class::Secret))
        })
    };
    if listed(expect.show.get(&entity)) {
        Effect::Show
    } else if let Some(kind) = expect.mask.get(&entity).and_then(|m| m.get(field)) {
        Effect::Mask(*kind)
    } else if listed(expect.searched_member_only.get(&entity)) {
        Effect::SearchedMemberOnly
    } else {
        Effect::Withhold
    }
}

fn check_view(case: &Case, view: &View<'_>, input: &Json) -> Vec<String> {
    let mut problems = Vec::new();
    let expect = &case.expect;
    if let Some(r) = &expect.refused {
        return vec![format!("served, expected refusal {r}")];
    }
    let catalogue = common::catalogue();
    for entry in catalogue.entries() {
        let (entity, name) = (entry.spec.entity, entry.spec.name);
        let expected = expected_effect(expect, entity, name, entry.class);
        let got = view.effect(entity, name);
        if got != Some(expected) {
            problems.push(format!("{entity}.{name}: {got:?}, expected {expected:?}"));
        }
    }
    if let Some(limit) = expect.row_limit {
        if view.row_limit() != limit {
            problems.push(format!("row limit {}, expected {limit}", view.row_limit()));
        }
    }
    for reason in view.explain() {
        let key = format!("{}.{}", reason.entity, reason.field);
        if reason.causes.is_empty() {
            problems.push(format!("{key}: {:?} without a cause", reason.effect));
        }
        if let Some(expected) = expect.causes.get(&key) {
            let got: Vec<String> = reason
                .causes
                .iter()
                .map(|c| {
                    serde_json::to_value(c).unwrap()["cause"]
                        .as_str()
                        .unwrap()
                        .to_owned()
                })
                .collect();
            if &got != expected {
                problems.push(format!("{key}: causes {got:?}, expected {expected:?}"));
            }
        }
    }
    for key in expect.causes.keys() {
        if !view
            .explain()
            .iter()
            .any(|r| format!("{}.{}", r.entity, r.field) == *key)
        {
            problems.push(format!("{key}: expected causes, but it is shown in full"));
        }
    }

    // Shape the input household.
    let fixture = common::Fixture::from_json(input);
    let household = policy::Household::new(fixture.id, &fixture.household)
        .with_members(&fixture.members, case.searched_member)
        .with_payments(&fixture.payments)
        .with_flags(&fixture.flags);
    let Some(shaped) = view.shape(household) else {
        if !expect.sampled_out {
            problems.push("not served (sampled out)".to_owned());
        }
        return problems;
    };
    if expect.sampled_out {
        problems.push("served, expected sampled out".to_owned());
    }
    let mut written = Vec::new();
    shaped.write_json(&mut written);
    let output: Json = match serde_json::from_slice(&written) {
        Ok(output) => output,
        Err(e) => {
            problems.push(format!(
                "invalid JSON ({e}): {}",
                String::from_utf8_lossy(&written)
            ));
            return problems;
        }
    };
    let serialised = serde_json::to_vec(&shaped).unwrap();
    if serialised != written {
        problems.push(format!(
            "write_json and serde differ:\n  {}\n  {}",
            String::from_utf8_lossy(&written),
            String::from_utf8_lossy(&serialised)
        ));
    }
    if let Some(exact) = &expect.output {
        if &output != exact {
            problems.push(format!("output {output}, expected {exact}"));
        }
    }
    problems.extend(check_output(case, view, &output, input));
    problems
}

/// Every record of the output against the input it came from.
fn check_output(case: &Case, view: &View<'_>, output: &Json, input: &Json) -> Vec<String> {
    let mut problems = Vec::new();
    let expect = &case.expect;
    let catalogue = common::catalogue();
    let client = &case.caller.client_id;
    for (entity, key, input_key) in [
        (Entity::Household, "household", "household"),
        (Entity::Member, "members", "members"),
        (Entity::Payment, "payments", "payments"),
        (Entity::Flag, "flags", "flags"),
    ] {
        let any_visible = catalogue
            .entity(entity)
            .iter()
            .any(|e| expected_effect(expect, entity, e.spec.name, e.class) != Effect::Withhold);
        let Some(out) = output.get(key) else {
            if any_visible {
                problems.push(format!("{key} missing from the output"));
            }
            continue;
        };
        if !any_visible {
            problems.push(format!("{key} present with nothing visible"));
        }
        // Pair each output record with the input record it came from.
        let pairs: Vec<(Option<usize>, &Json, &Json)> = if entity == Entity::Household {
            vec![(None, out, &input[input_key])]
        } else {
            let inputs = input[input_key].as_array().unwrap();
            let outs = out.as_array().unwrap();
            let indices: Vec<usize> = if entity == Entity::Member
                && view.members() == policy::MemberSelection::SearchedOnly
            {
                case.searched_member.into_iter().collect()
            } else {
                (0..inputs.len()).collect()
            };
            if outs.len() != indices.len() {
                problems.push(format!(
                    "{key}: {} records, expected {}",
                    outs.len(),
                    indices.len()
                ));
                continue;
            }
            indices
                .iter()
                .zip(outs)
                .map(|(&i, o)| (Some(i), o, &inputs[i]))
                .collect()
        };
        if entity == Entity::Member {
            if let Some(n) = expect.members {
                if pairs.len() != n {
                    problems.push(format!("{} members, expected {n}", pairs.len()));
                }
            }
        }
        for (index, out, inp) in pairs {
            let out = out.as_object().unwrap();
            for entry in catalogue.entity(entity) {
                let name = entry.spec.name;
                let effect = expected_effect(expect, entity, name, entry.class);
                let searched = index.is_some() && index == case.searched_member;
                let want = match effect {
                    Effect::Show => Some(inp[name].clone()),
                    Effect::SearchedMemberOnly => searched.then(|| inp[name].clone()),
                    Effect::Mask(kind) => Some(masked(kind, &inp[name], client)),
                    Effect::Withhold => None,
                };
                let got = out.get(name).cloned();
                if got != want {
                    problems.push(format!(
                        "{key}[{index:?}].{name}: {got:?}, expected {want:?}"
                    ));
                }
            }
            if let Some(extra) = out.keys().find(|k| catalogue.get(entity, k).is_none()) {
                problems.push(format!("{key}: unexpected key {extra}"));
            }
        }
    }
    problems
}

/// The masked value, computed independently of the crate's own code where
/// that is simple.
fn masked(kind: MaskKind, value: &Json, client: &str) -> Json {
    if kind == MaskKind::Redact {
        return json!("[redacted]");
    }
    if value.is_null() {
        return Json::Null;
    }
    let unfit = || json!(format!("<{kind} does not fit {value}>"));
    match kind {
        MaskKind::Last4 => match value.as_str() {
            Some(s) => json!(format!("****{}", &s[s.len() - 4..])),
            None => unfit(),
        },
        MaskKind::YearOnly => match value
            .as_str()
            .and_then(|s| s.get(..10)?.parse::<NaiveDate>().ok())
        {
            Some(d) => json!(d.year()),
            None => unfit(),
        },
        MaskKind::Band => match value.as_f64() {
            Some(x) if x < 16.17 => json!("0-16.17"),
            Some(x) if x < 32.0 => json!("16.17-32"),
            Some(x) if x < 40.0 => json!("32-40"),
            Some(x) if x < 50.0 => json!("40-50"),
            _ => unfit(),
        },
        MaskKind::Pseudonym => {
            let text = match value {
                Json::String(s) => s.clone(),
                other => other.to_string(),
            };
            json!(common::pseudonymiser().pseudonym(client, &text).as_str())
        }
        MaskKind::Redact | MaskKind::Omit => panic!("{kind} has no value"),
    }
}
