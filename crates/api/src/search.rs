//! Parsing a list search at the edge: the area (checked against the
//! geography and the user's scope), the typed parameters, the PMT range, and
//! the signed pagination cursor. Anything not understood is refused with a
//! message naming it: an unknown filter never widens a search.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use store::registry::Area;
use store::search::{Cmp, Filter, FlagField, NumberField, Search, Test, TextField};

use crate::error::ApiError;

/// The most conditions one filter may hold, how deeply they may nest, and
/// how many values one `in` may list.
const MAX_CONDITIONS: usize = 32;
const MAX_DEPTH: usize = 4;
const MAX_VALUES: usize = 16;

/// An address: any prefix of province > district > tehsil > union council
/// (codes from the geography), and optionally a village of the union council.
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AreaIn {
    pub province: Option<i32>,
    pub district: Option<i32>,
    pub tehsil: Option<i32>,
    pub union_council: Option<i32>,
    pub village: Option<String>,
}

/// The body of `POST /v1/search/households`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchBody {
    pub area: AreaIn,
    /// Address + parameters: a condition `{"field", "op", "value"}` or a
    /// combination `{"all": [..]}` / `{"any": [..]}`. See docs/search.md.
    #[schema(value_type = Option<Object>)]
    pub parameters: Option<Value>,
    /// PMT range + address: the lowest and highest score (inclusive).
    pub pmt_min: Option<f64>,
    pub pmt_max: Option<f64>,
    /// Households per page (JSON answers): 1-1000, default 100.
    pub page_size: Option<u32>,
    /// The `next_cursor` of the previous page of the same search.
    pub cursor: Option<String>,
    /// Add the number of matching households the caller may see.
    #[serde(default)]
    pub count: bool,
}

/// A geography unit as the store holds it: (code, level, parent).
pub type Unit = (i32, String, Option<i32>);

/// The levels of an address, from the top.
const LEVELS: [&str; 4] = ["province", "district", "tehsil", "uc"];

impl AreaIn {
    /// The codes named, for looking them up.
    pub fn codes(&self) -> Vec<i32> {
        [
            self.province,
            self.district,
            self.tehsil,
            self.union_council,
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    /// The deepest level named, as an [`Area`], after checking that every
    /// code exists at its level and each lies inside the one above it.
    pub fn resolve(&self, units: &[Unit]) -> Result<Area, ApiError> {
        let given = [
            self.province,
            self.district,
            self.tehsil,
            self.union_council,
        ];
        let names = ["province", "district", "tehsil", "union_council"];
        let find = |code: i32| units.iter().find(|u| u.0 == code);
        let mut deepest: Option<(usize, i32)> = None;
        for (i, code) in given.iter().enumerate() {
            let Some(code) = *code else { continue };
            let unit = find(code).filter(|u| u.1 == LEVELS[i]).ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "area.{}: no {} has code {code}",
                    names[i],
                    names[i].replace('_', " ")
                ))
            })?;
            if let Some((upper, upper_code)) = deepest {
                if ancestor(units, unit.0, upper) != Some(upper_code) {
                    return Err(ApiError::BadRequest(format!(
                        "area.{}: {code} is not inside {} {upper_code}",
                        names[i],
                        names[upper].replace('_', " ")
                    )));
                }
            }
            deepest = Some((i, code));
        }
        if self.village.is_some() && self.union_council.is_none() {
            return Err(ApiError::BadRequest(
                "area.village: a village is searched within a union_council; give its code".into(),
            ));
        }
        if let Some(v) = &self.village {
            if v.trim().is_empty() || v.len() > 100 {
                return Err(ApiError::BadRequest(
                    "area.village: expected a village name of 1-100 characters".into(),
                ));
            }
        }
        match deepest {
            Some((0, c)) => Ok(Area::Province(c)),
            Some((1, c)) => Ok(Area::District(c)),
            Some((2, c)) => Ok(Area::Tehsil(c)),
            Some((_, c)) => Ok(Area::UnionCouncil(c)),
            None => Err(ApiError::BadRequest(
                "area: name at least a province (province, district, tehsil, union_council codes)"
                    .into(),
            )),
        }
    }
}

