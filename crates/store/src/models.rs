//! Rows of the registry, one struct per table, used both to insert and to read.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use policy::{Entity, FieldSpec, FieldType, Record, Value};
use serde::Serialize;

use crate::schema::{cct_payments, geo_units, household_flags, households, members};

/// A unit of the administrative geography: province > district > tehsil > union council.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, Serialize)]
#[diesel(table_name = geo_units)]
pub struct GeoUnit {
    pub code: i32,
    pub level: String,
    pub name: String,
    pub parent_code: Option<i32>,
}

/// A surveyed household: where it is, how it lives, what it owns, its PMT score
/// and its standing with BISP.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, Serialize)]
#[diesel(table_name = households)]
#[allow(
    clippy::struct_excessive_bools,
    reason = "the survey records each asset as owned or not"
)]
pub struct Household {
    pub id: i64,
    pub province_code: i32,
    pub district_code: i32,
    pub tehsil_code: i32,
    pub uc_code: i32,
    pub village: String,
    pub address_line: String,
    pub latitude: f64,
    pub longitude: f64,
    pub rooms: i32,
    pub tenure: String,
    pub wall_material: String,
    pub roof_material: String,
    pub toilet: String,
    pub water_source: String,
    pub electricity: String,
    pub cooking_fuel: String,
    pub has_refrigerator: bool,
    pub has_television: bool,
    pub has_washing_machine: bool,
    pub has_air_conditioner: bool,
    pub has_motorcycle: bool,
    pub has_car: bool,
    pub land_acres: f64,
    pub cattle: i32,
    pub goats_sheep: i32,
    pub size: i32,
    pub pmt_score: f64,
    pub survey_date: NaiveDate,
    pub beneficiary_status: String,
    pub programme: Option<String>,
    pub enrolment_date: Option<NaiveDate>,
    pub beneficiary_cnic: Option<String>,
    pub payment_channel: Option<String>,
}

/// A member of a household. `cnic` is the 13-digit CNIC (or B-form for
/// children), stored without dashes.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, Serialize)]
#[diesel(table_name = members)]
pub struct Member {
    pub id: i64,
    pub household_id: i64,
    pub line_no: i32,
    pub cnic: String,
    pub full_name: String,
    pub guardian_name: String,
    pub relation: String,
    pub gender: String,
    pub date_of_birth: NaiveDate,
    pub marital_status: String,
    pub disability: String,
    pub education: String,
    pub school_enrolled: Option<bool>,
    pub employment_status: String,
    pub occupation: Option<String>,
    pub contact_number: Option<String>,
    pub sensitive_answers: Option<String>,
}

/// One conditional cash transfer paid to a beneficiary household.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, Serialize)]
#[diesel(table_name = cct_payments)]
pub struct Payment {
    pub id: i64,
    pub household_id: i64,
    pub instalment: String,
    pub amount_pkr: i64,
    pub paid_on: NaiveDate,
    pub channel: String,
}

/// A hold or flag on a household, with where it came from (the source agency
/// and its reference) so it can be verified or cleared.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, Serialize)]
#[diesel(table_name = household_flags)]
pub struct Flag {
    pub id: i64,
    pub household_id: i64,
    pub kind: String,
    pub status: String,
    pub source: String,
    pub source_ref: String,
    pub raised_at: NaiveDateTime,
    pub cleared_at: Option<NaiveDateTime>,
    pub note: Option<String>,
}

/// A household with everything that hangs off it, as the API serves it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HouseholdRecord {
    pub household: Household,
    pub members: Vec<Member>,
    pub payments: Vec<Payment>,
    pub flags: Vec<Flag>,
}

macro_rules! fields {
    ($entity:ident: $($name:ident $ty:ident $($null:literal)?),* $(,)?) => {
        &[$(FieldSpec {
            entity: Entity::$entity,
            name: stringify!($name),
            ty: FieldType::$ty,
            nullable: fields!(@null $($null)?),
        }),*]
    };
    (@null) => { false };
    (@null $n:literal) => { $n };
}

/// Every field the store holds for a household and what hangs off it, per
/// entity in column order: the policy catalogue must classify each, and each
/// row's [`Record`] index is its position here.
pub const HOUSEHOLD_FIELDS: &[FieldSpec] = fields!(Household:
    id Int, province_code Int, district_code Int, tehsil_code Int, uc_code Int,
    village Text, address_line Text, latitude Float, longitude Float, rooms Int,
    tenure Text, wall_material Text, roof_material Text, toilet Text, water_source Text,
    electricity Text, cooking_fuel Text, has_refrigerator Bool, has_television Bool,
    has_washing_machine Bool, has_air_conditioner Bool, has_motorcycle Bool, has_car Bool,
    land_acres Float, cattle Int, goats_sheep Int, size Int, pmt_score Float,
    survey_date Date, beneficiary_status Text, programme Text true,
    enrolment_date Date true, beneficiary_cnic Text true, payment_channel Text true);
