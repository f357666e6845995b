//! A compiled view: per field Show / Mask / Withhold, which members and which
//! households, and how many. Applying it to a household serialises lazily
//! from the borrowed rows, so it allocates nothing beyond the output.

use std::cell::Cell;
use std::fmt;

use chrono::{Datelike, NaiveDate, NaiveDateTime, Timelike};
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde::Serialize;

use crate::decision::Policy;
use crate::explain::{Cause, Causes, Reason};
use crate::field::{Entity, Record, Value};
use crate::mask::{band, ClientKey, Last4, MaskKind, Pseudonym, REDACTED};
use crate::request::{OrganisationType, Request, Role, SearchType};

/// What a view does with one field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "effect", content = "mask", rename_all = "snake_case")]
pub enum Effect {
    /// The value as stored.
    Show,
    /// The value as stored for the member whose CNIC was searched; left out
    /// for every other member.
    SearchedMemberOnly,
    /// The field keeps its key; the value goes through the mask.
    Mask(MaskKind),
    /// The field is left out.
    Withhold,
}

/// Which members of a household a view includes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberSelection {
    /// Every member.
    All,
    /// Only the member whose CNIC was searched (Basic CNIC search); none when
    /// the caller does not say which one that is.
    SearchedOnly,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rule {
    pub(crate) effect: Effect,
    pub(crate) causes: Causes,
}

/// What one caller may see of the registry for one search: the output of
/// [`Policy::decide`].
pub struct View<'p> {
    policy: &'p Policy,
    role: Role,
    organisation: OrganisationType,
    search_type: SearchType,
    /// Parallel to the catalogue's entries.
    rules: Vec<Rule>,
    visible: [bool; 4],
    members: MemberSelection,
    sampled: bool,
    row_limit: u64,
    key: ClientKey,
}

impl fmt::Debug for View<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("View")
            .field("role", &self.role)
            .field("search_type", &self.search_type)
            .field("members", &self.members)
            .field("sampled", &self.sampled)
            .field("row_limit", &self.row_limit)
            .finish_non_exhaustive()
    }
}

