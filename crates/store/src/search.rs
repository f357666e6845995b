//! List searches: the households of an area that meet typed conditions on
//! household and member fields, or whose PMT score lies in a range. Results
//! come in household-id order, by keyset pages of ids (so a whole tehsil can
//! be streamed without ever holding it), then as full records per page.
//!
//! Every condition names a field of a closed vocabulary ([`TextField`],
//! [`FlagField`], [`NumberField`]) and text conditions a value of that
//! field's closed list: nothing a caller writes becomes SQL. Member
//! conditions hold when some member of the household meets them.

use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::Bool;

use crate::db::DbConn;
use crate::error::{Result, StoreError};
use crate::models::{
    Flag, Household, Member, Payment, FLAG_FIELDS, HOUSEHOLD_FIELDS, MEMBER_FIELDS, PAYMENT_FIELDS,
};
use crate::registry::Area;
use crate::rows::{Arenas, Row, Rows};
use crate::schema::{cct_payments, household_flags, households, members};
use crate::sqlite_read::{self, Keys, Table};

type Backend = <DbConn as Connection>::Backend;
type Condition = Box<dyn BoxableExpression<households::table, Backend, SqlType = Bool>>;

/// Whether a field belongs to the household or to its members.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum On {
    Household,
    Member,
}

macro_rules! vocabulary {
    ($(#[$doc:meta])* $name:ident { $($variant:ident => $on:ident $column:literal [$($value:literal),* $(,)?]),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),* }

        impl $name {
            /// Every field of this kind.
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            /// Its name in requests: the registry's column name.
            #[must_use]
            pub const fn name(self) -> &'static str {
                match self { $($name::$variant => $column),* }
            }

            /// The entity it belongs to.
            #[must_use]
            pub const fn on(self) -> On {
                match self { $($name::$variant => On::$on),* }
            }

            /// The field named `name`, if it is one of these.
            #[must_use]
            pub fn from_name(name: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|f| f.name() == name)
            }

            #[allow(dead_code, reason = "only text fields have a value list")]
            const fn value_list(self) -> &'static [&'static str] {
                match self { $($name::$variant => &[$($value),*]),* }
            }
        }
    };
}

vocabulary! {
    /// Fields with a closed list of text values.
    TextField {
        Tenure => Household "tenure" ["owned", "rented", "rent_free"],
        WallMaterial => Household "wall_material" ["burnt_brick", "mud_brick", "stone", "wood_bamboo", "thatch"],
        RoofMaterial => Household "roof_material" ["rcc", "wood_bamboo", "iron_sheet", "mud", "thatch"],
        Toilet => Household "toilet" ["flush", "pit", "none"],
        WaterSource => Household "water_source" ["piped", "hand_pump", "motor_pump", "well", "tanker", "surface"],
        Electricity => Household "electricity" ["grid", "solar", "none"],
        CookingFuel => Household "cooking_fuel" ["gas", "lpg", "wood", "dung_cake", "crop_residue", "kerosene"],
        BeneficiaryStatus => Household "beneficiary_status" ["not_enrolled", "active", "on_hold"],
        Gender => Member "gender" ["male", "female"],
        MaritalStatus => Member "marital_status" ["married", "widowed", "never_married"],
        Disability => Member "disability" ["none", "physical", "visual", "hearing", "speech", "intellectual", "multiple"],
        Education => Member "education" ["none", "primary", "middle", "matric", "intermediate", "graduate", "postgraduate"],
        EmploymentStatus => Member "employment_status" ["child", "student", "employed", "self_employed", "daily_wage", "unemployed", "not_in_labour_force"],
    }
}

vocabulary! {
    /// Yes/no fields.
    FlagField {
        HasRefrigerator => Household "has_refrigerator" [],
        HasTelevision => Household "has_television" [],
        HasWashingMachine => Household "has_washing_machine" [],
        HasAirConditioner => Household "has_air_conditioner" [],
        HasMotorcycle => Household "has_motorcycle" [],
        HasCar => Household "has_car" [],
        SchoolEnrolled => Member "school_enrolled" [],
    }
}

vocabulary! {
    /// Numeric household fields.
    NumberField {
        Rooms => Household "rooms" [],
        Size => Household "size" [],
        LandAcres => Household "land_acres" [],
        Cattle => Household "cattle" [],
        GoatsSheep => Household "goats_sheep" [],
    }
}

