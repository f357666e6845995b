//! One synthetic household: who lives in it, how they live, and a PMT score
//! computed from what was observed (as the real proxy means test does), so
//! assets, living conditions, education and the score agree with each other.

use chrono::{Datelike, Days, NaiveDate};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use store::{Flag, Household, Member, Payment};

use crate::geo::Uc;
use crate::names;

/// The date ages are counted from, fixed so a seed always gives the same registry.
pub const REFERENCE: NaiveDate = match NaiveDate::from_ymd_opt(2026, 7, 1) {
    Some(d) => d,
    None => NaiveDate::MIN,
};

/// The Kafaalat eligibility cut-off on the PMT score.
pub const KAFAALAT_CUTOFF: f64 = 32.0;

/// A household and everything that hangs off it, before insertion.
pub struct Generated {
    pub household: Household,
    pub members: Vec<Member>,
    pub payments: Vec<Payment>,
    pub flags: Vec<Flag>,
}

/// Sequences the generator hands out: ids, and CNIC serials per prefix.
pub struct Counters {
    pub next_member: i64,
    pub next_payment: i64,
    pub next_flag: i64,
    pub cnic_serials: std::collections::HashMap<u32, u32>,
    /// Mixed into CNIC serials so different seeds give different numbers.
    pub cnic_offset: u32,
}

/// A CNIC serial space per 5-digit prefix: 10^7 numbers.
const SERIALS: u32 = 10_000_000;

impl Counters {
    fn cnic(&mut self, rng: &mut ChaCha8Rng, prefix: u32, male: bool) -> Result<String, u32> {
        let n = self.cnic_serials.entry(prefix).or_insert(0);
        if *n >= SERIALS {
            return Err(prefix);
        }
        // A bijection on 0..10^7 (the multiplier is coprime with 10), so serials
        // never repeat within a prefix yet do not look sequential.
        let serial = (u64::from(*n) * 7_654_321 + u64::from(self.cnic_offset)) % u64::from(SERIALS);
        *n += 1;
        let last = rng.gen_range(0..5u32) * 2 + u32::from(male);
        Ok(format!("{prefix:05}{serial:07}{last}"))
    }
}

struct Person {
    relation: &'static str,
    male: bool,
    age: u32,
    married: bool,
}

impl Person {
    fn new(relation: &'static str, male: bool, age: u32, married: bool) -> Self {
        Self {
            relation,
            male,
            age,
            married,
        }
    }
}

fn pick<'a>(rng: &mut ChaCha8Rng, pool: &[&'a str]) -> &'a str {
    pool[rng.gen_range(0..pool.len())]
}

fn chance(rng: &mut ChaCha8Rng, p: f64) -> bool {
    rng.gen_bool(p.clamp(0.0, 1.0))
}

