//! Store round trips and migrations, on SQLite and (with `DATABASE_URL`) PostgreSQL.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::unreadable_literal,
    reason = "tests: geography codes read best unseparated"
)]

use chrono::NaiveDate;
use store::registry::{self, Area, Batch};
use store::testing::TestDb;
use store::{Flag, GeoUnit, Household, Member, Payment};

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn household(id: i64, tehsil: i32, uc: i32, pmt: f64) -> Household {
    Household {
        id,
        province_code: 3,
        district_code: 301,
        tehsil_code: tehsil,
        uc_code: uc,
        village: "Chak 42".into(),
        address_line: "House 7, Street 2".into(),
        latitude: 31.52,
        longitude: 74.36,
        rooms: 2,
        tenure: "owned".into(),
        wall_material: "burnt_brick".into(),
        roof_material: "rcc".into(),
        toilet: "flush".into(),
        water_source: "piped".into(),
        electricity: "grid".into(),
        cooking_fuel: "gas".into(),
        has_refrigerator: true,
        has_television: true,
        has_washing_machine: false,
        has_air_conditioner: false,
        has_motorcycle: true,
        has_car: false,
        land_acres: 0.5,
        cattle: 1,
        goats_sheep: 0,
        size: 2,
        pmt_score: pmt,
        survey_date: date(2022, 3, 14),
        beneficiary_status: "active".into(),
        programme: Some("kafaalat".into()),
        enrolment_date: Some(date(2022, 6, 1)),
        beneficiary_cnic: Some(format!("35202{id:07}2")),
        payment_channel: Some("bank_account".into()),
    }
}