impl TextField {
    /// The values the registry stores in this field.
    #[must_use]
    pub const fn values(self) -> &'static [&'static str] {
        self.value_list()
    }

    /// The stored value equal to `value`, if it is one.
    #[must_use]
    pub fn value(self, value: &str) -> Option<&'static str> {
        self.values().iter().copied().find(|v| *v == value)
    }
}

impl NumberField {
    /// Whether the field holds whole numbers (so a fraction is a mistake).
    #[must_use]
    pub const fn integral(self) -> bool {
        !matches!(self, NumberField::LandAcres)
    }
}

/// A comparison of a numeric field with a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// One typed condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Test {
    /// The field holds one of `values` (or, with `negate`, none of them).
    Text {
        field: TextField,
        values: Vec<&'static str>,
        negate: bool,
    },
    Flag {
        field: FlagField,
        value: bool,
    },
    Number {
        field: NumberField,
        cmp: Cmp,
        value: f64,
    },
}

/// Conditions combined with and / or.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    All(Vec<Filter>),
    Any(Vec<Filter>),
    Test(Test),
}

/// What to search for: an area (and optionally one village in it), and
/// either a filter or a PMT range (inclusive).
#[derive(Debug, Clone, PartialEq)]
pub struct Search {
    /// `None`: the whole registry (complete-data exports only).
    pub area: Option<Area>,
    pub village: Option<String>,
    pub filter: Option<Filter>,
    pub pmt: Option<(f64, f64)>,
}

fn text_column(field: TextField, values: Vec<&'static str>) -> Condition {
    use households as h;
    match field {
        TextField::Tenure => Box::new(h::tenure.eq_any(values)),
        TextField::WallMaterial => Box::new(h::wall_material.eq_any(values)),
        TextField::RoofMaterial => Box::new(h::roof_material.eq_any(values)),
        TextField::Toilet => Box::new(h::toilet.eq_any(values)),
        TextField::WaterSource => Box::new(h::water_source.eq_any(values)),
        TextField::Electricity => Box::new(h::electricity.eq_any(values)),
        TextField::CookingFuel => Box::new(h::cooking_fuel.eq_any(values)),
        TextField::BeneficiaryStatus => Box::new(h::beneficiary_status.eq_any(values)),
        // Member fields: some member holds one of the values. The values
        // are the vocabulary's own constants (never request text), so they
        // can be written into the statement.
        TextField::Gender
        | TextField::MaritalStatus
        | TextField::Disability
        | TextField::Education
        | TextField::EmploymentStatus => {
            let list: Vec<String> = values.iter().map(|v| format!("'{v}'")).collect();
            member_exists(&format!("members.{} IN ({})", field.name(), list.join(",")))
        }
    }
}

/// `EXISTS (a member of this household for whom `predicate` holds)`; the
/// predicate is built from the vocabulary only.
fn member_exists(predicate: &str) -> Condition {
    Box::new(sql::<Bool>(&format!(
        "EXISTS (SELECT 1 FROM members WHERE members.household_id = households.id AND {predicate})"
    )))
}

fn flag_column(field: FlagField, value: bool) -> Condition {
    use households as h;
    match field {
        FlagField::HasRefrigerator => Box::new(h::has_refrigerator.eq(value)),
        FlagField::HasTelevision => Box::new(h::has_television.eq(value)),
        FlagField::HasWashingMachine => Box::new(h::has_washing_machine.eq(value)),
        FlagField::HasAirConditioner => Box::new(h::has_air_conditioner.eq(value)),
        FlagField::HasMotorcycle => Box::new(h::has_motorcycle.eq(value)),
        FlagField::HasCar => Box::new(h::has_car.eq(value)),
        FlagField::SchoolEnrolled => member_exists(if value {
            "members.school_enrolled = TRUE"
        } else {
            "members.school_enrolled = FALSE"
        }),
    }
}

macro_rules! compare {
    ($column:expr, $cmp:expr, $value:expr) => {{
        let (c, v) = ($column, $value);
        let b: Condition = match $cmp {
            Cmp::Eq => Box::new(c.eq(v)),
            Cmp::Ne => Box::new(c.ne(v)),
            Cmp::Lt => Box::new(c.lt(v)),
            Cmp::Le => Box::new(c.le(v)),
            Cmp::Gt => Box::new(c.gt(v)),
            Cmp::Ge => Box::new(c.ge(v)),
        };
        b
    }};
}