impl<'p> View<'p> {
    pub(crate) fn new(
        policy: &'p Policy,
        request: &Request,
        rules: Vec<Rule>,
        members: MemberSelection,
        sampled: bool,
        row_limit: u64,
    ) -> View<'p> {
        let mut visible = [false; 4];
        for entity in Entity::ALL {
            let range = policy.catalogue().range(entity);
            visible[entity.index()] = rules
                .get(range)
                .is_some_and(|r| r.iter().any(|r| r.effect != Effect::Withhold));
        }
        View {
            policy,
            role: request.caller.role,
            organisation: request.caller.organisation.kind,
            search_type: request.search_type,
            rules,
            visible,
            members,
            sampled,
            row_limit,
            key: policy.pseudonymiser().for_client(&request.caller.client_id),
        }
    }

    /// What the view does with a field; `None` for a field the catalogue
    /// does not know.
    #[must_use]
    pub fn effect(&self, entity: Entity, field: &str) -> Option<Effect> {
        let range = self.policy.catalogue().range(entity);
        let start = range.start;
        let entries = self.policy.catalogue().entries().get(range)?;
        let i = entries.iter().position(|e| e.spec.name == field)?;
        self.rules.get(start + i).map(|r| r.effect)
    }

    /// The most households a response may carry: the grant's quota, capped by
    /// the role's limit ([`BASIC_ROW_LIMIT`](crate::BASIC_ROW_LIMIT) for Basic).
    #[must_use]
    pub fn row_limit(&self) -> u64 {
        self.row_limit
    }

    /// Which members a shaped household includes.
    #[must_use]
    pub fn members(&self) -> MemberSelection {
        self.members
    }

    /// Whether the view serves only this client's 1% sample of households
    /// (Basic list searches).
    #[must_use]
    pub fn is_sampled(&self) -> bool {
        self.sampled
    }

    /// Whether the household may be served at all. Always true unless the
    /// view is sampled; then true for about 1% of households, the same ones
    /// for this client whatever it searches, so no sequence of queries
    /// reveals more than that 1% of the registry.
    #[must_use]
    pub fn admits(&self, household_id: i64) -> bool {
        !self.sampled || self.key.in_sample(household_id)
    }

    /// The household as this view lets the caller see it, ready to serialise
    /// (`{"household": {..}, "members": [..], "payments": [..], "flags": [..]}`,
    /// leaving out any entity with no visible field), or `None` when the
    /// household is not in the caller's sample.
    #[must_use]
    pub fn shape<'a, H, M, P, F>(
        &'a self,
        household: Household<'a, H, M, P, F>,
    ) -> Option<Shaped<'a, H, M, P, F>>
    where
        H: Record + ?Sized,
        M: Record,
        P: Record,
        F: Record,
    {
        self.admits(household.id).then(|| Shaped {
            view: self,
            household,
            ids: IdCache {
                household: household.id,
                pseudonym: Cell::new(None),
            },
        })
    }

    /// For every field that is masked, withheld or shown only for the searched
    /// member: what happens and why.
    #[must_use]
    pub fn explain(&self) -> Vec<Reason> {
        self.policy
            .catalogue()
            .entries()
            .iter()
            .zip(&self.rules)
            .filter(|(_, rule)| rule.effect != Effect::Show)
            .map(|(entry, rule)| {
                let mut causes = Vec::new();
                if rule.causes.has(Causes::GRANT) {
                    causes.push(Cause::Grant);
                }
                if rule.causes.has(Causes::ROLE) {
                    causes.push(Cause::Role { role: self.role });
                }
                if rule.causes.has(Causes::ORGANISATION) {
                    causes.push(Cause::Organisation {
                        organisation: self.organisation,
                    });
                }
                if rule.causes.has(Causes::SEARCH_SHAPE) {
                    causes.push(Cause::SearchShape {
                        role: self.role,
                        search_type: self.search_type,
                    });
                }
                Reason {
                    entity: entry.spec.entity,
                    field: entry.spec.name,
                    class: entry.class,
                    effect: rule.effect,
                    causes,
                }
            })
            .collect()
    }

    fn fields(&self, entity: Entity) -> (&[crate::CatalogueEntry], &[Rule]) {
        let range = self.policy.catalogue().range(entity);
        let entries = self
            .policy
            .catalogue()
            .entries()
            .get(range.clone())
            .unwrap_or_default();
        (entries, self.rules.get(range).unwrap_or_default())
    }
}

/// A record type with no values, for a household shaped without members,
/// payments or flags.
#[derive(Debug, Clone, Copy)]
pub enum NoRecord {}

impl Record for NoRecord {
    fn value(&self, _field: usize) -> Value<'_> {
        match *self {}
    }
}

/// A household to shape: its record and the records that hang off it,
/// borrowed. Build it with [`Household::new`] and the `with_*` methods.
#[derive(Debug)]
pub struct Household<'r, H: ?Sized, M = NoRecord, P = NoRecord, F = NoRecord> {
    id: i64,
    record: &'r H,
    members: &'r [M],
    searched: Option<usize>,
    payments: &'r [P],
    flags: &'r [F],
}

impl<H: ?Sized, M, P, F> Clone for Household<'_, H, M, P, F> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<H: ?Sized, M, P, F> Copy for Household<'_, H, M, P, F> {}

impl<'r, H: Record + ?Sized> Household<'r, H> {
    /// A household by its id (which decides the Basic sample) and record.
    pub fn new(id: i64, record: &'r H) -> Self {
        Household {
            id,
            record,
            members: &[],
            searched: None,
            payments: &[],
            flags: &[],
        }
    }
}

