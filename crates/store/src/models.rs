//! Rows of the registry, one struct per table, used both to insert and to read.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
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

/// The type of a registry field, as the policy catalogue checks masks against it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    Int,
    Float,
    Bool,
    Text,
    Date,
    Timestamp,
}

/// A registry field as the store names it: the policy catalogue must classify
/// every one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldDef {
    pub entity: &'static str,
    pub name: &'static str,
    pub ty: FieldType,
    pub nullable: bool,
}

macro_rules! fields {
    ($entity:literal: $($name:ident $ty:ident $($null:literal)?),* $(,)?) => {
        &[$(FieldDef { entity: $entity, name: stringify!($name), ty: FieldType::$ty, nullable: fields!(@null $($null)?) }),*]
    };
    (@null) => { false };
    (@null $n:literal) => { $n };
}

/// Every field the store holds for a household and what hangs off it, in
/// column order per entity.
pub const REGISTRY_FIELDS: &[&[FieldDef]] = &[
    fields!("household":
        id Int, province_code Int, district_code Int, tehsil_code Int, uc_code Int,
        village Text, address_line Text, latitude Float, longitude Float, rooms Int,
        tenure Text, wall_material Text, roof_material Text, toilet Text, water_source Text,
        electricity Text, cooking_fuel Text, has_refrigerator Bool, has_television Bool,
        has_washing_machine Bool, has_air_conditioner Bool, has_motorcycle Bool, has_car Bool,
        land_acres Float, cattle Int, goats_sheep Int, size Int, pmt_score Float,
        survey_date Date, beneficiary_status Text, programme Text true,
        enrolment_date Date true, beneficiary_cnic Text true, payment_channel Text true),
    fields!("member":
        id Int, household_id Int, line_no Int, cnic Text, full_name Text, guardian_name Text,
        relation Text, gender Text, date_of_birth Date, marital_status Text, disability Text,
        education Text, school_enrolled Bool true, employment_status Text,
        occupation Text true, contact_number Text true, sensitive_answers Text true),
    fields!("payment":
        id Int, household_id Int, instalment Text, amount_pkr Int, paid_on Date, channel Text),
    fields!("flag":
        id Int, household_id Int, kind Text, status Text, source Text, source_ref Text,
        raised_at Timestamp, cleared_at Timestamp true, note Text true),
];
