//! The generator: deterministic per seed, internally consistent, and written
//! whole or not at all.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_precision_loss,
    reason = "tests"
)]

use chrono::Datelike;
use store::testing::TestDb;
use synth::{Generator, KAFAALAT_CUTOFF};

fn years_between(a: chrono::NaiveDate, b: chrono::NaiveDate) -> i32 {
    b.year() - a.year() - i32::from((b.month(), b.day()) < (a.month(), a.day()))
}

#[test]
fn same_seed_same_registry_other_seed_other_registry() {
    let a = Generator::new(42).next_batch(300).unwrap();
    let b = Generator::new(42).next_batch(300).unwrap();
    let c = Generator::new(43).next_batch(300).unwrap();
    assert_eq!(a.households, b.households);
    assert_eq!(a.members, b.members);
    let cnics =
        |x: &store::registry::Batch| x.members.iter().map(|m| m.cnic.clone()).collect::<Vec<_>>();
    assert_ne!(cnics(&a), cnics(&c));
    let scores = |x: &store::registry::Batch| {
        x.households
            .iter()
            .map(|h| h.pmt_score.to_bits())
            .collect::<Vec<_>>()
    };
    assert_ne!(scores(&a), scores(&c));
}

#[test]
fn households_are_internally_consistent() {
    let mut g = Generator::new(7);
    let geo = g.geography().clone();
    assert!(
        geo.district_count() >= 100,
        "only {} districts",
        geo.district_count()
    );
    let mut sizes = 0usize;
    let mut eligible = 0usize;
    let mut enrolled = 0usize;
    let mut cnics = std::collections::HashSet::new();
    let n = 5_000;
    for _ in 0..n {
        let h = g.next_household().unwrap();
        let hh = &h.household;
        assert_eq!(usize::try_from(hh.size).unwrap(), h.members.len());
        sizes += h.members.len();
        assert!((0.0..=100.0).contains(&hh.pmt_score));
        // Codes nest: each code's ancestors are its prefix.
        assert_eq!(hh.uc_code / 1000, hh.tehsil_code);
        assert_eq!(hh.tehsil_code / 100, hh.district_code);
        assert_eq!(hh.district_code / 100, hh.province_code);
        let head = &h.members[0];
        assert_eq!(head.relation, "head");
        assert_eq!(h.members.iter().filter(|m| m.relation == "head").count(), 1);
        let head_age = years_between(head.date_of_birth, hh.survey_date);
        assert!(head_age >= 18, "head aged {head_age}");
        for m in &h.members {
            // CNIC shape: 13 digits, first the province, last odd for men and even for women.
            assert_eq!(m.cnic.len(), 13);
            assert!(m.cnic.bytes().all(|b| b.is_ascii_digit()));
            assert_eq!(
                i32::from(m.cnic.as_bytes()[0] - b'0'),
                hh.province_code,
                "{}",
                m.cnic
            );
            let last = m.cnic.as_bytes()[12] - b'0';
            assert_eq!(
                last % 2 == 1,
                m.gender == "male",
                "{} is {}",
                m.cnic,
                m.gender
            );
            assert!(cnics.insert(m.cnic.clone()), "duplicate CNIC {}", m.cnic);
            assert!(m.date_of_birth <= hh.survey_date, "born after the survey");
            let age = years_between(m.date_of_birth, hh.survey_date);
            if matches!(m.relation.as_str(), "son" | "daughter") {
                let mother = h.members.iter().find(|p| {
                    p.gender == "female" && matches!(p.relation.as_str(), "head" | "spouse")
                });
                if let Some(mother) = mother {
                    let gap = years_between(mother.date_of_birth, m.date_of_birth);
                    assert!(gap >= 15, "mother {gap} years older than child");
                }
                assert!(age < head_age, "child older than the head");
            }
            if matches!(m.relation.as_str(), "father" | "mother") {
                assert!(age > head_age + 15);
            }
            if age < 5 {
                assert_eq!(m.education, "none");
            }
            if m.contact_number.is_some() {
                assert!(age >= 18);
            }
        }
        if hh.pmt_score <= KAFAALAT_CUTOFF {
            eligible += 1;
        }
        if hh.beneficiary_status == "not_enrolled" {
            assert!(hh.beneficiary_cnic.is_none() && h.payments.is_empty());
        } else {
            enrolled += 1;
            assert!(hh.pmt_score <= KAFAALAT_CUTOFF);
            let b = hh.beneficiary_cnic.as_ref().unwrap();
            let who = h.members.iter().find(|m| &m.cnic == b).unwrap();
            assert_eq!(who.gender, "female");
        }
    }
    let mean = sizes as f64 / f64::from(n);
    assert!((6.0..=7.0).contains(&mean), "mean household size {mean}");
    let share = eligible as f64 / f64::from(n);
    assert!(
        (0.15..=0.40).contains(&share),
        "share under the cut-off {share}"
    );
    assert!(enrolled > 0 && enrolled <= eligible);
}

