//! Test fixtures: the store's field list as the api will pass it, records
//! built from JSON, and a policy keyed with a fixed test secret.
#![allow(dead_code, reason = "each test binary uses a different part")]
#![allow(
    clippy::unreadable_literal,
    reason = "codes and ids as the registry writes them"
)]

use chrono::{NaiveDate, NaiveDateTime};
use policy::{Catalogue, Entity, FieldSpec, FieldType, Policy, Pseudonymiser, Record, Value};

macro_rules! fields {
    ($($entity:ident: $($name:ident $ty:ident $($null:literal)?),* ;)*) => {
        &[$($(FieldSpec {
            entity: Entity::$entity,
            name: stringify!($name),
            ty: FieldType::$ty,
            nullable: fields!(@null $($null)?),
        },)*)*]
    };
    (@null) => { false };
    (@null $n:literal) => { $n };
}

/// The store's registry fields (crates/store `REGISTRY_FIELDS`), in column order.
pub const FIELDS: &[FieldSpec] = fields! {
    Household:
        id Int, province_code Int, district_code Int, tehsil_code Int, uc_code Int,
        village Text, address_line Text, latitude Float, longitude Float, rooms Int,
        tenure Text, wall_material Text, roof_material Text, toilet Text, water_source Text,
        electricity Text, cooking_fuel Text, has_refrigerator Bool, has_television Bool,
        has_washing_machine Bool, has_air_conditioner Bool, has_motorcycle Bool, has_car Bool,
        land_acres Float, cattle Int, goats_sheep Int, size Int, pmt_score Float,
        survey_date Date, beneficiary_status Text, programme Text true,
        enrolment_date Date true, beneficiary_cnic Text true, payment_channel Text true;
    Member:
        id Int, household_id Int, line_no Int, cnic Text, full_name Text, guardian_name Text,
        relation Text, gender Text, date_of_birth Date, marital_status Text, disability Text,
        education Text, school_enrolled Bool true, employment_status Text,
        occupation Text true, contact_number Text true, sensitive_answers Text true;
    Payment:
        id Int, household_id Int, instalment Text, amount_pkr Int, paid_on Date, channel Text;
    Flag:
        id Int, household_id Int, kind Text, status Text, source Text, source_ref Text,
        raised_at Timestamp, cleared_at Timestamp true, note Text true;
};

pub const CATALOGUE: &str = include_str!("../../catalogue.toml");
pub const SECRET: &[u8] = b"test secret: 32 bytes or more, never used in production";

pub fn catalogue() -> Catalogue {
    match Catalogue::from_toml(CATALOGUE, FIELDS) {
        Ok(c) => c,
        Err(e) => panic!("the shipped catalogue does not load: {e}"),
    }
}

pub fn pseudonymiser() -> Pseudonymiser {
    match Pseudonymiser::new(SECRET) {
        Ok(p) => p,
        Err(e) => panic!("{e}"),
    }
}

pub fn policy() -> Policy {
    Policy::new(catalogue(), pseudonymiser())
}

/// An owned field value.
#[derive(Debug, Clone, PartialEq)]
pub enum Owned {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
    Date(NaiveDate),
    Timestamp(NaiveDateTime),
}

/// A row held as owned values, indexed like the store's columns.
#[derive(Debug, Clone, PartialEq)]
pub struct Row(pub Vec<Owned>);

impl Record for Row {
    fn value(&self, field: usize) -> Value<'_> {
        match self.0.get(field) {
            None | Some(Owned::Null) => Value::Null,
            Some(Owned::Bool(b)) => Value::Bool(*b),
            Some(Owned::Int(i)) => Value::Int(*i),
            Some(Owned::Float(x)) => Value::Float(*x),
            Some(Owned::Text(s)) => Value::Text(s),
            Some(Owned::Date(d)) => Value::Date(*d),
            Some(Owned::Timestamp(t)) => Value::Timestamp(*t),
        }
    }
}

pub fn specs(entity: Entity) -> impl Iterator<Item = &'static FieldSpec> {
    FIELDS.iter().filter(move |s| s.entity == entity)
}

/// A row from a JSON object keyed by field name; dates as `YYYY-MM-DD`,
/// timestamps as `YYYY-MM-DDTHH:MM:SS`. Missing keys are null.
pub fn row_from_json(entity: Entity, object: &serde_json::Value) -> Row {
    Row(specs(entity)
        .map(|spec| {
            let v = &object[spec.name];
            match (spec.ty, v) {
                (_, serde_json::Value::Null) => Owned::Null,
                (FieldType::Bool, serde_json::Value::Bool(b)) => Owned::Bool(*b),
                (FieldType::Int, v) if v.is_i64() => Owned::Int(v.as_i64().unwrap_or_default()),
                (FieldType::Float, v) if v.is_number() => {
                    Owned::Float(v.as_f64().unwrap_or_default())
                }
                (FieldType::Text, serde_json::Value::String(s)) => Owned::Text(s.clone()),
                (FieldType::Date, serde_json::Value::String(s)) => match s.parse() {
                    Ok(d) => Owned::Date(d),
                    Err(e) => panic!("{}.{}: {e}", entity, spec.name),
                },
                (FieldType::Timestamp, serde_json::Value::String(s)) => match s.parse() {
                    Ok(t) => Owned::Timestamp(t),
                    Err(e) => panic!("{}.{}: {e}", entity, spec.name),
                },
                (ty, v) => panic!("{}.{}: {v} is not a {ty}", entity, spec.name),
            }
        })
        .collect())
}