/// The code of the unit at `level` (index into [`LEVELS`]) that contains `code`.
fn ancestor(units: &[Unit], code: i32, level: usize) -> Option<i32> {
    let mut current = units.iter().find(|u| u.0 == code)?.clone();
    for _ in 0..4 {
        if current.1 == LEVELS[level] {
            return Some(current.0);
        }
        let parent = current.2?;
        current = units.iter().find(|u| u.0 == parent)?.clone();
    }
    None
}

/// Whether `area` lies inside the user's level-3 scope (a district or tehsil
/// code); `units` must hold the area's unit and its ancestors.
pub fn within_scope(units: &[Unit], area: Area, scope: i32) -> bool {
    let Some(scope_unit) = units.iter().find(|u| u.0 == scope) else {
        return false;
    };
    let Some(level) = LEVELS.iter().position(|l| *l == scope_unit.1) else {
        return false;
    };
    let code = match area {
        Area::Province(c) | Area::District(c) | Area::Tehsil(c) | Area::UnionCouncil(c) => c,
    };
    ancestor(units, code, level) == Some(scope)
}

/// Parse `parameters` into a typed filter, naming whatever is not understood.
pub fn parse_filter(value: &Value) -> Result<Filter, ApiError> {
    let mut count = 0;
    let filter = parse_node(value, "parameters", 0, &mut count)?;
    if count == 0 {
        return Err(ApiError::BadRequest(
            "parameters: give at least one condition".into(),
        ));
    }
    Ok(filter)
}

fn bad(at: &str, what: impl std::fmt::Display) -> ApiError {
    ApiError::BadRequest(format!("{at}: {what}"))
}

fn parse_node(
    value: &Value,
    at: &str,
    depth: usize,
    count: &mut usize,
) -> Result<Filter, ApiError> {
    let Value::Object(map) = value else {
        return Err(bad(at, "expected an object: a condition {\"field\", \"op\", \"value\"} or {\"all\": [..]} / {\"any\": [..]}"));
    };
    if depth > MAX_DEPTH {
        return Err(bad(
            at,
            format!("combinations nest at most {MAX_DEPTH} deep"),
        ));
    }
    if let Some(key) = map
        .keys()
        .find(|k| k.as_str() == "all" || k.as_str() == "any")
    {
        if map.len() != 1 {
            let other = map.keys().find(|k| *k != key).cloned().unwrap_or_default();
            return Err(bad(at, format!("unknown key {other:?} beside {key:?}")));
        }
        let Some(Value::Array(items)) = map.get(key) else {
            return Err(bad(
                &format!("{at}.{key}"),
                "expected an array of conditions",
            ));
        };
        if items.is_empty() {
            return Err(bad(
                &format!("{at}.{key}"),
                "expected at least one condition",
            ));
        }
        let parts = items
            .iter()
            .enumerate()
            .map(|(i, v)| parse_node(v, &format!("{at}.{key}[{i}]"), depth + 1, count))
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(if key == "all" {
            Filter::All(parts)
        } else {
            Filter::Any(parts)
        });
    }
    if let Some(unknown) = map
        .keys()
        .find(|k| !matches!(k.as_str(), "field" | "op" | "value"))
    {
        return Err(bad(
            at,
            format!("unknown key {unknown:?}; a condition has field, op and value, a combination all or any"),
        ));
    }
    *count += 1;
    if *count > MAX_CONDITIONS {
        return Err(bad(at, format!("at most {MAX_CONDITIONS} conditions")));
    }
    parse_condition(map, at)
}