pub const MEMBER_FIELDS: &[FieldSpec] = fields!(Member:
    id Int, household_id Int, line_no Int, cnic Text, full_name Text, guardian_name Text,
    relation Text, gender Text, date_of_birth Date, marital_status Text, disability Text,
    education Text, school_enrolled Bool true, employment_status Text,
    occupation Text true, contact_number Text true, sensitive_answers Text true);
pub const PAYMENT_FIELDS: &[FieldSpec] = fields!(Payment:
    id Int, household_id Int, instalment Text, amount_pkr Int, paid_on Date, channel Text);
pub const FLAG_FIELDS: &[FieldSpec] = fields!(Flag:
    id Int, household_id Int, kind Text, status Text, source Text, source_ref Text,
    raised_at Timestamp, cleared_at Timestamp true, note Text true);

/// All of them, for [`policy::Catalogue::from_toml`].
#[must_use]
pub fn registry_fields() -> Vec<FieldSpec> {
    [HOUSEHOLD_FIELDS, MEMBER_FIELDS, PAYMENT_FIELDS, FLAG_FIELDS].concat()
}

fn text(s: &str) -> Value<'_> {
    Value::Text(s)
}

fn opt_text(s: Option<&String>) -> Value<'_> {
    s.map_or(Value::Null, |s| Value::Text(s))
}

impl Record for Household {
    fn value(&self, field: usize) -> Value<'_> {
        match field {
            0 => Value::Int(self.id),
            1 => Value::Int(self.province_code.into()),
            2 => Value::Int(self.district_code.into()),
            3 => Value::Int(self.tehsil_code.into()),
            4 => Value::Int(self.uc_code.into()),
            5 => text(&self.village),
            6 => text(&self.address_line),
            7 => Value::Float(self.latitude),
            8 => Value::Float(self.longitude),
            9 => Value::Int(self.rooms.into()),
            10 => text(&self.tenure),
            11 => text(&self.wall_material),
            12 => text(&self.roof_material),
            13 => text(&self.toilet),
            14 => text(&self.water_source),
            15 => text(&self.electricity),
            16 => text(&self.cooking_fuel),
            17 => Value::Bool(self.has_refrigerator),
            18 => Value::Bool(self.has_television),
            19 => Value::Bool(self.has_washing_machine),
            20 => Value::Bool(self.has_air_conditioner),
            21 => Value::Bool(self.has_motorcycle),
            22 => Value::Bool(self.has_car),
            23 => Value::Float(self.land_acres),
            24 => Value::Int(self.cattle.into()),
            25 => Value::Int(self.goats_sheep.into()),
            26 => Value::Int(self.size.into()),
            27 => Value::Float(self.pmt_score),
            28 => Value::Date(self.survey_date),
            29 => text(&self.beneficiary_status),
            30 => opt_text(self.programme.as_ref()),
            31 => self.enrolment_date.map_or(Value::Null, Value::Date),
            32 => opt_text(self.beneficiary_cnic.as_ref()),
            33 => opt_text(self.payment_channel.as_ref()),
            _ => Value::Null,
        }
    }
}

impl Record for Member {
    fn value(&self, field: usize) -> Value<'_> {
        match field {
            0 => Value::Int(self.id),
            1 => Value::Int(self.household_id),
            2 => Value::Int(self.line_no.into()),
            3 => text(&self.cnic),
            4 => text(&self.full_name),
            5 => text(&self.guardian_name),
            6 => text(&self.relation),
            7 => text(&self.gender),
            8 => Value::Date(self.date_of_birth),
            9 => text(&self.marital_status),
            10 => text(&self.disability),
            11 => text(&self.education),
            12 => self.school_enrolled.map_or(Value::Null, Value::Bool),
            13 => text(&self.employment_status),
            14 => opt_text(self.occupation.as_ref()),
            15 => opt_text(self.contact_number.as_ref()),
            16 => opt_text(self.sensitive_answers.as_ref()),
            _ => Value::Null,
        }
    }
}

impl Record for Payment {
    fn value(&self, field: usize) -> Value<'_> {
        match field {
            0 => Value::Int(self.id),
            1 => Value::Int(self.household_id),
            2 => text(&self.instalment),
            3 => Value::Int(self.amount_pkr),
            4 => Value::Date(self.paid_on),
            5 => text(&self.channel),
            _ => Value::Null,
        }
    }
}

impl Record for Flag {
    fn value(&self, field: usize) -> Value<'_> {
        match field {
            0 => Value::Int(self.id),
            1 => Value::Int(self.household_id),
            2 => text(&self.kind),
            3 => text(&self.status),
            4 => text(&self.source),
            5 => text(&self.source_ref),
            6 => Value::Timestamp(self.raised_at),
            7 => self.cleared_at.map_or(Value::Null, Value::Timestamp),
            8 => opt_text(self.note.as_ref()),
            _ => Value::Null,
        }
    }
}