#[allow(
    clippy::cast_possible_truncation,
    reason = "integral fields are checked to hold whole numbers in i32 range by the caller; saturating otherwise"
)]
fn number_column(field: NumberField, cmp: Cmp, value: f64) -> Condition {
    use households as h;
    let int = value as i32;
    match field {
        NumberField::Rooms => compare!(h::rooms, cmp, int),
        NumberField::Size => compare!(h::size, cmp, int),
        NumberField::Cattle => compare!(h::cattle, cmp, int),
        NumberField::GoatsSheep => compare!(h::goats_sheep, cmp, int),
        NumberField::LandAcres => compare!(h::land_acres, cmp, value),
    }
}

fn condition(filter: &Filter) -> Condition {
    match filter {
        Filter::Test(Test::Text {
            field,
            values,
            negate,
        }) => {
            let c = text_column(*field, values.clone());
            if *negate {
                Box::new(diesel::dsl::not(c))
            } else {
                c
            }
        }
        Filter::Test(Test::Flag { field, value }) => flag_column(*field, *value),
        Filter::Test(Test::Number { field, cmp, value }) => number_column(*field, *cmp, *value),
        Filter::All(parts) => parts
            .iter()
            .map(condition)
            .reduce(|a, b| Box::new(a.and(b)))
            .unwrap_or_else(|| Box::new(sql::<Bool>("1 = 1"))),
        // An empty `any` holds for nothing: it never widens a search.
        Filter::Any(parts) => parts
            .iter()
            .map(condition)
            .reduce(|a, b| Box::new(a.or(b)))
            .unwrap_or_else(|| Box::new(sql::<Bool>("1 = 0"))),
    }
}

fn matching(search: &Search) -> households::BoxedQuery<'static, Backend> {
    let mut q = households::table.into_boxed();
    q = match search.area {
        Some(Area::Province(c)) => q.filter(households::province_code.eq(c)),
        Some(Area::District(c)) => q.filter(households::district_code.eq(c)),
        Some(Area::Tehsil(c)) => q.filter(households::tehsil_code.eq(c)),
        Some(Area::UnionCouncil(c)) => q.filter(households::uc_code.eq(c)),
        None => q,
    };
    if let Some(v) = &search.village {
        q = q.filter(households::village.eq(v.clone()));
    }
    if let Some((lo, hi)) = search.pmt {
        q = q.filter(households::pmt_score.between(lo, hi));
    }
    if let Some(f) = &search.filter {
        q = q.filter(condition(f));
    }
    q
}

/// The geography units with these codes (any level), for checking an area.
pub fn geo_units(conn: &mut DbConn, codes: &[i32]) -> Result<Vec<crate::models::GeoUnit>> {
    use crate::schema::geo_units;
    Ok(geo_units::table
        .filter(geo_units::code.eq_any(codes))
        .select(crate::models::GeoUnit::as_select())
        .load(conn)?)
}

/// Ids of the matching households after `after_id`, in id order, at most `limit`.
pub fn ids(conn: &mut DbConn, search: &Search, after_id: i64, limit: i64) -> Result<Vec<i64>> {
    Ok(matching(search)
        .select(households::id)
        .filter(households::id.gt(after_id))
        .order(households::id)
        .limit(limit)
        .load(conn)?)
}

/// The ids of the matching households after some id, as a bitmap filled
/// in one pass over whatever index the search uses, then handed out in id
/// order ([`id_set`]).
///
/// Paging in id order (`ORDER BY id LIMIT n`, [`ids`]) is cheap when the
/// search walks the primary key, but an area or PMT search walks its
/// `(area, pmt_score)` index: every page then reads *all* the area's
/// remaining entries again and sorts them (a temporary b-tree) to keep the
/// `n` smallest ids. A 50,000-id page of a district of 53,000 households
/// cost 38 ms, of a province of 518,000 230 ms, eleven times over; one
/// pass over the district's index entries costs 5 ms. The bitmap holds a
/// bit per id up to the largest id met (1.25 MB for a registry of ten
/// million), whatever the size of the result.
#[derive(Debug, Default)]
pub struct IdSet {
    words: Vec<u64>,
    /// The next bit to look at.
    next: usize,
}