impl<'r, H: ?Sized, M, P, F> Household<'r, H, M, P, F> {
    /// Its members; `searched` is the index in `members` of the member whose
    /// CNIC was searched, if the search was by CNIC.
    pub fn with_members<M2: Record>(
        self,
        members: &'r [M2],
        searched: Option<usize>,
    ) -> Household<'r, H, M2, P, F> {
        let Household {
            id,
            record,
            payments,
            flags,
            ..
        } = self;
        Household {
            id,
            record,
            members,
            searched,
            payments,
            flags,
        }
    }

    /// Its CCT payments.
    pub fn with_payments<P2: Record>(self, payments: &'r [P2]) -> Household<'r, H, M, P2, F> {
        let Household {
            id,
            record,
            members,
            searched,
            flags,
            ..
        } = self;
        Household {
            id,
            record,
            members,
            searched,
            payments,
            flags,
        }
    }

    /// Its holds and flags.
    pub fn with_flags<F2: Record>(self, flags: &'r [F2]) -> Household<'r, H, M, P, F2> {
        let Household {
            id,
            record,
            members,
            searched,
            payments,
            ..
        } = self;
        Household {
            id,
            record,
            members,
            searched,
            payments,
            flags,
        }
    }
}

/// A household as a view lets its caller see it; serialises lazily.
pub struct Shaped<'a, H: ?Sized, M, P, F> {
    view: &'a View<'a>,
    household: Household<'a, H, M, P, F>,
    /// The household id's pseudonym, which every member row repeats.
    ids: IdCache,
}

impl<H, M, P, F> Serialize for Shaped<'_, H, M, P, F>
where
    H: Record + ?Sized,
    M: Record,
    P: Record,
    F: Record,
{
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let (view, hh) = (self.view, &self.household);
        let mut map = serializer.serialize_map(None)?;
        if view.visible[Entity::Household.index()] {
            let fields = Fields {
                view,
                ids: &self.ids,
                entity: Entity::Household,
                record: hh.record,
                searched: false,
            };
            map.serialize_entry("household", &fields)?;
        }
        if view.visible[Entity::Member.index()] {
            map.serialize_entry(
                "members",
                &Members {
                    view,
                    ids: &self.ids,
                    household: hh,
                },
            )?;
        }
        if view.visible[Entity::Payment.index()] {
            map.serialize_entry(
                "payments",
                &Table {
                    view,
                    ids: &self.ids,
                    entity: Entity::Payment,
                    rows: hh.payments,
                },
            )?;
        }
        if view.visible[Entity::Flag.index()] {
            map.serialize_entry(
                "flags",
                &Table {
                    view,
                    ids: &self.ids,
                    entity: Entity::Flag,
                    rows: hh.flags,
                },
            )?;
        }
        map.end()
    }
}

struct Members<'a, 'h, H: ?Sized, M, P, F> {
    view: &'a View<'a>,
    ids: &'a IdCache,
    household: &'h Household<'a, H, M, P, F>,
}

impl<H: ?Sized, M: Record, P, F> Serialize for Members<'_, '_, H, M, P, F> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let (view, hh) = (self.view, self.household);
        let member = |i: usize, record| Fields {
            view,
            ids: self.ids,
            entity: Entity::Member,
            record,
            searched: hh.searched == Some(i),
        };
        match view.members {
            MemberSelection::All => {
                let mut seq = serializer.serialize_seq(Some(hh.members.len()))?;
                for (i, record) in hh.members.iter().enumerate() {
                    seq.serialize_element(&member(i, record))?;
                }
                seq.end()
            }
            MemberSelection::SearchedOnly => {
                let found = hh.searched.and_then(|i| Some((i, hh.members.get(i)?)));
                let mut seq = serializer.serialize_seq(Some(usize::from(found.is_some())))?;
                if let Some((i, record)) = found {
                    seq.serialize_element(&member(i, record))?;
                }
                seq.end()
            }
        }
    }
}

struct Table<'a, R> {
    view: &'a View<'a>,
    ids: &'a IdCache,
    entity: Entity,
    rows: &'a [R],
}

impl<R: Record> Serialize for Table<'_, R> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.rows.len()))?;
        for record in self.rows {
            seq.serialize_element(&Fields {
                view: self.view,
                ids: self.ids,
                entity: self.entity,
                record,
                searched: false,
            })?;
        }
        seq.end()
    }
}