#[test]
fn assets_follow_the_pmt_score() {
    let mut g = Generator::new(3);
    let (mut poor, mut rich) = ((0, 0), (0, 0));
    for _ in 0..4_000 {
        let h = g.next_household().unwrap().household;
        let assets = usize::from(h.has_refrigerator)
            + usize::from(h.has_washing_machine)
            + usize::from(h.has_car);
        if h.pmt_score < KAFAALAT_CUTOFF {
            poor = (poor.0 + assets, poor.1 + 1);
        } else if h.pmt_score > 60.0 {
            rich = (rich.0 + assets, rich.1 + 1);
        }
    }
    let avg = |(a, n): (usize, usize)| a as f64 / n.max(1) as f64;
    assert!(
        avg(rich) > avg(poor) * 2.0,
        "rich {} poor {}",
        avg(rich),
        avg(poor)
    );
}

#[derive(diesel::QueryableByName)]
struct Name {
    #[diesel(sql_type = diesel::sql_types::Text)]
    name: String,
}

#[derive(diesel::QueryableByName)]
struct Tuples {
    #[diesel(sql_type = diesel::sql_types::Double)]
    tuples: f64,
}

#[test]
fn writes_a_registry_once_and_refuses_to_mix() {
    for db in TestDb::all() {
        let be = db.backend();
        let s = synth::write_registry(&db.url, 200, 5, synth::Layout::Survey, &mut |_| {}).unwrap();
        assert_eq!(s.households, 200, "{be}");
        let mut conn = db.url.connect().unwrap();
        assert_eq!(
            store::registry::household_count(&mut conn).unwrap(),
            200,
            "{be}"
        );
        if be == "postgres" {
            // The planner has statistics for the registry's tables at once,
            // and none that call the (empty) access log empty.
            use diesel::{Connection, RunQueryDsl};
            let mut pg = diesel::PgConnection::establish(&db.url_string).unwrap();
            let analysed: Vec<String> = diesel::sql_query(
                "SELECT tablename AS name FROM pg_stats WHERE schemaname = 'public' \
                 AND tablename IN ('households', 'members') GROUP BY tablename ORDER BY 1",
            )
            .load::<Name>(&mut pg)
            .unwrap()
            .into_iter()
            .map(|n| n.name)
            .collect();
            assert_eq!(analysed, ["households", "members"], "{be}");
            // reltuples -1: never analysed (PostgreSQL 14 and later).
            let log: Vec<Tuples> = diesel::sql_query(
                "SELECT reltuples::float8 AS tuples FROM pg_class WHERE relname = 'access_log'",
            )
            .load(&mut pg)
            .unwrap();
            assert!(
                log.len() == 1 && log[0].tuples < 0.0,
                "{be}: the empty access log has statistics"
            );
        }
        drop(conn);
        let err = synth::write_registry(&db.url, 10, 5, synth::Layout::Survey, &mut |_| {})
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("already holds a registry of 200"),
            "{be}: {err}"
        );
    }
}