/// The largest id an [`IdSet`] takes (its bitmap would hold 16 MB, for
/// 134 million ids, several times the households NSER holds):
/// beyond it, a search falls back to pages of [`ids`], so a registry with
/// a few huge ids costs no large bitmap.
const ID_SET_MOST: i64 = 1 << 27;

impl IdSet {
    /// The set of `ids`; `None` if one is too large for it.
    fn of(ids: impl Iterator<Item = diesel::QueryResult<i64>>) -> Result<Option<IdSet>> {
        let mut set = IdSet::default();
        for id in ids {
            if !set.insert(id?) {
                return Ok(None);
            }
        }
        Ok(Some(set))
    }

    fn insert(&mut self, id: i64) -> bool {
        let Ok(bit) = usize::try_from(id) else {
            return false;
        };
        if id > ID_SET_MOST {
            return false;
        }
        let word = bit / 64;
        if word >= self.words.len() {
            // Grown by half again at least: ids mostly arrive in a rising
            // order (index entries of one area, or the primary key).
            let len = (word + 1).max(self.words.len() + self.words.len() / 2);
            self.words.resize(len, 0);
        }
        self.words[word] |= 1 << (bit % 64);
        true
    }

    /// The next ids in ascending order, at most `n` (fewer at the end).
    pub fn take(&mut self, n: usize) -> Vec<i64> {
        let mut out = Vec::with_capacity(n.min(4096));
        while out.len() < n {
            let word = self.next / 64;
            let Some(&bits) = self.words.get(word) else {
                break;
            };
            // The bits of this word from `next` on.
            let mut bits = bits & (u64::MAX << (self.next % 64));
            while bits != 0 && out.len() < n {
                let bit = word * 64 + bits.trailing_zeros() as usize;
                out.push(i64::try_from(bit).unwrap_or(i64::MAX));
                bits &= bits - 1;
                self.next = bit + 1;
            }
            if bits == 0 {
                self.next = (word + 1) * 64;
            }
        }
        out
    }

    /// Whether ids are left.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.words
            .get(self.next / 64..)
            .is_none_or(|rest| match rest.split_first() {
                None => true,
                Some((first, others)) => {
                    first & (u64::MAX << (self.next % 64)) == 0 && others.iter().all(|w| *w == 0)
                }
            })
    }
}

/// The ids of the households matching `search` after `after_id`, in one
/// pass; `None` when paging by [`ids`] is the only plan: a PostgreSQL
/// registry (its driver would hold the whole result in memory at once), or
/// an id too large for a bitmap.
///
/// A search with no condition reads its ids from the narrowest index that
/// holds them all (`households_province_pmt`, 21 MB for a registry of a
/// million) rather than the table's own b-tree, whose pages hold the
/// households' fields too (191 MB): pages read in `ORDER BY id LIMIT`
/// steps passed all of those through the page caches of the pooled
/// connections (16 MB each), and a whole-registry export left the server's
/// RSS at 209 MB.
pub fn id_set(conn: &mut DbConn, search: &Search, after_id: i64) -> Result<Option<IdSet>> {
    let unconditioned = search.area.is_none()
        && search.village.is_none()
        && search.pmt.is_none()
        && search.filter.is_none();
    let DbConn::Sqlite(c) = conn else {
        return Ok(None);
    };
    if unconditioned {
        #[derive(diesel::QueryableByName)]
        struct Id {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            id: i64,
        }
        let rows = diesel::sql_query(
            "SELECT id FROM households INDEXED BY households_province_pmt WHERE id > ?",
        )
        .bind::<diesel::sql_types::BigInt, _>(after_id)
        .load_iter::<Id, diesel::connection::DefaultLoadingMode>(c)?;
        return IdSet::of(rows.map(|row| row.map(|r| r.id)));
    }
    let rows = matching(search)
        .select(households::id)
        .filter(households::id.gt(after_id))
        .load_iter::<i64, diesel::connection::DefaultLoadingMode>(conn)?;
    IdSet::of(rows)
}