struct Fields<'a, 'r, R: ?Sized> {
    view: &'a View<'a>,
    ids: &'a IdCache,
    entity: Entity,
    record: &'r R,
    /// Whether this is the member whose CNIC was searched.
    searched: bool,
}

impl<R: Record + ?Sized> Serialize for Fields<'_, '_, R> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let (entries, rules) = self.view.fields(self.entity);
        let mut map = serializer.serialize_map(None)?;
        for (i, (entry, rule)) in entries.iter().zip(rules).enumerate() {
            let name = entry.spec.name;
            match rule.effect {
                Effect::Withhold => {}
                Effect::SearchedMemberOnly if !self.searched => {}
                Effect::Show | Effect::SearchedMemberOnly => {
                    map.serialize_entry(name, &Plain(self.record.value(i)))?;
                }
                Effect::Mask(kind) => {
                    let value = self.record.value(i);
                    map.serialize_entry(
                        name,
                        &Masked {
                            kind,
                            value,
                            key: &self.view.key,
                            ids: self.ids,
                        },
                    )?;
                }
            }
        }
        map.end()
    }
}

/// A value as stored. Dates as `YYYY-MM-DD`, timestamps as
/// `YYYY-MM-DDTHH:MM:SS[.fff]`, non-finite floats as `null`.
struct Plain<'a>(Value<'a>);

impl Serialize for Plain<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Null => serializer.serialize_none(),
            Value::Bool(b) => serializer.serialize_bool(b),
            Value::Int(i) => serializer.serialize_i64(i),
            Value::Float(x) => serializer.serialize_f64(x),
            Value::Text(s) => serializer.serialize_str(s),
            Value::Date(d) => match iso_date(d) {
                Some(buf) => serializer.serialize_str(ascii(&buf)),
                None => serializer.collect_str(&d),
            },
            Value::Timestamp(t) => match iso_timestamp(t) {
                Some(buf) => serializer.serialize_str(ascii(&buf)),
                None => serializer.collect_str(&IsoTimestamp(t)),
            },
        }
    }
}

/// `YYYY-MM-DD` for years 0-9999 (the fast path: chrono's `Display` goes
/// through the formatting machinery, several times slower).
fn iso_date(d: NaiveDate) -> Option<[u8; 10]> {
    let year = u32::try_from(d.year()).ok().filter(|y| *y <= 9999)?;
    let mut buf = *b"0000-00-00";
    digits(&mut buf[0..4], year);
    digits(&mut buf[5..7], d.month());
    digits(&mut buf[8..10], d.day());
    Some(buf)
}

/// `YYYY-MM-DDTHH:MM:SS` for whole seconds in years 0-9999.
fn iso_timestamp(t: NaiveDateTime) -> Option<[u8; 19]> {
    if t.nanosecond() != 0 {
        return None;
    }
    let date = iso_date(t.date())?;
    let mut buf = *b"0000-00-00T00:00:00";
    buf[..10].copy_from_slice(&date);
    digits(&mut buf[11..13], t.hour());
    digits(&mut buf[14..16], t.minute());
    digits(&mut buf[17..19], t.second());
    Some(buf)
}

/// Writes `n` in decimal, right-aligned and zero-padded, into `out`.
fn digits(out: &mut [u8], mut n: u32) {
    for byte in out.iter_mut().rev() {
        // n % 10 < 10, so the cast cannot truncate.
        #[allow(clippy::cast_possible_truncation, reason = "a single decimal digit")]
        let digit = (n % 10) as u8;
        *byte = b'0' + digit;
        n /= 10;
    }
}

/// The buffers above hold only ASCII digits and punctuation.
fn ascii(buf: &[u8]) -> &str {
    std::str::from_utf8(buf).unwrap_or_default()
}

struct IsoTimestamp(NaiveDateTime);

impl fmt::Display for IsoTimestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}T{}", self.0.date(), self.0.time())
    }
}