/// One condition `{"field", "op", "value"}` (its keys already checked).
#[allow(
    clippy::too_many_lines,
    reason = "one arm per kind of field, each with its own message"
)]
fn parse_condition(map: &serde_json::Map<String, Value>, at: &str) -> Result<Filter, ApiError> {
    let field = match map.get("field") {
        Some(Value::String(f)) => f.as_str(),
        _ => return Err(bad(&format!("{at}.field"), "expected a field name")),
    };
    let op = match map.get("op") {
        Some(Value::String(o)) => o.as_str(),
        _ => return Err(bad(&format!("{at}.op"), "expected an operator")),
    };
    let value = map
        .get("value")
        .ok_or_else(|| bad(&format!("{at}.value"), "expected a value"))?;
    let at_value = format!("{at}.value");
    if let Some(field) = TextField::from_name(field) {
        let one = |v: &Value| -> Result<&'static str, ApiError> {
            v.as_str().and_then(|s| field.value(s)).ok_or_else(|| {
                bad(
                    &at_value,
                    format!(
                        "unknown value {v} for {}; expected one of {}",
                        field.name(),
                        field.values().join(", ")
                    ),
                )
            })
        };
        let (values, negate) = match op {
            "eq" | "ne" => (vec![one(value)?], op == "ne"),
            "in" | "not_in" => {
                let Value::Array(items) = value else {
                    return Err(bad(&at_value, format!("{op} takes an array of values")));
                };
                if items.is_empty() || items.len() > MAX_VALUES {
                    return Err(bad(&at_value, format!("{op} takes 1-{MAX_VALUES} values")));
                }
                (
                    items.iter().map(one).collect::<Result<Vec<_>, _>>()?,
                    op == "not_in",
                )
            }
            other => {
                return Err(bad(
                    &format!("{at}.op"),
                    format!(
                        "unknown operator {other:?} for {}; expected eq, ne, in or not_in",
                        field.name()
                    ),
                ))
            }
        };
        return Ok(Filter::Test(Test::Text {
            field,
            values,
            negate,
        }));
    }
    if let Some(field) = FlagField::from_name(field) {
        if op != "eq" {
            return Err(bad(
                &format!("{at}.op"),
                format!("unknown operator {op:?} for {}; expected eq", field.name()),
            ));
        }
        let Value::Bool(b) = value else {
            return Err(bad(
                &at_value,
                format!("{} takes true or false", field.name()),
            ));
        };
        return Ok(Filter::Test(Test::Flag { field, value: *b }));
    }
    if let Some(field) = NumberField::from_name(field) {
        let cmp = match op {
            "eq" => Cmp::Eq,
            "ne" => Cmp::Ne,
            "lt" => Cmp::Lt,
            "le" => Cmp::Le,
            "gt" => Cmp::Gt,
            "ge" => Cmp::Ge,
            other => {
                return Err(bad(
                    &format!("{at}.op"),
                    format!(
                        "unknown operator {other:?} for {}; expected eq, ne, lt, le, gt or ge",
                        field.name()
                    ),
                ))
            }
        };
        let n = value
            .as_f64()
            .filter(|n| n.is_finite() && (-1e6..=1e6).contains(n))
            .ok_or_else(|| bad(&at_value, format!("{} takes a number", field.name())))?;
        if field.integral() && n.fract() != 0.0 {
            return Err(bad(
                &at_value,
                format!("{} takes a whole number", field.name()),
            ));
        }
        return Ok(Filter::Test(Test::Number {
            field,
            cmp,
            value: n,
        }));
    }
    let known: Vec<&str> = TextField::ALL
        .iter()
        .map(|f| f.name())
        .chain(FlagField::ALL.iter().map(|f| f.name()))
        .chain(NumberField::ALL.iter().map(|f| f.name()))
        .collect();
    Err(bad(
        &format!("{at}.field"),
        format!(
            "unknown field {field:?}; searchable fields are {}",
            known.join(", ")
        ),
    ))
}