/// How many households match.
pub fn count(conn: &mut DbConn, search: &Search) -> Result<i64> {
    Ok(matching(search).count().get_result(conn)?)
}

/// Spare arenas of [`records`]' four tables (households, members,
/// payments, flags), kept for the next chunk (`crate::spare`): two readers
/// for each of two exports at once.
static SPARE: [Arenas; 4] = [
    Arenas::new(4),
    Arenas::new(4),
    Arenas::new(4),
    Arenas::new(4),
];

/// [`records`]' four tables: their columns, rows per household and spare
/// arenas on both paths; their names, keys and order as `sqlite_read`
/// reads them (the same as the diesel queries of the PostgreSQL path).
static TABLES: [Table; 4] = [
    Table {
        name: "households",
        key: "id",
        order: "id",
        fields: HOUSEHOLD_FIELDS,
        per: 1,
        spare: &SPARE[0],
    },
    Table {
        name: "members",
        key: "household_id",
        order: "household_id, line_no",
        fields: MEMBER_FIELDS,
        per: 8,
        spare: &SPARE[1],
    },
    Table {
        name: "cct_payments",
        key: "household_id",
        order: "household_id, paid_on",
        fields: PAYMENT_FIELDS,
        per: 2,
        spare: &SPARE[2],
    },
    Table {
        name: "household_flags",
        key: "household_id",
        order: "household_id, raised_at",
        fields: FLAG_FIELDS,
        per: 0,
        spare: &SPARE[3],
    },
];

/// Households with everything that hangs off them, as [`records`] read
/// them: each table's rows decoded into one arena.
#[derive(Debug, Default)]
pub struct Records {
    /// The ids asked for (a dense read also returns households between them).
    ids: Vec<i64>,
    households: Rows,
    members: Rows,
    payments: Rows,
    flags: Rows,
}

/// One household of [`Records`] with its members (in line order), payments
/// (by date) and flags (by time raised).
#[derive(Debug, Clone, Copy)]
pub struct HouseholdRows<'a> {
    pub id: i64,
    pub household: Row<'a>,
    pub members: &'a [Row<'a>],
    pub payments: &'a [Row<'a>],
    pub flags: &'a [Row<'a>],
}

impl Records {
    /// Call `f` with each household asked for that exists, in id order.
    pub fn each(&self, mut f: impl FnMut(HouseholdRows<'_>)) {
        let members: Vec<Row<'_>> = self.members.iter().collect();
        let payments: Vec<Row<'_>> = self.payments.iter().collect();
        let flags: Vec<Row<'_>> = self.flags.iter().collect();
        let (mut m, mut p, mut fl) = (0, 0, 0);
        for household in self.households.iter() {
            let id = household.int(0);
            let members = hanging_off(&members, &mut m, id);
            let payments = hanging_off(&payments, &mut p, id);
            let flags = hanging_off(&flags, &mut fl, id);
            if self.ids.binary_search(&id).is_ok() {
                f(HouseholdRows {
                    id,
                    household,
                    members,
                    payments,
                    flags,
                });
            }
        }
    }
}

/// The rows from `*next` on whose household (field 1) is `id`, skipping
/// those of households before it; `*next` moves past them. `rows` is in
/// household order, and a household's rows are a handful: a linear walk
/// touches only them (a binary search would touch pages of cells).
fn hanging_off<'s, 'a>(rows: &'s [Row<'a>], next: &mut usize, id: i64) -> &'s [Row<'a>] {
    while rows.get(*next).is_some_and(|r| r.int(1) < id) {
        *next += 1;
    }
    let start = *next;
    while rows.get(*next).is_some_and(|r| r.int(1) == id) {
        *next += 1;
    }
    rows.get(start..*next).unwrap_or_default()
}