#[test]
fn bad_counts_and_places_leave_nothing_behind() {
    let db = TestDb::sqlite();
    for n in [0, synth::MAX_HOUSEHOLDS + 1] {
        assert!(synth::write_registry(&db.url, n, 1, synth::Layout::Survey, &mut |_| {}).is_err());
    }
    let store::DatabaseUrl::Sqlite(path) = &db.url else {
        unreachable!()
    };
    assert!(!path.exists());
    let dir = path.parent().unwrap();
    assert_eq!(
        std::fs::read_dir(dir).unwrap().count(),
        0,
        "files left in {}",
        dir.display()
    );
    let missing = store::DatabaseUrl::parse("/nonexistent-nser-dir/r.db").unwrap();
    let err = synth::write_registry(&missing, 10, 1, synth::Layout::Survey, &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("create it first"), "{err}");
}

/// The list-search vocabulary (`store::search::TextField`) holds every value
/// the generator writes, so no generated household is unreachable by a
/// filter; and reading households by a dense or a sparse list of ids gives
/// exactly what reading them one by one gives.
/// Bulk rows and model rows give the same value for every field.
fn same_rows<A: policy::Record, B: policy::Record>(
    bulk: &[A],
    owned: &[B],
    fields: &[policy::FieldSpec],
    at: &str,
) {
    assert_eq!(bulk.len(), owned.len(), "{at}: rows");
    for (a, b) in bulk.iter().zip(owned) {
        for (i, spec) in fields.iter().enumerate() {
            assert_eq!(a.value(i), b.value(i), "{at}: {}", spec.name);
        }
    }
}

#[test]
fn search_vocabulary_and_bulk_reads_agree_with_the_registry() {
    use store::search::TextField;
    let batch = Generator::new(9).next_batch(2_000).unwrap();
    for field in TextField::ALL {
        let on_household = field.on() == store::search::On::Household;
        let values: std::collections::BTreeSet<String> = if on_household {
            batch
                .households
                .iter()
                .map(|h| match field {
                    TextField::Tenure => h.tenure.clone(),
                    TextField::WallMaterial => h.wall_material.clone(),
                    TextField::RoofMaterial => h.roof_material.clone(),
                    TextField::Toilet => h.toilet.clone(),
                    TextField::WaterSource => h.water_source.clone(),
                    TextField::Electricity => h.electricity.clone(),
                    TextField::CookingFuel => h.cooking_fuel.clone(),
                    _ => h.beneficiary_status.clone(),
                })
                .collect()
        } else {
            batch
                .members
                .iter()
                .map(|m| match field {
                    TextField::Gender => m.gender.clone(),
                    TextField::MaritalStatus => m.marital_status.clone(),
                    TextField::Disability => m.disability.clone(),
                    TextField::Education => m.education.clone(),
                    _ => m.employment_status.clone(),
                })
                .collect()
        };
        for v in &values {
            assert!(
                field.value(v).is_some(),
                "{}: {v:?} is not in the vocabulary",
                field.name()
            );
        }
    }
    for db in TestDb::all() {
        synth::write_registry(&db.url, 300, 5, synth::Layout::Survey, &mut |_| {}).unwrap();
        let mut conn = db.url.connect().unwrap();
        let one_by_one = |conn: &mut store::DbConn, ids: &[i64]| -> Vec<store::HouseholdRecord> {
            ids.iter()
                .filter_map(|id| store::registry::household(conn, *id).unwrap())
                .collect()
        };
        let dense: Vec<i64> = (20..=260).collect();
        let sparse: Vec<i64> = (1..=300).step_by(7).collect();
        let gappy: Vec<i64> = (50..=120).filter(|id| id % 3 != 0).collect();
        let missing: Vec<i64> = vec![5, 17, 400];
        for ids in [dense, sparse, gappy, missing] {
            let bulk = store::search::records(&mut conn, &ids).unwrap();
            let owned = one_by_one(&mut conn, &ids);
            let mut seen = 0;
            bulk.each(|r| {
                let o = &owned[seen];
                seen += 1;
                let at = format!("{} household {}", db.backend(), o.household.id);
                assert_eq!(r.id, o.household.id, "{at}");
                same_rows(
                    &[r.household],
                    std::slice::from_ref(&o.household),
                    store::models::HOUSEHOLD_FIELDS,
                    &at,
                );
                same_rows(r.members, &o.members, store::models::MEMBER_FIELDS, &at);
                same_rows(r.payments, &o.payments, store::models::PAYMENT_FIELDS, &at);
                same_rows(r.flags, &o.flags, store::models::FLAG_FIELDS, &at);
            });
            assert_eq!(seen, owned.len(), "{}", db.backend());
        }
        if db.backend() == "sqlite" {
            // Bytes that are not UTF-8 (SQLite stores what it is given): an
            // error naming the field on both paths, never a panic, never a
            // silently altered name.
            use diesel::RunQueryDsl;
            diesel::sql_query(
                "UPDATE members SET full_name = CAST(x'4dff41' AS TEXT) \
                 WHERE household_id = 21 AND line_no = 1",
            )
            .execute(&mut conn)
            .unwrap();
            let bulk = store::search::records(&mut conn, &[20, 21, 22]).unwrap_err();
            assert!(bulk.to_string().contains("full_name"), "{bulk}");
            assert!(store::registry::household(&mut conn, 21).is_err());
        }
    }
}

