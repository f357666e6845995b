//! The geography the generator places households in: real provinces,
//! districts and tehsils from `geo_data`, with synthetic union councils under
//! each tehsil. Codes nest: district = province*100 + n, tehsil = district*100
//! + n, union council = tehsil*1000 + n, so a code tells its ancestors.

use store::GeoUnit;

use crate::geo_data::PROVINCES;

/// A union council households can be placed in, with what the generator
/// needs to know about where it is.
#[derive(Debug, Clone)]
#[allow(
    clippy::struct_field_names,
    reason = "the codes are named as the store names them"
)]
pub struct Uc {
    pub province_code: i32,
    pub district_code: i32,
    pub tehsil_code: i32,
    pub uc_code: i32,
    /// The first five CNIC digits of people registered here.
    pub cnic_prefix: u32,
    /// Index into `names::FAMILY` / `names::VILLAGE_STEMS`.
    pub province_index: usize,
    pub lat: f64,
    pub lon: f64,
    pub radius_km: f64,
    /// Big-city districts are richer on average.
    pub urban: bool,
}

/// Every unit (for the `geo_units` table) and every union council with its
/// cumulative population weight (for sampling).
#[derive(Debug, Clone)]
pub struct Geography {
    pub units: Vec<GeoUnit>,
    pub ucs: Vec<Uc>,
    cumulative: Vec<u64>,
}

const URBAN: &[&str] = &[
    "Lahore",
    "Karachi Central",
    "Karachi East",
    "Karachi South",
    "Karachi West",
    "Korangi",
    "Islamabad",
    "Rawalpindi",
    "Faisalabad",
    "Peshawar",
    "Quetta",
    "Multan",
    "Gujranwala",
];

impl Geography {
    /// The same for every seed: codes must not depend on the registry generated.
    #[must_use]
    pub fn build() -> Self {
        let mut units = Vec::new();
        let mut ucs = Vec::new();
        let mut cumulative = Vec::new();
        let mut total = 0u64;
        for p in PROVINCES {
            let province_code = i32::from(p.cnic_digit);
            units.push(GeoUnit {
                code: province_code,
                level: "province".into(),
                name: p.name.into(),
                parent_code: None,
            });
            for (di, d) in p.districts.iter().enumerate() {
                let district_code = province_code * 100 + index_code(di);
                units.push(GeoUnit {
                    code: district_code,
                    level: "district".into(),
                    name: d.name.into(),
                    parent_code: Some(province_code),
                });
                let tehsils = d.tehsils.len().max(1);
                // A union council serves roughly 25,000 people.
                let per_tehsil = (u64::from(d.weight) / tehsils as u64 / 25).clamp(3, 60);
                for (ti, t) in d.tehsils.iter().enumerate() {
                    let tehsil_code = district_code * 100 + index_code(ti);
                    units.push(GeoUnit {
                        code: tehsil_code,
                        level: "tehsil".into(),
                        name: (*t).into(),
                        parent_code: Some(district_code),
                    });
                    for u in 1..=per_tehsil {
                        let uc_code = tehsil_code * 1000 + i32::try_from(u).unwrap_or(999);
                        units.push(GeoUnit {
                            code: uc_code,
                            level: "uc".into(),
                            name: format!("UC-{u} {t}"),
                            parent_code: Some(tehsil_code),
                        });
                        let prefix = u32::from(p.cnic_digit) * 10_000
                            + (u32::try_from(di).unwrap_or(0) % 100) * 100
                            + (u32::try_from(ti).unwrap_or(0) % 10) * 10
                            + u32::try_from(u % 10).unwrap_or(0);
                        total += u64::from(d.weight).max(1) * 1000 / tehsils as u64 / per_tehsil;
                        cumulative.push(total);
                        ucs.push(Uc {
                            province_code,
                            district_code,
                            tehsil_code,
                            uc_code,
                            cnic_prefix: prefix,
                            province_index: usize::from(p.cnic_digit.saturating_sub(1)).min(7),
                            lat: d.lat,
                            lon: d.lon,
                            radius_km: d.radius_km,
                            urban: URBAN.contains(&d.name),
                        });
                    }
                }
            }
        }
        Self {
            units,
            ucs,
            cumulative,
        }
    }

    /// Pick a union council with probability proportional to its population.
    #[must_use]
    pub fn pick(&self, r: u64) -> &Uc {
        &self.ucs[self.pick_index(r)]
    }

    /// The index in `ucs` of [`Geography::pick`]'s union council.
    #[must_use]
    pub fn pick_index(&self, r: u64) -> usize {
        let total = self.cumulative.last().copied().unwrap_or(1).max(1);
        let x = r % total;
        let i = self.cumulative.partition_point(|&c| c <= x);
        i.min(self.ucs.len() - 1)
    }

    /// How many districts the geography holds.
    #[must_use]
    pub fn district_count(&self) -> usize {
        self.units.iter().filter(|u| u.level == "district").count()
    }
}

fn index_code(i: usize) -> i32 {
    i32::try_from(i + 1).unwrap_or(99).min(99)
}