fn logistic(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// Household sizes 1..=14 with a mean of about 6.5 (PSLM / census shape).
const SIZE_WEIGHTS: [u32; 14] = [20, 45, 75, 105, 130, 140, 130, 110, 85, 60, 40, 25, 20, 15];

fn household_size(rng: &mut ChaCha8Rng) -> u32 {
    let total: u32 = SIZE_WEIGHTS.iter().sum();
    let mut x = rng.gen_range(0..total);
    for (i, w) in SIZE_WEIGHTS.iter().enumerate() {
        if x < *w {
            return u32::try_from(i).unwrap_or(0) + 1;
        }
        x -= w;
    }
    7
}

/// Who lives in a household of `size`: ages and relations that fit together
/// (a head is an adult, children are at least 16 years younger than their
/// mother and father).
fn composition(rng: &mut ChaCha8Rng, size: u32) -> Vec<Person> {
    let mut people = Vec::with_capacity(size as usize);
    let head_male = chance(rng, 0.88);
    // Big households have older heads: there must be room for the children.
    let head_min = 22 + 2 * size.saturating_sub(4).min(12);
    let head_age = rng.gen_range(head_min..=72);
    let head_married = if head_male {
        chance(rng, 0.93)
    } else {
        chance(rng, 0.25)
    };
    people.push(Person::new("head", head_male, head_age, head_married));
    if head_married && people.len() < size as usize {
        let age = if head_male {
            head_age.saturating_sub(rng.gen_range(0..=9)).max(18)
        } else {
            (head_age + rng.gen_range(0..=8)).min(90)
        };
        people.push(Person::new("spouse", !head_male, age, true));
    }
    let mother_age = people.iter().find(|p| !p.male).map_or(head_age, |p| p.age);
    let youngest_parent = people.iter().map(|p| p.age).min().unwrap_or(head_age);
    if head_age >= 30 && people.len() < size as usize && chance(rng, 0.12) {
        let male = chance(rng, 0.35);
        let age = (head_age + rng.gen_range(20..=32)).min(98);
        let relation = if male { "father" } else { "mother" };
        people.push(Person {
            relation,
            male,
            age,
            married: male || chance(rng, 0.5),
        });
    }
    // A married son living with his parents, with his wife and children.
    if head_age >= 48 && size as usize >= people.len() + 3 && chance(rng, 0.35) {
        let son_age = rng.gen_range(20..=(mother_age.saturating_sub(17)).max(21));
        people.push(Person::new("son", true, son_age, true));
        let dil_age = son_age.saturating_sub(rng.gen_range(0..=6)).max(18);
        people.push(Person::new("daughter_in_law", false, dil_age, true));
        while people.len() < size as usize && chance(rng, 0.6) {
            let male = chance(rng, 0.51);
            let age = rng.gen_range(0..=dil_age.saturating_sub(17));
            let relation = if male { "grandson" } else { "granddaughter" };
            people.push(Person::new(relation, male, age, false));
        }
    }
    // Children: the eldest born when the mother was 17-30, the next ones one
    // to three years apart, while the mother was under 45.
    let child_max = youngest_parent.min(mother_age).saturating_sub(17);
    let mut next_child = child_max.saturating_sub(rng.gen_range(0..=13));
    let child_min = mother_age.saturating_sub(44);
    let mut children_possible = child_max >= 1 && (head_married || !head_male);
    while people.len() < size as usize {
        if children_possible {
            let age = next_child.max(child_min);
            let gap = rng.gen_range(1..=3);
            if age < gap || age - gap < child_min {
                children_possible = false;
            }
            next_child = age.saturating_sub(gap);
            let male = chance(rng, 0.51);
            let married = age >= 18 && chance(rng, (f64::from(age) - 18.0) / 12.0);
            let relation = if male { "son" } else { "daughter" };
            people.push(Person::new(relation, male, age, married));
        } else {
            let male = chance(rng, 0.5);
            let age = (head_age + 12).saturating_sub(rng.gen_range(0..=24)).max(5);
            let relation = if male { "brother" } else { "sister" };
            people.push(Person::new(relation, male, age, false));
        }
    }
    people
}

/// A birth date `age` years before the survey.
fn dob(rng: &mut ChaCha8Rng, age: u32, survey: NaiveDate) -> NaiveDate {
    let years_back = survey
        .checked_sub_months(chrono::Months::new(age * 12))
        .unwrap_or(survey);
    years_back
        .checked_sub_days(Days::new(rng.gen_range(0..365)))
        .unwrap_or(years_back)
}

fn education(rng: &mut ChaCha8Rng, age: u32, male: bool, welfare: f64) -> &'static str {
    if age < 6 {
        return "none";
    }
    let p_school = logistic(welfare * 1.4 + if male { 0.9 } else { -0.2 } + 0.2);
    if !chance(rng, p_school) {
        return "none";
    }
    let levels: &[(&str, u32)] = &[
        ("primary", 6),
        ("middle", 11),
        ("matric", 14),
        ("intermediate", 17),
        ("graduate", 20),
        ("postgraduate", 23),
    ];
    let mut reached = "primary";
    for (level, min_age) in levels.iter().skip(1) {
        if age < *min_age || !chance(rng, logistic(welfare * 1.2 + 0.3)) {
            break;
        }
        reached = level;
    }
    reached
}