/// The survey layout gives ids area by area: each union council's (and so
/// each district's) households hold one run of ids, in the geography's
/// order, while areas keep the sizes the scattered layout draws them with.
#[test]
fn survey_layout_keeps_each_area_in_one_run_of_ids() {
    use std::collections::HashMap;
    use synth::Layout;
    let n = 20_000u64;
    let draw = |layout| {
        let mut g = Generator::with_layout(11, n, layout);
        (0..n)
            .map(|_| g.next_household().unwrap().household)
            .collect::<Vec<_>>()
    };
    let survey = draw(Layout::Survey);
    let scattered = draw(Layout::Scattered);
    assert_eq!(survey, draw(Layout::Survey), "same seed, same registry");
    let order: HashMap<i32, usize> = Generator::new(11)
        .geography()
        .ucs
        .iter()
        .enumerate()
        .map(|(i, u)| (u.uc_code, i))
        .collect();
    for pair in survey.windows(2) {
        assert_eq!(pair[1].id, pair[0].id + 1);
        assert!(
            order[&pair[0].uc_code] <= order[&pair[1].uc_code],
            "household {} (UC {}) after household {} (UC {})",
            pair[1].id,
            pair[1].uc_code,
            pair[0].id,
            pair[0].uc_code
        );
    }
    let span = |hs: &[store::Household], district: i32| {
        let ids: Vec<i64> = hs
            .iter()
            .filter(|h| h.district_code == district)
            .map(|h| h.id)
            .collect();
        (
            ids.len(),
            ids.iter().max().unwrap() - ids.iter().min().unwrap() + 1,
        )
    };
    let largest = |hs: &[store::Household]| {
        let mut per: HashMap<i32, usize> = HashMap::new();
        for h in hs {
            *per.entry(h.province_code).or_default() += 1;
        }
        per
    };
    let (s, c) = (largest(&survey), largest(&scattered));
    for (province, count) in &c {
        let other = s.get(province).copied().unwrap_or(0);
        assert!(
            u64::try_from(count.abs_diff(other)).unwrap() * 50 < n,
            "province {province}: {other} households in survey layout, {count} scattered"
        );
    }
    let district = scattered[0].district_code;
    let (count, width) = span(&survey, district);
    assert_eq!(i64::try_from(count).unwrap(), width, "district {district}");
    let (count, width) = span(&scattered, district);
    assert!(
        i64::try_from(count).unwrap() * 10 < width,
        "district {district}: scattered households in a run of ids"
    );
}