/// The households with these ids (which must be in ascending order), with
/// their members in line order, payments and flags. Ids that name no
/// household are skipped.
///
/// On SQLite the rows are read on a read connection of their own to the
/// same file (`sqlite_read`): what is committed, not what `conn` may hold in
/// an open transaction; a database in memory has no file and is refused.
pub fn records(conn: &mut DbConn, ids: &[i64]) -> Result<Records> {
    if ids.is_empty() {
        return Ok(Records::default());
    }
    // SQLite: on rusqlite (`sqlite_read`), in one read transaction.
    // PostgreSQL: on the backend's own connection, decoded cell by cell into one arena
    // per table (the bulk of an export's time was building a `String` per
    // field). When the ids are dense (at least 80 % of their span: a
    // complete export of the registry), one range scan per table replaces a
    // thousand index seeks; households not asked for are skipped by `each`.
    let (lo, hi) = (ids[0], ids[ids.len() - 1]);
    let dense = usize::try_from(hi - lo + 1).is_ok_and(|span| span <= ids.len() + ids.len() / 4);
    let c = match conn {
        DbConn::Pg(c) => c,
        DbConn::Sqlite(c) => return sqlite_records(c, ids, dense),
    };
    macro_rules! rows_of {
        ($table:ident, $key:expr, $order:expr, $model:ty, $t:expr) => {
            if dense {
                Rows::load(
                    c,
                    $table::table
                        .filter($key.between(lo, hi))
                        .order($order)
                        .select(<$model>::as_select()),
                    $t.fields,
                    ids.len() * $t.per,
                    Some($t.spare),
                )?
            } else {
                Rows::load(
                    c,
                    $table::table
                        .filter($key.eq_any(ids))
                        .order($order)
                        .select(<$model>::as_select()),
                    $t.fields,
                    ids.len() * $t.per,
                    Some($t.spare),
                )?
            }
        };
    }
    Ok(Records {
        ids: ids.to_vec(),
        households: rows_of!(
            households,
            households::id,
            households::id,
            Household,
            &TABLES[0]
        ),
        members: rows_of!(
            members,
            members::household_id,
            (members::household_id, members::line_no),
            Member,
            &TABLES[1]
        ),
        payments: rows_of!(
            cct_payments,
            cct_payments::household_id,
            (cct_payments::household_id, cct_payments::paid_on),
            Payment,
            &TABLES[2]
        ),
        flags: rows_of!(
            household_flags,
            household_flags::household_id,
            (household_flags::household_id, household_flags::raised_at),
            Flag,
            &TABLES[3]
        ),
    })
}

/// [`records`] on SQLite: the four tables' rows by `sqlite_read`, in one
/// read transaction; by id range when `dense`.
fn sqlite_records(c: &mut diesel::SqliteConnection, ids: &[i64], dense: bool) -> Result<Records> {
    let (lo, hi) = (ids[0], ids[ids.len() - 1]);
    let path = sqlite_read::main_file(c)?.ok_or_else(|| StoreError::SqlitePath {
        path: ":memory:".to_owned(),
        reason: "list searches read from a database file".to_owned(),
    })?;
    sqlite_read::with_reader(&path, |r| {
        let keys = if dense {
            Keys::Range(lo, hi)
        } else {
            Keys::In(ids)
        };
        Ok(Records {
            ids: ids.to_vec(),
            households: sqlite_read::load(r, &TABLES[0], &keys, ids.len())?,
            members: sqlite_read::load(r, &TABLES[1], &keys, ids.len())?,
            payments: sqlite_read::load(r, &TABLES[2], &keys, ids.len())?,
            flags: sqlite_read::load(r, &TABLES[3], &keys, ids.len())?,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::IdSet;

    #[test]
    fn an_id_set_hands_out_its_ids_in_order_in_any_steps() {
        let ids: Vec<i64> = [0, 1, 63, 64, 65, 127, 128, 500, 4_095, 4_096, 70_001]
            .into_iter()
            .chain((9_000..9_300).step_by(3))
            .collect();
        for step in [1, 2, 5, 64, 1_000] {
            let mut set = IdSet::default();
            // In no particular order, twice over.
            for id in ids.iter().rev().chain(&ids) {
                assert!(set.insert(*id));
            }
            let mut got = Vec::new();
            while !set.is_empty() {
                let page = set.take(step);
                assert!(!page.is_empty() && page.len() <= step, "step {step}");
                got.extend(page);
            }
            let mut want = ids.clone();
            want.sort_unstable();
            assert_eq!(got, want, "step {step}");
            assert!(set.take(step).is_empty());
        }
        let mut set = IdSet::default();
        assert!(set.is_empty() && set.take(3).is_empty());
        assert!(!set.insert(-1), "no negative ids");
        assert!(!set.insert(super::ID_SET_MOST + 1), "no bitmap over 16 MB");
    }
}