/// Generate one household with id `id` in union council `uc`.
#[allow(
    clippy::too_many_lines,
    reason = "one linear recipe: dwelling, people, score, enrolment, events"
)]
pub fn generate(
    rng: &mut ChaCha8Rng,
    counters: &mut Counters,
    id: i64,
    uc: &Uc,
) -> Result<Generated, u32> {
    // Latent welfare: the unobserved standard of living everything else follows.
    let welfare: f64 = {
        let z: f64 = (0..4).map(|_| rng.gen_range(-1.0..1.0)).sum::<f64>() * 0.85;
        z + if uc.urban { 0.6 } else { 0.0 }
    };
    let p = |w: f64, bias: f64| logistic(w * 1.6 + bias);
    let size = household_size(rng);
    let people = composition(rng, size);

    // Structure and living conditions.
    let rooms = (1
        + u32::from(chance(rng, p(welfare, -0.5)))
        + u32::from(chance(rng, p(welfare, -1.5)))
        + u32::from(chance(rng, p(welfare, -2.5)))
        + size / 7)
        .min(8);
    let tenure = if chance(rng, 0.78) {
        "owned"
    } else if chance(rng, 0.6) {
        "rented"
    } else {
        "rent_free"
    };
    let wall_material = if chance(rng, p(welfare, 0.3)) {
        "burnt_brick"
    } else if chance(rng, 0.7) {
        "mud_brick"
    } else {
        pick(rng, &["stone", "wood_bamboo", "thatch"])
    };
    let roof_material = if chance(rng, p(welfare, -0.6)) {
        "rcc"
    } else {
        pick(rng, &["wood_bamboo", "iron_sheet", "mud", "thatch"])
    };
    let toilet = if chance(rng, p(welfare, 0.4)) {
        "flush"
    } else if chance(rng, 0.5) {
        "pit"
    } else {
        "none"
    };
    let water_source = if chance(rng, p(welfare, -0.8)) {
        "piped"
    } else {
        pick(
            rng,
            &["hand_pump", "motor_pump", "well", "tanker", "surface"],
        )
    };
    let electricity = if chance(rng, p(welfare, 1.6)) {
        "grid"
    } else if chance(rng, 0.5) {
        "solar"
    } else {
        "none"
    };
    let cooking_fuel = if chance(rng, p(welfare, -0.7)) {
        "gas"
    } else if chance(rng, 0.2) {
        "lpg"
    } else {
        pick(
            rng,
            &["wood", "wood", "dung_cake", "crop_residue", "kerosene"],
        )
    };
    let has_electricity = electricity != "none";
    let has_refrigerator = has_electricity && chance(rng, p(welfare, -0.6));
    let has_television = has_electricity && chance(rng, p(welfare, 0.2));
    let has_washing_machine = has_electricity && chance(rng, p(welfare, -0.2));
    let has_air_conditioner = electricity == "grid" && chance(rng, p(welfare, -3.0));
    let has_motorcycle = chance(rng, p(welfare, -0.7));
    let has_car = chance(rng, p(welfare, -3.4));
    let rural = !uc.urban;
    let land_acres = if rural && chance(rng, p(welfare, -1.2)) {
        (rng.gen_range(0.25..3.0) * (1.0 + welfare.max(0.0) * 3.0) * 4.0).round() / 4.0
    } else {
        0.0
    };
    let cattle = if rural && chance(rng, 0.45) {
        rng.gen_range(1..=3) + i32::from(welfare > 0.5) * rng.gen_range(0..=4)
    } else {
        0
    };
    let goats_sheep = if rural && chance(rng, 0.35) {
        rng.gen_range(1..=8)
    } else {
        0
    };

    // Members.
    let surname = pick(rng, names::FAMILY[uc.province_index]);
    let head_father = format!("{} {surname}", pick(rng, names::MALE));
    let survey_date = NaiveDate::from_ymd_opt(2021, 1, 1)
        .and_then(|d| d.checked_add_days(Days::new(rng.gen_range(0..1300))))
        .unwrap_or(REFERENCE);
    let mut members = Vec::with_capacity(people.len());
    let mut head_name = String::new();
    let mut spouse_name = String::new();
    let mut head_education = "none";
    let mut earners = 0u32;
    let mut disabled = 0u32;
    for (i, person) in people.iter().enumerate() {
        let first = pick(
            rng,
            if person.male {
                names::MALE
            } else {
                names::FEMALE
            },
        );
        let full_name = if person.male || chance(rng, 0.5) {
            format!("{first} {surname}")
        } else {
            format!("{first} Bibi")
        };
        let guardian_name = match person.relation {
            // The head and the head's siblings share a father.
            "head" | "brother" | "sister" => head_father.clone(),
            "spouse" => head_name.clone(),
            "son" | "daughter" if people[0].male => head_name.clone(),
            "son" | "daughter" if !spouse_name.is_empty() => spouse_name.clone(),
            _ => format!("{} {surname}", pick(rng, names::MALE)),
        };
        if i == 0 {
            head_name.clone_from(&full_name);
        } else if person.relation == "spouse" {
            spouse_name.clone_from(&full_name);
        }
        let cnic = counters.cnic(rng, uc.cnic_prefix, person.male)?;
        let edu = education(rng, person.age, person.male, welfare);
        if i == 0 {
            head_education = edu;
        }
        let marital_status = if person.married {
            if person.relation == "head" && !person.male {
                "widowed"
            } else {
                "married"
            }
        } else if person.age >= 45 && chance(rng, 0.5) {
            "widowed"
        } else {
            "never_married"
        };
        let disability = if chance(
            rng,
            0.02 + 0.004 * f64::from(person.age / 10) + if welfare < -1.0 { 0.02 } else { 0.0 },
        ) {
            disabled += 1;
            pick(
                rng,
                &[
                    "physical",
                    "visual",
                    "hearing",
                    "speech",
                    "intellectual",
                    "multiple",
                ],
            )
        } else {
            "none"
        };
        let school_age = (5..=16).contains(&person.age);
        let school_enrolled =
            school_age.then(|| chance(rng, p(welfare, if person.male { 1.0 } else { 0.3 })));
        let (employment_status, occupation) = if person.age < 10 {
            ("child", None)
        } else if school_enrolled == Some(true)
            || (person.age <= 22 && edu != "none" && chance(rng, 0.3))
        {
            ("student", None)
        } else if person.age >= 15
            && person.age <= 64
            && disability == "none"
            && chance(rng, if person.male { 0.85 } else { 0.18 })
        {
            earners += 1;
            let pool = if welfare < -0.5 {
                names::OCCUPATIONS_POOR
            } else if welfare < 0.7 {
                names::OCCUPATIONS_MIDDLE
            } else {
                names::OCCUPATIONS_BETTER
            };
            let status = pick(
                rng,
                &["employed", "employed", "self_employed", "daily_wage"],
            );
            (status, Some(pick(rng, pool).to_owned()))
        } else if person.male && (18..=60).contains(&person.age) {
            ("unemployed", None)
        } else {
            ("not_in_labour_force", None)
        };
        let contact_number =
            (person.age >= 18 && chance(rng, if person.male { 0.8 } else { 0.35 })).then(|| {
                format!(
                    "03{}{}-{:07}",
                    rng.gen_range(0..=4),
                    rng.gen_range(0..=9),
                    rng.gen_range(0..10_000_000)
                )
            });
        let sensitive_answers = (i == 0).then(|| {
            serde_json::json!({
                "chronic_illness_in_household": chance(rng, 0.18),
                "in_debt": chance(rng, logistic(-welfare - 0.3)),
                "skipped_meals_last_month": chance(rng, logistic(-welfare * 1.5 - 1.0)),
            })
            .to_string()
        });
        members.push(Member {
            id: counters.next_member,
            household_id: id,
            line_no: i32::try_from(i + 1).unwrap_or(i32::MAX),
            cnic,
            full_name,
            guardian_name,
            relation: person.relation.to_owned(),
            gender: if person.male { "male" } else { "female" }.to_owned(),
            date_of_birth: dob(rng, person.age, survey_date),
            marital_status: marital_status.to_owned(),
            disability: disability.to_owned(),
            education: edu.to_owned(),
            school_enrolled,
            employment_status: employment_status.to_owned(),
            occupation,
            contact_number,
            sensitive_answers,
        });
        counters.next_member += 1;
    }

    // The PMT score: a weighted sum of what the survey observed, like the real
    // proxy means test, scaled to 0-100.
    let size_f = f64::from(size);
    let mut score = 0.0;
    score += (f64::from(rooms) / size_f - 0.4) * 18.0;
    score += match wall_material {
        "burnt_brick" => 4.0,
        "mud_brick" => -2.0,
        _ => -4.0,
    };
    score += if roof_material == "rcc" { 5.0 } else { -1.0 };
    score += match toilet {
        "flush" => 5.0,
        "pit" => 0.0,
        _ => -5.0,
    };
    score += match cooking_fuel {
        "gas" | "lpg" => 4.0,
        _ => -2.0,
    };
    score += match electricity {
        "grid" => 2.0,
        "solar" => 0.0,
        _ => -5.0,
    };
    score += f64::from(
        u8::from(has_refrigerator) + u8::from(has_television) + u8::from(has_washing_machine),
    ) * 3.0;
    score += if has_air_conditioner { 8.0 } else { 0.0 } + if has_car { 12.0 } else { 0.0 };
    score += if has_motorcycle { 3.5 } else { 0.0 };
    score += (land_acres * 1.5).min(15.0) + f64::from(cattle) * 0.8 + f64::from(goats_sheep) * 0.2;
    score += match head_education {
        "none" => -4.0,
        "primary" => -1.0,
        "middle" => 1.0,
        "matric" => 3.0,
        "intermediate" => 5.0,
        _ => 8.0,
    };
    score += (f64::from(earners) / size_f) * 10.0 - size_f * 0.9 - f64::from(disabled) * 1.5;
    score += rng.gen_range(-3.0..3.0);
    // Centred so that about a quarter of households fall under the Kafaalat cut-off.
    let pmt_score = ((29.0 + score * 0.8).clamp(0.0, 100.0) * 100.0).round() / 100.0;

    // Enrolment: eligible households with an adult woman who can be the beneficiary.
    let woman = members.iter().find(|m| {
        m.gender == "female"
            && m.marital_status != "never_married"
            && (survey_date.year() - m.date_of_birth.year()) >= 18
    });
    let mut payments = Vec::new();
    let mut flags = Vec::new();
    let mut beneficiary_status = "not_enrolled";
    let (mut programme, mut enrolment_date, mut beneficiary_cnic, mut payment_channel) =
        (None, None, None, None);
    if let (true, Some(w)) = (pmt_score <= KAFAALAT_CUTOFF, woman) {
        if chance(rng, 0.85) {
            beneficiary_status = "active";
            programme = Some("kafaalat".to_owned());
            let enrolled = survey_date
                .checked_add_days(Days::new(rng.gen_range(30..200)))
                .unwrap_or(survey_date);
            enrolment_date = Some(enrolled);
            beneficiary_cnic = Some(w.cnic.clone());
            let channel = pick(rng, &["biometric_agent", "campsite", "bank_account"]);
            payment_channel = Some(channel.to_owned());
            // The last instalments (quarterly), each paid within the quarter that follows.
            for (q, amount) in [
                ("2025-Q3", 13_500),
                ("2025-Q4", 13_500),
                ("2026-Q1", 13_500),
                ("2026-Q2", 14_500),
            ] {
                let year: i32 = q[..4].parse().unwrap_or(2025);
                let quarter: u32 = q[6..].parse().unwrap_or(1);
                let Some(start) = NaiveDate::from_ymd_opt(year, quarter * 3 - 2, 1) else {
                    continue;
                };
                if start < enrolled {
                    continue;
                }
                let paid_on = start
                    .checked_add_days(Days::new(rng.gen_range(20..80)))
                    .unwrap_or(start);
                payments.push(Payment {
                    id: counters.next_payment,
                    household_id: id,
                    instalment: q.to_owned(),
                    amount_pkr: amount,
                    paid_on,
                    channel: channel.to_owned(),
                });
                counters.next_payment += 1;
            }
        }
    }
    // Events from source agencies: a vehicle registered to a beneficiary
    // household puts it on hold until verified on the ground.
    if chance(rng, 0.025) {
        let (kind, source, prefix) = pick3(rng);
        let raised_at = survey_date
            .checked_add_days(Days::new(rng.gen_range(60..900)))
            .unwrap_or(survey_date)
            .and_hms_opt(rng.gen_range(8..18), rng.gen_range(0..60), 0)
            .unwrap_or_default();
        let open = chance(rng, 0.6);
        if open && beneficiary_status == "active" && kind == "vehicle_registration" {
            beneficiary_status = "on_hold";
        }
        flags.push(Flag {
            id: counters.next_flag,
            household_id: id,
            kind: kind.to_owned(),
            status: if open { "open" } else { "cleared" }.to_owned(),
            source: source.to_owned(),
            source_ref: format!(
                "{prefix}-{}-{:08}",
                raised_at.year(),
                rng.gen_range(0..100_000_000)
            ),
            raised_at,
            cleared_at: (!open).then(|| raised_at + chrono::Duration::days(rng.gen_range(7..90))),
            note: (!open).then(|| "verified on the ground; cleared".to_owned()),
        });
        counters.next_flag += 1;
    }

    let (lat, lon) = point_in_district(rng, uc);
    let village = format!(
        "{} {}",
        pick(rng, names::VILLAGE_STEMS[uc.province_index]),
        names::VILLAGE_NAMES[(usize::try_from(uc.uc_code).unwrap_or(0) * 7 + rng.gen_range(0..3))
            % names::VILLAGE_NAMES.len()]
    );
    let address_line = format!(
        "House {}, Street {}",
        rng.gen_range(1..600),
        rng.gen_range(1..40)
    );
    let household = Household {
        id,
        province_code: uc.province_code,
        district_code: uc.district_code,
        tehsil_code: uc.tehsil_code,
        uc_code: uc.uc_code,
        village,
        address_line,
        latitude: lat,
        longitude: lon,
        rooms: i32::try_from(rooms).unwrap_or(1),
        tenure: tenure.to_owned(),
        wall_material: wall_material.to_owned(),
        roof_material: roof_material.to_owned(),
        toilet: toilet.to_owned(),
        water_source: water_source.to_owned(),
        electricity: electricity.to_owned(),
        cooking_fuel: cooking_fuel.to_owned(),
        has_refrigerator,
        has_television,
        has_washing_machine,
        has_air_conditioner,
        has_motorcycle,
        has_car,
        land_acres,
        cattle,
        goats_sheep,
        size: i32::try_from(size).unwrap_or(1),
        pmt_score,
        survey_date,
        beneficiary_status: beneficiary_status.to_owned(),
        programme,
        enrolment_date,
        beneficiary_cnic,
        payment_channel,
    };
    Ok(Generated {
        household,
        members,
        payments,
        flags,
    })
}

fn pick3(rng: &mut ChaCha8Rng) -> (&'static str, &'static str, &'static str) {
    const EVENTS: &[(&str, &str, &str)] = &[
        ("vehicle_registration", "Excise & Taxation", "ET"),
        ("vehicle_registration", "Excise & Taxation", "ET"),
        ("death", "NADRA", "NADRA"),
        ("travel_abroad", "FIA", "FIA"),
        ("taxpayer", "FBR", "FBR"),
        ("government_employee", "AGP", "AGP"),
    ];
    EVENTS[rng.gen_range(0..EVENTS.len())]
}

/// A point uniformly inside the district's circle.
fn point_in_district(rng: &mut ChaCha8Rng, uc: &Uc) -> (f64, f64) {
    let r = uc.radius_km * rng.gen::<f64>().sqrt();
    let theta = rng.gen_range(0.0..std::f64::consts::TAU);
    let lat = uc.lat + r * theta.cos() / 111.0;
    let lon = uc.lon + r * theta.sin() / (111.0 * uc.lat.to_radians().cos());
    ((lat * 1e5).round() / 1e5, (lon * 1e5).round() / 1e5)
}