/// A household and what hangs off it, owned.
#[derive(Debug, Clone, PartialEq)]
pub struct Fixture {
    pub id: i64,
    pub household: Row,
    pub members: Vec<Row>,
    pub payments: Vec<Row>,
    pub flags: Vec<Row>,
}

impl Fixture {
    /// From `{"household": {..}, "members": [..], "payments": [..], "flags": [..]}`.
    pub fn from_json(v: &serde_json::Value) -> Fixture {
        let rows = |key: &str, entity| {
            v[key].as_array().map_or_else(Vec::new, |a| {
                a.iter().map(|o| row_from_json(entity, o)).collect()
            })
        };
        Fixture {
            id: v["household"]["id"].as_i64().unwrap_or_default(),
            household: row_from_json(Entity::Household, &v["household"]),
            members: rows("members", Entity::Member),
            payments: rows("payments", Entity::Payment),
            flags: rows("flags", Entity::Flag),
        }
    }
}

/// A sample household: head + 6 members, 2 payments, 1 flag.
pub fn sample_household_json(id: i64) -> serde_json::Value {
    let member = |line: i64, name: &str, relation: &str, gender: &str, dob: &str, cnic: &str| {
        serde_json::json!({
            "id": id * 10 + line, "household_id": id, "line_no": line, "cnic": cnic,
            "full_name": name, "guardian_name": "Muhammad Akram", "relation": relation,
            "gender": gender, "date_of_birth": dob, "marital_status": "married",
            "disability": "none", "education": "primary", "school_enrolled": null,
            "employment_status": "daily_wage", "occupation": "labourer",
            "contact_number": "03001234567", "sensitive_answers": "{\"q17\":\"yes\"}"
        })
    };
    serde_json::json!({
        "household": {
            "id": id, "province_code": 3, "district_code": 301, "tehsil_code": 30101,
            "uc_code": 3010105, "village": "Basti Malook", "address_line": "House 12, Gali 4",
            "latitude": 30.1575, "longitude": 71.5249, "rooms": 2, "tenure": "owned",
            "wall_material": "mud", "roof_material": "wood", "toilet": "none",
            "water_source": "hand_pump", "electricity": "grid", "cooking_fuel": "wood",
            "has_refrigerator": false, "has_television": true, "has_washing_machine": false,
            "has_air_conditioner": false, "has_motorcycle": true, "has_car": false,
            "land_acres": 0.5, "cattle": 1, "goats_sheep": 3, "size": 7, "pmt_score": 23.4,
            "survey_date": "2021-03-14", "beneficiary_status": "beneficiary",
            "programme": "kafaalat", "enrolment_date": "2021-09-01",
            "beneficiary_cnic": "3630212345672", "payment_channel": "bank_account"
        },
        "members": [
            member(1, "Muhammad Akram", "head", "male", "1978-05-02", "3630212345671"),
            member(2, "Shazia Bibi", "spouse", "female", "1982-11-20", "3630212345672"),
            member(3, "Ali Akram", "son", "male", "2004-01-15", "3630212345673"),
            member(4, "Ayesha Akram", "daughter", "female", "2006-07-30", "3630212345674"),
            member(5, "Usman Akram", "son", "male", "2009-03-03", "3630212345675"),
            member(6, "Fatima Akram", "daughter", "female", "2012-12-12", "3630212345676"),
            member(7, "Bilal Akram", "son", "male", "2016-08-08", "3630212345677"),
        ],
        "payments": [
            {"id": id * 100 + 1, "household_id": id, "instalment": "2024-Q3",
             "amount_pkr": 10500, "paid_on": "2024-09-15", "channel": "bank_account"},
            {"id": id * 100 + 2, "household_id": id, "instalment": "2024-Q4",
             "amount_pkr": 10500, "paid_on": "2024-12-15", "channel": "bank_account"}
        ],
        "flags": [
            {"id": id * 100 + 1, "household_id": id, "kind": "vehicle_registration",
             "status": "open", "source": "excise_taxation", "source_ref": "ET-PB-2025-0042",
             "raised_at": "2025-01-10T09:30:00", "cleared_at": null, "note": null}
        ]
    })
}