/// A stream's ids read in one pass (an id set) are the ids keyset pages
/// give, for searches by area, PMT range, village and field, after any id;
/// searches without conditions, and PostgreSQL, page instead.
#[test]
fn id_sets_give_what_keyset_pages_give() {
    use store::registry::Area;
    use store::search::{Filter, FlagField, Search, Test, TextField};
    for db in TestDb::all() {
        synth::write_registry(&db.url, 2_000, 3, synth::Layout::Scattered, &mut |_| {}).unwrap();
        let mut conn = db.url.connect().unwrap();
        let h = store::registry::household(&mut conn, 777)
            .unwrap()
            .unwrap()
            .household;
        // A household field or a member field, and a flag.
        let filter = Filter::All(vec![
            Filter::Any(vec![
                Filter::Test(Test::Text {
                    field: TextField::Toilet,
                    values: vec!["flush"],
                    negate: false,
                }),
                Filter::Test(Test::Text {
                    field: TextField::Disability,
                    values: vec!["none"],
                    negate: true,
                }),
            ]),
            Filter::Test(Test::Flag {
                field: FlagField::HasTelevision,
                value: true,
            }),
        ]);
        let searches = [
            Search {
                area: Some(Area::District(h.district_code)),
                village: None,
                filter: None,
                pmt: None,
            },
            Search {
                area: Some(Area::Province(h.province_code)),
                village: None,
                filter: None,
                pmt: Some((10.0, 40.0)),
            },
            Search {
                area: Some(Area::Tehsil(h.tehsil_code)),
                village: Some(h.village.clone()),
                filter: None,
                pmt: None,
            },
            Search {
                area: Some(Area::Province(h.province_code)),
                village: None,
                filter: Some(filter),
                pmt: None,
            },
            // The whole registry (its ids come from an index, not the table).
            Search {
                area: None,
                village: None,
                filter: None,
                pmt: None,
            },
        ];
        for search in &searches {
            for after in [0, 1, 777, 1_999, 5_000] {
                let mut paged = Vec::new();
                let mut to = after;
                loop {
                    let page = store::search::ids(&mut conn, search, to, 97).unwrap();
                    let Some(&last) = page.last() else { break };
                    to = last;
                    paged.extend(page);
                }
                let set = store::search::id_set(&mut conn, search, after).unwrap();
                let Some(mut set) = set else {
                    assert_eq!(db.backend(), "postgres", "{search:?}");
                    continue;
                };
                let mut got = Vec::new();
                while !set.is_empty() {
                    got.extend(set.take(97));
                }
                assert_eq!(got, paged, "{} {search:?} after {after}", db.backend());
            }
        }
        // A household with an id too large for a bitmap: its area's stream
        // falls back to keyset pages, which still find it.
        diesel::connection::SimpleConnection::batch_execute(
            &mut conn,
            "CREATE TEMPORARY TABLE far AS SELECT * FROM households WHERE id = 777; \
             UPDATE far SET id = 2000000000; INSERT INTO households SELECT * FROM far;",
        )
        .unwrap();
        let district = &searches[0];
        assert!(store::search::id_set(&mut conn, district, 0)
            .unwrap()
            .is_none());
        let last = store::search::ids(&mut conn, district, 2_000, 97).unwrap();
        assert_eq!(last, vec![2_000_000_000], "{}", db.backend());
    }
}

/// The bulk reader keeps a SQLite connection per thread: given another
/// registry under the same file name, it reads the new file, not the one it
/// had open.
#[test]
fn bulk_reads_follow_a_replaced_registry_file() {
    let db = TestDb::sqlite();
    let store::DatabaseUrl::Sqlite(path) = &db.url else {
        unreachable!()
    };
    let ids = [20, 21, 22];
    for seed in [5, 6] {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
        synth::write_registry(&db.url, 300, seed, synth::Layout::Survey, &mut |_| {}).unwrap();
        let mut conn = db.url.connect().unwrap();
        let bulk = store::search::records(&mut conn, &ids).unwrap();
        let mut seen = 0;
        bulk.each(|r| {
            let one = store::registry::household(&mut db.url.connect().unwrap(), r.id)
                .unwrap()
                .unwrap();
            same_rows(
                r.members,
                &one.members,
                store::models::MEMBER_FIELDS,
                &format!("seed {seed}"),
            );
            seen += 1;
        });
        assert_eq!(seen, 3, "seed {seed}");
    }
}