/// Check a PMT range.
pub fn pmt_range(min: Option<f64>, max: Option<f64>) -> Result<(f64, f64), ApiError> {
    let lo = min.unwrap_or(0.0);
    let hi = max.unwrap_or(100.0);
    if !(0.0..=100.0).contains(&lo) || !(0.0..=100.0).contains(&hi) {
        return Err(ApiError::BadRequest(
            "pmt_min, pmt_max: scores lie between 0 and 100".into(),
        ));
    }
    if lo > hi {
        return Err(ApiError::BadRequest(format!(
            "pmt_min ({lo}) is above pmt_max ({hi})"
        )));
    }
    Ok((lo, hi))
}

/// Signed pagination cursors: `base64url(version | after_id | search digest | tag)`,
/// the tag an HMAC-SHA256 (truncated to 16 bytes) under a server key. The
/// digest binds the cursor to the search, client and user it was issued for.
pub struct Cursors {
    key: Vec<u8>,
}

const CURSOR_LEN: usize = 1 + 8 + 16 + 16;

impl Cursors {
    pub fn new(server_key: &[u8]) -> Self {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(server_key)
            .unwrap_or_else(|_| crate::audit::unreachable_mac());
        mac.update(b"nser-search-cursor-key");
        Self {
            key: mac.finalize().into_bytes().to_vec(),
        }
    }

    /// What a cursor is bound to: the search as parsed, the search type and the caller.
    pub fn digest(search: &Search, search_type: &str, caller: &str) -> [u8; 16] {
        let mut h = Sha256::new();
        h.update(format!("{search:?}|{search_type}|{caller}").as_bytes());
        let full = h.finalize();
        let mut out = [0u8; 16];
        out.copy_from_slice(&full[..16]);
        out
    }