fn member(id: i64, household_id: i64, line_no: i32, cnic: &str, male: bool) -> Member {
    Member {
        id,
        household_id,
        line_no,
        cnic: cnic.into(),
        full_name: if male {
            "Muhammad Aslam Butt"
        } else {
            "Fatima Bibi"
        }
        .into(),
        guardian_name: "Ghulam Rasool Butt".into(),
        relation: if line_no == 1 { "head" } else { "spouse" }.into(),
        gender: if male { "male" } else { "female" }.into(),
        date_of_birth: date(1980, 1, 1),
        marital_status: "married".into(),
        disability: "none".into(),
        education: "matric".into(),
        school_enrolled: None,
        employment_status: "employed".into(),
        occupation: Some("tailor".into()),
        contact_number: Some("0300-1234567".into()),
        sensitive_answers: Some(r#"{"in_debt":true}"#.into()),
    }
}

fn geo() -> Vec<GeoUnit> {
    let u = |code, level: &str, parent| GeoUnit {
        code,
        level: level.into(),
        name: format!("{level} {code}"),
        parent_code: parent,
    };
    vec![
        u(3, "province", None),
        u(301, "district", Some(3)),
        u(30101, "tehsil", Some(301)),
        u(30102, "tehsil", Some(301)),
        u(30101001, "uc", Some(30101)),
        u(30102001, "uc", Some(30102)),
    ]
}

fn sample() -> Batch {
    Batch {
        households: vec![
            household(1, 30101, 30101001, 12.5),
            household(2, 30101, 30101001, 45.0),
            household(3, 30102, 30102001, 20.0),
        ],
        members: vec![
            member(1, 1, 1, "3520200000011", true),
            member(2, 1, 2, "3520200000022", false),
            member(3, 2, 1, "3520200000033", true),
            member(4, 3, 1, "3520200000045", true),
        ],
        payments: vec![Payment {
            id: 1,
            household_id: 1,
            instalment: "2026-Q1".into(),
            amount_pkr: 13_500,
            paid_on: date(2026, 2, 10),
            channel: "bank_account".into(),
        }],
        flags: vec![Flag {
            id: 1,
            household_id: 1,
            kind: "vehicle_registration".into(),
            status: "open".into(),
            source: "Excise & Taxation".into(),
            source_ref: "ET-2026-00000001".into(),
            raised_at: date(2026, 3, 1).and_hms_opt(10, 30, 0).unwrap(),
            cleared_at: None,
            note: None,
        }],
    }
}

#[test]
fn migrations_apply_once_then_are_a_no_op() {
    for db in TestDb::all() {
        let mut conn = db.url.connect().unwrap();
        let first = store::migrate::run(&mut conn).unwrap();
        assert!(
            !first.is_empty(),
            "{}: nothing applied on an empty database",
            db.backend()
        );
        assert_eq!(store::migrate::pending(&mut conn).unwrap(), 0);
        let second = store::migrate::run(&mut conn).unwrap();
        assert!(
            second.is_empty(),
            "{}: second run applied {second:?}",
            db.backend()
        );
    }
}

#[test]
fn a_household_round_trips_and_is_found_by_cnic_geography_and_pmt() {
    for db in TestDb::all() {
        let be = db.backend();
        let mut conn = db.url.connect().unwrap();
        store::migrate::run(&mut conn).unwrap();
        registry::insert_geo_units(&mut conn, &geo()).unwrap();
        let batch = sample();
        registry::insert_batch(&mut conn, &batch).unwrap();

        // By CNIC: the whole household, members in line order, payments and flags.
        let rec = registry::household_by_cnic(&mut conn, "3520200000022")
            .unwrap()
            .unwrap();
        assert_eq!(rec.household, batch.households[0], "{be}");
        assert_eq!(rec.members, batch.members[..2].to_vec(), "{be}");
        assert_eq!(rec.payments, batch.payments, "{be}");
        assert_eq!(rec.flags, batch.flags, "{be}");
        assert!(
            registry::household_by_cnic(&mut conn, "3520299999991")
                .unwrap()
                .is_none(),
            "{be}"
        );

        let pmt = registry::pmt_by_cnic(&mut conn, "3520200000033")
            .unwrap()
            .unwrap();
        assert_eq!(
            (pmt.household_id, pmt.pmt_score, pmt.size),
            (2, 45.0, 2),
            "{be}"
        );

        // By geography.
        let ids = |area, range| {
            registry::household_ids_in_area(&mut db.url.connect().unwrap(), area, range, 0, 100)
                .unwrap()
        };
        assert_eq!(ids(Area::Province(3), None), vec![1, 2, 3], "{be}");
        assert_eq!(ids(Area::District(301), None), vec![1, 2, 3], "{be}");
        assert_eq!(ids(Area::Tehsil(30101), None), vec![1, 2], "{be}");
        assert_eq!(ids(Area::UnionCouncil(30102001), None), vec![3], "{be}");
        assert!(ids(Area::District(302), None).is_empty(), "{be}");
        // By PMT range within a geography (inclusive bounds).
        assert_eq!(
            ids(Area::District(301), Some((0.0, 20.0))),
            vec![1, 3],
            "{be}"
        );
        assert_eq!(
            ids(Area::Tehsil(30101), Some((12.5, 12.5))),
            vec![1],
            "{be}"
        );
        // Paging: after an id, with a limit.
        assert_eq!(
            registry::household_ids_in_area(&mut conn, Area::Province(3), None, 1, 1).unwrap(),
            vec![2],
            "{be}"
        );

        assert_eq!(registry::household_count(&mut conn).unwrap(), 3, "{be}");
        assert_eq!(registry::geo_units(&mut conn).unwrap(), geo(), "{be}");
    }
}

#[test]
fn a_duplicate_cnic_is_refused() {
    for db in TestDb::all() {
        let mut conn = db.url.connect().unwrap();
        store::migrate::run(&mut conn).unwrap();
        registry::insert_geo_units(&mut conn, &geo()).unwrap();
        let mut batch = sample();
        batch.members[1].cnic = batch.members[0].cnic.clone();
        assert!(
            registry::insert_batch(&mut conn, &batch).is_err(),
            "{}",
            db.backend()
        );
    }
}

#[test]
fn sqlite_connections_get_their_pragmas() {
    use diesel::prelude::*;
    #[derive(QueryableByName)]
    struct Mode {
        #[diesel(sql_type = diesel::sql_types::Text)]
        journal_mode: String,
    }
    #[derive(QueryableByName)]
    struct Fk {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        foreign_keys: i32,
    }
    let db = TestDb::sqlite();
    let mut conn = db.url.connect().unwrap();
    let store::DbConn::Sqlite(c) = &mut conn else {
        unreachable!()
    };
    let mode: Mode = diesel::sql_query("PRAGMA journal_mode")
        .get_result(c)
        .unwrap();
    let fk: Fk = diesel::sql_query("PRAGMA foreign_keys")
        .get_result(c)
        .unwrap();
    assert_eq!(mode.journal_mode, "wal");
    assert_eq!(fk.foreign_keys, 1);
}

#[test]
fn unusable_locations_give_clear_errors() {
    let missing = store::DatabaseUrl::parse("/nonexistent-dir-for-nser/registry.db").unwrap();
    let err = missing.connect().err().unwrap().to_string();
    assert!(err.contains("create it first"), "{err}");
    let unreachable = store::DatabaseUrl::parse("postgres://nobody@127.0.0.1:1/none").unwrap();
    let err = unreachable.connect().err().unwrap().to_string();
    assert!(err.contains("cannot connect"), "{err}");
}

#[test]
fn the_policy_catalogue_classifies_every_store_field() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../policy/catalogue.toml"
    ))
    .unwrap();
    policy::Catalogue::from_toml(&text, &store::registry_fields()).unwrap();
}

#[test]
fn records_read_every_field_in_column_order() {
    use policy::{Record, Value};
    let h = household(9, 30101, 30101001, 12.5);
    for (i, spec) in store::models::HOUSEHOLD_FIELDS.iter().enumerate() {
        let v = h.value(i);
        let matches = matches!(
            (spec.ty, v),
            (policy::FieldType::Int, Value::Int(_))
                | (policy::FieldType::Float, Value::Float(_))
                | (policy::FieldType::Bool, Value::Bool(_))
                | (policy::FieldType::Text, Value::Text(_))
                | (policy::FieldType::Date, Value::Date(_))
        );
        assert!(
            matches || (spec.nullable && v == Value::Null),
            "{} read as {v:?}",
            spec.name
        );
    }
    assert_eq!(h.value(27), Value::Float(12.5));
    let m = member(1, 9, 1, "3520200000011", true);
    assert_eq!(m.value(3), Value::Text("3520200000011"));
    assert_eq!(m.value(store::models::MEMBER_FIELDS.len()), Value::Null);
}