/// A value through its mask. A value whose type the mask does not take
/// becomes `null` rather than pass through; a null stays null, except under
/// `redact`, which says nothing about the value at all.
struct Masked<'a> {
    kind: MaskKind,
    value: Value<'a>,
    key: &'a ClientKey,
    ids: &'a IdCache,
}

impl Serialize for Masked<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match (self.kind, self.value) {
            (MaskKind::Redact, _) => serializer.serialize_str(REDACTED),
            (MaskKind::Last4, Value::Text(s)) => serializer.collect_str(&Last4(s)),
            (MaskKind::YearOnly, Value::Date(d)) => serializer.serialize_i32(d.year()),
            (MaskKind::YearOnly, Value::Timestamp(t)) => serializer.serialize_i32(t.year()),
            (MaskKind::Band, Value::Float(x)) => match band(x) {
                Some(label) => serializer.serialize_str(label),
                None => serializer.serialize_none(),
            },
            (MaskKind::Pseudonym, Value::Text(s)) => {
                self.key.pseudonym(s.as_bytes()).serialize(serializer)
            }
            (MaskKind::Pseudonym, Value::Int(i)) => {
                let pseudonym = if i == self.ids.household {
                    self.ids.pseudonym.get().unwrap_or_else(|| {
                        let pseudonym = int_pseudonym(self.key, i);
                        self.ids.pseudonym.set(Some(pseudonym));
                        pseudonym
                    })
                } else {
                    int_pseudonym(self.key, i)
                };
                pseudonym.serialize(serializer)
            }
            _ => serializer.serialize_none(),
        }
    }
}

/// The household id and, once computed, its pseudonym.
struct IdCache {
    household: i64,
    pseudonym: Cell<Option<Pseudonym>>,
}

fn int_pseudonym(key: &ClientKey, i: i64) -> Pseudonym {
    let mut buf = [0u8; 20];
    key.pseudonym(decimal(i, &mut buf))
}

/// `i` in decimal, written into `buf` (20 bytes hold any i64), so an int is
/// pseudonymised exactly as its text would be.
fn decimal(i: i64, buf: &mut [u8; 20]) -> &[u8] {
    let mut n = i.unsigned_abs();
    let mut start = buf.len();
    loop {
        start -= 1;
        // n % 10 < 10, so the cast cannot truncate.
        #[allow(clippy::cast_possible_truncation, reason = "a single decimal digit")]
        let digit = (n % 10) as u8;
        buf[start] = b'0' + digit;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if i < 0 {
        start -= 1;
        buf[start] = b'-';
    }
    &buf[start..]
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "test")]
mod tests {
    use super::decimal;

    #[test]
    fn fast_dates_match_chrono() {
        use chrono::{NaiveDate, NaiveDateTime};
        for text in ["2025-01-31", "0001-02-03", "9999-12-31", "1978-05-02"] {
            let d: NaiveDate = text.parse().unwrap();
            assert_eq!(
                super::iso_date(d).map(|b| super::ascii(&b).to_owned()),
                Some(d.to_string())
            );
        }
        for text in ["2025-01-10T09:30:00", "1999-12-31T23:59:59"] {
            let t: NaiveDateTime = text.parse().unwrap();
            assert_eq!(
                super::iso_timestamp(t).map(|b| super::ascii(&b).to_owned()),
                Some(text.into())
            );
        }
        let fraction: NaiveDateTime = "2025-01-10T09:30:00.250".parse().unwrap();
        assert_eq!(super::iso_timestamp(fraction), None);
        assert_eq!(
            super::IsoTimestamp(fraction).to_string(),
            "2025-01-10T09:30:00.250"
        );
    }

    #[test]
    fn decimal_matches_display() {
        for i in [0, 7, -7, 42, 1_000_000, i64::MAX, i64::MIN] {
            let mut buf = [0u8; 20];
            assert_eq!(decimal(i, &mut buf), i.to_string().as_bytes());
        }
    }
}