    fn tag(&self, body: &[u8]) -> [u8; 16] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| crate::audit::unreachable_mac());
        mac.update(body);
        let full = mac.finalize().into_bytes();
        let mut out = [0u8; 16];
        out.copy_from_slice(&full[..16]);
        out
    }

    pub fn issue(&self, after_id: i64, digest: &[u8; 16]) -> String {
        use base64::Engine;
        let mut body = Vec::with_capacity(CURSOR_LEN);
        body.push(1u8);
        body.extend_from_slice(&after_id.to_be_bytes());
        body.extend_from_slice(digest);
        let tag = self.tag(&body);
        body.extend_from_slice(&tag);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(body)
    }

    /// The id a cursor continues after, if it is ours, untampered, and was
    /// issued for this very search.
    pub fn open(&self, cursor: &str, digest: &[u8; 16]) -> Result<i64, ApiError> {
        use base64::Engine;
        let invalid = || {
            ApiError::BadRequest(
                "cursor: not a cursor this gateway issued for this search (pass next_cursor unchanged, with the same search)".into(),
            )
        };
        if cursor.len() > 128 {
            return Err(invalid());
        }
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(cursor)
            .map_err(|_| invalid())?;
        if raw.len() != CURSOR_LEN || raw.first() != Some(&1) {
            return Err(invalid());
        }
        let (body, tag) = raw.split_at(CURSOR_LEN - 16);
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| crate::audit::unreachable_mac());
        mac.update(body);
        // Constant-time comparison of the (truncated) tags.
        mac.verify_truncated_left(tag).map_err(|_| invalid())?;
        if body.get(9..25) != Some(digest.as_slice()) {
            return Err(invalid());
        }
        let mut id = [0u8; 8];
        id.copy_from_slice(body.get(1..9).ok_or_else(invalid)?);
        Ok(i64::from_be_bytes(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn search() -> Search {
        Search {
            area: Some(Area::Tehsil(1)),
            village: None,
            filter: None,
            pmt: Some((0.0, 20.0)),
        }
    }

    #[test]
    fn cursors_round_trip_and_refuse_tampering_and_other_searches() {
        let c = Cursors::new(b"secret");
        let d = Cursors::digest(&search(), "pmt_range_address", "client/1");
        let cursor = c.issue(4242, &d);
        assert_eq!(c.open(&cursor, &d).unwrap(), 4242);
        // Every single-character change is refused.
        for i in 0..cursor.len() {
            let mut bytes = cursor.clone().into_bytes();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let tampered = String::from_utf8(bytes).unwrap();
            if tampered != cursor {
                assert!(c.open(&tampered, &d).is_err(), "position {i}");
            }
        }
        let other = Cursors::digest(&search(), "pmt_range_address", "client/2");
        assert!(c.open(&cursor, &other).is_err());
        assert!(Cursors::new(b"other").open(&cursor, &d).is_err());
        assert!(c.open("", &d).is_err());
        assert!(c.open(&"A".repeat(500), &d).is_err());
    }

    #[test]
    fn filters_parse_typed_and_refuse_what_they_do_not_know() {
        let f = parse_filter(&json!({"all": [
            {"field": "toilet", "op": "eq", "value": "none"},
            {"any": [
                {"field": "disability", "op": "in", "value": ["visual", "hearing"]},
                {"field": "rooms", "op": "le", "value": 2},
                {"field": "has_car", "op": "eq", "value": false}
            ]}
        ]}))
        .unwrap();
        assert!(matches!(f, Filter::All(ref p) if p.len() == 2));
        for (body, names) in [
            (
                json!({"field": "salary", "op": "eq", "value": 1}),
                "\"salary\"",
            ),
            (
                json!({"field": "toilet", "op": "like", "value": "n%"}),
                "\"like\"",
            ),
            (
                json!({"field": "toilet", "op": "eq", "value": "gold"}),
                "\"gold\"",
            ),
            (
                json!({"field": "toilet", "op": "eq", "value": "none", "or": 1}),
                "\"or\"",
            ),
            (json!({"all": [], "x": 1}), "\"x\""),
            (
                json!({"field": "rooms", "op": "eq", "value": 2.5}),
                "whole number",
            ),
            (
                json!({"field": "has_car", "op": "eq", "value": "yes"}),
                "true or false",
            ),
            (json!({"all": []}), "at least one"),
            (json!("toilet = none"), "expected an object"),
            (
                json!({"field": "latitude", "op": "gt", "value": 30}),
                "\"latitude\"",
            ),
        ] {
            let e = parse_filter(&body).unwrap_err().to_string();
            assert!(e.contains(names), "{body}: {e}");
        }
        let deep = json!({"all": [{"all": [{"all": [{"all": [{"all": [{"all": [
            {"field": "toilet", "op": "eq", "value": "none"}]}]}]}]}]}]});
        assert!(parse_filter(&deep).is_err());
    }

    #[test]
    fn areas_must_nest_and_scopes_contain() {
        let units: Vec<Unit> = vec![
            (1, "province".into(), None),
            (2, "province".into(), None),
            (101, "district".into(), Some(1)),
            (10101, "tehsil".into(), Some(101)),
            (1_010_101, "uc".into(), Some(10101)),
            (201, "district".into(), Some(2)),
        ];
        let area = |p, d, t, u| AreaIn {
            province: p,
            district: d,
            tehsil: t,
            union_council: u,
            village: None,
        };
        assert_eq!(
            area(Some(1), Some(101), None, Some(1_010_101))
                .resolve(&units)
                .unwrap(),
            Area::UnionCouncil(1_010_101)
        );
        assert!(area(Some(2), Some(101), None, None)
            .resolve(&units)
            .is_err());
        assert!(area(None, Some(10101), None, None).resolve(&units).is_err());
        assert!(area(None, None, None, None).resolve(&units).is_err());
        assert!(within_scope(&units, Area::UnionCouncil(1_010_101), 101));
        assert!(within_scope(&units, Area::District(101), 101));
        assert!(!within_scope(&units, Area::Province(1), 101));
        assert!(!within_scope(&units, Area::District(201), 101));
        assert!(!within_scope(&units, Area::District(101), 10101));
    }
}
